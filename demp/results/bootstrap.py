"""Uncertainty of a sweep's hypervolume over seeds, by the bootstrap, and of a method's best
accuracy at a sparsity level.

A sweep with replicates (``demp.results.replicates``) has, for each configuration, one objective
vector per seed. One bootstrap draw resamples each configuration's seeds with replacement and
takes the mean of the draw; the hypervolume of those means is one sample of what the sweep's
mean-frontier hypervolume could have been with other seeds. ``hypervolume_draws`` returns B such
samples; the 95 % interval is their 2.5th and 97.5th percentiles (percentile bootstrap) and
P(A > B) the share of independent draw pairs in which sweep A's sample exceeds B's, ties counted
half. A configuration with one seed contributes its one value to every draw (no spread is known
for it), so a sweep without replicates gets a zero-width interval.

Draws use a NumPy generator seeded explicitly (``seed``), so a comparison prints the same numbers
every time it is asked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from demp.pareto import hypervolume
from demp.results.replicates import GroupStats

DRAWS = 2000


def hypervolume_draws(groups: list[GroupStats], metrics: list[str], directions: list[str],
                      reference: list[float], draws: int = DRAWS, seed: int = 0) -> np.ndarray:
    """B bootstrap samples of the hypervolume of the groups' mean objective vectors."""
    rng = np.random.default_rng(seed)
    if not groups:
        return np.zeros(draws)
    values = [np.array([r.objective_values(metrics) for r in g.records]) for g in groups]
    out = np.empty(draws)
    for b in range(draws):
        means = np.array([v[rng.integers(0, len(v), len(v))].mean(axis=0) for v in values])
        out[b] = hypervolume(means, directions, reference)
    return out


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` interval of bootstrap samples."""
    lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], method="linear")
    return float(lo), float(hi)


def probability_greater(a: np.ndarray, b: np.ndarray) -> float:
    """P(A > B) over all pairs of independent draws (ties count half)."""
    a_sorted = np.sort(np.asarray(a, dtype=float))
    b_sorted = np.sort(np.asarray(b, dtype=float))
    below = np.searchsorted(b_sorted, a_sorted, side="left")   # b < a
    equal = np.searchsorted(b_sorted, a_sorted, side="right") - below
    return float((below.sum() + 0.5 * equal.sum()) / (len(a_sorted) * len(b_sorted)))


@dataclass
class BestAt:
    """The best mean accuracy among configurations whose mean sparsity reaches ``level``."""

    level: float
    group: str | None
    mean: float
    interval: tuple[float, float]
    seeds: int


def best_at_sparsity(groups: list[GroupStats], accuracy: str, sparsity: str,
                     levels: list[float]) -> list[BestAt]:
    """For each sparsity level, the configuration with the best mean ``accuracy`` among those
    whose mean ``sparsity`` is at least the level, with its 95 % interval over seeds."""
    out = []
    for level in levels:
        eligible = [g for g in groups if g.spreads[sparsity].mean >= level]
        if not eligible:
            out.append(BestAt(level, None, float("nan"), (float("nan"), float("nan")), 0))
            continue
        best = max(eligible, key=lambda g: g.spreads[accuracy].mean)
        s = best.spreads[accuracy]
        out.append(BestAt(level, best.group, s.mean, s.interval, s.n))
    return out


__all__ = ["DRAWS", "BestAt", "best_at_sparsity", "hypervolume_draws", "percentile_interval",
           "probability_greater"]
