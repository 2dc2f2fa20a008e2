"""What a sweep trial recorded at each evaluation: the one reader of per-evaluation history.

Since issue #17 a trial reports to Ray Tune only what its scheduler needs (once at the end when
nothing stops trials early), so Ray's ``result.json`` no longer holds every evaluation. The trial
itself appends each evaluation's full record to ``ray/trial_<id>/metrics.jsonl`` (nested, as the
trainer emits it; ``demp.train.trainer.JsonlLog``). Sweeps written before that have only
``result.json``, one flat line per evaluation; both are read here, flattened alike
(``live_units/<group>``, ``dead_fraction/<group>``), so readers (the report, ledger repair, the
monitor) never care which.

A retried or resumed trial records some steps again; the last record of a step wins. Lines torn
by a killed trial are skipped. This module imports neither Ray nor Optuna.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from demp.results.records import TrialRecord
    from demp.spec.layout import SweepPaths

# The trial's own, one full record per evaluation: the name ``demp.train.rundir.METRICS_FILE``
# writes (not imported from there: ``demp.train`` imports torch; a test keeps the two equal).
METRICS_FILE = "metrics.jsonl"
RESULT_FILE = "result.json"      # Ray's, one line per report (every evaluation before #17)
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


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts (``live_units``, ``dead_fraction``) become ``live_units/fc0`` keys, like Ray."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}/"))
        else:
            flat[name] = value
    return flat


def _rows(path: Path) -> list[dict[str, Any]]:
    try:
        data = path.read_bytes()
    except OSError:
        return []
    rows = []
    for raw in data.split(b"\n"):
        try:
            row = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue  # empty, or torn by a killed trial
        if isinstance(row, dict):
            rows.append(row)
    return rows


def read_trial_history(directory: str | Path) -> list[dict[str, Any]]:
    """A trial directory's evaluations, flat, one per step in step order (last record wins):
    from ``metrics.jsonl`` when the trial wrote one, else from Ray's ``result.json``."""
    directory = Path(directory)
    rows = _rows(directory / METRICS_FILE) or _rows(directory / RESULT_FILE)
    by_step: dict[int, dict[str, Any]] = {}
    for row in rows:
        if row.get("replayed") or row.get("failed") or "step" not in row:
            continue
        row = flatten({k: v for k, v in row.items() if k != "config"})
        by_step[int(row["step"])] = row
    return [by_step[s] for s in sorted(by_step)]


def record_at(directory: str | Path, step: int) -> dict[str, Any] | None:
    """The trial's full (flat) record of the evaluation at ``step``, if it recorded one."""
    for row in reversed(read_trial_history(directory)):
        if int(row["step"]) == step:
            return row
    return None


def trial_directory(paths: SweepPaths, record: TrialRecord) -> Path:
    """The trial's directory: its checkpoint's parent, else ``ray/trial_<id>``."""
    if record.checkpoint and Path(record.checkpoint).parent.is_dir():
        return Path(record.checkpoint).parent
    return paths.trial_dir(record.trial_id)


def trial_history(paths: SweepPaths, record: TrialRecord) -> TrialHistory:
    """Every evaluation of a finished trial of the sweep in ``paths`` (see the module doc)."""
    return TrialHistory(record.trial_id, read_trial_history(trial_directory(paths, record)))


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


__all__ = ["DEAD_FRACTION", "LIVE_UNITS", "METRICS_FILE", "RESULT_FILE", "TrialHistory", "flatten",
           "read_trial_history", "record_at", "trial_directory", "trial_history"]
