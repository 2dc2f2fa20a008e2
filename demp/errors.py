"""The one error a user can fix by editing a config or spec, and the one way it is worded.

Every config and spec problem reaches the user as a ``ConfigError`` whose message holds one line
per problem, each starting with the dotted field path (``demp.noise.peak: Input should be greater
than or equal to 0 (got -1)``); the CLI prints them and exits with status 2. Both the trainer
config (``demp.config``) and the sweep spec (``demp.spec``) word pydantic's errors through
``format_validation_error``, so the two cannot drift apart. A key a model forbids is worded
``unknown field`` (the spec says ``unknown field (not part of the spec)``) and, given the model,
followed by the nearest field at that level (``; did you mean demp.regularizer.peak?``): a typo
is the commonest mistake in a YAML file and the nearest name is usually the fix. This module sits
below everything else in ``demp`` and imports nothing of it.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Union

from pydantic import BaseModel, ValidationError

# Message prefixes pydantic puts before the text of a ValueError / assert in a validator.
_PREFIXES = ("Value error, ", "Assertion failed, ")
# Error types whose message already says what was wrong with the value (or has no value).
_NO_INPUT_SHOWN = ("missing", "value_error", "assertion_error")


class ConfigError(ValueError):
    """A config that failed validation; its message names each bad field path.

    ``category`` says what kind of thing the user has to fix, and the CLI prints it first
    (``error: config: max_concurent: unknown field``), the same for ``demp train`` and
    ``demp sweep``. The subclasses below are the other categories; the message itself never
    repeats the category."""

    category = "config"


class InputFileError(ConfigError):
    """A config or spec file that is missing, unreadable, or not YAML."""

    category = "file"


class SweepDirectoryError(ConfigError):
    """A path given as a sweep directory that is none, or one that cannot be used as asked."""

    category = "sweep directory"


class TrialError(ConfigError):
    """A trial named on the command line that the sweep does not have, or cannot provide."""

    category = "trial"


class PortError(ConfigError):
    """A port that cannot be listened on."""

    category = "port"


class StorageError(ConfigError):
    """The Optuna study's storage (journal file or database) cannot be opened as configured."""

    category = "storage"


def shown(value: object, limit: int = 120) -> str:
    """``repr(value)`` for an error message: shortened, and safe for integers longer than
    Python prints (``repr`` raises beyond 4300 digits)."""
    try:
        text = repr(value)
    except ValueError:
        text = (f"<an integer of about {value.bit_length() * 0.30103:.0f} digits>"
                if isinstance(value, int) else f"<a {type(value).__name__}>")
    return text if len(text) <= limit else text[: limit - 4] + " ..."


