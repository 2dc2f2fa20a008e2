"""Run and resume sweeps: Ray Tune runs the trials, Optuna chooses their hyperparameters.

``run_sweep(spec)`` creates the sweep directory (layout: ``demp.spec.layout``), an Optuna
study in persistent storage (so optuna-dashboard can read it while the sweep runs), and a
``tune.Tuner`` whose searcher is Optuna behind ``OptunaSearch`` and a ``ConcurrencyLimiter``.
Trials are ``demp.sweep.trial.demp_trial`` under ``tune.with_resources``; their configs are plain
dicts re-validated inside the trial. A trial reports to Tune only what the scheduler needs and
checkpoints by time and at its end (``demp.sweep.reporting``). Ray keeps one checkpoint per
trial (``CheckpointConfig(num_to_keep=1)``): the latest, which for a finished trial is its final
one, so a frontier trial never loses it, and Ray deletes the one before. Each registered
checkpoint also forces a snapshot of Ray's experiment state (few now: one per trial on short
trials), and snapshots are otherwise taken every ``SNAPSHOT_PERIOD_S``. Tune's automatic loggers
are off but for result.json (``driver_env``).

``resume_sweep(dir)`` continues a sweep whose driver died (even by SIGKILL): what it settles
before Ray restores the experiment is ``demp.sweep.recovery``. A resumed trial continues from
its last checkpoint; the planned number of trials holds even when Ray's snapshot lags, and the
frontier is always recomputed from ``trials.jsonl``.

W&B (``spec.wandb``, default ``auto``): each trial opens its own run (``demp.sweep.trial``), and
the driver's ``SweepMonitor`` (``demp.sweep.monitor``) keeps the sweep's run
(``demp.track.sweep_run.SweepRunLogger``) up to date as trials end: frontier and all-trials tables,
the frontier plot, hypervolume history, trial counts, written from a thread of its own so the next
trial never waits for W&B. It is finished when Tune returns (exit code 1 if Tune raised); a
resumed driver opens the same run id again and logs the state it starts from.
Run files go to ``<sweep dir>/wandb/``. A W&B failure disables that run with a warning, never the
sweep.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from ray import tune
from ray.tune.logger import JsonLoggerCallback

from demp.errors import ConfigError, StorageError, SweepDirectoryError
from demp.results.outcome import SweepOutcome, finalize, load_sweep
from demp.results.records import TrialLog
from demp.spec.layout import (
    DriverLock, SweepPaths, check_not_moved, not_a_sweep, open_storage, record_driver_run,
    repair_journal, storage_label, study_exists,
)
from demp.spec.loading import dump_spec, load_spec
from demp.spec.schema import SweepSpec
from demp.sweep.monitor import (
    ForwardToMonitor, SweepDisplay, SweepMonitor, error_reason_of, monitoring,
)
from demp.sweep.ray_setup import RaySession, driver_env
# under its old name too: experiments pickled before it moved refer to it as this module's
from demp.sweep.ray_setup import tune_trial_dirname as _trial_dirname
from demp.sweep.ledger_repair import rebuild_trial_log
from demp.sweep.recovery import (
    clear_directory, load_study, ray_trials, reconcile, repair_checkpoints, study_dir,
    undo_new_sweep,
)
from demp.sweep.replicates import plan as replicate_plan
from demp.sweep.replicates import run_replicates
from demp.sweep.scheduler import make_scheduler, report_plan
from demp.sweep.search import make_sampler, make_searcher
from demp.sweep.trial import demp_trial, wandb_settings


def _with_resources(spec: SweepSpec, trainable: Callable[..., Any]) -> Any:
    return tune.with_resources(trainable, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu})


def make_tuner(spec: SweepSpec, paths: SweepPaths, storage: Any,
               trainable: Callable[..., Any]) -> tune.Tuner:
    return tune.Tuner(
        _with_resources(spec, trainable),
        param_space={"base": spec.base.model_dump(mode="json"), "objectives": spec.metrics,
                     "wandb": wandb_settings(spec, paths.root), "sweep_dir": str(paths.root),
                     "report": report_plan(spec)},
        tune_config=tune.TuneConfig(
            search_alg=make_searcher(spec, storage, error_reason=error_reason_of,
                                     trials_dir=str(paths.ray)),
            scheduler=make_scheduler(spec, paths),
            num_samples=spec.trials, reuse_actors=True, trial_dirname_creator=_trial_dirname),
        run_config=tune.RunConfig(
            name=paths.ray.name, storage_path=str(paths.root), verbose=0,
            failure_config=tune.FailureConfig(max_failures=spec.retries),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            # Tune's automatic loggers are off (``driver_env``): result.json is the one that
            # ledger repair reads; CSV and TensorBoard files nobody read (tensorboardX alone
            # took 3 s to import).
            callbacks=[ForwardToMonitor(), JsonLoggerCallback()]),
    )


def run_sweep(spec: SweepSpec, *, overwrite: bool = False, display: SweepDisplay | None = None,
              trainable: Callable[..., Any] = demp_trial) -> SweepOutcome:
    """Start a new sweep in ``<output_root>/<name>`` and run it to the planned trial count."""
    paths = SweepPaths.for_spec(spec.output_root, spec.name)
    if paths.root.exists() and not paths.root.is_dir():
        raise ConfigError(f"name: {paths.root} exists and is not a directory; choose another "
                          f"name or output_root")
    existing = paths.root.exists() and any(paths.root.iterdir())
    if existing and not overwrite:
        raise ConfigError(f"name: {paths.root} already exists; resume it with `demp sweep "
                          f"resume {paths.root}`, or choose another name / --overwrite")
    if existing and not paths.is_sweep():
        raise ConfigError(f"name: {paths.root} exists and is not a sweep; not deleting it")
    make_sampler(spec)  # a sampler Optuna refuses fails here, before anything is written
    created_root = not paths.root.exists()
    try:
        return _run_new_sweep(spec, paths, existing, overwrite, display, trainable)
    except BaseException:
        if created_root and paths.root.is_dir() and not any(paths.root.iterdir()):
            paths.root.rmdir()
        raise


def _run_new_sweep(spec: SweepSpec, paths: SweepPaths, existing: bool, overwrite: bool,
                   display: SweepDisplay | None, trainable: Callable[..., Any]) -> SweepOutcome:
    with DriverLock(paths):  # --overwrite too: a running driver holds the lock and refuses it
        driver_env(display is not None)
        if existing:
            clear_directory(paths)
        storage = open_storage(spec.storage, paths)
        study_name = spec.resolved_study_name
        if study_exists(storage, study_name):
            owner = study_dir(storage, study_name)
            if not (overwrite and owner == str(paths.root)):
                where = f" (it belongs to the sweep in {owner}; continue that one with `demp " \
                        f"sweep resume {owner}`)" if owner else ""
                raise ConfigError(f"study_name: study {study_name!r} already exists in "
                                  f"{storage_label(spec.storage, paths)}{where}; choose another "
                                  f"study_name")
            optuna.delete_study(study_name=study_name, storage=storage)  # --overwrite: ours
        session = RaySession(spec, paths.driver_log)
        try:
            paths.spec.write_text(dump_spec(spec))
            study = optuna.create_study(storage=storage, study_name=study_name,
                                        directions=spec.directions, sampler=make_sampler(spec))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names(spec.metrics)  # labels the objectives in optuna-dashboard
            study.set_user_attr("sweep_dir", str(paths.root))
            record_driver_run(paths, "run", study_name, storage_label(spec.storage, paths))
            session.start()
            tuner = make_tuner(spec, paths, storage, trainable)
        except BaseException:
            # nothing ran: leave no half-made sweep for the next `run` (or `resume`) to trip on
            session.stop()
            undo_new_sweep(paths, storage, study_name)
            raise
        monitor = SweepMonitor(spec, paths, display)
        with stopping_on_error(session):
            with monitoring(monitor):
                tuner.fit()
                replicate_after_search(spec, paths, monitor)
        outcome = session.stop_during(lambda: finalize(spec, paths))
        outcome.stopped_by = monitor.stopped_by
        return outcome


@contextmanager
def stopping_on_error(session: RaySession) -> Iterator[None]:
    """Stops Ray at once when the block raises; after a normal end the caller stops it (with
    ``stop_during``, while it writes the results)."""
    try:
        yield
    except BaseException:
        session.stop()
        raise


def replicate_after_search(spec: SweepSpec, paths: SweepPaths, monitor: SweepMonitor) -> None:
    """The spec's replicates, once the search has all its planned trials (not after a stop)."""
    if spec.replicates is None or monitor.stopped_by:
        return
    if len(TrialLog(paths.trials).records()) < spec.trials:
        return  # the search stopped short: resume finishes it first
    run_replicates(spec, paths, spec.replicates.seeds, spec.replicates.stage, monitor)


