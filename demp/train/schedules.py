"""λ_t / σ_t schedules and the learning-rate schedule, as pure functions of the step.

Pure functions make the schedules testable against their formulas and make resume trivial: the
value at step t depends on nothing but t.
"""

from __future__ import annotations

import math

from demp.config import LRScheduleConfig, ScheduleConfig

ONE_CYCLE_DIV = 25.0  # start = peak / 25
ONE_CYCLE_FINAL_DIV = 2.5e5  # end = peak / 2.5e5 (start / 1e4, as torch's OneCycleLR)


def _cos(start: float, end: float, pct: float) -> float:
    """Cosine interpolation from ``start`` (pct=0) to ``end`` (pct=1)."""
    return end + (start - end) / 2.0 * (1.0 + math.cos(math.pi * pct))


def one_cycle(step: float, span: float, peak: float, pct_start: float) -> float:
    """peak/25 → cosine up to peak at pct_start·span → cosine down to peak/2.5e5 at span."""
    up = pct_start * span
    if step >= span:
        return peak / ONE_CYCLE_FINAL_DIV
    if step <= up:
        return _cos(peak / ONE_CYCLE_DIV, peak, step / up if up > 0 else 1.0)
    return _cos(peak, peak / ONE_CYCLE_FINAL_DIV, (step - up) / (span - up))


def schedule_value(
    shape: str, peak: float, step: int, total_steps: int, pct_start: float = 0.3,
    span_fraction: float = 0.9,
) -> float:
    """Value of a DemP schedule (λ or σ) at ``step``; constant after the span."""
    span = max(1.0, span_fraction * total_steps)
    t = min(float(step), span)
    if shape == "one_cycle":
        return one_cycle(t, span, peak, pct_start)
    if shape == "constant":
        return peak
    if shape == "warmup":
        return peak * t / span
    if shape == "cosine_decay":
        return _cos(peak, 0.0, t / span)
    if shape == "linear_decay":
        return peak * (1.0 - t / span)
    raise ValueError(f"unknown schedule shape {shape!r}")


def demp_schedule(cfg: ScheduleConfig, peak: float, step: int, total_steps: int) -> float:
    return schedule_value(cfg.shape, peak, step, total_steps, cfg.pct_start, cfg.span_fraction)


def lr_factor(cfg: LRScheduleConfig, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """Multiplier of the base learning rate at ``step`` (used through torch's LambdaLR)."""
    total = max(1, total_steps)
    final = cfg.final_fraction
    if cfg.name == "constant":
        return 1.0
    if cfg.name == "step":
        passed = sum(1 for m in cfg.milestones if step >= round(m * steps_per_epoch))
        return cfg.factor**passed
    if cfg.name == "cosine":
        return _cos(1.0, final, min(step, total) / total)
    if cfg.name == "one_cycle":
        return one_cycle(min(step, total), total, 1.0, cfg.pct_start)
    if cfg.name == "warmup":
        warm = cfg.warmup_fraction * total
        if step < warm:
            return (step + 1) / (warm + 1)
        return _cos(1.0, final, (step - warm) / max(1.0, total - warm)) if final < 1 else 1.0
    raise ValueError(f"unknown lr schedule {cfg.name!r}")
