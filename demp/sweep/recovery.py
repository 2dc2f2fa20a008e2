"""Crash recovery: what a resumed driver settles before Ray restores the experiment.

``demp.sweep.runner.resume_sweep`` (after the driver died, even by SIGKILL) reconciles three
ledgers that a kill can leave out of step:

- the Optuna study (written at once: ask at suggestion, tell at completion),
- Ray's experiment snapshot (uploaded asynchronously, so it can lag a few events),
- ``trials.jsonl`` (appended when a trial ends, after Optuna was told).

Before Ray restores:

1. a trial whose snapshot names a checkpoint Ray has since replaced (and deleted) gets the
   newer checkpoint in its place (``repair_checkpoints``), so it continues from its latest state;
2. Optuna trials still RUNNING that the snapshot does not know (suggested after it, so Ray would
   never finish them) are marked FAIL with status ``lost``; with the grid sampler their
   parameters are enqueued again so no grid point is skipped. A RUNNING Optuna trial that
   trials.jsonl already records as ended is told its recorded outcome; one whose Ray trial the
   snapshot shows ended (its final ``tell`` lost with a torn journal line) is told the outcome
   of Ray's last result; a Ray trial id the journal lost is found again by trial number;
3. trials.jsonl gets back every finished trial it lacks (``demp.sweep.ledger_repair``), after
   the journal itself was repaired (``demp.spec.journal_repair``, before the study is opened).

Ray then resumes the trials it knows from their last checkpoints; a trial that had already
finished finds its final checkpoint and only re-reports (``replayed``), and neither Optuna
(``skip_if_finished``) nor ``trials.jsonl`` (first record per trial wins) counts it twice. The
searcher stops suggesting once the study holds ``trials`` trials of this sweep (lost ones
excluded), which keeps the planned count even when Ray's snapshot lags. The frontier is always
recomputed from ``trials.jsonl``.

Known limit: a trial that is created and ends (without reporting a checkpoint, e.g. an
exception at start-up) between two snapshots, right before a SIGKILL, stays in trials.jsonl and
Optuna but is missing from Ray's experiment state; resume reports it in its notes.
"""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path
from typing import Any

import optuna
from ray import tune

from demp.results.records import TrialLog, classify
from demp.spec.layout import SweepPaths
from demp.spec.schema import SweepSpec
from demp.sweep.ledger_repair import TERMINAL
from demp.sweep.monitor import error_reason
from demp.sweep.search import TARGET_CONSTRAINT, make_sampler, tell
from demp.sweep.reporting import RECORD_FILE, read_record

logger = logging.getLogger(__name__)

LOST_REASON = "lost: suggested after Ray's last experiment snapshot, before the driver stopped"


def ray_trials(paths: SweepPaths) -> list[Any]:
    """The trials of Ray's latest experiment snapshot (public ``ExperimentAnalysis``)."""
    try:
        return list(tune.ExperimentAnalysis(str(paths.ray)).trials)
    except Exception as exc:  # unreadable snapshot: Ray restarts the experiment itself
        logger.warning("cannot read Ray's experiment state: %s", exc)
        return []


def repair_checkpoints(trials: list[Any]) -> list[str]:
    """Give every trial Ray will resume the checkpoint its snapshot names.

    Ray deletes a trial's older checkpoint (``num_to_keep``) as soon as a newer one registers,
    but uploads the snapshot naming the newer one asynchronously, so a killed driver can leave
    a snapshot that points at a deleted checkpoint, and Ray would fail the trial on restore.
    The newer checkpoint is on disk; it takes the missing one's place (our ``record.json``
    says which directory is newest), so the trial continues from its latest state.
    """
    notes = []
    for trial in trials:
        ckpt = trial.checkpoint
        if trial.status in ("TERMINATED", "ERROR") or ckpt is None or Path(ckpt.path).exists():
            continue
        missing = Path(ckpt.path)
        steps = {d: (read_record(d) or {}).get("step", -1) for d in missing.parent.iterdir()
                 if d.is_dir() and (d / RECORD_FILE).is_file()}
        if not steps:
            notes.append(f"trial {trial.trial_id}: its checkpoint {missing.name} is missing and "
                         f"no other exists; Ray will record it as failed")
            continue
        newest = max(steps, key=lambda d: steps[d])
        newest.rename(missing)
        notes.append(f"trial {trial.trial_id}: Ray's snapshot named the deleted {missing.name}; "
                     f"it resumes from {newest.name} (step {steps[newest]}) instead")
    return notes


