"""Checks of a validated search space that pydantic cannot make field by field.

Each searched path must name a searchable trainer field of the right kind, every bound / choice /
grid point must be a value the trainer accepts on top of the spec's base, conditions must refer
to known fields and be able to hold, and the grid sampler needs a finite set of values per
parameter. Every problem is one ``"space.<path>[.field]: problem"`` line.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from demp import dotted
from demp.config import TrainConfig
from demp.spec.space import (
    MAX_INT_GRID, BaseParam, apply_params, conditions, field_kind, matches, sampling_order,
)

def _validation_problem(base: dict[str, Any], path: str, value: Any) -> str | None:
    """Why ``value`` is not acceptable at ``path`` on top of ``base`` (None if it is)."""
    data = apply_params(base, {path: value})
    try:
        TrainConfig.model_validate(data)
    except ValidationError as err:
        return "; ".join(e["msg"] for e in err.errors())
    return None


def _coerce(base: dict[str, Any], path: str, value: Any) -> Any:
    """The value as the trainer stores it (YAML reads ``1e-3`` as a string, for instance)."""
    cfg = TrainConfig.model_validate(apply_params(base, {path: value}))
    return dotted.get(cfg.model_dump(mode="json"), path)


def check_space(space: dict[str, Any], base: TrainConfig, grid: bool = False) -> list[str]:
    """Problems with a validated space, one "space.<path>[.field]: problem" line each.

    Checks what pydantic cannot see field by field: the path names a searchable trainer field,
    the parameter kind fits the field, every bound / choice / grid point is a value the trainer
    accepts, conditions refer to known fields (parameters only if listed earlier) and can hold,
    and, for the grid sampler, every parameter has a finite set of values and no condition on
    other parameters. Categorical choices are coerced in place to the trainer's types.
    """
    errors: list[str] = []
    base_dict = base.model_dump(mode="json")
    try:
        sampling_order(space)
    except ValueError as err:
        errors.append(str(err))
    for path, param in space.items():
        where = f"space.{path}"
        try:
            kind, _ = field_kind(path)
        except KeyError as err:
            errors.append(f"{where}: {err.args[0]}")
            continue
        if param.type == "float" and kind != "float":
            errors.append(f"{where}.type: a float parameter cannot set a field of kind {kind}; "
                          f"use type: {'int' if kind == 'int' else 'categorical'}")
        elif param.type == "int" and kind not in ("int", "float"):
            errors.append(f"{where}.type: an int parameter cannot set a field of kind {kind}; "
                          f"use type: categorical")
        else:
            points = list(param.bounds())
            for field, value in points:
                problem = _validation_problem(base_dict, path, value)
                if problem:
                    errors.append(f"{where}.{field}: {problem} (got {value!r})")
            if param.type != "categorical" and param.grid is not None:
                for i, g in enumerate(param.grid):
                    if not param.low <= g <= param.high:
                        errors.append(f"{where}.grid.{i}: {g} is outside [low, high] = "
                                      f"[{param.low}, {param.high}]")
            if param.type == "categorical" and not any(e.startswith(f"{where}.choices")
                                                       for e in errors):
                param.choices = [_coerce(base_dict, path, c) for c in param.choices]
                if len({repr(c) for c in param.choices}) != len(param.choices):
                    errors.append(f"{where}.choices: contains duplicates {param.choices}")
        errors += _check_conditions(path, param, space, base_dict)
        if grid:
            errors += _check_grid(path, param, space)
    return errors


def _check_conditions(path: str, param: BaseParam, space: dict[str, Any],
                      base_dict: dict[str, Any]) -> list[str]:
    """Explicit conditions name real fields with valid values (coerced in place) and can hold."""
    errors = []
    where = f"space.{path}.when"
    coerced: dict[str, Any] = {}
    for key, wanted in (param.when or {}).items():
        if key == path:
            errors.append(f"{where}.{key}: a parameter cannot depend on itself")
            continue
        try:
            field_kind(key)
        except KeyError as err:
            errors.append(f"{where}.{key}: {err.args[0]}")
            continue
        values = wanted if isinstance(wanted, list) else [wanted]
        problems = [(w, _validation_problem(base_dict, key, w)) for w in values]
        errors += [f"{where}.{key}: {p} (got {w!r})" for w, p in problems if p]
        if not any(p for _, p in problems):
            fixed = [_coerce(base_dict, key, w) for w in values]
            coerced[key] = fixed if isinstance(wanted, list) else fixed[0]
    if errors:
        return errors
    if param.when:
        param.when = coerced
    # A condition on base fields only is constant: if it is false the parameter never varies.
    fixed = {k: v for k, v in conditions(path, param).items() if k not in space}
    for key, wanted in fixed.items():
        if not matches(dotted.get(base_dict, key), wanted):
            errors.append(f"space.{path}: never sampled: base.{key} is "
                          f"{dotted.get(base_dict, key)!r}, the parameter needs {wanted!r}")
    return errors


def _check_grid(path: str, param: Any, space: dict[str, Any]) -> list[str]:
    errors = []
    if param.grid_values() is None:
        hint = "grid or grid_points" if param.type == "float" else \
            f"grid or grid_points (more than {MAX_INT_GRID} integers in range)"
        errors.append(f"space.{path}.grid: the grid sampler needs {hint}")
    dependent = [k for k in conditions(path, param) if k in space]
    if dependent:
        errors.append(f"space.{path}.when: the grid sampler cannot search conditional "
                      f"parameters (depends on {', '.join(dependent)})")
    return errors
