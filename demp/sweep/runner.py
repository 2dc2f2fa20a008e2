"""Run and resume sweeps: Ray Tune runs the trials, Optuna chooses their hyperparameters.

``run_sweep(spec)`` creates the sweep directory (layout: ``demp.sweep.storage``), an Optuna
study in persistent storage (so optuna-dashboard can read it while the sweep runs), and a
``tune.Tuner`` whose searcher is Optuna behind ``OptunaSearch`` and a ``ConcurrencyLimiter``.
Trials are ``demp.sweep.trial.demp_trial`` under ``tune.with_resources``; their configs are plain
dicts re-validated inside the trial. Ray keeps one checkpoint per trial
(``CheckpointConfig(num_to_keep=1)``): the latest, which for a finished trial is its final one,
so a frontier trial never loses it. Each registered checkpoint also forces a snapshot of Ray's
experiment state, and snapshots are otherwise taken every 2 s, so the snapshot lags little.

Resume (``resume_sweep(dir)`` after the driver died, even by SIGKILL) reconciles three ledgers
that a kill can leave out of step:

- the Optuna study (written at once: ask at suggestion, tell at completion),
- Ray's experiment snapshot (uploaded asynchronously, so it can lag a few events),
- ``trials.jsonl`` (appended when a trial ends, after Optuna was told).

Before Ray restores:

1. a trial whose snapshot names a checkpoint Ray has since replaced (and deleted) gets the
   newer checkpoint in its place (``repair_checkpoints``), so it continues from its latest state;
2. Optuna trials still RUNNING that the snapshot does not know (suggested after it, so Ray would
   never finish them) are marked FAIL with status ``lost``; with the grid sampler their
   parameters are enqueued again so no grid point is skipped. A RUNNING Optuna trial that
   trials.jsonl already records as ended is told its recorded outcome.

Ray then resumes the trials it knows from their last checkpoints; a trial that had already
finished finds its final checkpoint and only re-reports (``replayed``), and neither Optuna
(``skip_if_finished``) nor ``trials.jsonl`` (first record per trial wins) counts it twice. The
searcher stops suggesting once the study holds ``trials`` trials of this sweep (lost ones
excluded), which keeps the planned count even when Ray's snapshot lags. The frontier is always
recomputed from ``trials.jsonl``.

W&B (``spec.wandb``, default ``auto``): each trial opens its own run (``demp.sweep.trial``), and
the driver's ``SweepMonitor`` keeps the sweep's run (``demp.track.sweep_run.SweepRunLogger``)
up to date as trials end: frontier and all-trials tables, the frontier plot, hypervolume history,
trial counts. It is finished when Tune returns (exit code 1 if Tune raised); a resumed driver
opens the same run id again and logs the state it starts from. Run files go to
``<sweep dir>/wandb/``. A W&B failure disables that run with a warning, never the sweep.

Known limit: a trial that is created and ends (without reporting a checkpoint, e.g. an
exception at start-up) between two snapshots, right before a SIGKILL, stays in trials.jsonl and
Optuna but is missing from Ray's experiment state; resume reports it in its notes.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if "ray" not in sys.modules and not os.environ.get("RAY_ADDRESS"):
    # Must precede the first `import ray`: Ray then binds its local instance to 127.0.0.1.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import optuna
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import ConcurrencyLimiter, Searcher
from ray.tune.search.optuna import OptunaSearch

from demp.config import ConfigError
from demp.sweep.cluster import effective_address
from demp.sweep.results import (
    Frontier, SweepOutcome, TrialLog, TrialRecord, classify, compute_frontier, counts, finalize,
    frontier_rows, trial_rows, write_frontier_files,
)
from demp.sweep.scheduler import STATE_FILE as SCHEDULER_STATE_FILE, ParetoAsha
from demp.sweep.spec import SweepSpec, dump_spec, load_spec
from demp.sweep.storage import (
    DriverLock, SweepPaths, check_not_moved, driver_owner, open_storage, record_driver_run,
    repair_journal, storage_label, study_exists,
)
from demp.sweep.trial import RECORD_FILE, demp_trial, read_record, wandb_settings

logger = logging.getLogger(__name__)

# Ray's experiment snapshot period (s) unless the user set TUNE_GLOBAL_CHECKPOINT_S: short, as
# the snapshot is small and a lagging one is what a killed driver has to reconcile.
SNAPSHOT_PERIOD_S = "2"
LOST_REASON = "lost: suggested after Ray's last experiment snapshot, before the driver stopped"
TARGET_CONSTRAINT = "target"  # Optuna constraint key of target-sparsity sweeps


# ------------------------------------------------------------------------------ Ray and Optuna


def init_ray(spec: SweepSpec) -> bool:
    """Start or join Ray for ``spec``; returns whether this call initialized it."""
    if ray.is_initialized():
        return False
    quiet = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    if effective_address(spec.ray.address) is None:  # else join it (RAY_ADDRESS in a Ray job)
        ray.init(num_cpus=spec.ray.num_cpus, num_gpus=spec.ray.num_gpus, **quiet)
        if ray.util.get_node_ip_address() != "127.0.0.1":
            ray.shutdown()
            raise ConfigError("ray.address: the local Ray instance would listen on a public "
                              "address; set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before ray is "
                              "imported (the demp CLI does this)")
        available = ray.cluster_resources()
        for key, need in (("CPU", spec.resources.cpu), ("GPU", spec.resources.gpu)):
            if need > available.get(key, 0):
                ray.shutdown()
                raise ConfigError(f"resources.{key.lower()}: a trial needs {need:g} {key} but the "
                                  f"local Ray instance has {available.get(key, 0):g}")
    else:
        quiet.pop("include_dashboard")
        ray.init(address=spec.ray.address, **quiet)
    return True


def make_sampler(spec: SweepSpec) -> optuna.samplers.BaseSampler:
    """The spec's sampler, always seeded explicitly."""
    s = spec.sampler
    samplers = optuna.samplers
    if s.name == "tpe":
        return samplers.TPESampler(seed=s.seed, n_startup_trials=_or(s.n_startup_trials, 10))
    if s.name == "nsga2":
        return samplers.NSGAIISampler(seed=s.seed, population_size=_or(s.population_size, 50))
    if s.name == "gp":
        # Conditional parameters fall back to independent sampling by design: no warning each.
        return samplers.GPSampler(seed=s.seed, n_startup_trials=_or(s.n_startup_trials, 10),
                                  warn_independent_sampling=False)
    if s.name == "random":
        return samplers.RandomSampler(seed=s.seed)
    if s.name == "qmc":  # scrambled, or the seed would not change the sequence
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return samplers.QMCSampler(seed=s.seed, scramble=True,
                                       warn_independent_sampling=False)
    return samplers.GridSampler(spec.search_space().grid(), seed=s.seed)


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


