"""Prunable units as plain data: what produces each unit and what consumes it.

Death detection and surgery work on these declarations alone, so no model needs special cases in
the trainer. A *unit group* is one set of channels (conv output channels or dense outputs) read
after its activation; in a residual block the block-output group is the activation after the
addition, and each block keeps its own channel set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass(frozen=True)
class Consumer:
    """A module that takes a group's units as input channels.

    ``spatial`` > 1 marks the first linear after a flatten: each unit owns ``spatial`` consecutive
    input columns (channel-major flatten).
    """

    module: str
    spatial: int = 1


@dataclass(frozen=True)
class UnitGroup:
    """One set of prunable units.

    ``site`` names the module whose forward output holds the units (an activation module);
    ``producers`` name the modules whose output channels are these units (conv / linear / norm /
    channel map); ``consumers`` take them as input channels.
    """

    name: str
    size: int
    site: str
    producers: tuple[str, ...]
    consumers: tuple[Consumer, ...] = field(default_factory=tuple)


class ChannelMap(nn.Module):
    """Identity shortcut between two blocks that may keep different channel sets.

    Adds input position ``src[k]`` onto output position ``dst[k]``: an index gather / scatter,
    not a dense identity matrix. Channels of the output that no input maps onto receive nothing
    (the previous block's unit there is dead, i.e. zero).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        idx = torch.arange(channels)
        self.register_buffer("src", idx.clone(), persistent=False)
        self.register_buffer("dst", idx.clone(), persistent=False)
        self.in_channels = channels
        self.out_channels = channels
        self.identity = True

    def add(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``out + map(x)``."""
        if self.identity:
            return out + x
        if self.src.numel() == 0:
            return out
        return out.index_add(1, self.dst, x.index_select(1, self.src))

    def _refresh(self) -> None:
        n = self.src.numel()
        ar = torch.arange(n, device=self.src.device)
        self.identity = bool(
            n == self.in_channels == self.out_channels
            and torch.equal(self.src, ar)
            and torch.equal(self.dst, ar)
        )

    def keep_out(self, keep: torch.Tensor) -> None:
        """Keep output positions ``keep`` (sorted), renumbering them 0..len(keep)-1."""
        new_pos = torch.full((self.out_channels,), -1, dtype=torch.long, device=self.dst.device)
        new_pos[keep.to(self.dst.device)] = torch.arange(len(keep), device=self.dst.device)
        mapped = new_pos[self.dst]
        sel = mapped >= 0
        self.src, self.dst = self.src[sel], mapped[sel]
        self.out_channels = len(keep)
        self._refresh()

    def keep_in(self, keep: torch.Tensor) -> None:
        """Keep input positions ``keep`` (sorted), renumbering them 0..len(keep)-1."""
        new_pos = torch.full((self.in_channels,), -1, dtype=torch.long, device=self.src.device)
        new_pos[keep.to(self.src.device)] = torch.arange(len(keep), device=self.src.device)
        mapped = new_pos[self.src]
        sel = mapped >= 0
        self.src, self.dst = mapped[sel], self.dst[sel]
        self.in_channels = len(keep)
        self._refresh()

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}, pairs={self.src.numel()}"


def make_activation(name: str) -> nn.Module:
    """A fresh activation module (each unit group needs its own instance to hook)."""
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.01)
    if name == "silu":
        return nn.SiLU()
    raise ValueError(f"unknown activation {name!r}")


class PrunableNet(nn.Module):
    """Base of every model: holds the unit groups and the original ids of the live units."""

    def __init__(self) -> None:
        super().__init__()
        self.unit_groups: dict[str, UnitGroup] = {}
        # Original ids of the live units of each group (plain data, saved in checkpoints).
        self.unit_ids: dict[str, torch.Tensor] = {}
        # Groups whose units all died: one inert zeroed channel is kept (see train/surgery.py).
        self.placeholder_groups: set[str] = set()

    def declare(
        self,
        name: str,
        size: int,
        site: str,
        producers: list[str],
        consumers: list[Consumer | str],
    ) -> str:
        if name in self.unit_groups:
            raise ValueError(f"unit group {name!r} declared twice")
        cons = tuple(c if isinstance(c, Consumer) else Consumer(c) for c in consumers)
        self.unit_groups[name] = UnitGroup(name, size, site, tuple(producers), cons)
        self.unit_ids[name] = torch.arange(size)
        return name

    def add_consumer(self, group: str, consumer: Consumer | str) -> None:
        g = self.unit_groups[group]
        c = consumer if isinstance(consumer, Consumer) else Consumer(consumer)
        self.unit_groups[group] = UnitGroup(g.name, g.size, g.site, g.producers, g.consumers + (c,))

    def live_units(self) -> dict[str, int]:
        return {
            k: int(v.numel()) - (1 if k in self.placeholder_groups else 0)
            for k, v in self.unit_ids.items()
        }

    def initial_units(self) -> dict[str, int]:
        return {k: g.size for k, g in self.unit_groups.items()}
