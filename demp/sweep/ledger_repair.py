"""Re-recording what ``trials.jsonl`` lost, from the ledgers that still hold it.

``trials.jsonl`` is the frontier's source, and a driver appends a trial's line only after telling
Optuna its outcome, so a kill (or a truncated copy, or bad bytes) can leave the file short of
trials that the Optuna study and Ray's results still hold. Ray does not report a finished trial a
second time, and the searcher stops once the study holds the planned trials, so a resumed sweep
would never re-record them on its own: it would stop short of its plan on every resume.

``rebuild_trial_log`` (on resume, under the driver lock, after the journal was repaired and the
study reconciled) writes one record for every trial of this sweep that Optuna knows as finished,
that is not lost, and that trials.jsonl lacks, unless Ray is about to run it again (its snapshot
says it is not finished; its replay records it). The record is rebuilt from, in this order:

- Ray's experiment snapshot (last result, checkpoint, failures) when it knows the trial;
- else the trial's own directory, ``ray/trial_<id>/``: the last line of ``result.json`` and the
  newest ``checkpoint_*/record.json``, which survive a lost snapshot;
- Ray's results are slim (``demp.sweep.reporting``): the full record of the same step comes from
  the checkpoint's ``record.json`` or the trial's ``metrics.jsonl``;
- else the Optuna study alone: status, reason, parameters and objective values (``ray/`` gone).

Its status and reason are those Optuna was told, so the study, trials.jsonl and the frontier
agree afterwards; ``rebuilt_from`` says which sources it came from. Damaged lines are dropped
from the rewritten file, whose previous bytes are kept as ``trials.jsonl.damaged-<time>``.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import optuna

from demp.results.records import TrialLog, TrialRecord
from demp.spec.layout import SweepPaths
from demp.spec.schema import SweepSpec
from demp.sweep.reporting import RECORD_FILE, full_result

TERMINAL = ("TERMINATED", "ERROR")
_STATUS = {optuna.trial.TrialState.COMPLETE: "complete",
           optuna.trial.TrialState.PRUNED: "truncated",
           optuna.trial.TrialState.FAIL: "failed"}
TARGET_CONSTRAINT_ATTR = "constraints:target"


def rebuild_trial_log(spec: SweepSpec, paths: SweepPaths, study: optuna.Study,
                      ray_trials: list[Any]) -> list[str]:
    """Repair trials.jsonl (see the module docstring); returns what was done."""
    log = TrialLog(paths.trials)
    records, damaged = log.scan()
    recorded = {r.trial_id for r in records}
    by_ray = {t.trial_id: t for t in ray_trials}
    rebuilt: list[TrialRecord] = []
    for ot in study.get_trials(deepcopy=False):
        ray_id = ot.user_attrs.get("ray_trial_id")
        if (not ray_id or ray_id in recorded or not ot.state.is_finished()
                or ot.user_attrs.get("status") == "lost"):
            continue
        ray_trial = by_ray.get(ray_id)
        if ray_trial is not None and ray_trial.status not in TERMINAL:
            continue  # Ray resumes it; its (re-)report is recorded as it ends
        rebuilt.append(record_from(spec, paths, ot, ray_trial))
    if not rebuilt and not damaged:
        return []
    notes = []
    if paths.trials.exists():
        backup = paths.trials.with_name(
            f"{paths.trials.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
        shutil.copy2(paths.trials, backup)
        kept = f"; its previous content is kept as {backup.name}"
    else:
        kept = ""
    log.rewrite(sorted(records + rebuilt, key=lambda r: r.finished))
    if damaged:
        lines = ", ".join(f"{n} ({why})" for n, why in damaged[:5])
        notes.append(f"trials.jsonl: dropped {len(damaged)} damaged line(s): {lines}")
    for r in rebuilt:
        notes.append(f"trial {r.trial_id} ({r.status}) was missing from trials.jsonl: "
                     f"re-recorded from {r.rebuilt_from}")
    notes.append(f"trials.jsonl rewritten with {len(records) + len(rebuilt)} trial(s){kept}")
    return notes


def record_from(spec: SweepSpec, paths: SweepPaths, ot: optuna.trial.FrozenTrial,
                ray_trial: Any | None) -> TrialRecord:
    """The trials.jsonl record of a finished Optuna trial, from the best surviving sources."""
    ray_id = ot.user_attrs["ray_trial_id"]
    trial_dir = paths.trial_dir(ray_id)
    sources = ["optuna"]
    result: dict[str, Any] = {}
    checkpoint: str | None = None
    params = dict(ot.params)
    failures = 0
    if ray_trial is not None:
        result = dict(ray_trial.last_result or {})
        logged = last_result(trial_dir) or {}
        if _order(logged) > _order(result):
            # Ray's snapshot lags its results (few reports force a snapshot since #17): the
            # trial's result.json holds the newer last result.
            result = logged
            sources.append(f"ray/{trial_dir.name}/result.json")
        ckpt = ray_trial.checkpoint
        checkpoint = ckpt.path if ckpt is not None and Path(ckpt.path).exists() else None
        params = dict((ray_trial.config or {}).get("params") or params)
        failures = int(ray_trial.num_failures or 0)
        sources.append("Ray's experiment state")
    elif trial_dir.is_dir():
        result = last_result(trial_dir) or {}
        if result:
            sources.append(f"ray/{trial_dir.name}/result.json")
    newest = newest_checkpoint(trial_dir)
    if checkpoint is None and newest is not None:
        checkpoint = str(newest[0])
        if not result:
            result = newest[1]
            sources.append(f"ray/{trial_dir.name}/{newest[0].name}")
    result = full_result(result, trial_dir, checkpoint)  # Ray's results are slim since #17
    status = ot.user_attrs.get("status") or _STATUS[ot.state]
    metrics = dict(result)
    if ot.state == optuna.trial.TrialState.COMPLETE and ot.values is not None:
        metrics.update(zip(spec.metrics, ot.values))  # what Optuna was told is what counts
    violation = ot.system_attrs.get(TARGET_CONSTRAINT_ATTR)
    feasible = ot.user_attrs.get("feasible")
    finished = (ot.datetime_complete.timestamp() if ot.datetime_complete is not None
                else float(result.get("timestamp") or time.time()))
    return TrialRecord(
        trial_id=ray_id, status=status, params=params, metrics=metrics, number=ot.number,
        reason=str(ot.user_attrs.get("reason") or ""), failures=failures,
        checkpoint=checkpoint, finished=finished,
        feasible=None if feasible is None else bool(feasible),
        violation=None if violation is None or not math.isfinite(float(violation))
        else float(violation),
        rebuilt_from=" + ".join(sources))


def _order(result: dict[str, Any]) -> tuple[int, float]:
    return int(result.get("training_iteration") or 0), float(result.get("timestamp") or 0)


def last_result(trial_dir: Path) -> dict[str, Any] | None:
    """The last complete line of a trial's ``result.json`` (Ray appends one per report)."""
    try:
        data = (trial_dir / "result.json").read_bytes()
    except OSError:
        return None
    for raw in reversed(data.split(b"\n")):
        try:
            row = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(row, dict):
            return row
    return None


def newest_checkpoint(trial_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The trial's checkpoint directory with the highest step, and its record."""
    best: tuple[int, Path, dict[str, Any]] | None = None
    if not trial_dir.is_dir():
        return None
    for d in trial_dir.glob("checkpoint_*"):
        try:
            record = json.loads((d / RECORD_FILE).read_text())
        except (OSError, ValueError):
            continue
        step = int(record.get("step", -1)) if isinstance(record, dict) else -1
        if best is None or step > best[0]:
            best = (step, d, record)
    return None if best is None else (best[1], best[2])


__all__ = ["last_result", "newest_checkpoint", "rebuild_trial_log", "record_from"]