def load_study(spec: SweepSpec, storage: Any) -> optuna.Study:
    return optuna.load_study(study_name=spec.resolved_study_name, storage=storage,
                             sampler=make_sampler(spec))


def reconcile(spec: SweepSpec, paths: SweepPaths, storage: Any, known_to_ray: set[str],
              ray_trials: list[Any] = ()) -> list[str]:
    """Settle Optuna trials a killed driver (or a repaired journal) left RUNNING (see the module
    docstring). ``ray_trials``: the trials of Ray's snapshot, whose status and last result tell
    the end of a trial whose final ``tell`` the journal lost."""
    study = load_study(spec, storage)
    study_id = storage.get_study_id_from_name(spec.resolved_study_name)
    recorded = {r.trial_id: r for r in TrialLog(paths.trials).records()}
    by_ray = {t.trial_id: t for t in ray_trials}
    by_number = {(t.config or {}).get("optuna_trial"): t for t in ray_trials}
    constraint = spec.target_constraint()
    notes = []
    for t in study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.RUNNING]):
        ray_id = t.user_attrs.get("ray_trial_id")
        storage_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        if ray_id is None and t.number in by_number:  # the journal lost the attribute
            ray_id = by_number[t.number].trial_id
            storage.set_trial_user_attr(storage_id, "ray_trial_id", ray_id)
            notes.append(f"Optuna trial {t.number}: its Ray trial id was lost from the journal; "
                         f"restored as {ray_id} from Ray's experiment state")
        ray_trial = by_ray.get(ray_id) if ray_id else None
        if ray_id in known_to_ray and (ray_trial is None or ray_trial.status not in TERMINAL):
            continue  # Ray resumes it and the restored searcher tells its end
        rec = recorded.get(ray_id) if ray_id else None
        if rec is not None:  # ended and recorded, but Ray's snapshot or the journal lost it
            _tell_outcome(study, storage, storage_id, t.number, rec.status, rec.reason,
                          rec.objective_values(spec.metrics), rec.violation)
            notes.append(f"Optuna trial {t.number} ({ray_id}) was still running in the study; "
                         f"told its recorded outcome ({rec.status})")
            continue
        if ray_trial is not None:  # Ray finished it, but the study and trials.jsonl lost it
            result = dict(ray_trial.last_result or {})
            status, reason = classify(result, ray_trial.status == "ERROR", spec.metrics)
            if ray_trial.status == "ERROR":
                reason = error_reason(ray_trial)
            params = dict((ray_trial.config or {}).get("params") or {})
            violation = (constraint(params, result)
                         if status == "complete" and constraint is not None else None)
            _tell_outcome(study, storage, storage_id, t.number, status, reason,
                          [float(result.get(m, math.nan)) for m in spec.metrics], violation)
            notes.append(f"Optuna trial {t.number} ({ray_id}) was still running in the study; "
                         f"told its outcome from Ray's results ({status})")
            continue
        storage.set_trial_user_attr(storage_id, "status", "lost")
        storage.set_trial_user_attr(storage_id, "reason", LOST_REASON)
        tell(study, t.number, None, optuna.trial.TrialState.FAIL)
        point = grid_point(spec, t) if spec.sampler.name == "grid" else None
        if point is not None:
            study.enqueue_trial(point)
        then = ("its grid point is queued again" if point is not None
                else "no grid point was taken yet" if spec.sampler.name == "grid"
                else "a new trial takes its place")
        notes.append(f"Optuna trial {t.number} was lost when the driver stopped; "
                     f"marked FAIL ({then})")
    for ray_id in sorted(set(recorded) - known_to_ray):
        notes.append(f"trial {ray_id} ended after Ray's last snapshot: kept in trials.jsonl and "
                     f"the frontier, missing from Ray's experiment state")
    return notes


