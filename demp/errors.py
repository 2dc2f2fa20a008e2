"""The one error a user can fix by editing a config or spec, and the one way it is worded.

Every config and spec problem reaches the user as a ``ConfigError`` whose message holds one line
per problem, each starting with the dotted field path (``demp.noise.peak: Input should be greater
than or equal to 0 (got -1)``); the CLI prints them and exits with status 2. Both the trainer
config (``demp.config``) and the sweep spec (``demp.spec``) word pydantic's errors through
``format_validation_error``, so the two cannot drift apart. This module sits below everything else
in ``demp`` and imports nothing of it.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

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
                            unknown_field: str | None = None,
                            loc_filter: Callable[[list[str]], list[str]] | None = None) -> str:
    """One line per problem, each starting with the dotted field path.

    - ``prefix`` goes before every path (``trial.`` for a sampled trial config).
    - A cross-field rule (a ``PydanticCustomError`` of type ``"field"``) words its message as
      ``"sub.path: problem"``, relative to the model that checks it; the sub-path joins the
      location, so the line names the field at fault rather than the model.
    - ``unknown_field`` replaces pydantic's message for a key the model forbids (the spec says
      ``unknown field (not part of the spec)``); the trainer config keeps pydantic's.
    - ``loc_filter`` drops location parts that are no field (the spec's union tags).
    - The offending value is shown as ``(got ...)`` unless the message already says it, shortened
      (``shown``).
    """
    lines = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        if loc_filter is not None:
            loc = loc_filter(loc)
        parts = [prefix] if prefix else []
        parts += [p for p in loc if p != "__root__" and not p.startswith("function-")]
        msg = e["msg"]
        for p in _PREFIXES:
            msg = msg.removeprefix(p)
        if e["type"] == "field" and ": " in msg:
            field_path, msg = msg.split(": ", 1)
            parts.append(field_path)
        if e["type"] == "extra_forbidden" and unknown_field is not None:
            msg = unknown_field
        elif e["type"] not in _NO_INPUT_SHOWN and "input" in e \
                and not isinstance(e["input"], dict):
            msg = f"{msg} (got {shown(e['input'])})"
        lines.append(f"{'.'.join(parts) or '<root>'}: {msg}")
    return "\n".join(lines)


__all__ = ["ConfigError", "InputFileError", "PortError", "StorageError", "SweepDirectoryError",
           "TrialError", "format_validation_error", "shown"]
