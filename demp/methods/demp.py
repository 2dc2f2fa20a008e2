"""Demon Pruning as a training strategy: scheduled penalty, asymmetric noise, death checks.

One step: after the data-loss backward, read which entries got a non-zero gradient, then add
λ_t·∂R/∂θ; after the optimizer and LR steps, θ += σ_t·ξ on those entries. Every
``prune_interval`` steps (and at step 0 and the end) dead units are detected and removed. The
parts themselves live in ``demp.train`` (``schedules``, ``regularize``, ``noise``, ``death``,
``surgery``, ``controller``); this module only says when each one acts.

Every switch of the ``demp`` section is honoured here, ``demp.enabled`` included: a baseline
method runs with DemP off and still reports λ = σ = 0 and the regularizer's value, as the metrics
record always has.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from demp.config import DemPConfig
from demp.models.units import PrunableNet
from demp.train.controller import (
    SparsityController, capped_dead, sparsity_measure, target_fraction,
)
from demp.train.death import DeathCheck, check_units
from demp.train.fold import can_fold, fold_constant_units
from demp.train.noise import LiveNoise
from demp.train.regularize import add_penalty_grad, penalty, regularized_parameters
from demp.train.schedules import demp_schedule
from demp.train.strategy import TrainingStrategy

if TYPE_CHECKING:
    from demp.train.trainer import Trainer


class DempStrategy(TrainingStrategy):
    """DemP's parts for one run; state saved in checkpoints: the death check's last step and the
    target-sparsity controller."""

    def __init__(self, cfg: DemPConfig, seed: int) -> None:
        self.cfg = cfg
        self.seed = seed
        self.controller: SparsityController | None = None
        self.last_checked = -1
        self._noise_gen: torch.Generator | None = None
        self._noise = LiveNoise()  # masks and flat buffers, kept across steps
        # Surgery slices parameters in place (same objects, new shapes) and never adds or removes
        # one, so these lists stay valid for one model object; a restored checkpoint brings a new
        # model, hence the check against a weak reference (an ``id`` may be reused once the old
        # model is freed). Walking ``model.parameters()`` every step cost a tenth of a millisecond
        # on small_cnn, most of what DemP adds to a step besides the draw.
        self._model: weakref.ref[nn.Module] | None = None
        self._all: list[nn.Parameter] = []
        self._reg: list[nn.Parameter] = []
        self._sigma_now = 0.0  # σ of the step whose masks ``_noise`` holds; 0: no noise due

    # ----------------------------------------------------------------------------- schedules
    @property
    def death_enabled(self) -> bool:
        return self.cfg.enabled and self.cfg.death.enabled

    def lam(self, step: int, total_steps: int) -> float:
        r = self.cfg.regularizer
        if not (self.cfg.enabled and r.enabled):
            return 0.0
        peak = r.peak * (self.controller.scale if self.controller is not None else 1.0)
        return demp_schedule(self.cfg.schedule, peak, step, total_steps)

    def sigma(self, step: int, total_steps: int) -> float:
        n = self.cfg.noise
        if not (self.cfg.enabled and n.enabled):
            return 0.0
        return demp_schedule(self.cfg.schedule, n.peak, step, total_steps)

    def _lists(self, model: nn.Module) -> None:
        if self._model is None or self._model() is not model:
            self._model = weakref.ref(model)
            self._all = list(model.parameters())
            self._reg = regularized_parameters(model, self.cfg.regularizer.target)

    def regularized(self, model: nn.Module) -> list[nn.Parameter]:
        self._lists(model)
        return self._reg

    def with_grad(self, model: nn.Module) -> list[nn.Parameter]:
        """The model's parameters that hold a gradient now, in ``model.parameters()`` order."""
        self._lists(model)
        return [p for p in self._all if p.grad is not None]

    # ----------------------------------------------------------------------------- hooks
    def attach(self, trainer: Trainer) -> None:
        if self.cfg.enabled and self.cfg.target is not None:
            self.controller = SparsityController(
                self.cfg.target, self.cfg.schedule.span_fraction * trainer.total_steps)
        self._noise_gen = torch.Generator(device=trainer.device)

    def before_step(self, trainer: Trainer) -> None:
        if not self.death_enabled:
            return
        if trainer.step % self.cfg.death.prune_interval == 0 or trainer.step >= trainer.total_steps:
            self.prune_dead(trainer)

    def before_optimizer_step(self, trainer: Trainer) -> None:
        step, total = trainer.step, trainer.total_steps
        self._sigma_now = self.sigma(step, total)
        if self._sigma_now > 0:  # read before the penalty's gradient is added
            self._noise.read(self.with_grad(trainer.model))
        lam = self.lam(step, total)
        if lam > 0:
            add_penalty_grad(self.regularized(trainer.model), self.cfg.regularizer.kind, lam)

    def after_optimizer_step(self, trainer: Trainer) -> None:
        sigma, self._sigma_now = self._sigma_now, 0.0
        if sigma <= 0:
            return
        self._noise_gen.manual_seed((self.seed * 1_000_003 + trainer.step) % 2**62 + 17)
        self._noise.apply(sigma, self._noise_gen)

    def record(self, trainer: Trainer) -> dict[str, Any]:
        at, total = max(0, trainer.step - 1), trainer.total_steps
        return {
            "lam": self.lam(at, total),
            "sigma": self.sigma(at, total),
            "regularizer": penalty(self.regularized(trainer.model), self.cfg.regularizer.kind),
            "lam_scale": self.controller.scale if self.controller is not None else 1.0,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"last_checked": self.last_checked,
                "controller": self.controller.state_dict() if self.controller is not None
                else None}

    def load_state_dict(self, checkpoint: Mapping[str, Any]) -> None:
        self.last_checked = int(checkpoint["last_checked"])
        if self.controller is not None and checkpoint.get("controller"):
            self.controller.load_state_dict(checkpoint["controller"])

    # ----------------------------------------------------------------------------- pruning
    def prune_dead(self, trainer: Trainer) -> dict[str, Any] | None:
        """Detect dead units and (unless ``death.remove`` is off) remove them; once per step."""
        if self.last_checked == trainer.step:
            return None
        self.last_checked = trainer.step
        d, model = self.cfg.death, trainer.model
        t0 = time.perf_counter()
        check = check_units(model, lambda: trainer.data.death_samples(d.samples))
        dead = check.dead(d.epsilon)
        detect_time = time.perf_counter() - t0
        dead_counts = {g: int(m.sum()) - (1 if g in model.placeholder_groups else 0)
                       for g, m in dead.items()}
        event: dict[str, Any] = {"step": trainer.step, "dead": dead_counts,
                                 "detect_time": detect_time}
        always_on = self._always_on(model, check, dead) if d.fold_constant else {}
        remove = {g: m | always_on[g][0] if g in always_on else m for g, m in dead.items()}
        if self.controller is not None:
            target = target_fraction(self.cfg.target, trainer.initial_flops)
            measure = sparsity_measure(self.cfg.target.metric, trainer.initial_params,
                                       trainer.initial_flops,
                                       sum(model.initial_units().values()),
                                       trainer.data.input_shape)
            remove, capped = capped_dead(model, remove, target, measure)
        if d.fold_constant:
            event["always_on"] = {g: int((remove[g] & mask).sum())
                                  for g, (mask, _) in always_on.items()}
        if d.remove and any(bool(m.any()) for g, m in remove.items()
                            if g not in model.placeholder_groups):
            t1 = time.perf_counter()
            for g, (mask, values) in always_on.items():
                fold = remove[g] & mask
                if fold.any():
                    units = torch.nonzero(fold).flatten()
                    fold_constant_units(model, g, units, values[units])
            report = trainer.apply_surgery(remove)
            event["surgery_time"] = time.perf_counter() - t1
            event["removed"] = report.removed
            event["messages"] = report.messages()
        else:
            event["removed"] = {g: 0 for g in dead}
            event["messages"] = []
        event["live_units"] = trainer.model.live_units()
        if self.controller is not None:
            event["target_sparsity"] = target
            event["measured_sparsity"] = measure(trainer.model)
            event["lam_scale"] = self.controller.update(trainer.step, event["measured_sparsity"],
                                                        target, capped)
        trainer.emit_prune(event)
        return event

    def _always_on(self, model: PrunableNet, check: DeathCheck,
                   dead: dict[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Always-on units that are not dead, per group whose consumers allow an exact fold:
        (mask, constant value per unit)."""
        out = {}
        for g, (mask, values) in check.constant(self.cfg.death.constant_tolerance).items():
            if g in model.placeholder_groups or not can_fold(model, g):
                continue
            out[g] = (mask & ~dead[g], values)
        return out


__all__ = ["DempStrategy"]