def finished_sweep(spec: SweepSpec, paths: SweepPaths) -> SweepOutcome | None:
    """The outcome of a sweep with nothing left to resume, else None: every planned trial is in
    trials.jsonl and the ledgers agree (``demp.sweep.damage``: no line to repair, no trial the
    study still counts as running, frontier files current). Resuming it starts no Ray and opens
    no W&B run."""
    from demp.sweep.damage import find_damage

    outcome = load_sweep(paths.root)
    if outcome.finished < spec.trials or find_damage(outcome).repairable:
        return None
    if spec.replicates is not None and replicate_plan(spec, outcome, spec.replicates.seeds,
                                                      spec.replicates.stage):
        return None
    outcome.already_finished = True
    return outcome


def _existing_sweep(directory: str | Path) -> tuple[SweepPaths, SweepSpec]:
    """The paths and spec of a sweep directory a driver may work in (it was not moved)."""
    paths = SweepPaths(Path(directory).resolve())
    if not paths.is_sweep():
        raise SweepDirectoryError(not_a_sweep(paths))
    spec = load_spec(paths.spec)
    check_not_moved(paths)
    return paths, spec


def resume_sweep(directory: str | Path, *, display: SweepDisplay | None = None,
                 trainable: Callable[..., Any] = demp_trial) -> SweepOutcome:
    """Continue a sweep whose driver stopped, until it has its planned number of trials."""
    paths, spec = _existing_sweep(directory)
    with DriverLock(paths):
        if spec.storage is None and not paths.journal.is_file():
            raise SweepDirectoryError(
                f"{paths.journal}: missing, and with it the Optuna study; the sweep cannot "
                f"continue without it (trials.jsonl keeps the records: copy trials.jsonl "
                f"elsewhere, then start it again with `demp sweep run --overwrite`)")
        done = finished_sweep(spec, paths)
        if done is not None:
            return done
        driver_env(display is not None)
        notes = (repair_journal(paths, spec.resolved_study_name, spec.directions)
                 if spec.storage is None else [])
        storage = open_storage(spec.storage, paths)
        if not study_exists(storage, spec.resolved_study_name):
            raise StorageError(f"no study {spec.resolved_study_name!r} (the spec's study_name) in "
                               f"{storage_label(spec.storage, paths)}; the sweep cannot continue "
                              f"without it (copy trials.jsonl elsewhere, then start it again "
                              f"with `demp sweep run --overwrite`)")
        record_driver_run(paths, "resume", spec.resolved_study_name,
                          storage_label(spec.storage, paths))
        session = RaySession(spec, paths.driver_log)
        with stopping_on_error(session):
            session.start()
            restorable = any(paths.ray.glob("experiment_state-*.json"))
            known = ray_trials(paths) if restorable else []
            if not paths.ray.is_dir() and TrialLog(paths.trials).records():
                notes.append(f"{paths.ray.name}/ is missing: Ray's results and the trials' "
                             f"checkpoints are gone; trials.jsonl and the study keep every "
                             f"finished trial, and unfinished ones start again")
            notes += repair_checkpoints(known)
            notes += reconcile(spec, paths, storage, {t.trial_id for t in known}, known)
            notes += rebuild_trial_log(spec, paths, load_study(spec, storage), known)
            if restorable:
                tuner = tune.Tuner.restore(str(paths.ray), _with_resources(spec, trainable),
                                           resume_unfinished=True, resume_errored=False)
            else:  # killed before Ray's first snapshot: nothing of Ray's to continue
                tuner = make_tuner(spec, paths, storage, trainable)
            monitor = SweepMonitor(spec, paths, display)
            with monitoring(monitor):
                for text in notes:
                    monitor.note(text)
                tuner.fit()
                replicate_after_search(spec, paths, monitor)
        outcome = session.stop_during(lambda: finalize(spec, paths))
        outcome.notes = notes
        outcome.stopped_by = monitor.stopped_by
        return outcome


