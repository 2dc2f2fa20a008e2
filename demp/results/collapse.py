"""Collapsed trials: complete, but no better than guessing.

A trial whose accuracy is below chance (1 / number of classes) finished without an error, yet
learned nothing — a learning rate that blew the network up, a regularizer that killed every unit.
It is a result only in the narrow sense: tables and displays show it as ``collapsed`` rather than
as a green ``complete``, so that it is not mistaken for a point worth reading.
"""

from __future__ import annotations

from demp.results.records import TrialRecord
from demp.results.values import is_finite
from demp.spec.objectives import num_classes
from demp.spec.schema import SweepSpec

ACCURACY_METRICS = ("val_acc", "test_acc")


def chance_accuracy(spec: SweepSpec) -> float:
    """1 / number of classes of the sweep's dataset."""
    return 1.0 / num_classes(spec.base)


def is_collapsed(record: TrialRecord, chance: float) -> bool:
    """A complete trial whose validation accuracy (else test accuracy) is below ``chance``."""
    if record.status != "complete":
        return False
    for metric in ACCURACY_METRICS:
        value = record.metrics.get(metric)
        if is_finite(value):
            return float(value) < chance
    return False


__all__ = ["chance_accuracy", "is_collapsed"]
