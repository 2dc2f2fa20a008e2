"""Physical removal of dead units, with the optimizer state sliced by the same indices.

Parameters are sliced in place (``param.data = ...``) so every Parameter object keeps its identity:
the optimizer's param groups, the LR scheduler and any hooks keep working, and only the per-param
state tensors (Adam moments, SGD momentum) need slicing. When every unit of a group is dead one
unit is kept as an inert placeholder (its producers and consumers zeroed, and zero gradient from
then on) because convolutions and norms cannot have zero channels.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from demp.models.units import ChannelMap, PrunableNet


@dataclass
class SurgeryReport:
    """What one prune event did, per group: units before / after, and placeholder notes."""

    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)
    placeholders: list[str] = field(default_factory=list)

    @property
    def removed(self) -> dict[str, int]:
        return {g: self.before[g] - self.after[g] for g in self.before}

    @property
    def total_removed(self) -> int:
        return sum(self.removed.values())

    def messages(self) -> list[str]:
        return [
            f"{g}: all units dead; kept one zeroed placeholder channel so the network stays valid"
            for g in self.placeholders
        ]


def _slice_tensor_attr(module: nn.Module, attr: str, dim: int, idx: Tensor,
                       optimizer: torch.optim.Optimizer | None) -> None:
    t = getattr(module, attr, None)
    if t is None:
        return
    idx = idx.to(t.device)
    if isinstance(t, nn.Parameter):
        old_shape = t.shape
        if optimizer is not None and t in optimizer.state:
            state = optimizer.state[t]
            for k, v in list(state.items()):
                if torch.is_tensor(v) and v.shape == old_shape:
                    state[k] = v.index_select(dim, idx.to(v.device)).contiguous()
        t.data = t.data.index_select(dim, idx).contiguous()
        t.grad = None
    else:
        setattr(module, attr, t.index_select(dim, idx).contiguous())


def _keep_out(module: nn.Module, keep: Tensor, opt: torch.optim.Optimizer | None) -> None:
    if isinstance(module, ChannelMap):
        module.keep_out(keep)
        return
    for attr in ("weight", "bias", "running_mean", "running_var"):
        _slice_tensor_attr(module, attr, 0, keep, opt)
    n = len(keep)
    if isinstance(module, nn.Conv2d):
        module.out_channels = n
    elif isinstance(module, nn.Linear):
        module.out_features = n
    elif isinstance(module, _BatchNorm):
        module.num_features = n
    else:
        raise TypeError(f"cannot slice outputs of {type(module).__name__}")


def _column_index(keep: Tensor, spatial: int) -> Tensor:
    if spatial == 1:
        return keep
    return (keep[:, None] * spatial + torch.arange(spatial, device=keep.device)[None, :]).flatten()


def _keep_in(module: nn.Module, keep: Tensor, spatial: int,
             opt: torch.optim.Optimizer | None) -> None:
    if isinstance(module, ChannelMap):
        module.keep_in(keep)
        return
    if isinstance(module, nn.Conv2d):
        if module.groups != 1:
            raise TypeError("grouped convolutions are not prunable consumers")
        _slice_tensor_attr(module, "weight", 1, keep, opt)
        module.in_channels = len(keep)
    elif isinstance(module, nn.Linear):
        _slice_tensor_attr(module, "weight", 1, _column_index(keep, spatial), opt)
        module.in_features = len(keep) * spatial
    else:
        raise TypeError(f"cannot slice inputs of {type(module).__name__}")


@torch.no_grad()
def _zero_entries(module: nn.Module, attr: str, index: tuple, value: float,
                  opt: torch.optim.Optimizer | None) -> None:
    t = getattr(module, attr, None)
    if t is None:
        return
    t[index] = value
    if opt is not None and isinstance(t, nn.Parameter) and t in opt.state:
        for v in opt.state[t].values():
            if torch.is_tensor(v) and v.shape == t.shape:
                v[index] = 0


def _make_inert(model: PrunableNet, group: str, opt: torch.optim.Optimizer | None) -> None:
    """Zero the group's single remaining unit on both sides so it outputs 0 and never learns."""
    g = model.unit_groups[group]
    for name in g.producers:
        m = model.get_submodule(name)
        if isinstance(m, ChannelMap):
            sel = m.dst != 0
            m.src, m.dst = m.src[sel], m.dst[sel]
            m._refresh()
            continue
        for attr in ("weight", "bias", "running_mean"):
            _zero_entries(m, attr, (0,), 0.0, opt)
        _zero_entries(m, "running_var", (0,), 1.0, opt)
    for c in g.consumers:
        m = model.get_submodule(c.module)
        if isinstance(m, ChannelMap):
            sel = m.src != 0
            m.src, m.dst = m.src[sel], m.dst[sel]
            m._refresh()
            continue
        _zero_entries(m, "weight", (slice(None), slice(0, c.spatial)), 0.0, opt)


def keep_units(model: PrunableNet, group: str, keep: Tensor,
               optimizer: torch.optim.Optimizer | None = None) -> None:
    """Keep positions ``keep`` (sorted) of ``group`` in every producer and consumer."""
    g = model.unit_groups[group]
    keep = keep.to(torch.long).cpu()
    for name in g.producers:
        _keep_out(model.get_submodule(name), keep, optimizer)
    for c in g.consumers:
        _keep_in(model.get_submodule(c.module), keep, c.spatial, optimizer)
    model.unit_ids[group] = model.unit_ids[group][keep]


@torch.no_grad()
def remove_dead(model: PrunableNet, dead: dict[str, Tensor],
                optimizer: torch.optim.Optimizer | None = None) -> SurgeryReport:
    """Remove the units marked dead (positions in the current net). Groups with none dead are
    not touched at all: no reallocation."""
    report = SurgeryReport()
    for group, mask in dead.items():
        n = model.unit_ids[group].numel()
        live_before = n - (1 if group in model.placeholder_groups else 0)
        report.before[group] = live_before
        mask = mask.to(torch.bool).cpu()
        if mask.numel() != n:
            raise ValueError(f"{group}: dead mask has {mask.numel()} entries for {n} units")
        keep = torch.nonzero(~mask).flatten()
        if keep.numel() == n or group in model.placeholder_groups:
            report.after[group] = live_before
            continue
        if keep.numel() == 0:
            keep_units(model, group, torch.zeros(1, dtype=torch.long), optimizer)
            _make_inert(model, group, optimizer)
            model.placeholder_groups.add(group)
            report.placeholders.append(group)
            report.after[group] = 0
            continue
        keep_units(model, group, keep, optimizer)
        report.after[group] = keep.numel()
    return report


def restrict_to(model: PrunableNet, unit_ids: dict[str, Iterable[int]],
                placeholders: Iterable[str] = ()) -> None:
    """Cut a freshly built (full-width) model down to saved unit ids, before loading weights."""
    for group, ids in unit_ids.items():
        if group not in model.unit_groups:
            raise KeyError(f"checkpoint names unit group {group!r} that the model lacks")
        ids_t = torch.as_tensor(list(ids), dtype=torch.long)
        pos = torch.searchsorted(model.unit_ids[group], ids_t)
        if ids_t.numel() != model.unit_ids[group].numel():
            keep_units(model, group, pos)
    for group in placeholders:
        _make_inert(model, group, None)
        model.placeholder_groups.add(group)

