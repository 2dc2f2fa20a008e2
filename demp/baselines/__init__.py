"""Structured pruning baselines, traced with the same trainer, metrics and surgery as DemP.

One module per job:

- ``methods``   the registry behind ``method:`` (DemP ablations as presets, baselines as objects)
- ``gates``     per-unit gates c (1 in the forward pass) as forward hooks on each group's site
- ``scores``    SNAP |Σ ∂L/∂c| and CroP-it |Σ H_c·g_c| over a few training batches
- ``schedule``  the iterative density schedule and the global ranking of units
- ``pruning``   score → rank → remove, iterated to the target density
- ``at_init``   SNAP / CroP-it before the first step
- ``early``     EarlySNAP / EarlyCroP-S, triggered by the settling of ‖θ_t − θ_0‖
- ``slimming``  network slimming (constant L1 on norm scales, |γ| threshold, fine-tuning)
- ``base``      the hooks a baseline gets from the trainer, and the removal they share

Density ρ is always the fraction of units kept: live units / initial units = 1 − neural sparsity.

Only the torch-free registry is imported here, because ``demp.config`` reads it.
"""

from demp.baselines.methods import METHODS, Method, MethodName, build_baseline, resolve

__all__ = ["METHODS", "Method", "MethodName", "build_baseline", "resolve"]