class DempOptunaSearch(OptunaSearch):
    """``OptunaSearch`` that tells Optuna what a trial really became.

    The stock adapter tells COMPLETE whenever a result exists, which would put trials that
    ASHA stopped, or that diverged, on the frontier. Here the trial's last record decides
    (``results.classify``): complete → COMPLETE with the objective values, truncated → PRUNED,
    failed → FAIL, each with ``status`` / ``reason`` user attributes. Suggestions carry the Optuna
    trial number and the parameters under ``params``, and the Ray trial id is stored on the
    Optuna trial, which is what lets a resumed driver match the two.

    In a target-sparsity sweep a complete trial also gets its constraint value
    (``Trial.set_constraint``, Optuna 5's replacement for the deprecated ``constraints_func``;
    > 0 is infeasible) before it is told, so every sampler and ``study.best_trials`` see it and
    an infeasible trial stays in the study. ``budget_s`` (the spec's ``time_budget_s``) stops
    new suggestions once that much time has passed in this driver run.
    """

    def __init__(self, space: Callable[..., Any], metrics: list[str], directions: list[str],
                 sampler: optuna.samplers.BaseSampler, study_name: str, storage: Any,
                 planned: int, constraint: Callable[..., float | None] | None = None,
                 budget_s: float | None = None) -> None:
        modes = ["max" if d == "maximize" else "min" for d in directions]
        single = len(metrics) == 1
        super().__init__(space, metric=metrics[0] if single else metrics,
                         mode=modes[0] if single else modes, sampler=sampler,
                         study_name=study_name, storage=storage)
        self._objectives = list(metrics)
        self._planned = planned
        self._constraint = constraint  # SweepSpec.constraint_violation in target mode
        self._budget_s = budget_s
        self._budget_start: float | None = None  # this driver run's first suggestion

    def _out_of_time(self) -> bool:
        """``time_budget_s``: no new trial after the budget, counted per driver run."""
        if self._budget_s is None:
            return False
        if self._budget_start is None:
            self._budget_start = time.monotonic()
        return time.monotonic() - self._budget_start >= self._budget_s

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        self._budget_start = None  # a resumed driver gets a fresh budget

    def _attributed(self) -> int:
        """Trials of this sweep in the study (lost ones do not count toward the plan)."""
        return sum(1 for t in self._ot_study.get_trials(deepcopy=False)
                   if "ray_trial_id" in t.user_attrs and t.user_attrs.get("status") != "lost")

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if trial_id not in self._ot_trials and (self._attributed() >= self._planned
                                                or self._out_of_time()):
            return Searcher.FINISHED
        params = super().suggest(trial_id)
        if not isinstance(params, dict):
            return params
        ot_trial = self._ot_trials[trial_id]
        ot_trial.set_user_attr("ray_trial_id", trial_id)
        return {"params": dict(params), "optuna_trial": ot_trial.number}

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if isinstance(self.metric, list) or trial_id not in self._ot_trials:
            return  # Optuna keeps no intermediate values for multi-objective studies
        value = result.get(self.metric)
        if trial_id in self._completed_trials or not _finite(value) or result.get("final"):
            return
        try:
            self._ot_trials[trial_id].report(float(value), result["training_iteration"])
        except Exception as exc:  # e.g. a re-reported result of a trial told before a restart
            logger.debug("not reporting %s to Optuna: %s", trial_id, exc)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        if trial_id in self._completed_trials or ot_trial is None:
            return
        if result is None and not error:
            return  # removed before it ran (driver interrupted): Ray resumes it later
        status, reason = classify(result, error, self._objectives)
        if error and _MONITOR is not None:
            reason = _MONITOR.error_reason(trial_id) or reason
        state = {"complete": optuna.trial.TrialState.COMPLETE,
                 "truncated": optuna.trial.TrialState.PRUNED,
                 "failed": optuna.trial.TrialState.FAIL}[status]
        values = [float(result[m]) for m in self._objectives] if status == "complete" else None
        violation = (self._constraint(dict(ot_trial.params), result)
                     if status == "complete" and self._constraint is not None else None)
        try:
            ot_trial.set_user_attr("status", status)
            if reason:
                ot_trial.set_user_attr("reason", reason[:500])
            if violation is not None:  # Optuna 5 constraints: > 0 is infeasible
                ot_trial.set_constraint(TARGET_CONSTRAINT, violation)
                ot_trial.set_user_attr("feasible", violation <= 0)
        except Exception as exc:  # already finished: told before the driver restarted
            logger.debug("trial %s already finished in Optuna: %s", trial_id, exc)
        tell(self._ot_study, ot_trial.number, values, state)
        self._completed_trials.add(trial_id)