def format_validation_error(err: ValidationError, prefix: str = "", *,
                            model: type[BaseModel] | None = None,
                            unknown_field: str = "unknown field",
                            loc_filter: Callable[[list[str]], list[str]] | None = None) -> str:
    """One line per problem, each starting with the dotted field path.

    - ``prefix`` goes before every path (``trial.`` for a sampled trial config).
    - A cross-field rule (a ``PydanticCustomError`` of type ``"field"``) words its message as
      ``"sub.path: problem"``, relative to the model that checks it; the sub-path joins the
      location, so the line names the field at fault rather than the model.
    - ``unknown_field`` replaces pydantic's ``Extra inputs are not permitted`` for a key the
      model forbids (the spec says ``unknown field (not part of the spec)``). With ``model``
      (the class that was validated) the nearest field name at that level is suggested
      (``nearest_field``), and a mistyped section given as a single setting
      (``--set demp.regularizr.peak=1``) is named down to that setting.
    - ``loc_filter`` drops location parts that are no field (the spec's union tags).
    - The offending value is shown as ``(got ...)`` unless the message already says it, shortened
      (``shown``).
    """
    lines = []
    for e in err.errors():
        raw = [str(p) for p in e["loc"]]
        loc = loc_filter(raw) if loc_filter is not None else raw
        parts = [prefix] if prefix else []
        parts += [p for p in loc if p != "__root__" and not p.startswith("function-")]
        msg = e["msg"]
        for p in _PREFIXES:
            msg = msg.removeprefix(p)
        if e["type"] == "field" and ": " in msg:
            field_path, msg = msg.split(": ", 1)
            parts.append(field_path)
        if e["type"] == "extra_forbidden" and parts:
            rest = _single_setting(e.get("input"))
            msg = unknown_field
            near = nearest_field(model, raw[:-1], raw[-1]) if model is not None else None
            if near is not None:
                # name the setting below the mistyped key only where the suggestion has it
                tail = rest if rest and _fields_at(model, raw[:-1] + [near], rest) else []
                msg += f"; did you mean {'.'.join(parts[:-1] + [near] + tail)}?"
            parts += rest
        elif e["type"] not in _NO_INPUT_SHOWN and "input" in e \
                and not isinstance(e["input"], dict):
            msg = f"{msg} (got {shown(e['input'])})"
        lines.append(f"{'.'.join(parts) or '<root>'}: {msg}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ nearest field


def nearest_field(model: type[BaseModel], loc: Sequence[str], key: str) -> str | None:
    """The field name closest to ``key`` (``difflib.get_close_matches``, its default cutoff)
    among the fields of the model(s) that pydantic location ``loc`` reaches from ``model``;
    None when nothing is close or ``loc`` cannot be followed."""
    names = sorted({n for m in _models_at(model, loc) for n in _field_names(m)})
    close = difflib.get_close_matches(key, names, n=1)
    return close[0] if close else None


def _single_setting(value: object) -> list[str]:
    """The key path of a mapping that holds one setting (``{"peak": 1}`` → ``["peak"]``)."""
    path: list[str] = []
    while isinstance(value, Mapping) and len(value) == 1:
        key, value = next(iter(value.items()))
        path.append(str(key))
    return path if not isinstance(value, Mapping) else []


def _fields_at(model: type[BaseModel], loc: Sequence[str], rest: Sequence[str]) -> bool:
    """Whether every part of ``rest`` names a field, walking down from ``loc``."""
    for i, part in enumerate(rest):
        if not any(part in _field_names(m) for m in _models_at(model, [*loc, *rest[:i]])):
            return False
    return True


def _field_names(model: type[BaseModel]) -> set[str]:
    return {name for name, info in model.model_fields.items()} | {
        info.alias for info in model.model_fields.values() if info.alias}


def _models_at(model: type[BaseModel], loc: Sequence[str]) -> list[type[BaseModel]]:
    """The models a pydantic error location can be inside: fields are followed into their
    annotations, dict keys and list indices into the item type, and a union tag (the
    discriminator value or class name pydantic puts in the location) picks its member."""
    current: list[Any] = [model]
    for part in loc:
        options = [t for a in current for t in _members(a)]
        tagged = [t for t in options if _is_model(t) and part in _tags(t)]
        if tagged:
            current = tagged
            continue
        nxt: list[Any] = []
        for t in options:
            origin = typing.get_origin(t)
            if _is_model(t):
                for name, info in t.model_fields.items():
                    if part in (name, info.alias):
                        nxt.append(info.annotation)
            elif origin is not None and isinstance(origin, type) \
                    and issubclass(origin, Mapping):
                args = typing.get_args(t)
                nxt.append(args[1] if len(args) == 2 else Any)
            elif origin in (list, tuple, set, frozenset) or (
                    origin is not None and isinstance(origin, type)
                    and issubclass(origin, Sequence)):
                nxt.extend(a for a in typing.get_args(t) if a is not Ellipsis)
        current = nxt
    return [t for a in current for t in _members(a) if _is_model(t)]


def _members(annotation: Any) -> list[Any]:
    """``Annotated`` and unions unwrapped into their member types."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _members(a)]
    return [annotation]


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _tags(model: type[BaseModel]) -> set[str]:
    """What pydantic may put in a location for this union member: its class name and the
    values of its single-valued ``Literal`` fields (a discriminator's tag)."""
    tags = {model.__name__}
    for info in model.model_fields.values():
        if typing.get_origin(info.annotation) is typing.Literal:
            args = typing.get_args(info.annotation)
            if len(args) == 1:
                tags.add(str(args[0]))
    return tags


__all__ = ["ConfigError", "InputFileError", "PortError", "StorageError", "SweepDirectoryError",
           "TrialError", "format_validation_error", "nearest_field", "shown"]
