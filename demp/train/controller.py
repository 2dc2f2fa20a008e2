"""Target-sparsity mode: adapt λ online so a run reaches a chosen sparsity without a λ search.

Two parts. A multiplicative controller scales λ's peak at every death check by
exp(gain · (desired − measured) / target), where the desired sparsity ramps linearly to the
target over ``ramp_fraction`` of the λ span; once the target is met λ is switched off so the
rest of training recovers accuracy. And a cap: death is irreversible and removal cannot be
undone, so a prune event removes only as many dead units as keep the run at or below the target
(the rest stay in place, dead and harmless).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch

from demp.config import TargetConfig
from demp.models import PrunableNet
from demp.train.metrics import count_parameters, inference_flops
from demp.train.surgery import remove_dead

SCALE_BOUNDS = (1e-3, 1e3)


class SparsityController:
    """State: the λ scale and whether the target has been met (saved in checkpoints)."""

    def __init__(self, cfg: TargetConfig, span_steps: float) -> None:
        self.cfg = cfg
        self.span_steps = max(1.0, span_steps)
        self.scale = 1.0
        self.reached = False

    def desired(self, step: int, target: float) -> float:
        return target * min(1.0, step / (self.cfg.ramp_fraction * self.span_steps))

    def update(self, step: int, measured: float, target: float, capped: bool = False) -> float:
        """New λ scale after a death check that measured ``measured`` (a sparsity fraction).

        ``capped`` says the cap held units back: the target is as reached as removal allows.
        """
        if capped or measured >= target - 1e-9:
            self.reached = True
        if self.reached:
            self.scale = 0.0
            return self.scale
        error = (self.desired(step, target) - measured) / target
        lo, hi = SCALE_BOUNDS
        self.scale = min(hi, max(lo, self.scale * math.exp(self.cfg.gain * error)))
        return self.scale

    def state_dict(self) -> dict[str, float | bool]:
        return {"scale": self.scale, "reached": self.reached}

    def load_state_dict(self, state: dict[str, float | bool]) -> None:
        self.scale = float(state["scale"])
        self.reached = bool(state["reached"])


def sparsity_measure(metric: str, initial_params: int, initial_flops: int,
                     initial_units: int, input_shape: tuple[int, ...]
                     ) -> Callable[[PrunableNet], float]:
    """A function giving the model's sparsity in the target's terms (FLOPs as a saved fraction)."""
    if metric == "param_sparsity":
        return lambda m: 1.0 - count_parameters(m) / initial_params
    if metric == "neural_sparsity":
        return lambda m: 1.0 - sum(m.live_units().values()) / initial_units
    return lambda m: 1.0 - inference_flops(m, input_shape) / initial_flops


def target_fraction(cfg: TargetConfig, initial_flops: int) -> float:
    """The target as a sparsity fraction (a FLOPs budget becomes the fraction of FLOPs saved)."""
    if cfg.metric == "flops":
        return max(0.0, 1.0 - cfg.value / initial_flops)
    return cfg.value


def capped_dead(model: PrunableNet, dead: dict[str, torch.Tensor], target: float,
                measure: Callable[[PrunableNet], float]
                ) -> tuple[dict[str, torch.Tensor], bool]:
    """The largest prefix of the dead units (in group order) whose removal stays ≤ target, and
    whether that held any dead unit back.

    Found by bisection on trial surgeries of a copy; only runs when removing every dead unit
    would overshoot.
    """
    order = [(g, int(i)) for g, mask in dead.items() for i in torch.nonzero(mask).flatten()]

    def prefix(k: int) -> dict[str, torch.Tensor]:
        out = {g: torch.zeros_like(m) for g, m in dead.items()}
        for g, i in order[:k]:
            out[g][i] = True
        return out

    def after(k: int) -> float:
        trial = copy.deepcopy(model)
        remove_dead(trial, prefix(k))
        return measure(trial)

    if not order or after(len(order)) <= target:
        return dead, False
    lo, hi = 0, len(order)  # after(lo) <= target < after(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if after(mid) <= target:
            lo = mid
        else:
            hi = mid
    return prefix(lo), True
