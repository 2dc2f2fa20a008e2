"""Per-trial figures: the dead-neuron heat map and the schedules.

Inputs are plain series (steps, per-group dicts) so either source works: the trainer's records
as they happen, or the reported records read back from a sweep directory. The frontier has its
own plotter, ``demp.results.plot``.

The heat map comes in two renderings of the same grid (live fraction = 1 − dead fraction of each
group at each evaluation, viridis from 0 to 1): ``live_units_heatmap``, a labelled matplotlib
figure with the live count in each cell (the W&B trial run's), and ``live_fraction_png``, the
bare grid as a PNG with one block of pixels per cell, which the report frames with its own SVG
labels and hover read-out. The report has one heat map per trial, and a matplotlib figure costs
about 0.3 s to draw, half a minute for 100 trials; the bare grid costs a millisecond.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from demp.results.plot import FRONTIER_COLOUR, new_figure

HEATMAP_CMAP = "viridis"

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def live_units_heatmap(steps: Sequence[int], groups: Sequence[str],
                       live: Sequence[Mapping[str, int]], dead: Sequence[Mapping[str, float]],
                       title: str = "live units per layer (fraction of initial)") -> Figure:
    """Live fraction (1 − dead fraction) of each group (rows) at each evaluation (columns).

    ``live[j]`` / ``dead[j]`` are the live counts / dead fractions per group at ``steps[j]``;
    a group missing at some step is left blank. Small grids print the live count in each cell.
    """
    grid = live_fraction_grid(groups, dead)
    fig = new_figure(min(14.0, 3.0 + 0.25 * len(steps)), min(12.0, 1.5 + 0.32 * len(groups)))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(grid, aspect="auto", cmap=HEATMAP_CMAP, vmin=0.0, vmax=1.0,
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


def live_fraction_grid(groups: Sequence[str],
                       dead: Sequence[Mapping[str, float]]) -> list[list[float]]:
    """Rows = groups, columns = evaluations: 1 − dead fraction (NaN where a group is missing)."""
    return [[1.0 - float(d.get(g, math.nan)) for d in dead] for g in groups]


def live_fraction_png(grid: Sequence[Sequence[float]], cell: tuple[int, int] = (8, 12)) -> bytes:
    """The grid as a PNG, ``cell`` = (width, height) pixels per cell, NaN cells transparent."""
    import io

    import numpy as np
    from matplotlib import colormaps
    from PIL import Image

    values = np.asarray(grid, dtype=float).reshape(len(grid), -1)
    rgba = colormaps[HEATMAP_CMAP](np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0), bytes=True)
    rgba[np.isnan(values)] = 0
    rgba = np.repeat(np.repeat(rgba, cell[1], axis=0), cell[0], axis=1)
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class ScheduleSeries:
    """One trial's schedules: λ_t, σ_t and the learning rate at ``steps`` (the report computes
    them from the trial's config: ``demp.results.schedule_curves``)."""

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
    (with many trials a legend of all of them would hide the plot), drawn as one
    ``LineCollection`` per panel: 100 trials as 300 ``Line2D`` cost seconds, a collection
    milliseconds. On a log panel a curve is cut where it is not positive (λ after a cosine decay).
    """
    from matplotlib.collections import LineCollection

    fig = new_figure(13, 3.8)
    axes = fig.subplots(1, len(SCHEDULE_PANELS))
    colours = _cycle(sum(s.highlight for s in series))
    for ax, (attr, name, log_y) in zip(axes, SCHEDULE_PANELS):
        log = log_y and any(v > 0 for s in series for v in getattr(s, attr))
        if log:
            ax.set_yscale("log")
        grey = [seg for s in series if not s.highlight
                for seg in _runs(s.steps, getattr(s, attr), log)]
        if grey:
            ax.add_collection(LineCollection(grey, colors="0.75", linewidths=0.8))
        k = 0
        for s in series:
            if s.highlight:
                for j, seg in enumerate(_runs(s.steps, getattr(s, attr), log)):
                    ax.plot([p[0] for p in seg], [p[1] for p in seg], "-", lw=1.4,
                            color=colours[k], label=s.label if j == 0 else None)
                k += 1
        ax.autoscale_view()
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    if any(s.highlight for s in series):
        axes[0].legend(loc="best", fontsize=7, title="frontier trials", title_fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _runs(steps: Sequence[int], values: Sequence[float],
          positive: bool) -> list[list[tuple[float, float]]]:
    """The curve as runs of drawable points (finite; positive too on a log axis)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for s, v in zip(steps, values):
        if math.isfinite(v) and (v > 0 or not positive):
            runs[-1].append((float(s), float(v)))
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if len(r) > 1]


def _cycle(n: int) -> list[str]:
    base = [FRONTIER_COLOUR, "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown",
            "tab:pink", "tab:olive", "tab:cyan"]
    return [base[i % len(base)] for i in range(max(n, 1))]