def grid_point(spec: SweepSpec, trial: optuna.trial.FrozenTrial) -> dict[str, Any] | None:
    """Every parameter of a lost grid trial's point, to queue it again. A driver killed while the
    trial was still being suggested leaves only some parameters in the study, and GridSampler
    refuses an enqueued trial that lacks one; its ``grid_id`` (or, for a trial that was itself
    queued, its ``fixed_params``) names the whole point. The point is
    read from a GridSampler built as the sweep builds it (same grid, same seed, so the same
    shuffle): Optuna keeps the shuffled grid in private attributes, and re-deriving the shuffle
    here would be a second copy of Optuna's code."""
    fixed = trial.system_attrs.get("fixed_params")  # itself a queued point: all of it is here
    if fixed:
        return {**fixed, **trial.params}
    grid_id = trial.system_attrs.get("grid_id")
    sampler = make_sampler(spec)
    if grid_id is None:
        # Killed between the trial's creation and the sampler's choice: no grid point was taken
        # (GridSampler picks among the ids no trial holds), so there is nothing to queue again.
        return None
    if not isinstance(sampler, optuna.samplers.GridSampler):
        return dict(trial.params)
    point = dict(zip(sampler._param_names, sampler._all_grids[int(grid_id)]))
    return {**point, **trial.params}


def _tell_outcome(study: optuna.Study, storage: Any, storage_id: int, number: int,
                  status: str, reason: str, values: list[float],
                  violation: float | None) -> None:
    """Tell Optuna how a trial ended, as ``DempOptunaSearch.on_trial_complete`` would have."""
    state = {"complete": optuna.trial.TrialState.COMPLETE,
             "truncated": optuna.trial.TrialState.PRUNED}.get(status,
                                                              optuna.trial.TrialState.FAIL)
    storage.set_trial_user_attr(storage_id, "status", status)
    if reason:
        storage.set_trial_user_attr(storage_id, "reason", reason[:500])
    if violation is not None and status == "complete":
        storage.set_trial_system_attr(storage_id, f"constraints:{TARGET_CONSTRAINT}", violation)
        storage.set_trial_user_attr(storage_id, "feasible", bool(violation <= 0))
    tell(study, number, values if status == "complete" else None, state)


# ------------------------------------------------------------------------------ a run that failed
# (``run_sweep`` leaves nothing a next ``run`` or ``resume`` would trip on)


def study_dir(storage: Any, study_name: str) -> str | None:
    """The sweep directory a study was created for (its ``sweep_dir`` attribute)."""
    for summary in optuna.study.get_all_study_summaries(storage, include_best_trial=False):
        if summary.study_name == study_name:
            return summary.user_attrs.get("sweep_dir")
    return None


def clear_directory(paths: SweepPaths) -> None:
    """Empty a sweep directory (``--overwrite``, a failed start), keeping the driver lock."""
    for entry in paths.root.iterdir():
        if entry == paths.driver:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def undo_new_sweep(paths: SweepPaths, storage: Any, study_name: str) -> None:
    """Remove what a ``run`` that failed before its first trial created: its study and the
    files of its directory (the lock file goes when the lock is released), so neither the next
    ``run`` nor a ``resume`` trips on a half-made sweep."""
    try:
        if study_name in optuna.study.get_all_study_names(storage):
            optuna.delete_study(study_name=study_name, storage=storage)
    except Exception as exc:  # noqa: BLE001 - the original error matters more
        logger.warning("could not delete the study of the failed run: %s", exc)
    clear_directory(paths)


__all__ = ["LOST_REASON", "clear_directory", "load_study", "ray_trials", "reconcile",
           "repair_checkpoints", "study_dir", "undo_new_sweep"]
