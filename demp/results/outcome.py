"""A sweep directory read back: its spec, its trial records and their frontier.

``load_sweep`` reads only ``spec.yaml`` and ``trials.jsonl`` (never Ray or Optuna), so it is safe
and quick next to a running driver; it is what ``status``, ``frontier``, ``compare``, ``export``
and ``report`` start from. ``finalize`` rewrites the frontier files from the ledger: what a
driver does when Tune returns, and what ``demp sweep frontier`` does before it prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from demp.errors import SweepDirectoryError
from demp.results.frontier import Frontier, compute_frontier, write_frontier_files
from demp.results.plot import plot_frontier
from demp.results.records import TrialLog, TrialRecord, counts
from demp.results.replicated import (
    replicated_document, replicated_groups, write_replicated_files,
)
from demp.results.scatter import sweep_frontier_points
from demp.spec.layout import SweepPaths, not_a_sweep
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
    replicates: list[TrialRecord] = field(default_factory=list)  # replicates.jsonl
    stopped_by: str | None = None  # the signal that interrupted the driver ("SIGINT", "SIGTERM")
    already_finished: bool = False  # a resume that found nothing to do (no Ray was started)

    @property
    def counts(self) -> dict[str, int]:
        return counts(self.records)

    @property
    def finished(self) -> int:
        """Trials that ended (complete, truncated or failed)."""
        return sum(self.counts.values())


def load_sweep(directory: str | Path) -> SweepOutcome:
    """Read a sweep directory without Ray or Optuna (safe next to a running driver)."""
    paths = SweepPaths(Path(directory).resolve())
    if not paths.is_sweep():
        raise SweepDirectoryError(not_a_sweep(paths))
    spec = load_spec(paths.spec)
    records = TrialLog(paths.trials).records()
    frontier = compute_frontier(records, spec.metrics, spec.directions, spec.reference_point())
    return SweepOutcome(spec, paths, records, frontier,
                        replicates=TrialLog(paths.replicates).records())


def finalize(spec: SweepSpec, paths: SweepPaths) -> SweepOutcome:
    """Frontier CSV / JSON / PNG from trials.jsonl; what a driver does when Tune returns."""
    outcome = load_sweep(paths.root)
    write_frontier_files(outcome.frontier, outcome.records, spec.name, spec.trials,
                         paths.frontier_csv, paths.frontier_json)
    plot_frontier(outcome.frontier, paths.frontier_png,
                  title=f"{spec.name}: accuracy–sparsity frontier",
                  points=sweep_frontier_points(spec, outcome.frontier, outcome.records))
    if outcome.replicates:
        write_replicated_files(
            replicated_document(replicated_groups(outcome), spec.metrics, spec.directions,
                                spec.reference_point(), spec.name),
            *replicated_paths(paths))
    return outcome


def replicated_paths(paths: SweepPaths) -> tuple[Path, Path, Path]:
    """frontier_replicates.csv / .json / .png of a sweep directory."""
    return (paths.root / "frontier_replicates.csv", paths.root / "frontier_replicates.json",
            paths.root / "frontier_replicates.png")


__all__ = ["SweepOutcome", "finalize", "load_sweep"]
