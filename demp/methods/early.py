"""EarlySNAP / EarlyCroP-S: the at-init scores, applied once training has settled a little.

EarlyCroP (Rachwan et al. 2022) prunes not at initialization but at the first epoch where the
network's distance from its initialization stops moving fast: with d_e = ‖θ_e − θ_0‖ (all
parameters, L2) measured at the end of epoch e, the trigger is the first e ≥ 2 with

    |d_e − d_{e−1}| / d_{e−1} < 1 − ρ,

ρ the target density. (d_0 = 0, so epoch 1 has no relative change.) Sparser targets use a tighter
threshold and so wait longer. If the trigger has not fired by ``early.latest_fraction`` of
training, pruning happens then (recorded as ``forced``), so every run ends pruned and trains its
pruned network for a while (``latest_fraction: 1`` turns the fallback off: never after the last
step).

θ_0 is kept (in the checkpoint too) until the trigger fires, then dropped. DemP is off for these
methods, so nothing changes the network's shape before the trigger and θ_0 lines up with θ_e.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from demp.methods.baseline import Baseline
from demp.methods.pruning import prune_to_density

if TYPE_CHECKING:
    from demp.config import BaselineConfig
    from demp.train.trainer import Trainer


@torch.no_grad()
def distance(params: list[Tensor], theta0: list[Tensor]) -> float:
    """‖θ − θ_0‖₂ over all parameters."""
    if len(params) != len(theta0) or any(p.shape != q.shape for p, q in zip(params, theta0)):
        raise RuntimeError("early pruning: the network changed shape before the trigger")
    return math.sqrt(sum(float((p.detach().float() - q.to(p.device)).square().sum())
                         for p, q in zip(params, theta0)))


class SettlingTrigger:
    """The trigger rule alone, on a sequence of per-epoch distances (pure and testable)."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.previous: float | None = None

    def update(self, d: float) -> tuple[bool, float | None]:
        """Feed d_e; returns (fire, relative change) — relative change None at the first epoch."""
        prev, self.previous = self.previous, d
        if prev is None or prev <= 0.0:
            return False, None
        rel = abs(d - prev) / prev
        return rel < self.threshold, rel


class EarlyPruning(Baseline):
    def __init__(self, name: str, score: str, cfg: BaselineConfig) -> None:
        self.name, self.score, self.cfg = name, score, cfg
        self.trigger = SettlingTrigger(1.0 - cfg.density)
        self.theta0: list[Tensor] | None = None
        self.fired_step: int | None = None

    def _capture(self, trainer: Trainer) -> None:
        self.theta0 = [p.detach().float().cpu().clone() for p in trainer.model.parameters()]

    def before_step(self, trainer: Trainer) -> None:
        if self.fired_step is not None or trainer.step >= trainer.total_steps:
            return  # pruning after the last step would leave nothing to train the pruned net
        if self.theta0 is None:  # a fresh run: the model is still at its initialization
            self._capture(trainer)
        step, spe = trainer.step, trainer.steps_per_epoch
        latest = math.ceil(self.cfg.early.latest_fraction * trainer.total_steps)
        fire, rel, epoch = False, None, step / spe
        if step > 0 and step % spe == 0:
            d = distance(list(trainer.model.parameters()), self.theta0)
            fire, rel = self.trigger.update(d)
        forced = not fire and step >= latest
        if not (fire or forced):
            return
        self.fired_step, self.theta0 = step, None
        prune_to_density(trainer, self.name, self.score, self.cfg, {
            "trigger": {"epoch": epoch, "relative_change": rel,
                        "threshold": self.trigger.threshold, "forced": forced}})

    def state_dict(self) -> dict[str, Any]:
        return {"theta0": self.theta0, "previous": self.trigger.previous,
                "fired_step": self.fired_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.theta0 = state["theta0"]
        self.trigger.previous = state["previous"]
        self.fired_step = state["fired_step"]
