"""Reading a spec: YAML and ``--set`` overrides in, one validated ``SweepSpec`` out, and back.

``validate_spec`` runs both validation passes (pydantic's, then ``check_spec``) and raises one
``ConfigError`` with a ``"field.path: problem"`` line per problem. ``dump_spec`` writes the spec
with every default filled in: what a sweep directory's ``spec.yaml`` holds and resume reads back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from demp import dotted
from demp.config import load_yaml, parse_override
from demp.errors import ConfigError, format_validation_error
from demp.spec.checks import check_spec
from demp.spec.cluster import recorded_shared_paths
from demp.spec.schema import SweepSpec
from demp.spec.space import PARAM_TYPES

def format_spec_error(err: ValidationError) -> str:
    """One line per problem, "field.path: message", without union tags and pydantic prefixes."""
    return format_validation_error(err, model=SweepSpec,
                                   unknown_field="unknown field (not part of the spec)",
                                   loc_filter=_without_union_tag)


def _without_union_tag(loc: list[str]) -> list[str]:
    """``space.<path>.float.low`` → ``space.<path>.low``: the parameter's type is no field."""
    if len(loc) >= 3 and loc[0] == "space" and loc[2] in PARAM_TYPES:
        return loc[:2] + loc[3:]
    return loc


def validate_spec(data: dict[str, Any]) -> SweepSpec:
    """Both validation passes; raises ConfigError with one "path: problem" line per problem."""
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_spec_error(err)) from None
    errors = check_spec(spec)
    if errors:
        raise ConfigError("\n".join(errors))
    return spec


def _set(data: Any, path: list[str], value: Any, text: str) -> None:
    """Set a nested value; numeric segments index lists (``objectives.0.reference``)."""
    try:
        dotted.set_value(data, path, value)
    except dotted.PathError as err:
        what = "is not a section" if err.reason == "not_section" else f"has no item {err.key}"
        raise ConfigError(f"--set {text!r}: {err.at} {what}") from None


def apply_spec_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``--set`` for specs, like the trainer's, plus two things specs need: numeric segments
    index lists (``objectives.0.reference=...``), and ``space.<dotted.path>.field`` finds the
    parameter whose name itself contains dots (the longest matching name wins)."""
    for text in overrides:
        path, value = parse_override(text)
        space = data.get("space")
        if path[0] == "space" and len(path) > 2 and isinstance(space, dict):
            for cut in range(len(path) - 1, 1, -1):
                name = ".".join(path[1:cut])
                if name in space:
                    _set(space[name], path[cut:], value, text)
                    break
            else:
                raise ConfigError(f"--set {text!r}: no parameter of space matches "
                                  f"{'.'.join(path[1:])}")
            continue
        _set(data, path, value, text)
    return data


def load_spec(path: str | Path, overrides: list[str] = ()) -> SweepSpec:
    data = load_yaml(path)
    apply_spec_overrides(data, list(overrides))
    return validate_spec(data)


def dump_spec(spec: SweepSpec) -> str:
    """The validated spec with every default filled in, as YAML (what resume reads back); the
    cluster's shared mount (DEMP_SHARED_PATHS) is recorded in ray.shared_paths."""
    data = spec.model_dump(mode="json")
    data["ray"]["shared_paths"] = recorded_shared_paths(spec)
    return yaml.safe_dump(data, sort_keys=False)


__all__ = ["apply_spec_overrides", "dump_spec", "format_spec_error", "load_spec",
           "validate_spec"]
