"""λ_t / σ_t schedules against their formulas at start, peak, end of span and after it."""

from __future__ import annotations

import math

import pytest

from demp.config import LRScheduleConfig
from demp.train.schedules import lr_factor, schedule_value

TOTAL, SPAN_FRAC, PCT = 1000, 0.9, 0.3
SPAN = SPAN_FRAC * TOTAL  # 900 steps
PEAK = 0.2


def value(shape: str, step: int) -> float:
    return schedule_value(shape, PEAK, step, TOTAL, PCT, SPAN_FRAC)


def test_one_cycle_formula():
    up = PCT * SPAN  # 270
    assert value("one_cycle", 0) == pytest.approx(PEAK / 25)
    assert value("one_cycle", int(up)) == pytest.approx(PEAK)
    # halfway up the cosine: mean of start and peak
    assert value("one_cycle", int(up / 2)) == pytest.approx((PEAK / 25 + PEAK) / 2)
    # halfway down: mean of peak and final
    mid_down = int(up + (SPAN - up) / 2)
    assert value("one_cycle", mid_down) == pytest.approx((PEAK + PEAK / 2.5e5) / 2)
    assert value("one_cycle", int(SPAN)) == pytest.approx(PEAK / 2.5e5)
    assert value("one_cycle", 999) == pytest.approx(PEAK / 2.5e5)
    # a point on the rise, against the closed form
    t = 100
    expected = PEAK + (PEAK / 25 - PEAK) / 2 * (1 + math.cos(math.pi * t / up))
    assert value("one_cycle", t) == pytest.approx(expected)


def test_constant():
    for t in (0, 270, 900, 999):
        assert value("constant", t) == PEAK


def test_warmup_linear_then_flat():
    assert value("warmup", 0) == 0.0
    assert value("warmup", 450) == pytest.approx(PEAK / 2)
    assert value("warmup", 900) == pytest.approx(PEAK)
    assert value("warmup", 999) == pytest.approx(PEAK)


def test_cosine_decay():
    assert value("cosine_decay", 0) == pytest.approx(PEAK)
    assert value("cosine_decay", 450) == pytest.approx(PEAK / 2)
    assert value("cosine_decay", 900) == pytest.approx(0.0, abs=1e-12)
    assert value("cosine_decay", 999) == pytest.approx(0.0, abs=1e-12)


def test_linear_decay():
    assert value("linear_decay", 0) == pytest.approx(PEAK)
    assert value("linear_decay", 225) == pytest.approx(0.75 * PEAK)
    assert value("linear_decay", 900) == pytest.approx(0.0)
    assert value("linear_decay", 999) == pytest.approx(0.0)


def test_unknown_shape_is_an_error():
    with pytest.raises(ValueError, match="unknown schedule shape"):
        value("sawtooth", 3)


def test_lr_step_schedule_uses_epoch_milestones():
    cfg = LRScheduleConfig(name="step", milestones=[2, 4], factor=0.2)
    assert lr_factor(cfg, 19, 100, 10) == 1.0
    assert lr_factor(cfg, 20, 100, 10) == pytest.approx(0.2)
    assert lr_factor(cfg, 40, 100, 10) == pytest.approx(0.04)


def test_lr_cosine_and_one_cycle():
    cos = LRScheduleConfig(name="cosine")
    assert lr_factor(cos, 0, 100, 10) == pytest.approx(1.0)
    assert lr_factor(cos, 50, 100, 10) == pytest.approx(0.5)
    assert lr_factor(cos, 100, 100, 10) == pytest.approx(0.0, abs=1e-12)
    oc = LRScheduleConfig(name="one_cycle", pct_start=0.25)
    assert lr_factor(oc, 0, 100, 10) == pytest.approx(1 / 25)
    assert lr_factor(oc, 25, 100, 10) == pytest.approx(1.0)
