"""Unit saliencies with respect to the per-unit gates c, summed over a few training batches.

- SNAP (structured SNIP-it, Verdenius et al. 2020): score = |Σ_b ∂L_b/∂c|, the first-order
  change of the loss when a unit is switched off.
- CroP-it (Rachwan et al. 2022, structured "CroP-S"): score = |Σ_b H_b·g_b|, where g_b = ∂L_b/∂c
  and H_b = ∂²L_b/∂c²: the Hessian-gradient product, i.e. how switching a unit off changes the
  gradient flow ½‖g‖² (c ⊙ Hg with c = 1). Computed as ∂(g·stop_grad(g))/∂c, one double
  backward per batch.

Each batch contributes its own derivative and the sum is taken before the absolute value, so
opposite-signed batches cancel, as the issue's definition says. L_b is the batch-mean
cross-entropy with the run's label smoothing. Only the gates are differentiated
(``torch.autograd.grad``), so parameter ``.grad`` fields and the optimizer are untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor

from demp.methods.gates import gated, norm_stats_preserved
from demp.models.units import PrunableNet

Batch = tuple[Tensor, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]


def _grads(out: Tensor, gates: list[Tensor], create_graph: bool = False) -> list[Tensor]:
    gs = torch.autograd.grad(out, gates, create_graph=create_graph, allow_unused=True)
    return [torch.zeros_like(c) if g is None else g for g, c in zip(gs, gates)]


def _summed_over_batches(model: PrunableNet, batches: Iterable[Batch],
                         per_batch: Callable[[Batch, list[Tensor]], list[Tensor] | None]
                         ) -> dict[str, Tensor]:
    """|Σ_b per_batch(b)| per unit of every group, with the gates in place and BN statistics
    restored afterwards; both scores differ only in what one batch contributes."""
    with norm_stats_preserved(model), gated(model) as gates:
        names, cs = list(gates), list(gates.values())
        total = [torch.zeros_like(c) for c in cs]
        for batch in batches:
            contribution = per_batch(batch, cs)
            if contribution is None:
                continue
            for t, g in zip(total, contribution):
                t += g.detach()
    return {n: t.abs() for n, t in zip(names, total)}


def snap_scores(model: PrunableNet, batches: Iterable[Batch], loss_fn: LossFn
                ) -> dict[str, Tensor]:
    """|Σ_b ∂L_b/∂c| per unit of every group (positions in the current network)."""

    def gradient(batch: Batch, cs: list[Tensor]) -> list[Tensor]:
        x, y = batch
        return _grads(loss_fn(model(x), y), cs)

    return _summed_over_batches(model, batches, gradient)


def crop_it_scores(model: PrunableNet, batches: Iterable[Batch], loss_fn: LossFn
                   ) -> dict[str, Tensor]:
    """|Σ_b H_b·g_b| per unit of every group, H_b the Hessian of L_b in the gates."""

    def hessian_gradient(batch: Batch, cs: list[Tensor]) -> list[Tensor] | None:
        x, y = batch
        g = _grads(loss_fn(model(x), y), cs, create_graph=True)
        flow = sum((gi * gi.detach()).sum() for gi in g if gi.requires_grad)
        if not isinstance(flow, Tensor):  # no gate reaches the loss twice (e.g. linear net)
            return None
        return _grads(flow, cs)

    return _summed_over_batches(model, batches, hessian_gradient)


SCORES: dict[str, Callable[[PrunableNet, Iterable[Batch], LossFn], dict[str, Tensor]]] = {
    "snap": snap_scores,
    "crop_it": crop_it_scores,
}