def tell(study: optuna.Study, number: int, values: list[float] | None,
         state: optuna.trial.TrialState) -> None:
    """``study.tell`` that tolerates trials told before a restart and an exhausted grid."""
    try:
        study.tell(number, values, state=state, skip_if_finished=True)
    except Exception as exc:
        # GridSampler.after_trial calls study.stop() once the grid is exhausted, which raises
        # outside study.optimize; Optuna has stored the state by then (tell's `finally`).
        if study.get_trials(deepcopy=False)[number].state != state:
            logger.warning("could not tell Optuna about trial %d: %s", number, exc)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def make_searcher(spec: SweepSpec, storage: Any) -> ConcurrencyLimiter:
    searcher = DempOptunaSearch(spec.search_space(), spec.metrics, spec.directions,
                                make_sampler(spec), spec.resolved_study_name, storage,
                                spec.trials, constraint=_constraint_of(spec),
                                budget_s=spec.time_budget_s)
    return ConcurrencyLimiter(searcher, max_concurrent=spec.max_concurrent)


def _constraint_of(spec: SweepSpec) -> Callable[..., float | None] | None:
    return spec.constraint_violation if spec.base.demp.target is not None else None


def make_scheduler(spec: SweepSpec, paths: SweepPaths) -> ASHAScheduler | ParetoAsha | None:
    """The spec's early stopping. ParetoAsha keeps its state in the sweep directory, where a
    resumed driver's scheduler (unpickled by ``Tuner.restore`` as it was at the start) finds it."""
    es = spec.early_stopping
    if es is None:
        return None
    if es.kind == "pareto_asha":
        return ParetoAsha(list(zip(spec.metrics, spec.directions)), rungs=es.rungs,
                          min_progress=es.min_progress, reduction_factor=es.reduction_factor,
                          recovery=es.recovery, state_path=paths.root / SCHEDULER_STATE_FILE)
    return ASHAScheduler(time_attr="training_iteration", metric=es.metric,
                         mode="max" if es.direction == "maximize" else "min", max_t=es.max_t,
                         grace_period=es.grace_period, reduction_factor=es.reduction_factor)


