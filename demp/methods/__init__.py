"""Pruning methods as training strategies, and the one function that builds a trainer for a config.

DemP and every structured baseline attach to the trainer the same way, as a
``demp.train.TrainingStrategy`` the trainer never names; ``build_trainer(cfg, callbacks=...)``
picks the one for ``cfg.method`` (the names are ``demp.registry.METHODS``). One module per job:

- ``compose``   ``build_trainer``, ``resolve`` (a method's preset applied), the method strategy
- ``demp``      DemP: scheduled penalty, asymmetric noise, death checks, target controller
- ``finetune``  fine-tuning a pruned network with pruning frozen (``demp train --finetune``)
- ``baseline``  what every baseline shares: the strategy base and its prune event
- ``gates``     per-unit gates c (1 in the forward pass) as forward hooks on each group's site
- ``scores``    SNAP |Σ ∂L/∂c| and CroP-it |Σ H_c·g_c| over a few training batches
- ``density``   the iterative density schedule and the global ranking of units
- ``pruning``   score → rank → remove, iterated to the target density
- ``at_init``   SNAP / CroP-it before the first step
- ``early``     EarlySNAP / EarlyCroP-S, triggered by the settling of ‖θ_t − θ_0‖
- ``slimming``  network slimming (constant L1 on norm scales, |γ| threshold, fine-tuning)

Density ρ is always the fraction of units kept: live units / initial units = 1 − neural sparsity.
"""

from demp.methods.at_init import AtInitPruning
from demp.methods.baseline import Baseline, emit_prune_event
from demp.methods.compose import (
    MethodStrategy, build_baseline, build_strategy, build_trainer, resolve,
)
from demp.methods.demp import DempStrategy
from demp.methods.density import density_schedule, global_removal, units_to_keep
from demp.methods.early import EarlyPruning, SettlingTrigger
from demp.methods.finetune import FROZEN, build_finetuner, finetune_config, source_config
from demp.methods.scores import SCORES, crop_it_scores, snap_scores
from demp.methods.slimming import NetworkSlimming, threshold_removal, unit_scales
from demp.registry import METHODS, Method, MethodName

__all__ = [
    "FROZEN", "METHODS", "SCORES", "AtInitPruning", "Baseline", "DempStrategy", "EarlyPruning",
    "Method", "MethodName", "MethodStrategy", "NetworkSlimming", "SettlingTrigger",
    "build_baseline", "build_finetuner", "build_strategy", "build_trainer", "crop_it_scores",
    "density_schedule", "emit_prune_event", "finetune_config", "global_removal", "resolve",
    "snap_scores", "source_config", "threshold_removal", "unit_scales", "units_to_keep",
]
