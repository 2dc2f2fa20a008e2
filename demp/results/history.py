"""A trial's per-evaluation history: what it reported at each evaluation step.

``trial_history(paths, record)`` is the one read of per-evaluation records in ``demp.results``:
the report's heat maps and its trial data all come through it. Today the records come from Ray
Tune's ``ray/trial_<id>/result.json`` (one JSON line per ``tune.report``, flat keys: ``lam``,
``sigma``, ``lr``, ``live_units/<group>``, ``dead_fraction/<group>``; see
``demp.sweep.trial.ReportToTune``). Where they live may change (issue #17); only this module then
changes.

A trial that was retried or resumed reports some steps again; the last record of each step
wins. Replayed final records (a finished trial re-reporting after a driver restart), failure
records and lines torn by a killed trial are skipped.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demp.results.records import TrialRecord
from demp.spec.layout import SweepPaths

RESULT_FILE = "result.json"
# The per-group sections of the trainer's metrics record, as the sweep trial flattens them into
# what it reports to Ray: ``live_units/<group>``, ``dead_fraction/<group>``.
LIVE_UNITS = "live_units"
DEAD_FRACTION = "dead_fraction"


@dataclass
class TrialHistory:
    """What one trial reported at each evaluation, by step (the last report of a step wins)."""

    trial_id: str
    records: list[dict[str, Any]] = field(default_factory=list)  # sorted by step

    @property
    def steps(self) -> list[int]:
        return [int(r["step"]) for r in self.records]

    def groups(self) -> list[str]:
        """Unit groups (layers) in first-seen order."""
        out: list[str] = []
        prefix = f"{LIVE_UNITS}/"
        for r in self.records:
            out += [k[len(prefix):] for k in r if k.startswith(prefix)
                    and k[len(prefix):] not in out]
        return out

    def per_group(self, prefix: str) -> list[dict[str, float]]:
        cut = len(prefix) + 1
        return [{k[cut:]: v for k, v in r.items() if k.startswith(prefix + "/")}
                for r in self.records]

    def series(self, key: str) -> list[float]:
        return [_num(r.get(key)) for r in self.records]


def trial_history(paths: SweepPaths, record: TrialRecord) -> TrialHistory:
    """Every evaluation ``record``'s trial reported, deduplicated by step, in step order."""
    return read_history(trial_dir(paths, record), record.trial_id)


def trial_dir(paths: SweepPaths, record: TrialRecord) -> Path:
    """The Ray trial directory: the checkpoint's parent, else ``ray/trial_<id>``."""
    if record.checkpoint and Path(record.checkpoint).parent.is_dir():
        return Path(record.checkpoint).parent
    return paths.ray / f"trial_{record.trial_id}"


def read_history(directory: Path, trial_id: str) -> TrialHistory:
    """The evaluations in ``directory/result.json`` (use ``trial_history``)."""
    by_step: dict[int, dict[str, Any]] = {}
    path = directory / RESULT_FILE
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a killed trial
            if not isinstance(rec, dict) or rec.get("replayed") or rec.get("failed") \
                    or "step" not in rec:
                continue
            rec.pop("config", None)
            by_step[int(rec["step"])] = rec
    return TrialHistory(trial_id, [by_step[s] for s in sorted(by_step)])


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


__all__ = ["DEAD_FRACTION", "LIVE_UNITS", "TrialHistory", "trial_history"]