def _trial_dirname(trial: Any) -> str:
    return f"trial_{trial.trial_id}"


def _with_resources(spec: SweepSpec, trainable: Callable[..., Any]) -> Any:
    return tune.with_resources(trainable, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu})


def make_tuner(spec: SweepSpec, paths: SweepPaths, storage: Any,
               trainable: Callable[..., Any]) -> tune.Tuner:
    return tune.Tuner(
        _with_resources(spec, trainable),
        param_space={"base": spec.base.model_dump(mode="json"), "objectives": spec.metrics,
                     "wandb": wandb_settings(spec, paths.root)},
        tune_config=tune.TuneConfig(
            search_alg=make_searcher(spec, storage), scheduler=make_scheduler(spec, paths),
            num_samples=spec.trials, reuse_actors=True, trial_dirname_creator=_trial_dirname),
        run_config=tune.RunConfig(
            name=paths.ray.name, storage_path=str(paths.root), verbose=0,
            failure_config=tune.FailureConfig(max_failures=spec.retries),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            callbacks=[ForwardToMonitor()]),
    )


# ------------------------------------------------------------------------------ driver monitor


class SweepMonitor:
    """Driver-side bookkeeping while Tune runs: trials.jsonl, frontier files, live display, and
    the sweep's W&B run (``SweepRunLogger``, unless the spec disables W&B)."""

    def __init__(self, spec: SweepSpec, paths: SweepPaths, display: Any | None) -> None:
        self.spec = spec
        self.paths = paths
        self.log = TrialLog(paths.trials)
        self.display = display
        self.records = self.log.records()
        self.frontier = self._frontier()
        self.trials: dict[str, Any] = {}  # Ray's trials as of the last loop step
        self.wandb = sweep_run_logger(spec, paths)

    def _frontier(self) -> Frontier:
        return compute_frontier(self.records, self.spec.metrics, self.spec.directions,
                                self.spec.reference_point())

    def start(self) -> None:
        """Open the sweep's W&B run; a resumed sweep logs the state it starts from."""
        if self.wandb is not None and self.wandb.start() and self.records:
            self.log_wandb()

    def log_wandb(self) -> None:
        if self.wandb is None:
            return
        self.wandb.update(frontier_rows(self.frontier), trial_rows(self.records, self.spec.metrics),
                          [hv for _, hv in self.frontier.history], counts(self.records),
                          list(zip(self.spec.metrics, self.spec.directions)))

    def close(self, exit_code: int = 0) -> None:
        if self.wandb is not None:
            self.wandb.finish(exit_code=exit_code)

    def record(self, trial: Any, errored: bool) -> None:
        result = {k: v for k, v in (trial.last_result or {}).items() if k != "config"}
        status, reason = classify(result, errored, self.spec.metrics)
        if errored:
            reason = error_reason(trial)
        checkpoint = trial.checkpoint
        params = dict(trial.config.get("params") or {})
        violation = (self.spec.constraint_violation(params, result)
                     if status == "complete" else None)
        rec = TrialRecord(
            trial_id=trial.trial_id, status=status, reason=reason, params=params,
            number=trial.config.get("optuna_trial"), metrics=result,
            failures=trial.num_failures, checkpoint=checkpoint.path if checkpoint else None,
            violation=violation, feasible=None if violation is None else violation <= 0)
        if not self.log.append(rec):
            return
        self.records.append(rec)
        self.frontier = self._frontier()
        write_frontier_files(self.frontier, self.records, self.spec.name, self.spec.trials,
                             self.paths.frontier_csv, self.paths.frontier_json)
        self.log_wandb()
        if self.display is not None:
            self.display.finished(rec, self)

    def error_reason(self, trial_id: str) -> str | None:
        """The exception line of a trial Ray just failed (for Optuna's ``reason`` attribute)."""
        trial = self.trials.get(trial_id)
        return error_reason(trial) if trial is not None else None

    def note(self, text: str) -> None:
        if self.display is not None:
            self.display.note(text)
        else:
            logger.info(text)

    def tick(self, trials: list[Any]) -> None:
        self.trials = {t.trial_id: t for t in trials}
        if self.display is not None:
            self.display.update(trials, self)


