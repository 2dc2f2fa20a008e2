"""Folding always-on units into their consumers, so that they can be removed exactly.

An always-on unit outputs the same value c on every sample and position (γ ≈ 0, β > 0 after a
ReLU). It carries no information, but the exact-zero death criterion never removes it. Its whole
effect on a consumer is a constant: W[:, j]·c for a linear layer (summed over the unit's columns
after a flatten), Σ_kh,kw W[:, j]·c for a convolution without padding. Moving that constant into
the consumer's bias, or into the running mean of the normalization layer that directly follows a
bias-free consumer (μ ← μ − δ, which in training mode is moot since batch statistics remove
constant shifts), leaves the network's function unchanged, and the unit can then be removed like
a dead one.

A zero-padded convolution sees the constant only inside the image, so its contribution differs at
the borders: groups with such a consumer (and identity shortcuts, which add the unit before an
activation) are never folded.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from demp.models.units import Consumer, PrunableNet


def _following_norm(model: PrunableNet, module_name: str) -> _BatchNorm | None:
    """The normalization layer that directly follows ``module_name`` among a group's producers."""
    for g in model.unit_groups.values():
        names = list(g.producers)
        if module_name in names:
            i = names.index(module_name)
            if i + 1 < len(names):
                nxt = model.get_submodule(names[i + 1])
                if isinstance(nxt, _BatchNorm) and nxt.track_running_stats:
                    return nxt
    return None


def _contribution(module: nn.Module, c: Consumer, units: Tensor, values: Tensor) -> Tensor | None:
    """δ: what the given units with constant ``values`` add to each output channel, or None where
    the constant's effect is not a per-channel constant."""
    w = module.weight.detach()
    v = values.to(w.device, w.dtype)
    if isinstance(module, nn.Linear):
        cols = (units[:, None] * c.spatial + torch.arange(c.spatial)[None, :]).flatten()
        return w[:, cols.to(w.device)] @ v.repeat_interleave(c.spatial)
    if isinstance(module, nn.Conv2d):
        padded = (module.padding != "valid" if isinstance(module.padding, str)
                  else any(p != 0 for p in module.padding))
        if module.groups != 1 or padded:
            return None
        return w[:, units.to(w.device)].sum(dim=(2, 3)) @ v
    return None


def can_fold(model: PrunableNet, group: str) -> bool:
    """Whether always-on units of ``group`` can be folded exactly into every consumer."""
    g = model.unit_groups[group]
    if not g.consumers:
        return False
    probe = torch.zeros(1, dtype=torch.long)
    for c in g.consumers:
        m = model.get_submodule(c.module)
        if _contribution(m, c, probe, torch.zeros(1)) is None:
            return False
        if m.bias is None and _following_norm(model, c.module) is None:
            return False
    return True


@torch.no_grad()
def fold_constant_units(model: PrunableNet, group: str, units: Tensor, values: Tensor) -> None:
    """Move the constant contribution of ``units`` (positions) with outputs ``values`` into every
    consumer of ``group``. The caller removes the units afterwards; ``can_fold`` must hold."""
    units = units.to(torch.long).cpu()
    for c in model.unit_groups[group].consumers:
        m = model.get_submodule(c.module)
        delta = _contribution(m, c, units, values)
        if m.bias is not None:
            m.bias.add_(delta)
        else:
            norm = _following_norm(model, c.module)
            norm.running_mean.sub_(delta.to(norm.running_mean.dtype))
