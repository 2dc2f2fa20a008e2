"""A configuration over its seeds: mean, spread and a 95 % interval of each objective, and the
frontier built on the means.

On digits one validation image is worth 0.28 points of accuracy, and frontier points a search
finds differ by a few images: a single seed cannot say which of two configurations is better.
Replicates (``demp.sweep.replicates``) re-run a configuration's exact parameters on further seeds
and land in ``replicates.jsonl`` beside ``trials.jsonl``; a record's ``group`` is the trial id of
the search trial it repeats, and the search trial is replicate 0 of its own group.

- ``group_stats`` gathers each group's complete records and summarizes every objective: n, mean,
  sample standard deviation, and the 95 % Student-t interval of the mean (n ≥ 2).
- ``replicated_frontier`` sorts the groups' means (``demp.pareto``) and marks a dominated group
  *not separable* when its interval overlaps, in every objective, the interval of a group that
  dominates it: the seeds cannot tell the two apart, so neither can the frontier.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from typing import TYPE_CHECKING, Any

from demp.pareto import hypervolume, non_dominated_sort
from demp.results.records import TrialRecord

if TYPE_CHECKING:
    from demp.spec.schema import SweepSpec

STAGES = ("frontier", "all")

# Two-sided 95 % Student-t quantiles t(0.975, df) for df = 1..30; beyond, a Cornish-Fisher
# expansion of the normal quantile is within 1e-3 of the exact value.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = NormalDist().inv_cdf(0.975)
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


@dataclass
class Spread:
    """One objective of one configuration over its seeds."""

    values: list[float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def sd(self) -> float:
        """Sample standard deviation (n − 1); NaN with one seed."""
        return statistics.stdev(self.values) if self.n > 1 else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        """95 % t-interval of the mean; (mean, mean) with one seed (no spread is known)."""
        if self.n < 2:
            return self.mean, self.mean
        half = t975(self.n - 1) * self.sd / math.sqrt(self.n)
        return self.mean - half, self.mean + half


@dataclass
class GroupStats:
    """A configuration (the parameters of search trial ``group``) over the seeds it ran on."""

    group: str
    params: dict
    records: list[TrialRecord]
    spreads: dict[str, Spread]
    on_frontier: bool = False
    not_separable: bool = False
    seeds: list[int] = field(default_factory=list)

    def means(self, metrics: list[str]) -> list[float]:
        return [self.spreads[m].mean for m in metrics]


def group_of(record: TrialRecord) -> str:
    """The search trial a record repeats (itself for a search trial)."""
    return record.group or record.trial_id


def group_stats(trials: list[TrialRecord], replicates: list[TrialRecord],
                metrics: list[str], base_seed: int = 0) -> list[GroupStats]:
    """Every complete search trial with the complete replicates of its configuration, in the
    order of ``trials``; objectives with a non-finite value leave that record out."""
    by_group: dict[str, list[TrialRecord]] = {}
    for r in [*trials, *replicates]:
        if r.status != "complete" or r.feasible is False:
            continue
        vals = r.objective_values(metrics)
        if all(math.isfinite(v) for v in vals):
            by_group.setdefault(group_of(r), []).append(r)
    out = []
    for t in trials:
        recs = by_group.get(t.trial_id)
        if not recs or t.group is not None:
            continue
        spreads = {m: Spread([r.objective_values([m])[0] for r in recs]) for m in metrics}
        seeds = [int(r.params.get("seed", base_seed)) if r.seed is None else r.seed
                 for r in recs]
        out.append(GroupStats(t.trial_id, dict(t.params), recs, spreads, seeds=seeds))
    return out


def replicated_only(groups: list[GroupStats]) -> list[GroupStats]:
    """The configurations that ran on more than one seed, when any did (else all of them).

    With ``stage: frontier`` only the search's frontier is replicated; a configuration with one
    seed beside means of three would be judged on a single draw of the noise the means average
    out (a lucky seed lands on the frontier of means), and its zero-width interval would make it
    look certain. So frontiers of means, their hypervolume and its bootstrap use the replicated
    configurations; the others are listed as not replicated."""
    replicated = [g for g in groups if len(g.records) > 1]
    return replicated or list(groups)


def training_seed(spec: SweepSpec, record: TrialRecord) -> int:
    """The seed a search trial trained with: its sampled ``seed`` if searched, else the base's."""
    return int(record.params.get("seed", spec.base.seed))


def replicate_jobs(spec: SweepSpec, outcome: Any, seeds: int,
                   stage: str) -> list[dict[str, Any]]:
    """The replicate jobs still to run (``demp.sweep.replicates``): one per (configuration,
    extra seed) not yet in replicates.jsonl. ``outcome`` is a loaded sweep
    (``demp.results.outcome.SweepOutcome``, which imports this module). Plain data, so
    ``status`` counts what is pending without Ray."""
    if seeds < 2:
        raise ValueError(f"seeds: need at least 2 seeds per configuration, got {seeds}")
    if stage not in STAGES:
        raise ValueError(f"stage: one of {', '.join(STAGES)}, got {stage!r}")
    chosen = (outcome.frontier.members if stage == "frontier"
              else [r for r in outcome.records if r.status == "complete"])
    done = {(r.group, r.replicate) for r in outcome.replicates}
    jobs = []
    for r in chosen:
        first = training_seed(spec, r)
        for i in range(1, seeds):
            if (r.trial_id, i) not in done:
                jobs.append({"group": r.trial_id, "replicate": i, "seed": first + i,
                             "number": r.number, "params": {**r.params, "seed": first + i}})
    return jobs


def _signs(directions: list[str]) -> np.ndarray:
    return np.array([1.0 if d == "maximize" else -1.0 for d in directions])


def replicated_frontier(groups: list[GroupStats], metrics: list[str],
                        directions: list[str]) -> list[GroupStats]:
    """Mark the groups on the frontier of the means, and the dominated ones whose intervals
    overlap a dominating group's in every objective (``not_separable``); returns the frontier
    members, best first in the first objective."""
    if not groups:
        return []
    points = np.array([g.means(metrics) for g in groups])
    front = set(non_dominated_sort(points, directions)[0])
    s = _signs(directions)
    for i, g in enumerate(groups):
        g.on_frontier = i in front
        g.not_separable = False
        if g.on_frontier:
            continue
        for j, h in enumerate(groups):
            gs, hs = points[i] * s, points[j] * s
            if j == i or not (np.all(hs >= gs) and np.any(hs > gs)):
                continue  # h does not dominate g
            if all(_overlap(g.spreads[m].interval, h.spreads[m].interval) for m in metrics):
                g.not_separable = True
                break
    members = [g for g in groups if g.on_frontier]
    return sorted(members, key=lambda g: -g.means(metrics)[0] * s[0])


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def mean_hypervolume(groups: list[GroupStats], metrics: list[str], directions: list[str],
                     reference: list[float]) -> float:
    """Hypervolume of the groups' means."""
    if not groups:
        return 0.0
    return hypervolume(np.array([g.means(metrics) for g in groups]), directions, reference)


__all__ = ["STAGES", "GroupStats", "Spread", "group_of", "group_stats", "mean_hypervolume",
           "replicate_jobs", "replicated_frontier", "replicated_only", "t975", "training_seed"]
