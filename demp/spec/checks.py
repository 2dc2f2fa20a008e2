"""The spec's second validation pass: what pydantic cannot check field by field.

``check_spec`` needs the trainer's config model: that each searched path exists and every bound
is a value the trainer accepts (``demp.spec.space_checks``), objectives have a reference point,
the early-stopping fields fit its kind, resources fit the device, what ``run`` would trip on
(``demp.spec.preflight``: the sweep directory, the local Ray instance, the sampler, the storage),
and the cluster rules (``demp.spec.cluster``). One ``"path: problem"`` line per problem, all at once.
``spec_warnings`` lists legal but probably unintended settings.
"""

from __future__ import annotations

from demp.pareto import default_reference
from demp.spec.cluster import check_cluster
from demp.spec.objectives import num_classes
from demp.spec.preflight import run_problems
from demp.spec.schema import EarlyStoppingSpec, SweepSpec
from demp.spec.space_checks import check_space

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
    if spec.reproducible:
        for field, value in (("early_stopping", spec.early_stopping),
                             ("time_budget_s", spec.time_budget_s)):
            if value is not None:
                errors.append(f"reproducible: excludes {field}, whose decisions depend on when "
                              f"results arrive; drop one of the two")
    if spec.target_tolerance is not None and spec.base.demp.target is None:
        errors.append("target_tolerance: needs base.demp.target (target-sparsity mode)")
    if spec.resources.gpu > 0 and spec.base.device == "cpu":
        errors.append("base.device: is cpu but resources.gpu reserves a GPU per trial")
    if spec.resources.gpu == 0 and spec.base.device == "cuda":
        errors.append("resources.gpu: base.device is cuda but no GPU is reserved per trial")
    errors += run_problems(spec, space_ok=not errors)  # what `run` would trip on
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


__all__ = ["check_spec", "spec_warnings"]
