"""The sweep spec's schema: one YAML file that says what to search, for which objectives, where.

These are the pydantic models (``extra="forbid"``, so a typo is an error). Validation has a second
pass, ``demp.spec.checks.check_spec``, for what needs the trainer's config model; both passes run
in ``demp.spec.loading.validate_spec`` before anything starts.

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
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from demp.config import STEPS_MAX, StrictModel, TrainConfig
from demp.pareto import default_reference
from demp.spec.cluster import address_problem, cluster_address
from demp.spec.layout import DEFAULT_OUTPUT_ROOT
from demp.spec.objectives import TargetConstraint, num_classes, target_violation
from demp.spec.space import Param, SearchSpace, field_kind

# Metrics of the trainer's metrics record that can be objectives or the early-stopping metric.
MetricName = Literal[
    "val_acc", "test_acc", "val_loss", "test_loss", "train_loss",
    "param_sparsity", "neural_sparsity", "params", "flops", "train_flops", "train_time",
]
Direction = Literal["maximize", "minimize"]
SamplerName = Literal["tpe", "nsga2", "gp", "random", "qmc", "grid"]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
LARGE_COUNT = 1_000_000        # trials, startup trials, population: far above any real sweep
RESOURCE_MAX = 1_000_000.0     # CPUs / GPUs (Ray's own limit is 1e14)
RESOURCE_UNIT = 0.0001         # Ray's precision for fractional resources


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
    seed: int = Field(0, ge=0, le=2**32 - 1,
                      description="Seed of the sampler (numpy's range: 0 to 2**32 - 1).")
    n_startup_trials: Annotated[int, Field(ge=0, le=LARGE_COUNT)] | None = Field(
        None, description="Random trials before TPE / GP model the results (Optuna default 10).")
    population_size: Annotated[int, Field(ge=2, le=LARGE_COUNT)] | None = Field(
        None, description="NSGA-II population (Optuna default 50).")


class ResourcesSpec(StrictModel):
    """What one trial reserves; fractions let several trials share a GPU."""

    cpu: float = Field(1.0, gt=0, le=RESOURCE_MAX)
    gpu: float = Field(0.0, ge=0, le=RESOURCE_MAX)

    @field_validator("cpu", "gpu")
    @classmethod
    def _ray_precision(cls, v: float) -> float:
        if 0 < v < RESOURCE_UNIT:
            raise ValueError(f"must be at least {RESOURCE_UNIT} (Ray's resource precision) or "
                             f"0 where allowed, got {v!r}")
        return v


class RaySpec(StrictModel):
    """Where trials run. Joining a cluster off this machine needs Ray's cluster mode, which a
    loopback-only local instance must not use; ``is_local`` tells the CLI which one to set up."""

    address: str | None = Field(
        None, description="Ray cluster to join ('auto', 'host:port', 'ray://host:port'); "
        "default: start a local instance that listens on 127.0.0.1 only.")
    num_cpus: Annotated[int, Field(ge=1, le=int(RESOURCE_MAX))] | None = Field(
        None, description="CPUs of a local instance (default: all).")
    num_gpus: Annotated[int, Field(ge=0, le=int(RESOURCE_MAX))] | None = Field(
        None, description="GPUs of a local instance (default: all visible).")
    dashboard: bool = Field(
        False, description="Ray's dashboard for a local instance, on 127.0.0.1 (needs "
        "ray[default]). Default: a lean instance, without Ray's API server, autoscaler monitor "
        "and log monitor, which a sweep does not use and which cost it ≈ 2 s of start and stop.")
    shared_paths: list[Path] = Field(
        default_factory=list, description="Directories every node of the cluster mounts at the "
        "same path (NFS, EFS, Filestore, a ReadWriteMany volume): an output_root under one is on "
        "shared storage, as a cluster requires. DEMP_SHARED_PATHS (':'-separated) adds more.")

    @field_validator("address")
    @classmethod
    def _address_syntax(cls, v: str | None) -> str | None:
        problem = address_problem(v) if v is not None else None
        if problem:
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _dashboard_is_local(self) -> "RaySpec":
        if self.dashboard and self.address is not None:
            raise PydanticCustomError(
                "field", "dashboard: only for a local instance; a cluster the sweep joins "
                "(address) has its own dashboard, set up where the cluster starts")
        return self

    @property
    def is_local(self) -> bool:
        """No cluster to join: no address (nor RAY_ADDRESS, which `ray job submit` sets), or
        one on this machine's loopback (``demp.spec.cluster.cluster_address``)."""
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
    grace_period: Annotated[int, Field(ge=1, le=STEPS_MAX)] = Field(
        2, description="asha: evaluations every trial gets before it can be stopped.")
    reduction_factor: float = Field(3.0, gt=1, description="η: the top 1/η at a rung continue.")
    max_t: Annotated[int, Field(ge=1, le=STEPS_MAX)] = Field(
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


class ReplicatesSpec(StrictModel):
    """Re-run configurations on further training seeds once the search has ended
    (``demp.sweep.replicates``); replicates are Ray trials the sampler never sees."""

    seeds: int = Field(3, ge=2, le=100, description="Seeds per configuration, the search "
                       "trial's own included (seeds s, s+1, ..., s+seeds-1).")
    stage: Literal["frontier", "all"] = Field(
        "frontier", description="frontier: the search's frontier members; all: every complete "
        "search trial.")


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
    media_interval: float = Field(
        30.0, ge=0, allow_inf_nan=False,
        description="Seconds between two re-drawings of the sweep run's frontier plot and "
        "tables (they are re-logged when the frontier changed, and at the end); 0: at every "
        "change. The hypervolume and trial counts are logged after every trial regardless.")


class SweepSpec(StrictModel):
    """A whole sweep. ``base`` is a full trainer config; ``space`` overrides fields of it."""

    name: str = Field(pattern=_NAME, max_length=100,
                      description="Sweep name: the directory under output_root.")
    description: str = ""
    output_root: Path = Field(DEFAULT_OUTPUT_ROOT, description="Where sweep directories go.")
    base: TrainConfig = Field(default_factory=TrainConfig)
    space: dict[str, Param] = Field(
        min_length=1, description="Parameters by dotted trainer-config path, in sampling order.")
    objectives: list[Objective] = Field(default_factory=_default_objectives, min_length=1)
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    trials: int = Field(ge=1, le=LARGE_COUNT,
                        description="Number of trials to run (finished, failed or stopped).")
    max_concurrent: int = Field(1, ge=1, le=10_000)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    retries: int = Field(1, ge=0, le=1000,
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
    replicates: ReplicatesSpec | None = Field(
        None, description="Re-run configurations on further seeds after the search: a frontier "
        "of means with error bars (frontier_replicates.*), and compare's bootstrap intervals.")
    reproducible: bool = Field(
        False, description="Suggest trials in fixed batches of max_concurrent: the sampler sees "
        "every trial of a batch before it suggests the next batch, so a spec and seed give the "
        "same trials whatever order they finish in. Costs the wait for each batch's slowest "
        "trial; excludes early_stopping and time_budget_s, whose decisions depend on timing.")
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
                             "experiment state; put it in a password file named by PGPASSFILE "
                             "(or ~/.pgpass) instead")
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
        return target_violation(self.base.model_dump(mode="json"), tolerance, params, metrics)

    def target_constraint(self) -> TargetConstraint | None:
        """``constraint_violation`` as plain data, for Optuna's searcher (whose state Ray
        pickles); None outside target mode."""
        tolerance = self.resolved_tolerance
        if tolerance is None:
            return None
        return TargetConstraint(self.base.model_dump(mode="json"), tolerance)

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


def sweep_json_schema() -> str:
    """JSON Schema of the sweep spec (``demp schema sweep``)."""
    return json.dumps(SweepSpec.model_json_schema(), indent=2)


__all__ = [
    "Direction", "EarlyStoppingSpec", "MetricName", "Objective", "RaySpec", "ResourcesSpec",
    "SamplerName", "SamplerSpec", "SweepSpec", "WandbSpec", "sweep_json_schema",
]
