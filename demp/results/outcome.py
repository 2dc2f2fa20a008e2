"""A sweep directory read back: its spec, its trial records and their frontier.

``load_sweep`` reads only ``spec.yaml`` and ``trials.jsonl`` (never Ray or Optuna), so it is safe
and quick next to a running driver; it is what ``status``, ``frontier``, ``compare``, ``export``
and ``report`` start from. ``finalize`` rewrites the frontier files from the ledger: what a
driver does when Tune returns, and what ``demp sweep frontier`` does before it prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from demp.errors import ConfigError
from demp.results.frontier import Frontier, compute_frontier, write_frontier_files
from demp.results.plot import plot_frontier
from demp.results.records import TrialLog, TrialRecord, counts
from demp.results.scatter import sweep_frontier_points
from demp.spec.layout import SweepPaths
from demp.spec.loading import load_spec
from demp.spec.schema import SweepSpec


@dataclass
class SweepOutcome:
    """A sweep directory's spec, trial records and frontier (what status / frontier show)."""

    spec: SweepSpec
    paths: SweepPaths
    records: list[TrialRecord]
    frontier: Frontier
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return counts(self.records)


def load_sweep(directory: str | Path) -> SweepOutcome:
    """Read a sweep directory without Ray or Optuna (safe next to a running driver)."""
    paths = SweepPaths(Path(directory).resolve())
    if not paths.is_sweep():
        raise ConfigError(f"{paths.root}: not a sweep directory (no {paths.spec.name})")
    spec = load_spec(paths.spec)
    records = TrialLog(paths.trials).records()
    frontier = compute_frontier(records, spec.metrics, spec.directions, spec.reference_point())
    return SweepOutcome(spec, paths, records, frontier)


def finalize(spec: SweepSpec, paths: SweepPaths) -> SweepOutcome:
    """Frontier CSV / JSON / PNG from trials.jsonl; what a driver does when Tune returns."""
    outcome = load_sweep(paths.root)
    write_frontier_files(outcome.frontier, outcome.records, spec.name, spec.trials,
                         paths.frontier_csv, paths.frontier_json)
    plot_frontier(outcome.frontier, paths.frontier_png,
                  title=f"{spec.name}: accuracy–sparsity frontier",
                  points=sweep_frontier_points(spec, outcome.frontier, outcome.records))
    return outcome


__all__ = ["SweepOutcome", "finalize", "load_sweep"]
