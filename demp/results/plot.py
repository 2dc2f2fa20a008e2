"""The frontier plot: accuracy against sparsity, the frontier highlighted, the rest grey.

This is the one frontier plotter of the project: ``frontier.png`` of a sweep directory, the W&B
sweep run's ``frontier_plot`` (``demp.track.sweep_run``) and the offline report
(``demp.results.report``) all draw with ``draw_frontier``.

The scatter plots the first two objectives (by default val accuracy vs. parameter sparsity,
sparsity on x). Frontier trials are drawn in colour and joined in order; dominated complete
trials are grey; truncated and failed trials never appear, as they are not results. With more
than two objectives the highlighted set is still the frontier over all of them, so some
highlighted points may look dominated in the 2-D projection. ``plot_frontier`` adds a second
panel with the hypervolume after each finished trial.

Figures are built with ``matplotlib.figure.Figure`` on an Agg canvas, never through pyplot, so
plotting neither changes the process-wide backend nor keeps figures alive in pyplot's registry.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from demp.results.frontier import Frontier

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

Point = tuple[float, float]


def axes_metrics(metrics: Sequence[str]) -> tuple[str, str]:
    """``(x, y)`` metrics of the scatter: sparsity on x, accuracy on y reads as "how much can be
    removed at what cost" (with one objective, x is the trial's step)."""
    return (metrics[1], metrics[0]) if len(metrics) > 1 else ("step", metrics[0])


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


def _finite_points(points: Sequence[tuple[Any, Any]]) -> list[Point]:
    out = []
    for x, y in points:
        try:
            fx, fy = float(x), float(y)
        except (TypeError, ValueError):
            continue
        if math.isfinite(fx) and math.isfinite(fy):
            out.append((fx, fy))
    return out


def draw_frontier(ax: Axes, frontier: Sequence[tuple[Any, Any]],
                  dominated: Sequence[tuple[Any, Any]], x_metric: str, y_metric: str,
                  title: str = "") -> None:
    """The scatter: ``frontier`` points in red, joined in x order; ``dominated`` in grey.

    Points are ``(x, y)``; non-numeric or non-finite ones are left out.
    """
    grey = _finite_points(dominated)
    ax.scatter([p[0] for p in grey], [p[1] for p in grey], c=DOMINATED_COLOUR, s=22,
               label=f"dominated ({len(grey)})", zorder=1)
    front = sorted(_finite_points(frontier))
    xs, ys = [p[0] for p in front], [p[1] for p in front]
    ax.plot(xs, ys, "-", color=FRONTIER_COLOUR, lw=1.2, zorder=2)
    ax.scatter(xs, ys, c=FRONTIER_COLOUR, s=36, edgecolors="k", linewidths=0.5,
               label=f"frontier ({len(front)})", zorder=3)
    ax.set_xlabel(label(x_metric))
    ax.set_ylabel(label(y_metric))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title or "accuracy–sparsity frontier", fontsize=10)


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


def frontier_points(frontier: Frontier) -> tuple[list[Point], list[Point], str, str]:
    """Frontier and dominated ``(x, y)`` points of a sweep's frontier, and the two metrics."""
    x_m, y_m = axes_metrics(frontier.metrics)
    members = {r.trial_id for r in frontier.members}

    def xy(rec: Any) -> tuple[Any, Any]:
        return rec.metrics.get(x_m), rec.metrics.get(y_m)

    front = [xy(r) for r in frontier.members]
    grey = [xy(r) for r in frontier.complete if r.trial_id not in members]
    return front, grey, x_m, y_m


def reference_label(frontier: Frontier) -> str:
    ref = ", ".join(f"{m}={v:g}" for m, v in zip(frontier.metrics, frontier.reference))
    return f"reference: {ref}"


def frontier_figure(frontier: Frontier, title: str = "") -> Figure:
    """The scatter (left) and the hypervolume history (right) of a sweep."""
    fig = new_figure(11, 4.5)
    ax, ax_hv = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    front, grey, x_m, y_m = frontier_points(frontier)
    draw_frontier(ax, front, grey, x_m, y_m, title)
    draw_hypervolume(ax_hv, [h for _, h in frontier.history], reference_label(frontier))
    fig.tight_layout()
    return fig


def plot_frontier(frontier: Frontier, path: Path, title: str = "") -> Path:
    """``frontier_figure`` as a PNG file (a sweep directory's ``frontier.png``)."""
    return save_png(frontier_figure(frontier, title), path)


def frontier_scatter_png(frontier: Sequence[tuple[Any, Any]],
                         dominated: Sequence[tuple[Any, Any]], x_metric: str, y_metric: str,
                         title: str = "") -> bytes:
    """The scatter alone, as PNG bytes (the W&B sweep run's frontier plot)."""
    fig = new_figure(6.5, 4.5)
    draw_frontier(fig.add_subplot(1, 1, 1), frontier, dominated, x_metric, y_metric, title)
    fig.tight_layout()
    return png_bytes(fig)
