"""The search space of a sweep: parameters addressed by dotted trainer-config paths.

A parameter is named by the path of the trainer field it sets (``demp.regularizer.peak``,
``optimizer.lr``), so a spec needs no mapping table and the Optuna dashboard shows the real field
names. Three kinds exist, float, int (both optionally log-scaled) and categorical, and each may
carry a ``when`` condition on other fields. Some conditions are implied by the method itself
(σ is only searched when noise is on, ``pct_start`` only for the one-cycle shape; see
``IMPLICIT_WHEN``), so a spec cannot waste trials on parameters that have no effect.

Everything here is plain data (pydantic models, dicts): ``SearchSpace`` is pickled into Ray's
experiment state as Optuna's define-by-run function, and trial configs cross into Ray workers as
dicts that are re-validated there.
"""

from __future__ import annotations

import copy
import functools
import math
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from demp.config import TrainConfig

Scalar = Union[bool, int, float, str]
ParamType = Literal["float", "int", "categorical"]
PARAM_TYPES: tuple[str, ...] = ("float", "int", "categorical")

# Conditions the method implies: a parameter is only sampled when its switch is on.
IMPLICIT_WHEN: dict[str, dict[str, Any]] = {
    "demp.regularizer.peak": {"demp.regularizer.enabled": True},
    "demp.noise.peak": {"demp.noise.enabled": True},
    "demp.schedule.pct_start": {"demp.schedule.shape": "one_cycle"},
}

# At most this many integers are enumerated for an int parameter under the grid sampler.
MAX_INT_GRID = 64


class _Param(BaseModel):
    """Shared fields; ``when`` maps a dotted path to a required value (or a list of them)."""

    model_config = ConfigDict(extra="forbid")

    when: dict[str, Union[Scalar, list[Scalar]]] | None = Field(
        None, description="Sample this parameter only when every listed field has the given value "
        "(or one of the listed values). Fields are base fields or other parameters (which are "
        "then sampled first).")


class FloatParam(_Param):
    type: Literal["float"] = "float"
    log: bool = Field(False, description="Sample on a log scale (low must be > 0).")
    low: float
    high: float
    step: float | None = Field(None, gt=0, description="Discretization step (not with log).")
    grid: list[float] | None = Field(None, min_length=1, description="Points for the grid sampler.")
    grid_points: int | None = Field(
        None, ge=2,
        description="Evenly (log-)spaced points between low and high for the grid sampler.")

    @field_validator("low")
    @classmethod
    def _low_positive_for_log(cls, v: float, info: ValidationInfo) -> float:
        if info.data.get("log") and v <= 0:
            raise ValueError(f"must be > 0 on a log scale, got {v}")
        return v

    @field_validator("high")
    @classmethod
    def _high_above_low(cls, v: float, info: ValidationInfo) -> float:
        low = info.data.get("low")
        if low is not None and v <= low:
            raise ValueError(f"must be > low ({low}), got {v}")
        return v

    @field_validator("step")
    @classmethod
    def _no_step_with_log(cls, v: float | None, info: ValidationInfo) -> float | None:
        if v is not None and info.data.get("log"):
            raise ValueError("cannot be combined with log: true (Optuna does not support it)")
        return v

    def grid_values(self) -> list[float] | None:
        if self.grid is not None:
            return list(self.grid)
        if self.grid_points is None:
            return None
        n = self.grid_points
        if self.log:
            a, b = math.log(self.low), math.log(self.high)
            return [math.exp(a + (b - a) * i / (n - 1)) for i in range(n)]
        return [self.low + (self.high - self.low) * i / (n - 1) for i in range(n)]

    def bounds(self) -> list[tuple[str, Any]]:
        return [("low", self.low), ("high", self.high)]


class IntParam(_Param):
    type: Literal["int"] = "int"
    log: bool = Field(False, description="Sample on a log scale (low must be >= 1).")
    low: int
    high: int
    step: int = Field(1, ge=1, description="Step between values (must be 1 with log).")
    grid: list[int] | None = Field(None, min_length=1, description="Points for the grid sampler.")
    grid_points: int | None = Field(
        None, ge=2,
        description="Evenly (log-)spaced integers between low and high for the grid sampler.")

    @field_validator("low")
    @classmethod
    def _low_positive_for_log(cls, v: int, info: ValidationInfo) -> int:
        if info.data.get("log") and v < 1:
            raise ValueError(f"must be >= 1 on a log scale, got {v}")
        return v

    @field_validator("high")
    @classmethod
    def _high_above_low(cls, v: int, info: ValidationInfo) -> int:
        low = info.data.get("low")
        if low is not None and v <= low:
            raise ValueError(f"must be > low ({low}), got {v}")
        return v

    @field_validator("step")
    @classmethod
    def _unit_step_with_log(cls, v: int, info: ValidationInfo) -> int:
        if v != 1 and info.data.get("log"):
            raise ValueError("must be 1 with log: true (Optuna does not support it)")
        return v

    def grid_values(self) -> list[int] | None:
        if self.grid is not None:
            return list(self.grid)
        if self.grid_points is not None:
            n = self.grid_points
            if self.log:
                a, b = math.log(self.low), math.log(self.high)
                pts = [round(math.exp(a + (b - a) * i / (n - 1))) for i in range(n)]
            else:
                pts = [round(self.low + (self.high - self.low) * i / (n - 1)) for i in range(n)]
            return sorted(set(pts))
        values = list(range(self.low, self.high + 1, self.step))
        return values if len(values) <= MAX_INT_GRID else None

    def bounds(self) -> list[tuple[str, Any]]:
        return [("low", self.low), ("high", self.high)]