def error_reason(trial: Any) -> str:
    """The exception line of a Ray trial's error (the last line of its traceback)."""
    text = trial.get_error() or ""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return lines[-1][:500] if lines else "error (no message)"


_MONITOR: SweepMonitor | None = None


def sweep_run_logger(spec: SweepSpec, paths: SweepPaths) -> Any | None:
    """The sweep's W&B run (files in ``<sweep dir>/wandb/``), or None when W&B is disabled."""
    if spec.wandb.mode == "disabled":
        return None
    from demp.track.sweep_run import SweepRunLogger
    from demp.track.wandb import settings_kwargs

    return SweepRunLogger(spec.name, **settings_kwargs(spec.wandb), dir=paths.root, silent=True,
                          config={"spec": spec.model_dump(mode="json")})


@contextmanager
def monitoring(monitor: SweepMonitor) -> Iterator[SweepMonitor]:
    """Installs ``monitor`` for ``ForwardToMonitor`` while Tune runs; closes its W&B run (exit
    code 1 when Tune raised) and display afterwards."""
    global _MONITOR
    _MONITOR = monitor
    if monitor.display is not None:
        monitor.display.start(monitor)
    exit_code = 1
    try:
        monitor.start()
        yield monitor
        exit_code = 0
    finally:
        try:
            monitor.close(exit_code)
        finally:
            if monitor.display is not None:
                monitor.display.stop()
            _MONITOR = None


class ForwardToMonitor(tune.Callback):
    """Stateless shim that Ray pickles into the experiment; forwards to this driver's monitor.

    Ray restores the callbacks of the original run on resume, so anything stateful (open
    files, a terminal display, paths) lives in the driver's ``SweepMonitor`` instead.
    """

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if _MONITOR is not None:
            _MONITOR.record(trial, errored=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if _MONITOR is not None:
            _MONITOR.record(trial, errored=True)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if _MONITOR is not None:
            _MONITOR.note(f"trial {trial.trial_id} failed ({error_reason(trial)}); retrying "
                          f"from its last checkpoint ({trial.num_failures}/"
                          f"{_MONITOR.spec.retries})")

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if _MONITOR is not None:
            _MONITOR.tick(trials)


# ------------------------------------------------------------------------------ run / resume


def _driver_env(display: bool) -> None:
    """Driver-side settings, read by Tune when the Tuner starts (user values win)."""
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", SNAPSHOT_PERIOD_S)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: Tune prints nothing
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # One snapshot per reported checkpoint is intended here (see the module docstring).
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if display:
        os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "0")  # reasons go to trials.jsonl


def run_sweep(spec: SweepSpec, *, overwrite: bool = False, display: Any | None = None,
              trainable: Callable[..., Any] = demp_trial) -> SweepOutcome:
    """Start a new sweep in ``<output_root>/<name>`` and run it to the planned trial count."""
    paths = SweepPaths.for_spec(spec.output_root, spec.name)
    if paths.root.exists() and any(paths.root.iterdir()):
        if not overwrite:
            raise ConfigError(f"name: {paths.root} already exists; resume it with `demp sweep "
                              f"resume {paths.root}`, or choose another name / --overwrite")
        if not paths.is_sweep():
            raise ConfigError(f"name: {paths.root} exists and is not a sweep; not deleting it")
        if driver_owner(paths) is not None:
            raise ConfigError(f"name: a driver is running {paths.root}; not overwriting it")
        shutil.rmtree(paths.root)
    paths.root.mkdir(parents=True, exist_ok=True)
    with DriverLock(paths):
        _driver_env(display is not None)
        storage = open_storage(spec.storage, paths)
        if study_exists(storage, spec.resolved_study_name):
            raise ConfigError(f"study_name: study {spec.resolved_study_name!r} already exists in "
                              f"{storage_label(spec.storage, paths)}; choose another study_name")
        paths.spec.write_text(dump_spec(spec))
        study = optuna.create_study(storage=storage, study_name=spec.resolved_study_name,
                                    directions=spec.directions, sampler=make_sampler(spec))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(spec.metrics)  # labels the objectives in optuna-dashboard
        study.set_user_attr("sweep_dir", str(paths.root))
        record_driver_run(paths, "run", spec.resolved_study_name,
                          storage_label(spec.storage, paths))
        started = init_ray(spec)
        try:
            tuner = make_tuner(spec, paths, storage, trainable)
            with monitoring(SweepMonitor(spec, paths, display)):
                tuner.fit()
        finally:
            if started:
                ray.shutdown()
        return finalize(spec, paths)


