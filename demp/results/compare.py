"""Several sweeps' frontiers compared under one reference point (``demp sweep compare``).

Hypervolumes only compare under one reference point, so the comparison recomputes every sweep's
frontier under a *common* reference: the one the sweeps share (the usual case: same dataset and
objectives, so every hypervolume equals the sweep's own), else the least favourable value of
each objective among them (every sweep's points then count as they do under its own reference
or more), or the one given with ``--reference``. The sweeps must have the same objectives.

Besides each sweep's frontier, the *union* frontier of all their complete trials says where each
method is the best one: the table counts each sweep's points on it. Like ``status`` and
``frontier``, this reads only the sweep directories (``spec.yaml`` and ``trials.jsonl``), never
Ray or Optuna, so it runs next to live sweeps.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from demp.errors import ConfigError
from demp.results.frontier import SUMMARY_METRICS, Frontier, compute_frontier
from demp.results.outcome import SweepOutcome, load_sweep
from demp.results.plot import axes_metrics, label, new_figure, save_png
from demp.results.records import TrialRecord


@dataclass
class CompareEntry:
    """One sweep of a comparison; ``frontier`` is under the comparison's common reference."""

    label: str
    method: str
    outcome: SweepOutcome
    frontier: Frontier
    on_union: int = 0

    @property
    def own_hypervolume(self) -> float:
        """The hypervolume under the sweep's own reference (what ``status`` shows)."""
        return self.outcome.frontier.hypervolume


@dataclass
class Comparison:
    metrics: list[str]
    directions: list[str]
    reference: list[float]
    entries: list[CompareEntry]
    union: Frontier  # all sweeps' complete trials, ids prefixed with the sweep label

    @property
    def union_hypervolume(self) -> float:
        return self.union.hypervolume


def sweep_method(outcome: SweepOutcome) -> str:
    """The sweep's method: the base config's, or the searched choices when ``method`` is a
    parameter of the space."""
    param = outcome.spec.space.get("method")
    if param is not None and getattr(param, "choices", None):
        return "searched: " + " | ".join(str(c) for c in param.choices)
    return outcome.spec.base.method


def common_reference(outcomes: list[SweepOutcome]) -> list[float]:
    """The shared reference point, else the least favourable value of each objective."""
    refs = [o.frontier.reference for o in outcomes]
    directions = outcomes[0].frontier.directions
    return [min(vals) if d == "maximize" else max(vals)
            for d, vals in zip(directions, zip(*refs))]


def _labels(outcomes: list[SweepOutcome]) -> list[str]:
    names = [o.spec.name for o in outcomes]
    return [n if names.count(n) == 1 else str(o.paths.root) for n, o in zip(names, outcomes)]


def compare_sweeps(directories: list[str | Path],
                   reference: list[float] | None = None) -> Comparison:
    """Load the sweeps and recompute their frontiers and the union frontier under one reference."""
    if not directories:
        raise ConfigError("compare: name at least one sweep directory")
    outcomes = [load_sweep(d) for d in directories]
    first = outcomes[0]
    metrics, directions = first.frontier.metrics, first.frontier.directions
    for o in outcomes[1:]:
        if (o.frontier.metrics, o.frontier.directions) != (metrics, directions):
            raise ConfigError(
                f"{o.paths.root}: objectives {_objectives(o.frontier)} differ from "
                f"{first.paths.root}'s {_objectives(first.frontier)}; hypervolumes would not "
                f"compare")
    if reference is not None and len(reference) != len(metrics):
        raise ConfigError(f"--reference: {len(reference)} values for {len(metrics)} objectives "
                          f"({', '.join(metrics)})")
    ref = list(reference) if reference is not None else common_reference(outcomes)
    entries, pooled = [], []
    for name, o in zip(_labels(outcomes), outcomes):
        entries.append(CompareEntry(name, sweep_method(o), o,
                                    compute_frontier(o.records, metrics, directions, ref)))
        pooled += [replace(r, trial_id=f"{name}/{r.trial_id}") for r in o.records]
    union = compute_frontier(pooled, metrics, directions, ref)
    for e in entries:
        e.on_union = sum(1 for r in union.members if r.trial_id.startswith(f"{e.label}/"))
    return Comparison(list(metrics), list(directions), ref, entries, union)