class CategoricalParam(_Param):
    type: Literal["categorical"] = "categorical"
    choices: list[Scalar] = Field(min_length=1)

    def grid_values(self) -> list[Any]:
        return list(self.choices)

    def bounds(self) -> list[tuple[str, Any]]:
        return [(f"choices.{i}", c) for i, c in enumerate(self.choices)]


Param = Annotated[Union[FloatParam, IntParam, CategoricalParam], Field(discriminator="type")]


# ------------------------------------------------------------------------------ dotted paths


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional[...] down to the value type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def field_kind(path: str) -> tuple[str, Any]:
    """What the trainer field at ``path`` is: ("float"|"int"|"bool"|"str"|"literal", detail).

    Raises ``KeyError`` with a human-readable reason when the path names no scalar field, so the
    spec check can say which segment is wrong and what would have been valid there.
    """
    model: type[BaseModel] = TrainConfig
    parts = path.split(".")
    for i, part in enumerate(parts):
        fields = model.model_fields
        if part not in fields:
            where = ".".join(parts[:i]) or "the trainer config"
            raise KeyError(f"{part!r} is not a field of {where} (fields: {', '.join(fields)})")
        ann = _unwrap(fields[part].annotation)
        last = i == len(parts) - 1
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            if last:
                raise KeyError(f"{path!r} is a section, not a single value")
            model = ann
            continue
        if not last:
            raise KeyError(f"{'.'.join(parts[: i + 1])!r} is a value, not a section")
        if typing.get_origin(ann) is Literal:
            return "literal", list(typing.get_args(ann))
        if ann is bool:
            return "bool", None
        if ann is int:
            return "int", None
        if ann is float:
            return "float", None
        if ann in (str, Path):
            return "str", None
        raise KeyError(f"{path!r} holds a {getattr(ann, '__name__', ann)}; only single values "
                       f"(numbers, booleans, strings) can be searched")
    raise KeyError(f"{path!r} is empty")


def get_path(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        node = node[part]
    return node


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def apply_params(base: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A trainer-config dict: ``base`` with each dotted-path parameter set (``base`` unchanged)."""
    data = copy.deepcopy(base)
    for path, value in params.items():
        set_path(data, path, value)
    return data


def conditions(path: str, param: _Param) -> dict[str, Any]:
    """The implicit conditions of ``path`` overridden by the parameter's explicit ``when``."""
    merged = dict(IMPLICIT_WHEN.get(path, {}))
    merged.update(param.when or {})
    return merged


def _matches(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, list):
        return any(_matches(value, w) for w in wanted)
    if isinstance(wanted, bool) or isinstance(value, bool):
        return value is wanted or (isinstance(value, bool) and isinstance(wanted, bool)
                                   and value == wanted)
    return value == wanted


def is_active(path: str, param: _Param, base: dict[str, Any], chosen: dict[str, Any]) -> bool:
    """Whether ``path`` is sampled, given the base config and the parameters chosen so far."""
    for key, wanted in conditions(path, param).items():
        value = chosen[key] if key in chosen else get_path(base, key)
        if not _matches(value, wanted):
            return False
    return True


def sampling_order(space: dict[str, Any]) -> list[str]:
    """Parameters in listed order, except that each comes after those its conditions read.

    Raises ``ValueError`` naming a parameter on a cycle of conditions.
    """
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(path: str, trail: tuple[str, ...]) -> None:
        if state.get(path) == "done":
            return
        if state.get(path) == "active":
            cycle = " -> ".join((*trail[trail.index(path):], path))
            raise ValueError(f"space.{path}.when: circular conditions ({cycle})")
        state[path] = "active"
        for key in conditions(path, space[path]):
            if key in space and key != path:
                visit(key, (*trail, path))
        state[path] = "done"
        order.append(path)

    for path in space:
        visit(path, ())
    return order


# ------------------------------------------------------------------------------ checks


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
    return get_path(cfg.model_dump(mode="json"), path)


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


def _check_conditions(path: str, param: _Param, space: dict[str, Any],
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
        if not _matches(get_path(base_dict, key), wanted):
            errors.append(f"space.{path}: never sampled: base.{key} is "
                          f"{get_path(base_dict, key)!r}, the parameter needs {wanted!r}")
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


# ------------------------------------------------------------------------------ Optuna


class SearchSpace:
    """Optuna define-by-run function for ``OptunaSearch``: suggests each active parameter in order.

    Kept to plain data so that it pickles into Ray's searcher state; the base config is only
    read to evaluate conditions on fields that are not searched.
    """

    def __init__(self, space: dict[str, Any], base: dict[str, Any]) -> None:
        self.space = {path: p.model_dump() for path, p in space.items()}
        self.base = base

    def params(self) -> dict[str, Any]:
        adapter = _param_adapter()
        return {path: adapter.validate_python(p) for path, p in self.space.items()}

    def __call__(self, trial: Any) -> None:
        chosen: dict[str, Any] = {}
        params = self.params()
        for path in sampling_order(params):
            p = params[path]
            if not is_active(path, p, self.base, chosen):
                continue
            if p.type == "float":
                chosen[path] = trial.suggest_float(path, p.low, p.high, log=p.log, step=p.step)
            elif p.type == "int":
                chosen[path] = trial.suggest_int(path, p.low, p.high, log=p.log, step=p.step)
            else:
                chosen[path] = trial.suggest_categorical(path, p.choices)
        return None

    def grid(self) -> dict[str, list[Any]]:
        """Values per parameter for Optuna's GridSampler (spec checks guarantee they exist)."""
        return {path: p.grid_values() for path, p in self.params().items()}

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid().values())


@functools.cache
def _param_adapter() -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(Param)