def resume_sweep(directory: str | Path, *, display: Any | None = None,
                 trainable: Callable[..., Any] = demp_trial) -> SweepOutcome:
    """Continue a sweep whose driver stopped, until it has its planned number of trials."""
    paths = SweepPaths(Path(directory).resolve())
    if not paths.is_sweep():
        raise ConfigError(f"{paths.root}: not a sweep directory (no {paths.spec.name})")
    spec = load_spec(paths.spec)
    check_not_moved(paths)
    with DriverLock(paths):
        _driver_env(display is not None)
        notes = repair_journal(paths) if spec.storage is None else []
        storage = open_storage(spec.storage, paths)
        if not study_exists(storage, spec.resolved_study_name):
            raise ConfigError(f"study_name: no study {spec.resolved_study_name!r} in "
                              f"{storage_label(spec.storage, paths)}")
        record_driver_run(paths, "resume", spec.resolved_study_name,
                          storage_label(spec.storage, paths))
        started = init_ray(spec)
        try:
            restorable = any(paths.ray.glob("experiment_state-*.json"))
            known = ray_trials(paths) if restorable else []
            notes += repair_checkpoints(known)
            notes += reconcile(spec, paths, storage, {t.trial_id for t in known})
            if restorable:
                tuner = tune.Tuner.restore(str(paths.ray), _with_resources(spec, trainable),
                                           resume_unfinished=True, resume_errored=False)
            else:  # killed before Ray's first snapshot: nothing of Ray's to continue
                tuner = make_tuner(spec, paths, storage, trainable)
            with monitoring(SweepMonitor(spec, paths, display)) as monitor:
                for text in notes:
                    monitor.note(text)
                tuner.fit()
        finally:
            if started:
                ray.shutdown()
        outcome = finalize(spec, paths)
        outcome.notes = notes
        return outcome


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


def reconcile(spec: SweepSpec, paths: SweepPaths, storage: Any,
              known_to_ray: set[str]) -> list[str]:
    """Settle Optuna trials a killed driver left RUNNING (see the module docstring)."""
    study = optuna.load_study(study_name=spec.resolved_study_name, storage=storage,
                              sampler=make_sampler(spec))
    study_id = storage.get_study_id_from_name(spec.resolved_study_name)
    recorded = {r.trial_id: r for r in TrialLog(paths.trials).records()}
    notes = []
    for t in study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.RUNNING]):
        ray_id = t.user_attrs.get("ray_trial_id")
        if ray_id in known_to_ray:
            continue  # Ray resumes it and the restored searcher tells its end
        storage_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        rec = recorded.get(ray_id) if ray_id else None
        if rec is not None:  # ended and recorded, but Ray's snapshot lost it
            state = {"complete": optuna.trial.TrialState.COMPLETE,
                     "truncated": optuna.trial.TrialState.PRUNED}.get(
                rec.status, optuna.trial.TrialState.FAIL)
            values = rec.objective_values(spec.metrics) if rec.status == "complete" else None
            storage.set_trial_user_attr(storage_id, "status", rec.status)
            if rec.violation is not None:
                storage.set_trial_system_attr(storage_id, f"constraints:{TARGET_CONSTRAINT}",
                                              rec.violation)
                storage.set_trial_user_attr(storage_id, "feasible", bool(rec.feasible))
            tell(study, t.number, values, state)
            continue
        storage.set_trial_user_attr(storage_id, "status", "lost")
        storage.set_trial_user_attr(storage_id, "reason", LOST_REASON)
        tell(study, t.number, None, optuna.trial.TrialState.FAIL)
        if spec.sampler.name == "grid":
            study.enqueue_trial(t.params)
        then = ("its grid point is queued again" if spec.sampler.name == "grid"
                else "a new trial takes its place")
        notes.append(f"Optuna trial {t.number} was lost when the driver stopped; "
                     f"marked FAIL ({then})")
    for ray_id in sorted(set(recorded) - known_to_ray):
        notes.append(f"trial {ray_id} ended after Ray's last snapshot: kept in trials.jsonl and "
                     f"the frontier, missing from Ray's experiment state")
    return notes
