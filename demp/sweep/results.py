"""Trial records and the Pareto frontier built from them.

``trials.jsonl`` is the sweep's own ledger: the driver appends one line when a trial ends, keyed
by its Ray trial id. It is append-only and read with "first record per trial wins", so a trial
that a resumed driver sees finish a second time (Ray's experiment snapshot can lag the last
completion) is never counted twice. Its order is the finish order the hypervolume history uses.

Only trials that ran to their end (``complete``) enter the frontier, and in a target-sparsity
sweep only the feasible ones among them (``feasible``: |achieved − target| within the spec's
tolerance; ``violation`` is Optuna's constraint value, ≤ 0 when feasible). Trials stopped early
(``truncated``) and failed ones are listed but kept out, exactly as Optuna is told (PRUNED /
FAIL rather than COMPLETE). This module imports neither Ray nor Optuna so that ``status`` and
``frontier`` are quick to run next to a live sweep.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from demp.sweep.pareto import hypervolume_history, non_dominated_sort

Status = Literal["complete", "truncated", "failed"]

# Metrics shown beside the objectives in tables and frontier files.
SUMMARY_METRICS = ("val_acc", "test_acc", "param_sparsity", "neural_sparsity", "flops",
                   "train_time", "step")


@dataclass
class TrialRecord:
    """How one trial ended; ``metrics`` is its last reported (flat) metrics record."""

    trial_id: str
    status: Status
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    number: int | None = None
    reason: str = ""
    failures: int = 0
    checkpoint: str | None = None
    finished: float = field(default_factory=time.time)
    feasible: bool | None = None       # target-sparsity sweeps only (complete trials)
    violation: float | None = None

    def objective_values(self, metrics: list[str]) -> list[float]:
        return [float(self.metrics.get(m, math.nan)) for m in metrics]

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=_jsonable)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrialRecord":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return str(value)


def classify(result: dict[str, Any] | None, errored: bool,
             objectives: list[str]) -> tuple[Status, str]:
    """The status of a trial from its last result; the one rule the driver and Optuna share."""
    if errored:
        return "failed", "error"
    if not result:
        return "truncated", "ended before reporting any result"
    if result.get("failed"):
        return "failed", str(result.get("failure_reason") or "failed")
    if not result.get("complete"):
        return "truncated", "stopped before its last step"
    bad = [m for m in objectives if not _finite(result.get(m))]
    if bad:
        return "failed", f"non-finite objective value(s): {', '.join(bad)}"
    return "complete", ""


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


class TrialLog:
    """The append-only ``trials.jsonl``; readers keep the first record of each trial id."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> list[TrialRecord]:
        if not self.path.is_file():
            return []
        seen: dict[str, TrialRecord] = {}
        for line in self.path.read_text().splitlines():
            if not line.strip():
                continue
            try:
                record = TrialRecord.from_dict(json.loads(line))
            except (json.JSONDecodeError, TypeError):
                continue  # a line torn by a killed driver; the trial is re-recorded on resume
            seen.setdefault(record.trial_id, record)
        return list(seen.values())

    def recorded_ids(self) -> set[str]:
        return {r.trial_id for r in self.records()}

    def append(self, record: TrialRecord) -> bool:
        """Append unless the trial is already recorded; returns whether it was written."""
        if record.trial_id in self.recorded_ids():
            return False
        self._heal_torn_tail()
        with self.path.open("a") as f:
            f.write(record.to_json() + "\n")
            f.flush()
            os.fsync(f.fileno())
        return True

    def _heal_torn_tail(self) -> None:
        if self.path.is_file() and self.path.stat().st_size:
            with self.path.open("rb+") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")


# ------------------------------------------------------------------------------ frontier


@dataclass
class Frontier:
    """The Pareto analysis of a sweep's complete trials."""

    metrics: list[str]
    directions: list[str]
    reference: list[float]
    complete: list[TrialRecord]       # complete trials, finish order
    ranks: list[int]                  # non-dominated front index per complete trial (0 = frontier)
    hypervolume: float
    history: list[tuple[str, float]]  # (trial id, hypervolume after it finished), all trials

    @property
    def members(self) -> list[TrialRecord]:
        """Frontier trials, best first in the first objective."""
        rows = [r for r, k in zip(self.complete, self.ranks) if k == 0]
        sign = -1.0 if self.directions[0] == "maximize" else 1.0
        return sorted(rows, key=lambda r: (sign * r.objective_values(self.metrics)[0], r.trial_id))

    def on_frontier(self, trial_id: str) -> bool:
        return any(r.trial_id == trial_id for r in self.members)


