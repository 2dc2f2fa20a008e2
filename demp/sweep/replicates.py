"""Replicates: a search trial's exact configuration re-run on further training seeds, as real Ray
Tune trials that the sampler never sees.

``run_replicates(spec, paths, seeds, stage)`` plans one job per (configuration, extra seed):
``stage="frontier"`` takes the search's frontier members, ``"all"`` every complete search trial;
a configuration trained with seed s gets seeds s+1, …, s+seeds−1. Jobs already recorded in
``replicates.jsonl`` are skipped, so asking again (or for more seeds) runs only what is missing.

The jobs run under their own Tune experiment (``ray/replicates-N``), with the trainable every
sweep trial uses (``demp.sweep.trial.demp_trial``), the spec's resources, concurrency and retries,
and a checkpoint per evaluation, but no searcher: a replicate is no new configuration, so Optuna
is never told about it and the search frontier is the search's own. A driver killed while
replicates run resumes them like any other trial: the unfinished experiment is restored
(``Tuner.restore``) and each running job continues from its last checkpoint, before anything
missing is started afresh. Each ended job is appended to ``replicates.jsonl`` (first record per
Ray trial wins) with ``group`` (the search trial it repeats), ``replicate`` (1, 2, …) and
``seed``; ``demp.results.replicates`` turns the two ledgers into means, spreads and intervals.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.logger import JsonLoggerCallback

from demp.results.outcome import load_sweep
from demp.results.records import TrialLog, TrialRecord, classify
from demp.results.replicates import STAGES, training_seed
from demp.results.replicates import replicate_jobs as plan
from demp.spec.layout import SweepPaths, trial_dirname
from demp.spec.schema import SweepSpec
from demp.sweep.monitor import error_reason
# under its old name too: replicate experiments pickled before it moved refer to it so
from demp.sweep.ray_setup import tune_trial_dirname as _trial_dirname
from demp.sweep.recovery import repair_checkpoints
from demp.sweep.reporting import full_result
from demp.sweep.trial import demp_trial, wandb_settings

logger = logging.getLogger(__name__)
EXPERIMENT = "replicates"


def replicate_trial(config: dict[str, Any]) -> None:
    """``demp_trial`` on the job's parameters (the search trial's, with the replicate's seed)."""
    job = config["job"]
    demp_trial({**config, "params": job["params"], "optuna_trial": job["number"],
                "replicate": {"group": job["group"], "index": job["replicate"],
                              "seed": job["seed"]}})


class ReplicateRecorder:
    """Driver side: appends each ended replicate to replicates.jsonl."""

    def __init__(self, spec: SweepSpec, paths: SweepPaths, monitor: Any | None = None) -> None:
        self.spec, self.paths = spec, paths
        self.log = TrialLog(paths.replicates)
        self.monitor = monitor  # the driver's SweepMonitor: its display and its stop signals
        self.recorded = 0

    def note(self, text: str) -> None:
        if self.monitor is not None:
            self.monitor.note(text)
        else:
            logger.info(text)

    def record(self, trial: Any, errored: bool) -> None:
        job = trial.config["job"]
        checkpoint = trial.checkpoint
        # Ray holds the slim result; the ledger keeps the trial's full record of that step.
        result = full_result(trial.last_result or {},
                             Path(trial.config["experiment_dir"]) / trial_dirname(trial.trial_id),
                             checkpoint.path if checkpoint else None)
        status, reason = classify(result, errored, self.spec.metrics)
        if errored:
            reason = error_reason(trial)
        rec = TrialRecord(trial_id=trial.trial_id, status=status, reason=reason,
                          params=dict(job["params"]), number=job["number"], metrics=result,
                          failures=trial.num_failures,
                          checkpoint=checkpoint.path if checkpoint else None,
                          group=job["group"], replicate=job["replicate"], seed=job["seed"])
        if self.log.append(rec):
            self.recorded += 1
            values = "  ".join(f"{m}={result.get(m)}" for m in self.spec.metrics)
            self.note(f"replicate {job['replicate']} (seed {job['seed']}) of {job['group']}: "
                      f"{status}  {values}")


