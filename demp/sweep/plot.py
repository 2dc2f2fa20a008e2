"""The frontier plot: accuracy against sparsity, the frontier highlighted, the rest grey.

The left panel plots the first two objectives (by default val accuracy vs. parameter sparsity).
Frontier trials are drawn in colour and joined in order; dominated complete trials are grey;
truncated and failed trials never appear, as they are not results. With more than two objectives
the highlighted set is still the frontier over all of them, so some highlighted points may look
dominated in the 2-D projection. The right panel is the hypervolume after each finished trial.
"""

from __future__ import annotations

from pathlib import Path

from demp.sweep.results import Frontier

LABELS = {
    "val_acc": "validation accuracy", "test_acc": "test accuracy",
    "param_sparsity": "parameter sparsity", "neural_sparsity": "neural sparsity",
    "flops": "inference FLOPs / sample", "train_time": "training time (s)",
    "train_flops": "training FLOPs", "val_loss": "validation loss",
}


def plot_frontier(frontier: Frontier, path: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = frontier.metrics
    # Sparsity on x, accuracy on y reads as "how much can be removed at what cost".
    x_m, y_m = (metrics[1], metrics[0]) if len(metrics) > 1 else ("step", metrics[0])
    fig, (ax, ax_hv) = plt.subplots(1, 2, figsize=(11, 4.5),
                                    gridspec_kw={"width_ratios": [3, 2]})
    members = {r.trial_id for r in frontier.members}
    grey = [r for r in frontier.complete if r.trial_id not in members]
    ax.scatter([r.metrics.get(x_m) for r in grey], [r.metrics.get(y_m) for r in grey],
               c="0.7", s=22, label=f"dominated ({len(grey)})", zorder=1)
    front = sorted(frontier.members, key=lambda r: r.metrics.get(x_m, 0.0))
    xs, ys = [r.metrics.get(x_m) for r in front], [r.metrics.get(y_m) for r in front]
    ax.plot(xs, ys, "-", color="tab:red", lw=1.2, zorder=2)
    ax.scatter(xs, ys, c="tab:red", s=36, edgecolors="k", linewidths=0.5,
               label=f"frontier ({len(front)})", zorder=3)
    ax.set_xlabel(LABELS.get(x_m, x_m))
    ax.set_ylabel(LABELS.get(y_m, y_m))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title or "accuracy–sparsity frontier")

    hv = [h for _, h in frontier.history]
    ax_hv.plot(range(1, len(hv) + 1), hv, "-o", ms=3, color="tab:blue")
    ax_hv.set_xlabel("finished trials")
    ax_hv.set_ylabel("hypervolume")
    ref = ", ".join(f"{m}={v:g}" for m, v in zip(metrics, frontier.reference))
    ax_hv.set_title(f"reference: {ref}", fontsize=9)
    ax_hv.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
    return path
