"""Several sweeps' frontiers compared under one reference point (``demp sweep compare``).

Hypervolumes only compare under one reference point, so the comparison recomputes every sweep's
frontier under a *common* reference: the one the sweeps share (the usual case: same dataset and
objectives, so every hypervolume equals the sweep's own), else the least favourable value of
each objective among them (every sweep's points then count as they do under its own reference
or more), or the one given with ``--reference``. The sweeps must have the same objectives.

Budgets: a sweep given more trials or longer trials has a larger hypervolume for that reason
alone, so ``budget_warnings`` names every difference in planned trials, finished trials and
training steps per trial, and ``equal_trials=True`` (``--equal-trials``) takes every sweep's
frontier after the same number of finished trials (the smallest among them, in the order they
finished): hypervolume per trial spent, not per sweep.

Besides each sweep's frontier, the *union* frontier of all their complete trials says where each
method is the best one: the table counts each sweep's points on it. Like ``status`` and
``frontier``, this reads only the sweep directories (``spec.yaml`` and ``trials.jsonl``), never
Ray or Optuna, so it runs next to live sweeps.
"""

from __future__ import annotations

import csv
import io
import math
import os
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
    records: list[TrialRecord] | None = None  # the finished trials counted (all by default)

    @property
    def counted(self) -> list[TrialRecord]:
        return self.outcome.records if self.records is None else self.records

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
    equal_trials: int | None = None  # each sweep counted after this many finished trials

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


def compare_sweeps(directories: list[str | Path], reference: list[float] | None = None,
                   equal_trials: bool = False) -> Comparison:
    """Load the sweeps and recompute their frontiers and the union frontier under one reference
    (with ``equal_trials``, each from its first N finished trials, N the smallest count)."""
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
    n = min(len(o.records) for o in outcomes) if equal_trials else None
    entries, pooled = [], []
    for name, o in zip(_labels(outcomes), outcomes):
        records = o.records[:n] if n is not None else o.records
        entries.append(CompareEntry(name, sweep_method(o), o,
                                    compute_frontier(records, metrics, directions, ref),
                                    records=records if n is not None else None))
        pooled += [replace(r, trial_id=f"{name}/{r.trial_id}") for r in records]
    union = compute_frontier(pooled, metrics, directions, ref)
    for e in entries:
        e.on_union = sum(1 for r in union.members if r.trial_id.startswith(f"{e.label}/"))
    return Comparison(list(metrics), list(directions), ref, entries, union, n)


def steps_per_trial(records: list[TrialRecord]) -> list[int]:
    """The distinct training lengths (steps) of a sweep's complete trials, as they reported."""
    steps = {int(r.metrics["total_steps"]) for r in records
             if r.status == "complete" and isinstance(r.metrics.get("total_steps"), (int, float))}
    return sorted(steps)


def budget_warnings(c: Comparison) -> list[str]:
    """One line per budget the sweeps do not share: planned trials, finished trials, training
    steps per trial. Hypervolume rises with each, so a difference favours one sweep."""
    lines = []

    def differ(what: str, values: list[Any], advice: str) -> None:
        if len({repr(v) for v in values}) > 1:
            shown = ", ".join(f"{e.label} {v}" for e, v in zip(c.entries, values))
            lines.append(f"unequal {what}: {shown}; {advice}")

    differ("planned trials", [e.outcome.spec.trials for e in c.entries],
           "more trials find more of the frontier")
    if c.equal_trials is None:
        differ("finished trials", [len(e.outcome.records) for e in c.entries],
               "--equal-trials compares each after the same number")
    differ("training steps per trial",
           [_span(steps_per_trial(e.counted)) for e in c.entries],
           "longer training reaches other accuracies and sparsities")
    return lines


def _span(steps: list[int]) -> str:
    if not steps:
        return "unknown"
    return str(steps[0]) if len(steps) == 1 else f"{steps[0]}–{steps[-1]}"


def default_output(directories: list[Path]) -> Path:
    """Where the comparison's plot goes unless ``--output`` says: beside the sweeps (in their
    common parent directory), named after them."""
    roots = [Path(d).resolve() for d in directories]
    parent = Path(os.path.commonpath([r.parent for r in roots]))
    names = "-vs-".join(r.name for r in roots[:4]) + ("-etc" if len(roots) > 4 else "")
    return parent / f"compare-{names}.png"


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
            "trials": {"planned": e.outcome.spec.trials, **e.outcome.counts,
                       "counted": len(e.counted)},
            "steps_per_trial": steps_per_trial(e.counted),
            "hypervolume": e.frontier.hypervolume,
            "own_reference_point": e.outcome.frontier.reference,
            "own_hypervolume": e.own_hypervolume,
            "on_union_frontier": e.on_union, "frontier": rows})
    return {
        "objectives": [{"metric": m, "direction": d} for m, d in zip(c.metrics, c.directions)],
        "reference_point": c.reference,
        "union_hypervolume": c.union_hypervolume,
        "equal_trials": c.equal_trials,
        "budget_warnings": budget_warnings(c),
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


__all__ = ["CompareEntry", "Comparison", "budget_warnings", "common_reference", "compare_sweeps",
           "comparison_csv", "comparison_document", "comparison_figure", "default_output",
           "plot_comparison", "reference_text", "steps_per_trial", "sweep_method"]
