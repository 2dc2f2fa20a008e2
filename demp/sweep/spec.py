"""The sweep spec: one YAML file that says what to search, for which objectives, and where.

Validation happens in two passes, both before anything starts: pydantic checks the shape and
ranges of every field (``extra="forbid"``, so a typo is an error), then ``check_spec`` checks what
needs the trainer's config model — that each searched path exists, every bound is a value the
trainer accepts, conditions can hold, objectives have a reference point. Both passes report one
line per problem, starting with the field path (``space.demp.noise.peak.low: ...``), and all
problems of a pass at once.

A minimal spec::

    name: digits-mini
    base: {model: {name: mlp}, data: {name: digits}, epochs: 5}
    space:
      demp.regularizer.peak: {low: 1.0e-3, high: 3.0, log: true}
    trials: 8

Everything else has defaults: objectives maximize ``val_acc`` and ``param_sparsity``, TPE with
seed 0, one trial at a time on one CPU, an Optuna journal in the sweep directory, a local Ray
instance on 127.0.0.1.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from demp.config import ConfigError, StrictModel, TrainConfig, load_yaml, parse_override
from demp.sweep.cluster import check_cluster, cluster_address, recorded_shared_paths
from demp.sweep.pareto import default_reference
from demp.sweep.space import (
    PARAM_TYPES, Param, SearchSpace, apply_params, check_space, field_kind,
)

# Metrics of the trainer's metrics record that can be objectives or the early-stopping metric.
MetricName = Literal[
    "val_acc", "test_acc", "val_loss", "test_loss", "train_loss",
    "param_sparsity", "neural_sparsity", "params", "flops", "train_flops", "train_time",
]
Direction = Literal["maximize", "minimize"]
SamplerName = Literal["tpe", "nsga2", "gp", "random", "qmc", "grid"]

# Classes per dataset, for the default (chance-accuracy) reference point.
DATASET_CLASSES: dict[str, int] = {"digits": 10, "cifar10": 10, "cifar100": 100, "imagenet": 1000}

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class Objective(StrictModel):
    """One axis of the frontier; ``reference`` is its worst value still worth counting."""

    metric: MetricName
    direction: Direction = "maximize"
    reference: float | None = Field(
        None, description="Hypervolume reference value (default: chance accuracy for accuracies, "
        "0 for sparsities; required for other metrics).")


def _default_objectives() -> list[Objective]:
    return [Objective(metric="val_acc"), Objective(metric="param_sparsity")]


class SamplerSpec(StrictModel):
    """The Optuna sampler, always constructed here with an explicit seed."""

    name: SamplerName = "tpe"
    seed: int = 0
    n_startup_trials: Annotated[int, Field(ge=0)] | None = Field(
        None, description="Random trials before TPE / GP model the results (Optuna default 10).")
    population_size: Annotated[int, Field(ge=2)] | None = Field(
        None, description="NSGA-II population (Optuna default 50).")


class ResourcesSpec(StrictModel):
    """What one trial reserves; fractions let several trials share a GPU."""

    cpu: float = Field(1.0, gt=0)
    gpu: float = Field(0.0, ge=0)


class RaySpec(StrictModel):
    """Where trials run. Joining a cluster off this machine needs Ray's cluster mode, which a
    loopback-only local instance must not use; ``is_local`` tells the CLI which one to set up."""

    address: str | None = Field(
        None, description="Ray cluster to join ('auto', 'host:port', 'ray://host:port'); "
        "default: start a local instance that listens on 127.0.0.1 only.")
    num_cpus: Annotated[int, Field(ge=1)] | None = Field(
        None, description="CPUs of a local instance (default: all).")
    num_gpus: Annotated[int, Field(ge=0)] | None = Field(
        None, description="GPUs of a local instance (default: all visible).")
    shared_paths: list[Path] = Field(
        default_factory=list, description="Directories every node of the cluster mounts at the "
        "same path (NFS, EFS, Filestore, a ReadWriteMany volume): an output_root under one is on "
        "shared storage, as a cluster requires. DEMP_SHARED_PATHS (':'-separated) adds more.")

    @property
    def is_local(self) -> bool:
        """No cluster to join: no address (nor RAY_ADDRESS, which `ray job submit` sets), or
        one on this machine's loopback (``demp.sweep.cluster.cluster_address``)."""
        return cluster_address(self.address) is None


