"""The sweep's ledger: how each trial ended, one ``TrialRecord`` per line of ``trials.jsonl``.

``trials.jsonl`` is the sweep's own ledger: the driver appends one line when a trial ends, keyed
by its Ray trial id. It is append-only and read with "first record per trial wins", so a trial
that a resumed driver sees finish a second time (Ray's experiment snapshot can lag the last
completion) is never counted twice. Its order is the finish order the hypervolume history uses.

``classify`` is the one rule that says what a trial became (complete, truncated, failed): the
driver records it and Optuna is told it (COMPLETE / PRUNED / FAIL). In a target-sparsity sweep a
complete trial also carries ``feasible`` (|achieved − target| within the spec's tolerance) and
``violation`` (Optuna's constraint value, ≤ 0 when feasible). This module imports neither Ray
nor Optuna so that ``status`` and ``frontier`` are quick to run next to a live sweep.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from demp.results.values import is_finite

Status = Literal["complete", "truncated", "failed"]


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
    rebuilt_from: str | None = None    # set when resume re-recorded it (demp.sweep.ledger_repair)
    group: str | None = None           # replicates only: the search trial whose config it repeats
    replicate: int | None = None       # replicates only: 1, 2, ... (the search trial is 0)
    seed: int | None = None            # replicates only: the training seed it ran with

    def objective_values(self, metrics: list[str]) -> list[float]:
        return [float(self.metrics.get(m, math.nan)) for m in metrics]

    def to_json(self) -> str:
        data = asdict(self)
        for optional in ("rebuilt_from", "group", "replicate", "seed"):
            if data[optional] is None:
                del data[optional]
        return json.dumps(data, default=jsonable)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrialRecord":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _parse_record(raw: bytes) -> tuple[TrialRecord | None, str]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        return None, f"not UTF-8 at byte {err.start}"
    except (json.JSONDecodeError, RecursionError):
        return None, "not JSON"
    if not isinstance(data, dict) or not isinstance(data.get("trial_id"), str) \
            or data.get("status") not in ("complete", "truncated", "failed"):
        return None, "not a trial record"
    try:
        return TrialRecord.from_dict(data), ""
    except TypeError:
        return None, "not a trial record"


def jsonable(value: Any) -> Any:
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
    bad = [m for m in objectives if not is_finite(result.get(m))]
    if bad:
        return "failed", f"non-finite objective value(s): {', '.join(bad)}"
    return "complete", ""


def counts(records: list[TrialRecord]) -> dict[str, int]:
    """Trials by status (``complete`` / ``truncated`` / ``failed``)."""
    out = {"complete": 0, "truncated": 0, "failed": 0}
    for r in records:
        out[r.status] += 1
    return out


class TrialLog:
    """The append-only ``trials.jsonl``; readers keep the first record of each trial id.

    Read as bytes, line by line: a line torn by a killed driver, or bytes that are not UTF-8 or
    not a record, are skipped and reported by ``scan`` (``resume`` re-records those trials from
    the Optuna study and Ray's results: ``demp.sweep.ledger_repair``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def scan(self) -> tuple[list[TrialRecord], list[tuple[int, str]]]:
        """(first record of each trial, damaged lines as (line number, reason))."""
        try:
            data = self.path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return [], []
        seen: dict[str, TrialRecord] = {}
        damaged: list[tuple[int, str]] = []
        lines = data.split(b"\n")
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            record, why = _parse_record(raw)
            if record is None:
                damaged.append((number, "torn: no line end" if number == len(lines) else why))
                continue
            seen.setdefault(record.trial_id, record)
        return list(seen.values()), damaged

    def records(self) -> list[TrialRecord]:
        return self.scan()[0]

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

    def rewrite(self, records: list[TrialRecord]) -> None:
        """Replace the file with ``records``, atomically (``ledger_repair`` keeps a copy)."""
        tmp = self.path.with_name(self.path.name + ".repair")
        with tmp.open("w") as f:
            f.writelines(r.to_json() + "\n" for r in records)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def _heal_torn_tail(self) -> None:
        if self.path.is_file() and self.path.stat().st_size:
            with self.path.open("rb+") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")


__all__ = ["Status", "TrialLog", "TrialRecord", "classify", "counts", "jsonable"]
