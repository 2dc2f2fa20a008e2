"""Iterative single-shot pruning: score → rank globally → remove, once per scheduled density.

Shared by the at-initialization (SNAP, CroP-it) and early (EarlySNAP, EarlyCroP-S) baselines,
which differ only in *when* they call ``prune_to_density``. Each step rescores the already
pruned network (that is what makes it iterative, and what SNIP-it / CroP-it add over SNIP),
on the same ``score_batches`` training batches: the next ones the run would train on, from
``Data.train_batch`` (a pure function of step and seed, so scoring draws no random numbers and a
resumed run is unaffected).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import torch.nn.functional as F
from torch import Tensor

from demp.methods.baseline import emit_prune_event
from demp.methods.density import density_schedule, global_removal, units_to_keep
from demp.methods.scores import SCORES

if TYPE_CHECKING:
    from demp.config import BaselineConfig
    from demp.train.trainer import Trainer


def scoring_batches(trainer: Trainer, n: int) -> list[tuple[Tensor, Tensor]]:
    """The ``n`` training batches from the current step on (what training would see next)."""
    return [trainer.data.train_batch(trainer.step + i, trainer.cfg.seed) for i in range(n)]


def prune_to_density(trainer: Trainer, method: str, score: str, cfg: BaselineConfig,
                     info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Prune ``trainer.model`` to density ``cfg.density`` in ``cfg.steps`` scored steps and emit
    one prune event (returned) describing all of them."""
    model = trainer.model
    initial = sum(model.initial_units().values())
    batches = scoring_batches(trainer, cfg.score_batches)
    smoothing = trainer.cfg.label_smoothing

    def loss_fn(logits: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(logits.float(), y, label_smoothing=smoothing)

    removed = {g: 0 for g in model.unit_groups}
    score_time = surgery_time = 0.0
    densities = density_schedule(cfg.density, cfg.steps)
    for d in densities:
        keep = units_to_keep(d, initial)
        if sum(model.live_units().values()) <= keep:
            continue
        t0 = time.perf_counter()
        scores = SCORES[score](model, batches, loss_fn)
        t1 = time.perf_counter()
        report = trainer.apply_surgery(global_removal(scores, keep, model.placeholder_groups))
        surgery_time += time.perf_counter() - t1
        score_time += t1 - t0
        for g, n in report.removed.items():
            removed[g] += n
    live = sum(model.live_units().values())
    return emit_prune_event(trainer, removed, {
        "method": method, "score": score, "densities": densities,
        "target_density": cfg.density, "density": live / initial,
        "detect_time": score_time, "surgery_time": surgery_time, **(info or {}),
    })
