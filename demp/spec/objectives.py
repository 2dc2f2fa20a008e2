"""What a sweep's objectives and target constraint mean, as plain functions of plain data.

The default hypervolume reference point needs the dataset's number of classes (chance accuracy),
and a target-sparsity sweep's constraint value needs the trial's own target (``demp.target.*``
may be searched). Both are computed here from plain dicts, so the constraint can cross into
Optuna's searcher (whose state Ray pickles) as ``TargetConstraint``: data, not a bound method of
the pydantic spec.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from demp.config import TrainConfig
from demp.spec.space import apply_params

# Classes per dataset, for the default (chance-accuracy) reference point.
DATASET_CLASSES: dict[str, int] = {"digits": 10, "cifar10": 10, "cifar100": 100, "imagenet": 1000}


def num_classes(base: TrainConfig) -> int:
    if base.data.name == "synthetic":
        return base.data.synthetic.num_classes
    return DATASET_CLASSES[base.data.name]


def target_violation(base: Mapping[str, Any], tolerance: float, params: Mapping[str, Any],
                     metrics: Mapping[str, Any]) -> float:
    """|achieved − target| − tolerance of a finished trial (≤ 0: feasible; Optuna's constraint
    convention); ``base`` is the spec's base config as a dict, ``params`` the trial's."""
    cfg = apply_params(dict(base), dict(params))["demp"]["target"]
    achieved = float(metrics.get(cfg["metric"], math.nan))
    if not math.isfinite(achieved):
        return math.inf
    return abs(achieved - float(cfg["value"])) - tolerance


@dataclass(frozen=True)
class TargetConstraint:
    """``target_violation`` with the spec's part bound in: a picklable callable of plain data."""

    base: dict[str, Any]
    tolerance: float

    def __call__(self, params: Mapping[str, Any], metrics: Mapping[str, Any]) -> float:
        return target_violation(self.base, self.tolerance, params, metrics)


__all__ = ["DATASET_CLASSES", "TargetConstraint", "num_classes", "target_violation"]
