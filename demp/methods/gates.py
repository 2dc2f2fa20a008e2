"""Per-unit gates: a multiplier c = 1 on every unit, so that scores can differentiate by unit.

SNAP and CroP-it score a unit by derivatives of the loss with respect to a gate on its output.
The gate sits where the unit is defined for DemP too: on the output of each group's ``site``
(the activation; in a residual block the activation after the addition), so a gated unit is
exactly the thing surgery removes. With c = 1 the forward pass is unchanged.

Scoring runs the network in training mode (batch statistics, as during training), which would
move BatchNorm's running statistics; ``norm_stats_preserved`` puts them back so scoring leaves
no trace on the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from demp.models.units import PrunableNet


@contextmanager
def gated(model: PrunableNet) -> Iterator[dict[str, Tensor]]:
    """Gates (ones, requiring grad) on every unit group, as forward hooks on the sites.

    Yields ``{group: gate}`` with one entry per unit position of the current network; the hooks
    are removed on exit.
    """
    first = next(model.parameters())
    gates = {g: torch.ones(ids.numel(), device=first.device, dtype=first.dtype,
                           requires_grad=True)
             for g, ids in model.unit_ids.items()}
    handles = []
    for name, group in model.unit_groups.items():
        def hook(_m, _inp, out: Tensor, gate: Tensor = gates[name]) -> Tensor:
            return out * gate.view(1, -1, *([1] * (out.dim() - 2))).to(out.dtype)

        handles.append(model.get_submodule(group.site).register_forward_hook(hook))
    try:
        yield gates
    finally:
        for h in handles:
            h.remove()


@contextmanager
def norm_stats_preserved(model: PrunableNet) -> Iterator[None]:
    """Training-mode forward passes inside leave BatchNorm running statistics unchanged."""
    saved = [(m, {k: v.clone() for k, v in m.named_buffers(recurse=False) if v is not None})
             for m in model.modules() if isinstance(m, _BatchNorm)]
    was_training = model.training
    model.train()
    try:
        yield
    finally:
        with torch.no_grad():
            for m, buffers in saved:
                for k, v in buffers.items():
                    getattr(m, k).copy_(v)
        model.train(was_training)
