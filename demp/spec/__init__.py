"""What a sweep is and where it lives: the YAML spec, its search space, and the sweep directory.

Plain data and pydantic only (no Ray, no Optuna at import), so reading a spec or a sweep
directory is quick next to a live sweep. The sweep service (``demp.sweep``) runs what a spec
says; the results (``demp.results``) read what it wrote. One module per job:

- ``schema``        ``SweepSpec`` and its sections (the pydantic models), JSON Schema
- ``space``         search-space parameters by dotted trainer path, conditions, Optuna's
                    define-by-run ``SearchSpace``
- ``space_checks``  what a space must satisfy against the trainer config
- ``objectives``    reference-point defaults, the target-sparsity constraint as plain data
- ``cluster``       the rules a sweep must follow before its trials leave this machine
- ``checks``        the second validation pass over a whole spec, and its warnings
- ``loading``       YAML + ``--set`` in, validated spec out (``load_spec``); ``dump_spec`` back
- ``layout``        the sweep directory: paths, Optuna storage, driver lock, bookkeeping
"""

from demp.spec.checks import check_spec, spec_warnings
from demp.spec.cluster import check_cluster
from demp.spec.layout import (
    DEFAULT_OUTPUT_ROOT, DriverLock, SweepPaths, driver_owner, not_a_sweep, open_storage,
    storage_label, study_exists, sweep_directory,
)
from demp.spec.loading import (
    apply_spec_overrides, dump_spec, format_spec_error, load_spec, validate_spec,
)
from demp.spec.objectives import TargetConstraint, num_classes
from demp.spec.schema import (
    EarlyStoppingSpec, Objective, RaySpec, ResourcesSpec, SamplerSpec, SweepSpec, WandbSpec,
    sweep_json_schema,
)
from demp.spec.space import SearchSpace, apply_params, is_active, sampling_order

__all__ = [
    "DEFAULT_OUTPUT_ROOT", "DriverLock", "EarlyStoppingSpec", "Objective", "RaySpec", "ResourcesSpec", "SamplerSpec",
    "SearchSpace", "SweepPaths", "SweepSpec", "TargetConstraint", "WandbSpec",
    "apply_params", "apply_spec_overrides", "check_cluster", "check_spec", "driver_owner",
    "dump_spec",
    "format_spec_error", "is_active", "load_spec", "not_a_sweep", "num_classes", "open_storage",
    "sampling_order", "spec_warnings", "storage_label", "study_exists", "sweep_directory",
    "sweep_json_schema", "validate_spec",
]