_RECORDER: ReplicateRecorder | None = None


class ForwardToRecorder(tune.Callback):
    """Stateless shim Ray pickles into the replicate experiment (see ``ForwardToMonitor``)."""

    def setup(self, **info: Any) -> None:
        if _RECORDER is not None and _RECORDER.monitor is not None:
            _RECORDER.monitor.catch_stop_signals()  # Ctrl-C here too ends as "interrupted"

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if _RECORDER is not None:
            _RECORDER.record(trial, errored=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if _RECORDER is not None:
            _RECORDER.record(trial, errored=True)


def _experiments(paths: SweepPaths) -> list[str]:
    return sorted((p.name for p in paths.ray.glob(f"{EXPERIMENT}-*") if p.is_dir()),
                  key=lambda n: int(n.rsplit("-", 1)[1]) if n.rsplit("-", 1)[1].isdigit() else 0)


def _fresh_tuner(spec: SweepSpec, paths: SweepPaths, jobs: list[dict[str, Any]],
                 name: str) -> tune.Tuner:
    return tune.Tuner(
        tune.with_resources(replicate_trial, {"cpu": spec.resources.cpu,
                                              "gpu": spec.resources.gpu}),
        param_space={"base": spec.base.model_dump(mode="json"), "objectives": spec.metrics,
                     "wandb": wandb_settings(spec, paths.root), "sweep_dir": str(paths.root),
                     "experiment_dir": str(paths.ray / name),
                     "report": {"kind": "final"},   # no scheduler: one report at the end
                     "job": tune.grid_search(jobs)},
        tune_config=tune.TuneConfig(num_samples=1, reuse_actors=True,
                                    max_concurrent_trials=spec.max_concurrent,
                                    trial_dirname_creator=_trial_dirname),
        run_config=tune.RunConfig(
            name=name, storage_path=str(paths.ray), verbose=0,
            failure_config=tune.FailureConfig(max_failures=spec.retries),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            callbacks=[ForwardToRecorder(), JsonLoggerCallback()]))


def run_replicates(spec: SweepSpec, paths: SweepPaths, seeds: int, stage: str = "frontier",
                   monitor: Any | None = None) -> int:
    """Run the missing replicates of a finished search (Ray must be up); returns how many were
    recorded. An unfinished replicate experiment of an earlier driver is restored first; a stop
    signal (``monitor.stopped_by``) ends it without starting anything new."""
    global _RECORDER
    _RECORDER = recorder = ReplicateRecorder(spec, paths, monitor)
    try:
        names = _experiments(paths)
        last = paths.ray / names[-1] if names else None
        if last is not None and any(last.glob("experiment_state-*.json")):
            # a killed driver's snapshot may name a checkpoint num_to_keep already deleted
            for text in repair_checkpoints(list(tune.ExperimentAnalysis(str(last)).trials)):
                recorder.note(text)
            restored = tune.Tuner.restore(
                str(last),
                tune.with_resources(replicate_trial, {"cpu": spec.resources.cpu,
                                                      "gpu": spec.resources.gpu}),
                resume_unfinished=True, resume_errored=False)
            restored.fit()
        jobs = plan(spec, load_sweep(paths.root), seeds, stage)
        if jobs and not (monitor is not None and monitor.stopped_by):
            number = len(names) + 1
            _fresh_tuner(spec, paths, jobs, f"{EXPERIMENT}-{number}").fit()
        if monitor is not None and recorder.recorded:
            monitor.log_replicates()
    finally:
        _RECORDER = None
    return recorder.recorded


__all__ = ["EXPERIMENT", "STAGES", "ForwardToRecorder", "ReplicateRecorder", "plan",
           "replicate_trial", "run_replicates", "training_seed"]
