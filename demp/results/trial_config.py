"""A finished trial's trainer config, rebuilt from what the sweep directory keeps.

The sweep keeps no per-trial config file of its own: a trial's config is ``spec.yaml``'s
``base`` with the trial's sampled ``params`` (``trials.jsonl``) set on it, validated, exactly
what the trial itself built (``demp.sweep.trial.trial_config``) before ``build_trainer`` applied
the method's preset. Rebuilding it here needs neither Ray's files (which may move) nor a
checkpoint (which needs torch to read).

Two readers: the report's schedules (``schedule_curves``, with the preset applied through
``demp.methods.resolve``), and the dense reference point of the frontier plot, which must be
judged on the settings a run actually used (``demp_no_noise`` switches noise off) but must stay
torch-free because ``frontier.png`` is drawn by ``demp sweep frontier``: it reads the preset
through ``demp.registry.preset_value``, as the trainer config's own cross-field rules do.
"""

from __future__ import annotations

from collections.abc import Sequence

from demp.config import TrainConfig, validate
from demp.registry import METHODS, preset_value
from demp.results.records import TrialRecord
from demp.results.values import is_finite
from demp.spec.schema import SweepSpec
from demp.spec.space import apply_params


def trial_train_config(spec: SweepSpec, record: TrialRecord) -> TrainConfig | None:
    """``base`` + the trial's parameters, validated (None if they do not validate: such a trial
    failed with "invalid trial config" and never trained)."""
    try:
        data = apply_params(spec.base.model_dump(mode="json"), dict(record.params))
        return validate(TrainConfig, data, prefix="trial")
    except ValueError:  # ConfigError, or a parameter path through a non-section (PathError)
        return None


def is_dense(cfg: TrainConfig) -> bool:
    """Whether a run trains the dense network: a DemP-family method (baselines prune by
    themselves) whose regularizer and noise are off or have a zero peak, as its method's preset
    leaves them. Death checks may still run; without λ or σ nothing drives units to die."""
    method = METHODS.get(cfg.method)
    if method is None or method.is_baseline:
        return False
    d = cfg.demp
    if not preset_value(cfg.method, "demp.enabled", d.enabled):
        return True
    reg_on = preset_value(cfg.method, "demp.regularizer.enabled", d.regularizer.enabled)
    noise_on = preset_value(cfg.method, "demp.noise.enabled", d.noise.enabled)
    return not (reg_on and d.regularizer.peak > 0) and not (noise_on and d.noise.peak > 0)


def dense_record(spec: SweepSpec, records: Sequence[TrialRecord],
                 metric: str) -> TrialRecord | None:
    """The sweep's dense reference: the complete dense trial with the best ``metric`` (a sweep
    that searches λ down to 0, or one with a dense trial enqueued), None when it has none. Only
    what a trial measured is used; nothing is assumed about a network nobody trained."""
    dense = [r for r in records if r.status == "complete"
             and (cfg := trial_train_config(spec, r)) is not None and is_dense(cfg)]
    if not dense:
        return None
    return max(dense, key=lambda r: float(r.metrics[metric]) if is_finite(r.metrics.get(metric))
               else float("-inf"))


__all__ = ["dense_record", "is_dense", "trial_train_config"]
