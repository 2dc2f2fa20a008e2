"""Method comparisons that survive noise: each sweep's hypervolume with a bootstrap interval over
seeds, the probability that one sweep's hypervolume exceeds another's, and each sweep's best
accuracy at chosen sparsity levels with its interval (``demp sweep compare``).

The hypervolume here is that of each sweep's configurations at their means over seeds
(``demp.results.replicates``; only the replicated ones when a sweep has replicates), under the
comparison's common reference point; the bootstrap
resamples each configuration's seeds (``demp.results.bootstrap``). A sweep without replicates has
one seed per configuration, hence zero-width intervals and probabilities of 0, ½ or 1: the table
says "1 seed" so that nobody reads certainty into them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from demp.results.bootstrap import (
    DRAWS, BestAt, best_at_sparsity, hypervolume_draws, percentile_interval,
    probability_greater,
)
from demp.results.compare import Comparison
from demp.results.replicates import GroupStats, group_stats, mean_hypervolume, replicated_only


@dataclass
class SweepUncertainty:
    label: str
    groups: list[GroupStats]
    seeds: int                      # the most seeds any configuration has
    hypervolume: float              # of the configurations' means
    interval: tuple[float, float]   # 95 % percentile bootstrap interval
    draws: np.ndarray = field(repr=False)
    best: list[BestAt] = field(default_factory=list)


@dataclass
class ComparisonUncertainty:
    sweeps: list[SweepUncertainty]
    greater: list[list[float]]      # greater[i][j] = P(HV_i > HV_j)
    levels: list[float]


def _sparsity_metric(c: Comparison) -> str:
    for m in c.metrics:
        if "sparsity" in m:
            return m
    return "param_sparsity"


def uncertainty(c: Comparison, levels: list[float] = (), draws: int = DRAWS,
                seed: int = 0) -> ComparisonUncertainty:
    """Bootstrap intervals and pairwise probabilities for every sweep of ``c``."""
    accuracy, sparsity = c.metrics[0], _sparsity_metric(c)
    extra = [m for m in (sparsity,) if m not in c.metrics]
    sweeps = []
    for k, e in enumerate(c.entries):
        o = e.outcome
        groups = replicated_only(group_stats(e.counted, o.replicates, [*c.metrics, *extra],
                                             o.spec.base.seed))
        samples = hypervolume_draws(groups, c.metrics, c.directions, c.reference, draws,
                                    seed + k)
        best = best_at_sparsity(groups, accuracy, sparsity, list(levels)) if levels else []
        sweeps.append(SweepUncertainty(
            e.label, groups, max((len(g.records) for g in groups), default=0),
            mean_hypervolume(groups, c.metrics, c.directions, c.reference),
            percentile_interval(samples) if groups else (0.0, 0.0), samples, best))
    greater = [[probability_greater(a.draws, b.draws) if a is not b else 0.5 for b in sweeps]
               for a in sweeps]
    return ComparisonUncertainty(sweeps, greater, list(levels))


def uncertainty_document(u: ComparisonUncertainty) -> dict:
    """JSON-ready: per sweep its interval and best-at-sparsity rows; the probability matrix."""
    return {
        "bootstrap": {"draws": int(len(u.sweeps[0].draws)) if u.sweeps else 0,
                      "interval": "95 % percentile"},
        "sweeps": [{"sweep": s.label, "seeds": s.seeds, "hypervolume_of_means": s.hypervolume,
                    "hypervolume_interval": list(s.interval),
                    "best_at_sparsity": [{"sparsity": b.level, "group": b.group,
                                          "accuracy_mean": b.mean,
                                          "accuracy_interval": list(b.interval),
                                          "seeds": b.seeds} for b in s.best]}
                   for s in u.sweeps],
        "probability_greater": {a.label: {b.label: u.greater[i][j]
                                          for j, b in enumerate(u.sweeps) if j != i}
                                for i, a in enumerate(u.sweeps)},
    }


__all__ = ["ComparisonUncertainty", "SweepUncertainty", "uncertainty", "uncertainty_document"]