def _objectives(f: Frontier) -> str:
    return ", ".join(f"{d} {m}" for m, d in zip(f.metrics, f.directions))


# ------------------------------------------------------------------------------ outputs


def reference_text(c: Comparison) -> str:
    return ", ".join(f"{m}={v:g}" for m, v in zip(c.metrics, c.reference))


def comparison_document(c: Comparison) -> dict[str, Any]:
    """Everything the table and plot show, as JSON-ready data."""
    union_ids = {r.trial_id for r in c.union.members}
    sweeps = []
    for e in c.entries:
        rows = []
        for r in e.frontier.members:
            row: dict[str, Any] = {"trial_id": r.trial_id, "optuna_trial": r.number}
            for m in [*c.metrics, *SUMMARY_METRICS]:
                row.setdefault(m, r.metrics.get(m))
            row["params"] = r.params
            row["on_union_frontier"] = f"{e.label}/{r.trial_id}" in union_ids
            rows.append(row)
        sweeps.append({
            "sweep": e.label, "directory": str(e.outcome.paths.root), "method": e.method,
            "trials": {"planned": e.outcome.spec.trials, **e.outcome.counts},
            "hypervolume": e.frontier.hypervolume,
            "own_reference_point": e.outcome.frontier.reference,
            "own_hypervolume": e.own_hypervolume,
            "on_union_frontier": e.on_union, "frontier": rows})
    return {
        "objectives": [{"metric": m, "direction": d} for m, d in zip(c.metrics, c.directions)],
        "reference_point": c.reference,
        "union_hypervolume": c.union_hypervolume,
        "sweeps": sweeps,
    }


def comparison_csv(c: Comparison) -> str:
    """One row per frontier point of every sweep."""
    rows = []
    for s in comparison_document(c)["sweeps"]:
        for r in s["frontier"]:
            rows.append({"sweep": s["sweep"], "method": s["method"],
                         **{k: v for k, v in r.items() if k != "params"}})
    columns = ["sweep", "method", "trial_id", "optuna_trial", *c.metrics,
               *[m for m in SUMMARY_METRICS if m not in c.metrics], "on_union_frontier"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def comparison_figure(c: Comparison) -> Any:
    """Every sweep's frontier in its own colour (joined, large markers) over its dominated
    complete trials (small, faint), first two objectives as in ``frontier.png``."""
    x_m, y_m = axes_metrics(c.metrics)
    fig = new_figure(8, 5.5)
    ax = fig.add_subplot(1, 1, 1)
    colours = [f"C{i % 10}" for i in range(len(c.entries))]
    for e, colour in zip(c.entries, colours):
        members = {r.trial_id for r in e.frontier.members}
        front = sorted(_xy(r, x_m, y_m) for r in e.frontier.members if _xy(r, x_m, y_m))
        grey = [p for r in e.frontier.complete if r.trial_id not in members
                for p in [_xy(r, x_m, y_m)] if p]
        ax.scatter([p[0] for p in grey], [p[1] for p in grey], s=14, color=colour, alpha=0.3,
                   zorder=1)
        ax.plot([p[0] for p in front], [p[1] for p in front], "-o", color=colour, ms=6,
                mec="k", mew=0.5, lw=1.4, zorder=3,
                label=f"{e.label}{'' if e.method == e.label else f' ({e.method})'} · HV "
                f"{e.frontier.hypervolume:.4f}")
    ax.set_xlabel(label(x_m))
    ax.set_ylabel(label(y_m))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(f"frontiers compared · reference {reference_text(c)}", fontsize=10)
    fig.tight_layout()
    return fig


def _xy(r: TrialRecord, x_m: str, y_m: str) -> tuple[float, float] | None:
    try:
        x, y = float(r.metrics.get(x_m)), float(r.metrics.get(y_m))
    except (TypeError, ValueError):
        return None
    return (x, y) if math.isfinite(x) and math.isfinite(y) else None


def plot_comparison(c: Comparison, path: Path) -> Path:
    return save_png(comparison_figure(c), path)


__all__ = ["CompareEntry", "Comparison", "common_reference", "compare_sweeps", "comparison_csv",
           "comparison_document", "comparison_figure", "plot_comparison", "reference_text",
           "sweep_method"]