class EarlyStoppingSpec(StrictModel):
    """Early stopping of trials that are unlikely to matter.

    ``asha``: Ray Tune's ASHA on one ``metric``; time is counted in evaluations
    (``training_iteration``). ``pareto_asha``: ``demp.sweep.scheduler.ParetoAsha``, which judges
    trials by non-dominated sorting in the sweep's objectives at rungs placed in training
    progress, outside the recovery window after each prune event. Each kind has its own fields;
    ``reduction_factor`` is shared.
    """

    kind: Literal["asha", "pareto_asha"] = "asha"
    metric: MetricName = Field("val_acc", description="asha: the metric trials are ranked by.")
    direction: Direction = "maximize"
    grace_period: Annotated[int, Field(ge=1)] = Field(
        2, description="asha: evaluations every trial gets before it can be stopped.")
    reduction_factor: float = Field(3.0, gt=1, description="η: the top 1/η at a rung continue.")
    max_t: Annotated[int, Field(ge=1)] = Field(
        1_000_000, description="asha: evaluations after which ASHA stops a trial (default: "
        "never).")
    min_progress: float = Field(
        0.1, gt=0, lt=1, description="pareto_asha: the first rung, as a fraction of training; "
        "the next ones are min_progress·η^k below 1.")
    rungs: list[Annotated[float, Field(gt=0, lt=1)]] | None = Field(
        None, min_length=1, description="pareto_asha: explicit rungs (increasing fractions of "
        "training) instead of min_progress·η^k.")
    recovery: float = Field(
        0.5, ge=0, lt=1, description="pareto_asha: fraction of a trial's prune interval after "
        "each prune event during which it is not judged.")

    @model_validator(mode="after")
    def _grace_within_max(self) -> "EarlyStoppingSpec":
        if self.grace_period > self.max_t:
            raise ValueError(f"grace_period ({self.grace_period}) must be <= max_t ({self.max_t})")
        return self

    @field_validator("rungs")
    @classmethod
    def _increasing(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and any(b <= a for a, b in zip(v, v[1:])):
            raise ValueError(f"must be strictly increasing, got {v}")
        return v


class WandbSpec(StrictModel):
    """W&B tracking: a run per trial (group = sweep name) and one for the sweep.

    Run files go to ``<sweep dir>/wandb/``. The API key is never part of the spec: W&B reads it
    from ``WANDB_API_KEY`` or its netrc entry (``wandb login``). A W&B failure never fails a
    trial or the sweep; it disables that run with a warning.
    """

    mode: Literal["auto", "online", "offline", "disabled"] = Field(
        "auto", description="auto: WANDB_MODE if set, else online when an API key is configured "
        "and offline otherwise (sync later with `wandb sync <sweep dir>/wandb/offline-run-*`); "
        "disabled: W&B is never started.")
    project: str | None = Field(None, description="W&B project (default: WANDB_PROJECT or "
                                "'demp').")
    entity: str | None = Field(None, description="W&B entity (default: the key's user).")
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, description="Tags on every run of the sweep.")


