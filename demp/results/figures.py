"""Per-trial figures: the dead-neuron heat map and the schedules.

Shared by the W&B trial run (``live_units_heatmap``) and the offline report, so a heat map looks
the same in both. Inputs are plain series (steps, per-group dicts) so either source works: the
trainer's records as they happen, or the reported records read back from a sweep directory. The
frontier has its own plotter, ``demp.results.plot``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from demp.results.plot import FRONTIER_COLOUR, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def live_units_heatmap(steps: Sequence[int], groups: Sequence[str],
                       live: Sequence[Mapping[str, int]], dead: Sequence[Mapping[str, float]],
                       title: str = "live units per layer (fraction of initial)") -> Figure:
    """Live fraction (1 − dead fraction) of each group (rows) at each evaluation (columns).

    ``live[j]`` / ``dead[j]`` are the live counts / dead fractions per group at ``steps[j]``;
    a group missing at some step is left blank. Small grids print the live count in each cell.
    """
    grid = [[1.0 - float(d.get(g, math.nan)) for d in dead] for g in groups]
    fig = new_figure(min(14.0, 3.0 + 0.25 * len(steps)), min(12.0, 1.5 + 0.32 * len(groups)))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0,
                   interpolation="nearest")
    if len(steps) * len(groups) <= 240:
        for i, g in enumerate(groups):
            for j, counts in enumerate(live):
                if g in counts:
                    ax.text(j, i, str(counts[g]), ha="center", va="center", fontsize=6,
                            color="white" if grid[i][j] < 0.6 else "black")
    ax.set_yticks(range(len(groups)), labels=list(groups), fontsize=7)
    stride = max(1, len(steps) // 8)
    ticks = list(range(0, len(steps), stride))
    if ticks and len(steps) - 1 - ticks[-1] >= max(1, stride // 2):
        ticks.append(len(steps) - 1)
    ax.set_xticks(ticks, labels=[str(steps[i]) for i in ticks], fontsize=7)
    ax.set_xlabel("training step")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    return fig


@dataclass
class ScheduleSeries:
    """One trial's schedules: λ_t, σ_t and the learning rate at its evaluation steps."""

    label: str
    steps: list[int]
    lam: list[float]
    sigma: list[float]
    lr: list[float]
    highlight: bool = False  # drawn in colour (frontier trials); the rest grey


SCHEDULE_PANELS = (("lam", "λ_t (regularization)", True), ("sigma", "σ_t (noise std)", True),
                   ("lr", "learning rate", False))


def schedules_figure(series: Sequence[ScheduleSeries], title: str = "") -> Figure:
    """λ_t, σ_t and lr over training steps, one line per trial, side by side.

    Highlighted trials get their own colour and a legend entry; the others are thin grey lines
    (with many trials a legend of all of them would hide the plot).
    """
    fig = new_figure(13, 3.8)
    axes = fig.subplots(1, len(SCHEDULE_PANELS))
    colours = _cycle(sum(s.highlight for s in series))
    for ax, (attr, name, log_y) in zip(axes, SCHEDULE_PANELS):
        k = 0
        for s in sorted(series, key=lambda s: s.highlight):
            values = getattr(s, attr)
            if s.highlight:
                ax.plot(s.steps, values, "-", lw=1.4, color=colours[k], label=s.label)
                k += 1
            else:
                ax.plot(s.steps, values, "-", lw=0.8, color="0.75")
        positive = [v for s in series for v in getattr(s, attr) if v > 0]
        if log_y and positive:
            ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    if any(s.highlight for s in series):
        axes[0].legend(loc="best", fontsize=7, title="frontier trials", title_fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _cycle(n: int) -> list[str]:
    base = [FRONTIER_COLOUR, "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown",
            "tab:pink", "tab:olive", "tab:cyan"]
    return [base[i % len(base)] for i in range(max(n, 1))]
