"""The iterative density schedule and the global ranking that picks which units go.

Density ρ is the fraction of units kept (live units / initial units, over every group).

Schedule: SNIP-it-style iterative single-shot pruning reaches ρ in ``steps`` steps whose
densities approach ρ geometrically, d_i = ρ − (ρ − 0.5)·0.5^i for i = 0 … steps−2, then ρ
(for ρ = 0.1 and 5 steps: 0.5, 0.3, 0.2, 0.15, 0.1). That formula starts at 0.5, which is only a
first *pruning* step when ρ < 0.5; for ρ ≥ 0.5 it would prune below ρ and then have to grow, so
there the gap to 1 is halved instead, d_i = ρ + (1 − ρ)·0.5^(i+1) (ρ = 0.6: 0.8, 0.7, 0.65,
0.625, 0.6). Steps that would not prune (equal densities) are dropped.

Ranking: global across groups by raw score, highest kept, ties to the earlier group / position
(a stable sort, so it is deterministic). Each group keeps at least its best unit: a layer with
no unit cuts the network in two (SNIP-style "layer collapse"), which no density target asks for.
When the density would leave fewer units than groups, every group keeps one.
"""

from __future__ import annotations

import torch
from torch import Tensor


def density_schedule(rho: float, steps: int = 5) -> list[float]:
    """Densities of the successive pruning steps; the last is ``rho`` ([] when rho ≥ 1)."""
    if rho >= 1.0:
        return []
    if rho < 0.5:
        ds = [rho - (rho - 0.5) * 0.5**i for i in range(steps - 1)]
    else:
        ds = [rho + (1.0 - rho) * 0.5 ** (i + 1) for i in range(steps - 1)]
    out: list[float] = []
    for d in [*ds, rho]:
        if not out or d < out[-1] - 1e-12:
            out.append(d)
    return out


def units_to_keep(density: float, initial_units: int) -> int:
    """How many units density ``density`` keeps, rounded to the nearest unit."""
    return int(round(density * initial_units))


def global_removal(scores: dict[str, Tensor], keep: int,
                   frozen: set[str] | frozenset[str] = frozenset()) -> dict[str, Tensor]:
    """Boolean masks of the units to remove so that ``keep`` units stay, ranked globally.

    ``scores`` holds one score per unit position of each group. Groups in ``frozen`` (inert
    placeholders) are neither ranked nor counted and never lose anything. NaN scores rank last.
    """
    names = [g for g in scores if g not in frozen]
    remove = {g: torch.zeros(s.numel(), dtype=torch.bool) for g, s in scores.items()}
    if not names:
        return remove
    flat = torch.cat([scores[g].detach().float().cpu().flatten() for g in names])
    flat = torch.nan_to_num(flat, nan=-float("inf"))
    sizes = [scores[g].numel() for g in names]
    offsets = torch.tensor([0, *sizes]).cumsum(0)
    reserved = torch.zeros(flat.numel(), dtype=torch.bool)
    for i, g in enumerate(names):  # each group's best unit (first of equals) stays
        if sizes[i]:
            reserved[offsets[i] + int(torch.argmax(flat[offsets[i]:offsets[i + 1]]))] = True
    extra = max(0, keep - int(reserved.sum()))
    order = torch.sort(flat, descending=True, stable=True).indices
    order = order[~reserved[order]]
    kept = reserved.clone()
    kept[order[:extra]] = True
    for i, g in enumerate(names):
        remove[g] = ~kept[offsets[i]:offsets[i + 1]]
    return remove
