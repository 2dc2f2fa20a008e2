"""Network slimming (Liu et al. 2017): L1 on the norm scales, remove small |γ|, fine-tune.

Phases, within the run's own step budget (so a slimming trial costs what any other trial
costs): steps [0, T − F) train with a constant λ·sign(γ) added to the gradient of every
normalization scale (the same penalty gradient as DemP's L1, without schedule or noise); at step
T − F every unit whose scale is below ``threshold`` is removed; the last F = round(
``finetune_epochs`` × steps per epoch) steps fine-tune the slimmed network without the penalty.
The learning-rate schedule runs over all T steps, unchanged.

A unit's scale is the largest |γ| among its group's normalization producers (a residual block
whose shortcut has its own BN: both branches must be small). Groups without a normalization
producer, and block outputs fed by an identity shortcut (the unit carries the previous block's
signal whatever its γ), are never thresholded — as in the slimming paper's ResNet variant,
which prunes inside blocks only. Each group keeps at least its largest-γ unit.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from demp.methods.baseline import Baseline, emit_prune_event
from demp.models.units import ChannelMap, PrunableNet
from demp.train.regularize import NORM_TYPES, add_penalty_grad, regularized_parameters

if TYPE_CHECKING:
    from demp.config import SlimmingConfig
    from demp.train.trainer import Trainer


def unit_scales(model: PrunableNet) -> dict[str, Tensor]:
    """max |γ| per unit over each group's norm producers, for the groups slimming may prune."""
    out: dict[str, Tensor] = {}
    for name, group in model.unit_groups.items():
        mods = [model.get_submodule(p) for p in group.producers]
        if any(isinstance(m, ChannelMap) for m in mods):
            continue
        gammas = [m.weight.detach().abs().float().cpu() for m in mods
                  if isinstance(m, NORM_TYPES) and getattr(m, "weight", None) is not None]
        if gammas:
            out[name] = torch.stack(gammas).amax(0)
    return out


def threshold_removal(model: PrunableNet, threshold: float) -> dict[str, Tensor]:
    """Masks of the units whose scale is below ``threshold`` (each group keeps its best)."""
    remove = {g: torch.zeros(ids.numel(), dtype=torch.bool) for g, ids in model.unit_ids.items()}
    for g, s in unit_scales(model).items():
        if g in model.placeholder_groups:
            continue
        mask = s < threshold
        mask[int(torch.argmax(s))] = False
        remove[g] = mask
    return remove


class NetworkSlimming(Baseline):
    name = "slimming"

    def __init__(self, cfg: SlimmingConfig) -> None:
        self.cfg = cfg
        self.pruned = False
        self._params: tuple[int, list[nn.Parameter]] | None = None

    def prune_step(self, trainer: Trainer) -> int:
        """T − F: the step at which units are removed."""
        finetune = round(self.cfg.finetune_epochs * trainer.steps_per_epoch)
        return max(0, trainer.total_steps - finetune)

    def before_optimizer_step(self, trainer: Trainer) -> None:
        if self.pruned or self.cfg.lam == 0.0:
            return
        # surgery slices parameters in place, so the list stays valid for this model object
        if self._params is None or self._params[0] != id(trainer.model):
            self._params = (id(trainer.model),
                            regularized_parameters(trainer.model, "norm_scales"))
        add_penalty_grad(self._params[1], "l1", self.cfg.lam)

    def before_step(self, trainer: Trainer) -> None:
        if self.pruned or trainer.step < self.prune_step(trainer):
            return
        self.pruned = True
        t0 = time.perf_counter()
        model = trainer.model
        report = trainer.apply_surgery(threshold_removal(model, self.cfg.threshold))
        initial = sum(model.initial_units().values())
        emit_prune_event(trainer, report.removed, {
            "method": self.name, "threshold": self.cfg.threshold,
            "density": sum(model.live_units().values()) / initial,
            "surgery_time": time.perf_counter() - t0,
        })

    def state_dict(self) -> dict[str, Any]:
        return {"pruned": self.pruned}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pruned = bool(state["pruned"])
