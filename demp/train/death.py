"""Dead-unit detection: a unit is dead when Σ|activation| ≤ ε over every position of every sample.

Measured on a fixed set of un-augmented training samples with normalization layers in eval mode
(running statistics), through forward hooks on each unit group's activation site.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from demp.models.units import PrunableNet


@torch.no_grad()
def unit_activity(model: PrunableNet, batches: Iterable[Tensor]) -> dict[str, Tensor]:
    """Σ|activation| per unit of every group, over all given samples (fp32, eval mode)."""
    sums: dict[str, Tensor] = {}
    handles = []
    for name, group in model.unit_groups.items():
        site = model.get_submodule(group.site)

        def hook(_m, _inp, out, name=name):
            dims = [d for d in range(out.dim()) if d != 1]
            s = out.float().abs().sum(dim=dims)
            sums[name] = s if name not in sums else sums[name] + s

        handles.append(site.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        for x in batches:
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return sums


def dead_units(model: PrunableNet, batches: Iterable[Tensor], epsilon: float = 0.0) -> dict[str, Tensor]:
    """Boolean mask of dead units per group (positions in the current, possibly pruned, net)."""
    activity = unit_activity(model, batches)
    return {name: (a <= epsilon).cpu() for name, a in activity.items()}