class SweepSpec(StrictModel):
    """A whole sweep. ``base`` is a full trainer config; ``space`` overrides fields of it."""

    name: str = Field(pattern=_NAME, max_length=100,
                      description="Sweep name: the directory under output_root.")
    description: str = ""
    output_root: Path = Field(Path("sweeps_out"), description="Where sweep directories go.")
    base: TrainConfig = Field(default_factory=TrainConfig)
    space: dict[str, Param] = Field(
        min_length=1, description="Parameters by dotted trainer-config path, in sampling order.")
    objectives: list[Objective] = Field(default_factory=_default_objectives, min_length=1)
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    trials: int = Field(ge=1, description="Number of trials to run (finished, failed or stopped).")
    max_concurrent: int = Field(1, ge=1)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    retries: int = Field(1, ge=0,
                         description="Restarts of a failing trial from its last checkpoint.")
    storage: str | None = Field(
        None, description="Optuna storage URL (postgresql://user@host/db for clusters; no "
        "password in the URL); default: a journal file in the sweep directory.")
    study_name: str | None = Field(None, pattern=_NAME, description="Default: the sweep name.")
    ray: RaySpec = Field(default_factory=RaySpec)
    early_stopping: EarlyStoppingSpec | None = None
    target_tolerance: float | None = Field(
        None, gt=0, description="Target-sparsity mode (base.demp.target set): a trial is "
        "feasible when |achieved - target| <= this, in the target's units (default 0.03 for "
        "sparsities, 3% of the budget for flops); infeasible trials are kept, marked, and left "
        "off the result.")
    time_budget_s: float | None = Field(
        None, gt=0, description="No new trial starts after this many seconds of a driver run "
        "(running trials finish); default: no limit besides `trials`.")
    wandb: WandbSpec = Field(default_factory=WandbSpec)

    @model_validator(mode="before")
    @classmethod
    def _target_objectives(cls, data: Any) -> Any:
        """Target-sparsity mode fixes the sparsity by a constraint, so by default the only
        objective is validation accuracy."""
        if isinstance(data, dict) and "objectives" not in data and _target_of(data) is not None:
            return {**data, "objectives": [{"metric": "val_acc"}]}
        return data

    @model_validator(mode="before")
    @classmethod
    def _infer_param_types(cls, data: Any) -> Any:
        """``type`` may be left out: it follows from the trainer field the parameter sets."""
        if not isinstance(data, dict) or not isinstance(data.get("space"), dict):
            return data
        space = {}
        for path, p in data["space"].items():
            if isinstance(p, dict) and "type" not in p:
                p = {**p, "type": _infer_type(str(path), p)}
            space[path] = p
        return {**data, "space": space}

    @field_validator("storage")
    @classmethod
    def _storage_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        scheme = parts.scheme.split("+")[0]
        if scheme not in ("postgresql", "mysql", "sqlite"):
            raise ValueError("must be an SQLAlchemy URL (postgresql://, mysql://, sqlite:///), "
                             "or left out for a journal file in the sweep directory")
        if parts.password:
            raise ValueError("contains a password, which would be written to spec.yaml and Ray's "
                             "experiment state; use PGPASSWORD or ~/.pgpass instead")
        return v

    @property
    def resolved_study_name(self) -> str:
        return self.study_name or self.name

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    @property
    def metrics(self) -> list[str]:
        return [o.metric for o in self.objectives]

    @property
    def resolved_tolerance(self) -> float | None:
        """|achieved − target| a feasible trial may have, or None outside target mode."""
        target = self.base.demp.target
        if target is None:
            return None
        if self.target_tolerance is not None:
            return self.target_tolerance
        return 0.03 * target.value if target.metric == "flops" else 0.03

    def constraint_violation(self, params: dict[str, Any],
                             metrics: dict[str, Any]) -> float | None:
        """|achieved − target| − tolerance of a finished trial (≤ 0: feasible; Optuna's
        constraint convention), or None outside target mode. The target is the trial's own
        (``demp.target.*`` may be searched)."""
        tolerance = self.resolved_tolerance
        if tolerance is None:
            return None
        cfg = apply_params(self.base.model_dump(mode="json"), params)["demp"]["target"]
        achieved = float(metrics.get(cfg["metric"], math.nan))
        if not math.isfinite(achieved):
            return math.inf
        return abs(achieved - float(cfg["value"])) - tolerance

    def search_space(self) -> SearchSpace:
        return SearchSpace(self.space, self.base.model_dump(mode="json"))

    def reference_point(self) -> list[float]:
        """The hypervolume reference, one value per objective (checked by ``check_spec``)."""
        ref = []
        for o in self.objectives:
            if o.reference is not None:
                ref.append(o.reference)
            else:
                ref += default_reference([(o.metric, o.direction)], num_classes(self.base))
        return ref


def _target_of(data: dict[str, Any]) -> Any:
    """``base.demp.target`` of a raw spec dict, if any."""
    base = data.get("base")
    demp = base.get("demp") if isinstance(base, dict) else None
    return demp.get("target") if isinstance(demp, dict) else None


def _infer_type(path: str, p: dict[str, Any]) -> str:
    if "choices" in p:
        return "categorical"
    try:
        kind, _ = field_kind(path)
    except KeyError:
        return "float"  # the path itself is reported by check_spec
    return kind if kind in ("int", "float") else "categorical"


def num_classes(base: TrainConfig) -> int:
    if base.data.name == "synthetic":
        return base.data.synthetic.num_classes
    return DATASET_CLASSES[base.data.name]


# ------------------------------------------------------------------------------ checks


def check_spec(spec: SweepSpec) -> list[str]:
    """Problems pydantic cannot see field by field, one "path: problem" line each."""
    errors = check_space(spec.space, spec.base, grid=spec.sampler.name == "grid")
    if spec.base.output_dir is not None:
        errors.append("base.output_dir: must be unset in a sweep (each trial writes to its own "
                      "Ray trial directory)")
    seen: set[str] = set()
    for i, o in enumerate(spec.objectives):
        if o.metric in seen:
            errors.append(f"objectives.{i}.metric: {o.metric} is listed twice")
        seen.add(o.metric)
        if o.reference is None:
            try:
                default_reference([(o.metric, o.direction)], num_classes(spec.base))
            except ValueError:
                errors.append(f"objectives.{i}.reference: required for {o.metric} "
                              f"({o.direction}), which has no natural worst value")
    errors += _check_early_stopping(spec.early_stopping)
    if spec.target_tolerance is not None and spec.base.demp.target is None:
        errors.append("target_tolerance: needs base.demp.target (target-sparsity mode)")
    if spec.resources.gpu > 0 and spec.base.device == "cpu":
        errors.append("base.device: is cpu but resources.gpu reserves a GPU per trial")
    if spec.resources.gpu == 0 and spec.base.device == "cuda":
        errors.append("resources.gpu: base.device is cuda but no GPU is reserved per trial")
    return errors + check_cluster(spec)   # shared results / Optuna storage on clusters


