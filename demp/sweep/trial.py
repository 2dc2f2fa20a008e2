"""What runs inside one Ray Tune trial: re-validate the config, train, report.

The trial function is the only place where the trainer meets Ray, and it meets it through a
trainer ``Callback`` (the trainer itself imports neither Ray nor W&B). Every evaluation is
reported with ``tune.report`` together with a checkpoint directory holding ``checkpoint.pt``
(architecture, weights, optimizer, step, RNG: resuming continues identically) and
``record.json`` (the flat metrics record). A restarted trial — a retry after a failure, or a
resumed sweep — continues from ``tune.get_checkpoint()``; if that checkpoint is already the
final one, the trial only re-reports its final record, so a finished trial is never trained
twice.

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
``config["wandb"]``, see ``wandb_settings``). Its run id is derived from the sweep name and the
Ray trial id, so every attempt of a trial (a retry, a resumed sweep) continues the same run; its
files go to ``<sweep dir>/wandb/``. The run is closed however the attempt ends: finished by the
trainer, with exit code 1 when training raises or diverges, as stopped when Ray Tune's scheduler
stops the trial (``SystemExit`` out of ``tune.report``). A W&B failure never fails the trial.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ray import tune

from demp.config import ConfigError, TrainConfig, validate
from demp.spec.space import apply_params
from demp.train.callbacks import Callback
from demp.train.checkpoint import checkpoint_due

if TYPE_CHECKING:
    from demp.track.trial_run import WandbTrialCallback

RECORD_FILE = "record.json"
logger = logging.getLogger(__name__)


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


def trial_config(config: dict[str, Any]) -> TrainConfig:
    """The trainer config of a trial: base + sampled parameters, validated on this side."""
    data = apply_params(config["base"], config.get("params") or {})
    return validate(TrainConfig, data, prefix="trial")


def read_record(directory: str | Path) -> dict[str, Any] | None:
    path = Path(directory, RECORD_FILE)
    return json.loads(path.read_text()) if path.is_file() else None


class ReportToTune(Callback):
    """Reports each evaluation to Ray Tune with a checkpoint of the trainer at that step."""

    def __init__(self, objectives: list[str], resumed_from_step: int = 0) -> None:
        self.objectives = objectives
        self.resumed_from_step = resumed_from_step

    def on_eval(self, trainer: Any, metrics: dict[str, Any]) -> None:
        final = bool(metrics.get("final"))
        record = flatten(metrics)
        record.update(complete=final and not metrics.get("stopped_early", False), failed=False,
                      failure_reason="", resumed_from_step=self.resumed_from_step)
        # the trainer's own checkpoint cadence, and the final record always
        if not (final or checkpoint_due(trainer.step, trainer.cfg.checkpoint_interval)):
            tune.report(record)
            return
        with tempfile.TemporaryDirectory(prefix="demp-ckpt-") as tmp:
            trainer.save_checkpoint(tmp)
            Path(tmp, RECORD_FILE).write_text(json.dumps(record))
            # report() copies the directory into the trial's storage before it returns.
            tune.report(record, checkpoint=tune.Checkpoint.from_directory(tmp))

    def failure(self, trainer: Any, reason: str) -> dict[str, Any]:
        return failure_record(self.objectives, reason, trainer.step, trainer.total_steps,
                              self.resumed_from_step)


def failure_record(objectives: list[str], reason: str, step: int = 0, total_steps: int = 0,
                   resumed_from_step: int = 0) -> dict[str, Any]:
    """The record of a run that cannot succeed: objectives are NaN so nothing takes it for a
    result, and ``failed`` makes the driver record it (and tell Optuna FAIL) without retrying."""
    record: dict[str, Any] = {m: math.nan for m in objectives}
    record.update(step=step, total_steps=total_steps, progress=step / max(1, total_steps),
                  complete=False, failed=True, failure_reason=reason, final=True,
                  resumed_from_step=resumed_from_step)
    return record


def wandb_settings(spec: Any, directory: str | Path) -> dict[str, Any]:
    """The W&B part of every trial's config (plain data, no secrets): the spec's W&B section,
    the sweep name (the runs' group), the directory their ``wandb/`` folder goes in, and whether
    to sample system metrics (GPU trials only: utilization and memory are worth a chart there,
    while on a CPU laptop the sampler only competes with training)."""
    return {**spec.wandb.model_dump(mode="json"), "sweep": spec.name, "dir": str(directory),
            "system_metrics": spec.resources.gpu > 0}


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
                          "optuna_trial": config.get("optuna_trial")},
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
    wb: WandbTrialCallback | None = None
    try:
        if start is not None:
            with start.as_directory() as directory:
                record = read_record(directory)
                if record is not None and record.get("final"):
                    # Finished before the driver restarted (Ray's snapshot lagged): report only.
                    tune.report({**record, "replayed": True})
                    return
                step = int(record["step"]) if record else 0
                wb = wandb_callback(config)
                reporter = ReportToTune(objectives, resumed_from_step=step)
                trainer = build_trainer(cfg, callbacks=_callbacks(wb, reporter, callbacks),
                                        resume_from=directory)
        else:
            wb = wandb_callback(config)
            reporter = ReportToTune(objectives)
            trainer = build_trainer(cfg, callbacks=_callbacks(wb, reporter, callbacks))
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


def _callbacks(wb: Callback | None, reporter: ReportToTune,
               extra: list[Callback] | None) -> list[Callback]:
    # W&B first: an evaluation is logged before tune.report (which may stop the trial) sees it.
    return [*([wb] if wb is not None else []), reporter, *(extra or [])]
