"""The frontier plot: accuracy against sparsity, the frontier as a staircase, the rest grey.

This is the one frontier plotter of the project: ``frontier.png`` of a sweep directory, the W&B
sweep run's ``frontier_plot`` (``demp.track.sweep_run``) and the report's PNG all draw with
``draw_frontier`` (or ``draw_points``, which it wraps); the report's interactive SVG
(``demp.results.svg``) draws the same ``FrontierPoints`` with the same geometry
(``demp.results.scatter``: staircase, y range, λ label spacing).

The scatter plots the first two objectives (by default val accuracy vs. parameter sparsity,
sparsity on x). Frontier trials are red, joined by the staircase their dominance defines (a
point dominates the region on its worse side in both objectives, so no segment claims an
accuracy no trial reached), each with its test accuracy as a hollow marker on a thin line and
its sampled λ beside it where labels do not crowd; dominated complete trials are grey; collapsed
trials (complete, below chance accuracy) are counted and drawn apart at the bottom edge, as are
dominated trials far below the frontier, so one run at 0.07 does not stretch the axis to 0.
Chance accuracy is a dashed line, the dense reference point (a trial without regularization and
noise, when the sweep ran one) a blue diamond. Truncated and failed trials never appear, as
they are not results. With more than two objectives the highlighted set is still the frontier
over all of them, so some highlighted points may look dominated in the 2-D projection (the
staircase leaves those out). ``frontier_figure`` adds a panel with the hypervolume after each
finished trial.

Figures are built with ``matplotlib.figure.Figure`` on an Agg canvas, never through pyplot, so
plotting neither changes the process-wide backend nor keeps figures alive in pyplot's registry.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from demp.results.frontier import Frontier
from demp.results.records import TrialRecord
from demp.results.scatter import (
    FrontierPoints, Point, axes_metrics, frontier_points, lam_label, points_from_xy,
    spaced_labels,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

LABELS = {
    "val_acc": "validation accuracy", "test_acc": "test accuracy",
    "param_sparsity": "parameter sparsity", "neural_sparsity": "neural sparsity",
    "flops": "inference FLOPs / sample", "train_time": "training time (s)",
    "train_flops": "training FLOPs", "val_loss": "validation loss",
}
FRONTIER_COLOUR = "tab:red"
DOMINATED_COLOUR = "0.7"
COLLAPSED_COLOUR = "tab:purple"
DENSE_COLOUR = "tab:blue"
CHANCE_COLOUR = "0.35"

__all__ = ["LABELS", "axes_metrics", "draw_frontier", "draw_hypervolume", "draw_points",
           "frontier_figure", "frontier_points", "frontier_scatter_png", "label", "new_figure",
           "plot_frontier", "png_bytes", "save_png"]


def label(metric: str) -> str:
    return LABELS.get(metric, metric)


def new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def save_png(fig: Figure, path: Path, dpi: int = 120) -> Path:
    """Write atomically: a reader (a browser, ``status``) never sees half a PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, format="png", dpi=dpi)
    tmp.replace(path)
    return path


def draw_frontier(ax: Axes, frontier: Sequence[tuple[Any, Any]],
                  dominated: Sequence[tuple[Any, Any]], x_metric: str, y_metric: str,
                  title: str = "", *, directions: tuple[str | None, str] | None = None,
                  collapsed: Sequence[tuple[Any, Any]] = (), chance: float | None = None,
                  test: Sequence[Any] | None = None, lam: Sequence[Any] | None = None,
                  dense: Point | None = None) -> None:
    """The scatter from plain ``(x, y)`` points: ``frontier`` (with its ``test`` values and
    sampled ``lam`` in the same order, when known), ``dominated``, ``collapsed``; a chance line
    at ``chance``, the ``dense`` reference point. Non-numeric or non-finite points are left out;
    without ``directions`` accuracies and sparsities count as maximized, the rest as minimized.
    """
    draw_points(ax, points_from_xy(frontier, dominated, x_metric, y_metric,
                                   directions=directions, collapsed=collapsed, chance=chance,
                                   test=test, lam=lam, dense=dense), title)


