"""What runs inside one Ray Tune trial: re-validate the config, train, report.

The trial function is the only place where the trainer meets Ray, and it meets it through a
trainer ``Callback`` (the trainer itself imports neither Ray nor W&B): ``ReportToTune``
(``demp.sweep.reporting``) reports to Tune only what the sweep's scheduler needs (once at the end
when nothing stops trials early), slim, with a checkpoint directory when one is due (by time, and
always with the final record) holding ``checkpoint.pt`` (architecture, weights, optimizer, step,
RNG: resuming continues identically) and ``record.json`` (the full flat record). Every
evaluation's full record goes to the trial's own ``ray/trial_<id>/metrics.jsonl`` (prune events
to ``prune_events.jsonl``), written before the report. A restarted trial — a retry after a
failure, or a resumed sweep — continues from ``tune.get_checkpoint()``; if that checkpoint is
already the final one, the trial only re-reports its final record, so a finished trial is never
trained twice.

Each reported record carries three flags the driver classifies trials by:

- ``complete``: the final record of a run that reached its last step (only these enter the
  frontier and are told to Optuna as COMPLETE);
- ``failed`` + ``failure_reason``: training diverged (NaN / inf / too large loss), or the sampled
  config is invalid. Both are properties of the hyperparameters, and a retry from the last
  checkpoint would fail again identically, so they are reported as a result rather than raised
  (raising would spend retries);
- neither: an intermediate record; a trial that ends on one was stopped early (truncated).

Other exceptions propagate: Ray records them and retries the trial from its last checkpoint up
to ``retries`` times.

W&B: unless the spec disables it, the trial attaches a ``WandbTrialCallback`` (settings under
``config["wandb"]``, see ``wandb_settings``), which logs every evaluation itself. Its run id is
derived from the sweep name and the Ray trial id, so every attempt of a trial (a retry, a
resumed sweep) continues the same run; its files go to ``<sweep dir>/wandb/``. The run is closed
however the attempt ends: finished by the trainer, with exit code 1 when training raises or
diverges, as stopped when Ray Tune's scheduler stops the trial (``SystemExit`` out of
``tune.report``). A W&B failure never fails the trial.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ray import tune

from demp.config import ConfigError, TrainConfig, validate
from demp.results.history import flatten
from demp.spec.layout import SweepPaths, trial_dirname
from demp.spec.space import apply_params
from demp.sweep.reporting import (  # noqa: F401  (RECORD_FILE, read_record: re-exported)
    RECORD_FILE, ReportToTune, failure_record, read_record, slim,
)
from demp.train.callbacks import Callback

if TYPE_CHECKING:
    from demp.track.trial_run import WandbTrialCallback

logger = logging.getLogger(__name__)
__all__ = ["RECORD_FILE", "demp_trial", "flatten", "read_record", "trial_config",
           "wandb_callback", "wandb_settings"]


def trial_config(config: dict[str, Any]) -> TrainConfig:
    """The trainer config of a trial: base + sampled parameters, validated on this side."""
    data = apply_params(config["base"], config.get("params") or {})
    return validate(TrainConfig, data, prefix="trial")


def trial_files(config: dict[str, Any]) -> Path | None:
    """The trial's own directory for its per-evaluation files (``ray/trial_<id>/``), or None
    when the config does not name the sweep (a trainable driven by hand, an old pickle)."""
    root = config.get("sweep_dir")
    trial_id = tune.get_context().get_trial_id()
    if not (root and trial_id):
        return None
    if config.get("experiment_dir"):  # a second experiment of the sweep (replicates)
        return Path(config["experiment_dir"]) / trial_dirname(trial_id)
    return SweepPaths(Path(root)).trial_dir(trial_id)


def wandb_settings(spec: Any, directory: str | Path) -> dict[str, Any]:
    """The W&B part of every trial's config (plain data, no secrets): the spec's W&B section,
    the sweep name (the runs' group), the directory their ``wandb/`` folder goes in, and whether
    to sample system metrics (GPU trials only: utilization and memory are worth a chart there,
    while on a CPU laptop the sampler only competes with training)."""
    settings = {**spec.wandb.model_dump(mode="json"), "sweep": spec.name, "dir": str(directory),
                "system_metrics": spec.resources.gpu > 0}
    if settings["mode"] == "auto":
        # Resolved once, on the driver: with no key configured every trial is spared importing
        # W&B only to find that out (workers without the driver's key fall back to offline).
        from demp.track.wandb import resolve_mode

        settings["mode"] = resolve_mode("auto")
    return settings


def wandb_callback(config: dict[str, Any]) -> WandbTrialCallback | None:
    """The trial's W&B run, or None when the sweep disables W&B (W&B is then never imported)."""
    settings = config.get("wandb") or {}
    if settings.get("mode", "disabled") == "disabled":
        return None
    try:
        from demp.track.trial_run import WandbTrialCallback
        from demp.track.wandb import settings_kwargs

        trial_id = tune.get_context().get_trial_id() or "trial"
        return WandbTrialCallback(
            trial_id, settings.get("sweep"), **settings_kwargs(settings), dir=settings.get("dir"),
            extra_config={"params": dict(config.get("params") or {}),
                          "optuna_trial": config.get("optuna_trial"),
                          # replicates: the search trial whose config it repeats, 1, 2, ..., seed
                          **({"replicate": dict(config["replicate"])}
                             if config.get("replicate") else {})},
            system_metrics=bool(settings.get("system_metrics")), silent=True)
    except Exception as exc:  # noqa: BLE001 - W&B is never allowed to fail a trial
        logger.warning("W&B tracking unavailable for this trial: %s: %s", type(exc).__name__, exc)
        return None


def demp_trial(config: dict[str, Any], callbacks: list[Callback] | None = None) -> None:
    """The Ray Tune trainable of every sweep (``config`` = {"base", "params", "objectives",
    "wandb"})."""
    from demp.methods import build_trainer
    from demp.train.trainer import TrainingDiverged

    objectives = list(config.get("objectives") or [])
    try:
        cfg = trial_config(config)
    except ConfigError as err:  # deterministic, so retrying would only repeat it
        tune.report(failure_record(objectives, f"invalid trial config: {err}"))
        return
    start = tune.get_checkpoint()
    files = trial_files(config)
    wb: WandbTrialCallback | None = None
    try:
        if start is not None:
            with start.as_directory() as directory:
                record = read_record(directory)
                if record is not None and record.get("final"):
                    # Finished before the driver restarted (Ray's snapshot lagged): report only.
                    tune.report(slim({**record, "replayed": True}, objectives))
                    return
                step = int(record["step"]) if record else 0
                wb = wandb_callback(config)
                reporter = ReportToTune(objectives, config, resumed_from_step=step, resumed=True)
                trainer = build_trainer(cfg, callbacks=_callbacks(wb, files, reporter, callbacks),
                                        resume_from=directory)
        else:
            wb = wandb_callback(config)
            reporter = ReportToTune(objectives, config)
            trainer = build_trainer(cfg, callbacks=_callbacks(wb, files, reporter, callbacks))
        try:
            trainer.fit()
        except TrainingDiverged as err:
            if wb is not None:
                wb.finish(exit_code=1)
            tune.report(reporter.failure(trainer, str(err)))
    except SystemExit:  # Ray Tune stopping the trial (its scheduler): not a failure
        if wb is not None:
            wb.stopped("scheduler")
        raise
    except BaseException:
        if wb is not None:
            wb.finish(exit_code=1)
        raise
    finally:
        if wb is not None:
            wb.finish(exit_code=0)  # a no-op unless a path above left the run open


def _callbacks(wb: Callback | None, files: Path | None, reporter: ReportToTune,
               extra: list[Callback] | None) -> list[Callback]:
    """W&B and the trial's files first: an evaluation is logged and on disk before
    ``tune.report`` (which may stop the trial) sees it."""
    from demp.train.trainer import JsonlLog

    head: list[Callback] = [wb] if wb is not None else []
    if files is not None:
        head.append(JsonlLog(files))
    return [*head, reporter, *(extra or [])]
