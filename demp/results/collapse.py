"""Collapsed trials: runs that completed but ended below chance accuracy.

A DemP trial whose regularization is too strong kills nearly every unit and finishes at chance
accuracy or below (0.07 on 10-class digits). It is a complete trial, so it is a result and stays
in ``trials.jsonl`` and in the Pareto analysis (it adds no hypervolume: the default reference is
chance accuracy). But drawn among the others it stretches the accuracy axis from the frontier's
0.9–1.0 down to 0, and listed among them it reads like a data point of the trade-off rather than
a failure of the hyperparameters. So plots draw it apart and tables list it apart, and all of
them use the one rule here.

Chance is ``1 / num_classes`` of the sweep's dataset, the same number the default hypervolume
reference point uses (``demp.spec.objectives.num_classes``, ``demp.pareto.default_reference``).
"""

from __future__ import annotations

from collections.abc import Sequence

from demp.results.records import TrialRecord
from demp.results.values import is_finite
from demp.spec.objectives import num_classes
from demp.spec.schema import SweepSpec

COLLAPSED_NOTE = "collapsed: below chance accuracy"


def chance_accuracy(spec: SweepSpec) -> float:
    """Accuracy of guessing, ``1 / num_classes`` of the sweep's dataset."""
    return 1.0 / num_classes(spec.base)


def is_accuracy(metric: str, direction: str = "maximize") -> bool:
    """Whether chance applies to ``metric``: a maximized accuracy (the rule of the default
    reference point: the name contains "acc" and not "sparsity")."""
    name = metric.lower()
    return "acc" in name and "sparsity" not in name and direction == "maximize"


def accuracy_metric(metrics: Sequence[str], directions: Sequence[str]) -> str | None:
    """The first maximized accuracy objective of a sweep (None when it optimizes none)."""
    return next((m for m, d in zip(metrics, directions) if is_accuracy(m, d)), None)


def is_collapsed(record: TrialRecord, chance: float, metric: str = "val_acc") -> bool:
    """A complete trial whose ``metric`` (an accuracy) is below ``chance``.

    Truncated and failed trials are never "collapsed": they are not results at all. What the CLI
    shows in ``status`` / ``frontier`` tables and the report's "collapsed" list.
    """
    value = record.metrics.get(metric)
    return record.status == "complete" and is_finite(value) and float(value) < chance


def split_collapsed(records: Sequence[TrialRecord], chance: float | None,
                    metric: str = "val_acc") -> tuple[list[TrialRecord], list[TrialRecord]]:
    """``(kept, collapsed)`` in their original order; nothing collapses without a chance."""
    if chance is None:
        return list(records), []
    kept, collapsed = [], []
    for r in records:
        (collapsed if is_collapsed(r, chance, metric) else kept).append(r)
    return kept, collapsed


def sweep_collapsed(spec: SweepSpec, records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The collapsed trials of a sweep, judged on its accuracy objective (none if it has none)."""
    metric = accuracy_metric(spec.metrics, spec.directions)
    if metric is None:
        return []
    return split_collapsed(records, chance_accuracy(spec), metric)[1]


__all__ = ["COLLAPSED_NOTE", "accuracy_metric", "chance_accuracy", "is_accuracy",
           "is_collapsed", "split_collapsed", "sweep_collapsed"]