def compute_frontier(records: list[TrialRecord], metrics: list[str], directions: list[str],
                     reference: list[float]) -> Frontier:
    complete = [r for r in records if r.status == "complete" and r.feasible is not False]
    points = np.array([r.objective_values(metrics) for r in complete], dtype=float)
    points = points.reshape(len(complete), len(metrics))
    ranks = [0] * len(complete)
    for k, front in enumerate(non_dominated_sort(points, directions)):
        for i in front:
            ranks[int(i)] = k
    hv_complete = hypervolume_history(points, directions, reference) if complete else []
    history, current, j = [], 0.0, 0
    for r in records:
        if r.status == "complete" and r.feasible is not False:
            current = hv_complete[j]
            j += 1
        history.append((r.trial_id, current))
    return Frontier(metrics, directions, reference, complete, ranks,
                    hv_complete[-1] if hv_complete else 0.0, history)


def counts(records: list[TrialRecord]) -> dict[str, int]:
    out = {"complete": 0, "truncated": 0, "failed": 0}
    for r in records:
        out[r.status] += 1
    return out


def _row(r: TrialRecord, metrics: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"trial_id": r.trial_id, "optuna_trial": r.number}
    for m in [*metrics, *SUMMARY_METRICS]:
        row.setdefault(m, r.metrics.get(m))
    for path, value in sorted(r.params.items()):
        row[path] = value
    return row


def frontier_rows(frontier: Frontier) -> list[dict[str, Any]]:
    """One flat row per frontier trial: ids, objectives, summary metrics, parameters, checkpoint."""
    return [{**_row(r, frontier.metrics), "checkpoint": r.checkpoint} for r in frontier.members]


def trial_rows(records: list[TrialRecord], metrics: list[str]) -> list[dict[str, Any]]:
    """One flat row per finished trial, in finish order: the frontier row's columns plus status
    and reason (the W&B sweep run's ``trials`` table, the offline report's trial list)."""
    return [{**_row(r, metrics), "status": r.status, "reason": r.reason} for r in records]


def frontier_document(frontier: Frontier, records: list[TrialRecord], name: str,
                      planned: int) -> dict[str, Any]:
    return {
        "sweep": name,
        "objectives": [{"metric": m, "direction": d, "reference": ref} for m, d, ref in
                       zip(frontier.metrics, frontier.directions, frontier.reference)],
        "reference_point": frontier.reference,
        "hypervolume": frontier.hypervolume,
        "hypervolume_history": [{"trial_id": t, "hypervolume": hv} for t, hv in frontier.history],
        "trials": {"planned": planned, **counts(records)},
        "frontier": frontier_rows(frontier),
    }


def write_frontier_files(frontier: Frontier, records: list[TrialRecord], name: str,
                         planned: int, csv_path: Path, json_path: Path) -> None:
    """frontier.csv and frontier.json, each written atomically (readers never see half a file)."""
    doc = frontier_document(frontier, records, name, planned)
    _atomic_write(json_path, json.dumps(doc, indent=2, default=_jsonable) + "\n")
    rows = doc["frontier"]
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    columns = columns or ["trial_id", "optuna_trial", *frontier.metrics]
    tmp = csv_path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, csv_path)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------ a sweep's state


@dataclass
class SweepOutcome:
    """A sweep directory's spec, trial records and frontier (what status / frontier show)."""

    spec: Any  # SweepSpec
    paths: Any  # SweepPaths
    records: list[TrialRecord]
    frontier: Frontier
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return counts(self.records)


def load_sweep(directory: str | Path) -> SweepOutcome:
    """Read a sweep directory without Ray or Optuna (safe next to a running driver)."""
    from demp.config import ConfigError
    from demp.sweep.spec import load_spec
    from demp.sweep.storage import SweepPaths

    paths = SweepPaths(Path(directory).resolve())
    if not paths.is_sweep():
        raise ConfigError(f"{paths.root}: not a sweep directory (no {paths.spec.name})")
    spec = load_spec(paths.spec)
    records = TrialLog(paths.trials).records()
    frontier = compute_frontier(records, spec.metrics, spec.directions, spec.reference_point())
    return SweepOutcome(spec, paths, records, frontier)


def finalize(spec: Any, paths: Any) -> SweepOutcome:
    """Frontier CSV / JSON / PNG from trials.jsonl; what a driver does when Tune returns."""
    from demp.sweep.plot import plot_frontier

    outcome = load_sweep(paths.root)
    write_frontier_files(outcome.frontier, outcome.records, spec.name, spec.trials,
                         paths.frontier_csv, paths.frontier_json)
    plot_frontier(outcome.frontier, paths.frontier_png,
                  title=f"{spec.name}: accuracy–sparsity frontier")
    return outcome
