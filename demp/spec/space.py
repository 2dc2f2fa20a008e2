"""The search space of a sweep: parameters addressed by dotted trainer-config paths.

A parameter is named by the path of the trainer field it sets (``demp.regularizer.peak``,
``optimizer.lr``), so a spec needs no mapping table and the Optuna dashboard shows the real field
names. Three kinds exist, float, int (both optionally log-scaled) and categorical, and each may
carry a ``when`` condition on other fields. Some conditions are implied by the method itself
(σ is only searched when noise is on, ``pct_start`` only for the one-cycle shape; see
``IMPLICIT_WHEN``), so a spec cannot waste trials on parameters that have no effect.

Everything here is plain data (pydantic models, dicts): ``SearchSpace`` is pickled into Ray's
experiment state as Optuna's define-by-run function, and trial configs cross into Ray workers as
dicts that are re-validated there. The checks a space must pass before a sweep starts are in
``demp.spec.space_checks``.
"""

from __future__ import annotations

import functools
import math
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from demp import dotted
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
# At most this many grid points per parameter (grid_points), and values of a stepped float
# (Optuna divides the range by the step with 28-digit decimals; beyond that it raises).
MAX_GRID_POINTS = 10_000
MAX_STEPS = 2**40
INT64_MAX = 2**63 - 1  # Optuna samples int parameters through numpy


class BaseParam(BaseModel):
    """Shared fields; ``when`` maps a dotted path to a required value (or a list of them)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    when: dict[str, Union[Scalar, list[Scalar]]] | None = Field(
        None, description="Sample this parameter only when every listed field has the given value "
        "(or one of the listed values). Fields are base fields or other parameters (which are "
        "then sampled first).")


class FloatParam(BaseParam):
    type: Literal["float"] = "float"
    log: bool = Field(False, description="Sample on a log scale (low must be > 0).")
    low: float
    high: float
    step: float | None = Field(None, gt=0, description="Discretization step (not with log).")
    grid: list[float] | None = Field(None, min_length=1, description="Points for the grid sampler.")
    grid_points: int | None = Field(
        None, ge=2, le=MAX_GRID_POINTS,
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
        low, high = info.data.get("low"), info.data.get("high")
        if v is not None and low is not None and high is not None and (high - low) / v > MAX_STEPS:
            raise ValueError(f"makes more than {MAX_STEPS} steps between low and high "
                             f"(got {v!r}); use a coarser step or none")
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


class IntParam(BaseParam):
    type: Literal["int"] = "int"
    log: bool = Field(False, description="Sample on a log scale (low must be >= 1).")
    low: int = Field(ge=-INT64_MAX - 1, le=INT64_MAX)
    high: int = Field(ge=-INT64_MAX - 1, le=INT64_MAX)
    step: int = Field(1, ge=1, le=2**62, description="Step between values (must be 1 with log).")
    grid: list[int] | None = Field(None, min_length=1, description="Points for the grid sampler.")
    grid_points: int | None = Field(
        None, ge=2, le=MAX_GRID_POINTS,
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


class CategoricalParam(BaseParam):
    type: Literal["categorical"] = "categorical"
    choices: list[Scalar] = Field(min_length=1)

    def grid_values(self) -> list[Any]:
        return list(self.choices)

    def bounds(self) -> list[tuple[str, Any]]:
        return [(f"choices.{i}", c) for i, c in enumerate(self.choices)]


Param = Annotated[Union[FloatParam, IntParam, CategoricalParam], Field(discriminator="type")]


# ------------------------------------------------------------------------------ trainer fields


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
    parts = dotted.split(path)
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


def apply_params(base: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A trainer-config dict: ``base`` with each dotted-path parameter set (``base`` unchanged)."""
    return dotted.with_values(base, params)


def conditions(path: str, param: BaseParam) -> dict[str, Any]:
    """The implicit conditions of ``path`` overridden by the parameter's explicit ``when``."""
    merged = dict(IMPLICIT_WHEN.get(path, {}))
    merged.update(param.when or {})
    return merged


def matches(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, list):
        return any(matches(value, w) for w in wanted)
    if isinstance(wanted, bool) or isinstance(value, bool):
        return value is wanted or (isinstance(value, bool) and isinstance(wanted, bool)
                                   and value == wanted)
    return value == wanted


def is_active(path: str, param: BaseParam, base: dict[str, Any], chosen: dict[str, Any]) -> bool:
    """Whether ``path`` is sampled, given the base config and the parameters chosen so far."""
    for key, wanted in conditions(path, param).items():
        value = chosen[key] if key in chosen else dotted.get(base, key)
        if not matches(value, wanted):
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
