"""A trial's schedules (λ_t, σ_t, lr) computed from its config, not read from its evaluations.

The values a trial reports are samples at its evaluation steps, a few dozen per run, and they
miss what happens between them: a one-cycle peak between two evaluations is simply not there.
The schedules are pure functions of the step (``demp.train.schedules``), so the report evaluates
them itself, from the trial's own config (``demp.results.trial_config``, the method's preset
applied by ``demp.methods.resolve``, exactly as ``build_trainer`` does), at evenly spaced steps
plus every step where a schedule changes course (one-cycle's peak, the end of the λ/σ span, the
warm-up's end, each lr milestone and the step before it), so a corner is drawn where it is.

λ_t and σ_t come from ``DempStrategy.lam`` / ``.sigma``, the trainer's own switches included (a
baseline, DemP or a part of it switched off: 0); the lr is ``optimizer.lr × lr_factor`` at the
step, what torch's ``LambdaLR`` gives the optimizer after that many steps. In target-sparsity
mode the controller scales λ's peak online from measured sparsity: the curve is then the
unscaled schedule and ``lam_scaled`` says so.

The run's length comes from the trial's last metrics: ``total_steps`` and ``step / epoch`` (the
steps of one epoch, which the lr milestones are counted in) are what its trainer computed from
the data; nothing here loads a dataset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from demp.config import TrainConfig
from demp.results.records import TrialRecord
from demp.results.trial_config import trial_train_config
from demp.results.values import is_finite
from demp.spec.schema import SweepSpec

CURVE_POINTS = 120  # evenly spaced steps per curve, breakpoints added


@dataclass
class ScheduleCurves:
    """λ_t, σ_t and the learning rate at ``steps`` (the value used by the step of that index)."""

    steps: list[int]
    lam: list[float]
    sigma: list[float]
    lr: list[float]
    lam_scaled: bool = False   # target mode: λ's peak is scaled online; this is the unscaled one

    def as_dict(self) -> dict[str, object]:
        return {"steps": self.steps, "lam": self.lam, "sigma": self.sigma, "lr": self.lr,
                "lam_scaled": self.lam_scaled}


def curve_steps(cfg: TrainConfig, total_steps: int, steps_per_epoch: int | None,
                points: int = CURVE_POINTS) -> list[int]:
    """Evenly spaced steps in ``[0, total_steps]`` and the steps where a schedule bends."""
    total = max(1, int(total_steps))
    n = max(2, min(points, total + 1))
    marks = {round(i * total / (n - 1)) for i in range(n)}
    sched, lr = cfg.demp.schedule, cfg.lr_schedule
    span = max(1.0, sched.span_fraction * total)
    bends = [span, sched.pct_start * span]
    if lr.name == "one_cycle":
        bends.append(lr.pct_start * total)
    if lr.name == "warmup":
        bends.append(lr.warmup_fraction * total)
    if lr.name == "step" and steps_per_epoch:
        bends += [round(m * steps_per_epoch) for m in lr.milestones]
    for b in bends:
        marks.update({math.floor(b) - 1, math.floor(b), math.ceil(b)})
    return sorted(s for s in marks if 0 <= s <= total)


def schedule_curves(cfg: TrainConfig, total_steps: int, steps_per_epoch: int | None,
                    points: int = CURVE_POINTS) -> ScheduleCurves:
    """The schedules of ``cfg`` (its method's preset applied here) over a run of
    ``total_steps``; ``steps_per_epoch`` matters only to the ``step`` lr schedule."""
    from demp.methods import resolve  # torch: only when a report draws schedules
    from demp.methods.demp import DempStrategy
    from demp.train.schedules import lr_factor

    cfg = resolve(cfg)
    total = max(1, int(total_steps))
    spe = max(1, int(steps_per_epoch or 1))
    demp = DempStrategy(cfg.demp, cfg.seed)   # no controller attached: the unscaled λ
    steps = curve_steps(cfg, total, steps_per_epoch, points)
    base = cfg.optimizer.lr
    return ScheduleCurves(
        steps, [demp.lam(s, total) for s in steps], [demp.sigma(s, total) for s in steps],
        [base * lr_factor(cfg.lr_schedule, s, total, spe) for s in steps],
        lam_scaled=cfg.demp.enabled and cfg.demp.target is not None)


def run_length(cfg: TrainConfig, metrics: Mapping[str, Any]) -> tuple[int, int | None] | None:
    """``(total_steps, steps_per_epoch)`` of a trial from its last metrics (None when it never
    trained: a failed config reports ``total_steps = 0``)."""
    total, step, epoch = (float(metrics[k]) if is_finite(metrics.get(k)) else None
                          for k in ("total_steps", "step", "epoch"))
    if total is None or total < 1:
        return None
    spe = None
    if step is not None and epoch:
        spe = max(1, round(step / epoch))
    elif cfg.max_steps is None:
        spe = max(1, round(total / cfg.epochs))
    return int(total), spe


def trial_schedules(spec: SweepSpec, record: TrialRecord,
                    points: int = CURVE_POINTS) -> ScheduleCurves | None:
    """The schedules of one finished trial (None when its config or length is unknown)."""
    cfg = trial_train_config(spec, record)
    if cfg is None:
        return None
    length = run_length(cfg, record.metrics)
    if length is None:
        return None
    return schedule_curves(cfg, length[0], length[1], points)


__all__ = ["CURVE_POINTS", "ScheduleCurves", "curve_steps", "run_length", "schedule_curves",
           "trial_schedules"]