def draw_points(ax: Axes, pts: FrontierPoints, title: str = "") -> None:
    """Draw a ``FrontierPoints`` (see the module docstring for what each mark means)."""
    from matplotlib.lines import Line2D

    lim = pts.ylim()
    lo = lim[0] if lim is not None else float("-inf")
    grey_low, collapsed_low = pts.below(lo)
    grey = [m for m in pts.dominated if m.y >= lo]
    ax.scatter([m.x for m in grey], [m.y for m in grey], c=DOMINATED_COLOUR, s=22,
               label=f"dominated ({len(pts.dominated)})", zorder=1)
    steps = pts.steps
    if steps:
        ax.plot([p[0] for p in steps], [p[1] for p in steps], "-", color=FRONTIER_COLOUR,
                lw=1.2, zorder=2)
    front = pts.frontier
    ax.scatter([m.x for m in front], [m.y for m in front], c=FRONTIER_COLOUR, s=36,
               edgecolors="k", linewidths=0.5, label=f"frontier ({len(front)})", zorder=4)
    tested = [m for m in front if m.test is not None]
    if tested:
        ax.vlines([m.x for m in tested], [m.y for m in tested], [m.test for m in tested],
                  colors=FRONTIER_COLOUR, lw=0.6, alpha=0.7, zorder=3)
        ax.scatter([m.x for m in tested], [m.test for m in tested], s=30, facecolors="none",
                   edgecolors=FRONTIER_COLOUR, linewidths=1.0, zorder=3,
                   label=f"{label(pts.test_label)} (frontier, hollow)")
    if pts.dense is not None:
        ax.scatter([pts.dense.x], [pts.dense.y], marker="D", s=46, c=DENSE_COLOUR,
                   edgecolors="k", linewidths=0.5, zorder=5, label="dense (no λ, no σ)")
    inside = [m for m in pts.collapsed if m.y >= lo]
    if inside:
        ax.scatter([m.x for m in inside], [m.y for m in inside], marker="v", s=36,
                   c=COLLAPSED_COLOUR, zorder=4)
    extra = []
    xlim = pts.xlim()
    if xlim is not None:
        ax.set_xlim(*xlim)
    if lim is not None:
        ax.set_ylim(*lim)
        trans = ax.get_xaxis_transform()  # x in data, y in axes coordinates: the bottom edge
        if grey_low:
            ax.scatter([m.x for m in grey_low], [0.0] * len(grey_low), marker="v", s=22,
                       c=DOMINATED_COLOUR, transform=trans, clip_on=False, zorder=4)
        if collapsed_low:
            ax.scatter([m.x for m in collapsed_low], [0.0] * len(collapsed_low), marker="v",
                       s=36, c=COLLAPSED_COLOUR, transform=trans, clip_on=False, zorder=5)
    if pts.collapsed:
        extra.append(Line2D([], [], ls="", marker="v", color=COLLAPSED_COLOUR,
                            label=f"{len(pts.collapsed)} collapsed (below chance)"))
    if pts.chance is not None:
        if lim is None or lim[0] <= pts.chance <= lim[1]:
            ax.axhline(pts.chance, ls="--", lw=0.9, color=CHANCE_COLOUR, zorder=0,
                       label=f"chance ({pts.chance:.3g})")
        else:
            extra.append(Line2D([], [], ls="--", lw=0.9, color=CHANCE_COLOUR,
                                label=f"chance ({pts.chance:.3g}, below the axis)"))
    if lim is not None:
        _label_lambdas(ax, pts, lim)
    ax.set_xlabel(label(pts.x_metric))
    ax.set_ylabel(label(pts.y_metric))
    ax.grid(alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles + extra, loc="best", fontsize=7)
    ax.set_title(title or "accuracy–sparsity frontier", fontsize=10)


def _label_lambdas(ax: Axes, pts: FrontierPoints, ylim: tuple[float, float]) -> None:
    marks = [m for m in pts.frontier if m.lam is not None]
    xlim = ax.get_xlim()
    for i in spaced_labels([(m.x, m.y) for m in marks], xlim, ylim):
        m = marks[i]
        ax.annotate(lam_label(m.lam), (m.x, m.y), xytext=(4, 4), textcoords="offset points",
                    fontsize=6.5, color="0.25", zorder=6)


def draw_hypervolume(ax: Axes, history: Sequence[float], subtitle: str = "") -> None:
    """Hypervolume after each finished trial (x = finished trials)."""
    from matplotlib.ticker import MaxNLocator

    ax.plot(range(1, len(history) + 1), list(history), "-o", ms=3, color="tab:blue")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("finished trials")
    ax.set_ylabel("hypervolume")
    if subtitle:
        ax.set_title(subtitle, fontsize=9)
    ax.grid(alpha=0.3)


def reference_label(frontier: Frontier) -> str:
    ref = ", ".join(f"{m}={v:g}" for m, v in zip(frontier.metrics, frontier.reference))
    return f"reference: {ref}"


def frontier_figure(frontier: Frontier, title: str = "", *, chance: float | None = None,
                    dense: TrialRecord | Point | None = None,
                    points: FrontierPoints | None = None) -> Figure:
    """The scatter (left) and the hypervolume history (right) of a sweep. ``points`` (what
    ``demp.results.scatter.sweep_frontier_points`` builds) wins over ``chance`` / ``dense``."""
    fig = new_figure(11, 4.5)
    ax, ax_hv = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    draw_points(ax, points or frontier_points(frontier, chance, dense), title)
    draw_hypervolume(ax_hv, [h for _, h in frontier.history], reference_label(frontier))
    fig.tight_layout()
    return fig


def plot_frontier(frontier: Frontier, path: Path, title: str = "", *,
                  chance: float | None = None, dense: TrialRecord | Point | None = None,
                  points: FrontierPoints | None = None) -> Path:
    """``frontier_figure`` as a PNG file (a sweep directory's ``frontier.png``)."""
    return save_png(frontier_figure(frontier, title, chance=chance, dense=dense, points=points),
                    path)


def frontier_scatter_png(frontier: Sequence[tuple[Any, Any]],
                         dominated: Sequence[tuple[Any, Any]], x_metric: str, y_metric: str,
                         title: str = "", **extras: Any) -> bytes:
    """The scatter alone, as PNG bytes (the W&B sweep run's frontier plot); ``extras`` are
    ``draw_frontier``'s keywords (directions, collapsed, chance, test, lam, dense)."""
    fig = new_figure(6.5, 4.5)
    draw_frontier(fig.add_subplot(1, 1, 1), frontier, dominated, x_metric, y_metric, title,
                  **extras)
    fig.tight_layout()
    return png_bytes(fig)
