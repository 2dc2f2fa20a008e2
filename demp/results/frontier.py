"""The Pareto frontier of a sweep's trial records, and the frontier files built from it.

Only trials that ran to their end (``complete``) enter the frontier, and in a target-sparsity
sweep only the feasible ones among them. Trials stopped early (``truncated``) and failed ones
are listed but kept out, exactly as Optuna is told (PRUNED / FAIL rather than COMPLETE). The
hypervolume history follows the ledger's order, which is the order trials finished in.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from demp.pareto import hypervolume_history, non_dominated_sort
from demp.results.records import TrialRecord, counts, jsonable

# Metrics shown beside the objectives in tables and frontier files.
SUMMARY_METRICS = ("val_acc", "test_acc", "param_sparsity", "neural_sparsity", "flops",
                   "train_time", "step")

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
    _atomic_write(json_path, json.dumps(doc, indent=2, default=jsonable) + "\n")
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


__all__ = ["SUMMARY_METRICS", "Frontier", "compute_frontier", "frontier_document",
           "frontier_rows", "trial_rows", "write_frontier_files"]