def replicate_sweep(directory: str | Path, seeds: int, stage: str = "frontier", *,
                    display: SweepDisplay | None = None) -> SweepOutcome:
    """``demp sweep replicate``: replicates for a sweep whose search has ended (its spec need
    not ask for them). Runs only the missing (configuration, seed) pairs."""
    paths, spec = _existing_sweep(directory)
    with DriverLock(paths):
        outcome = load_sweep(paths.root)
        if outcome.finished < spec.trials:
            raise SweepDirectoryError(
                f"{paths.root}: the search has {outcome.finished} of its {spec.trials} trials; "
                f"finish it first with `demp sweep resume {paths.root}`")
        driver_env(display is not None)
        record_driver_run(paths, "replicate", spec.resolved_study_name,
                          storage_label(spec.storage, paths))
        session = RaySession(spec, paths.driver_log)
        monitor = SweepMonitor(spec, paths, display)
        with stopping_on_error(session):
            session.start()
            with monitoring(monitor):
                run_replicates(spec, paths, seeds, stage, monitor)
        outcome = session.stop_during(lambda: finalize(spec, paths))
        outcome.stopped_by = monitor.stopped_by
        return outcome


__all__ = ["finished_sweep", "replicate_sweep", "make_tuner", "resume_sweep", "run_sweep"]