_ASHA_ONLY = ("metric", "direction", "grace_period", "max_t")
_PARETO_ONLY = ("min_progress", "rungs", "recovery")


def _check_early_stopping(es: EarlyStoppingSpec | None) -> list[str]:
    """A field of the other kind set to a non-default value is an error (it would be ignored).
    Defaults are not errors: spec.yaml holds every field, defaults included."""
    if es is None:
        return []
    other = _PARETO_ONLY if es.kind == "asha" else _ASHA_ONLY
    fields = EarlyStoppingSpec.model_fields
    errors = [f"early_stopping.{name}: only for kind "
              f"{'pareto_asha' if es.kind == 'asha' else 'asha'}"
              + (" (pareto_asha judges on the sweep's objectives)" if name in ("metric",
                 "direction") else "")
              for name in other if getattr(es, name) != fields[name].default]
    if es.kind == "pareto_asha" and es.rungs is not None \
            and es.min_progress != fields["min_progress"].default:
        errors.append("early_stopping.min_progress: give rungs or min_progress, not both")
    return errors


def spec_warnings(spec: SweepSpec) -> list[str]:
    """Legal but probably unintended settings (printed, never fatal)."""
    warnings = []
    if spec.sampler.name == "grid" and not check_spec(spec):
        size = spec.search_space().grid_size()
        if spec.trials > size:
            warnings.append(f"trials: {spec.trials} trials but the grid has {size} points; "
                            f"the grid sampler repeats points once it is exhausted")
        elif spec.trials < size:
            warnings.append(f"trials: {spec.trials} trials cover only part of the "
                            f"{size}-point grid")
    if spec.sampler.n_startup_trials is not None and spec.sampler.name not in ("tpe", "gp"):
        warnings.append(f"sampler.n_startup_trials: ignored by the {spec.sampler.name} sampler")
    if spec.sampler.population_size is not None and spec.sampler.name != "nsga2":
        warnings.append(f"sampler.population_size: ignored by the {spec.sampler.name} sampler")
    if spec.max_concurrent > spec.trials:
        warnings.append(f"max_concurrent: {spec.max_concurrent} exceeds trials ({spec.trials})")
    return warnings


# ------------------------------------------------------------------------------ loading


def format_spec_error(err: ValidationError) -> str:
    """One line per problem, "field.path: message", without union tags and pydantic prefixes."""
    lines = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        if len(loc) >= 3 and loc[0] == "space" and loc[2] in PARAM_TYPES:
            del loc[2]
        loc = [p for p in loc if not p.startswith("function-") and p != "__root__"]
        msg = e["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field (not part of the spec)"
        elif e["type"] not in ("missing", "value_error", "assertion_error") and "input" in e \
                and not isinstance(e["input"], dict):
            msg = f"{msg} (got {e['input']!r})"
        lines.append(f"{'.'.join(loc) or '<root>'}: {msg}")
    return "\n".join(lines)


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
    node = data
    for i, key in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise ConfigError(f"--set {text!r}: {'.'.join(path[:i])} has no item {key}")
            if last:
                node[int(key)] = value
            else:
                node = node[int(key)]
        elif isinstance(node, dict):
            if last:
                node[key] = value
            else:
                node = node.setdefault(key, {})
        else:
            raise ConfigError(f"--set {text!r}: {'.'.join(path[:i])} is not a section")


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


def sweep_json_schema() -> str:
    """JSON Schema of the sweep spec (``demp schema sweep``)."""
    return json.dumps(SweepSpec.model_json_schema(), indent=2)


__all__ = [
    "EarlyStoppingSpec", "Objective", "RaySpec", "ResourcesSpec", "SamplerSpec",
    "SweepSpec", "WandbSpec", "apply_spec_overrides", "check_spec", "dump_spec",
    "format_spec_error", "load_spec", "num_classes", "spec_warnings", "sweep_json_schema",
    "validate_spec",
]
