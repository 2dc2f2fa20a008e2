"""What a sweep trial tells Ray Tune, and when: as little as its scheduler needs.

Every ``tune.report`` blocks training until the driver has handled it, and every reported
checkpoint makes Ray snapshot its whole experiment state, whose size grows with the keys of the
results (Ray keeps running statistics on every numeric key). Measured on digits (issue #17),
reporting and checkpointing every evaluation cost more than the training. So:

- **Reports** follow the sweep's early stopping (``demp.sweep.scheduler.report_plan``): once at
  the end when nothing stops trials early; every evaluation under Ray's ASHA (its time axis is
  the number of reports); under Pareto ASHA the evaluations it judges (``rungs_judged``). A
  resumed attempt also reports its first evaluation, so a scheduler that stopped the trial
  before a driver restart can stop it again.
- **Checkpoints** go with a report when ``demp.train.cadence.checkpoint_due`` says so (by
  default every ``TRIAL_CHECKPOINT_PERIOD_S`` seconds; ``checkpoint_interval`` /
  ``checkpoint_period_s`` in the trainer config change it) and always with the final record.
- **Results are slim** (``RESULT_KEYS``: every metric a spec can name, the progress, the
  schedules' current values and the trial's flags); the full record of every evaluation goes
  to the trial's own ``metrics.jsonl`` (``demp.results.history``) and to W&B, and the full
  record of a checkpoint to its ``record.json``. ``full_result`` joins a slim result with the
  full record of its step for the driver's ledger (``trials.jsonl`` keeps every key).
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ray import tune

from demp.results.history import flatten, record_at
from demp.sweep.scheduler import prune_interval_of, rungs_judged
from demp.train.callbacks import Callback
from demp.train.cadence import checkpoint_due

RECORD_FILE = "record.json"
# A sweep trial's checkpoint period when its config sets neither checkpoint_interval nor
# checkpoint_period_s: a crash recomputes at most this much, a short trial writes only its final
# checkpoint.
TRIAL_CHECKPOINT_PERIOD_S = 60.0
# What Ray Tune receives of a record: the metrics a spec may name as objectives or target
# (``spec.schema.MetricName``), where the trial is, what the display shows, and the flags the
# driver classifies trials by. Per-layer keys (dozens in a ResNet) stay out.
RESULT_KEYS = (
    "val_acc", "test_acc", "val_loss", "test_loss", "train_loss", "param_sparsity",
    "neural_sparsity", "params", "flops", "train_flops", "train_time",
    "step", "total_steps", "progress", "epoch", "lr", "lam", "sigma",
    "final", "stopped_early", "complete", "failed", "failure_reason", "resumed_from_step",
    "replayed",
)


def slim(record: dict[str, Any], extra: Iterable[str] = ()) -> dict[str, Any]:
    """The keys of ``record`` Ray Tune gets (``RESULT_KEYS`` and ``extra``)."""
    keep = {*RESULT_KEYS, *extra}
    return {k: v for k, v in record.items() if k in keep}


def read_record(directory: str | Path) -> dict[str, Any] | None:
    """The full record a checkpoint directory was written with (``record.json``)."""
    path = Path(directory, RECORD_FILE)
    return json.loads(path.read_text()) if path.is_file() else None


def full_result(result: dict[str, Any], trial_dir: str | Path | None,
                checkpoint: str | Path | None = None) -> dict[str, Any]:
    """A trial's (slim) result from Ray completed with the full record of the same step: the
    checkpoint's ``record.json`` when it is that step's, else the trial's ``metrics.jsonl``.
    Ray's own keys (``time_total_s``, ``training_iteration``, …) and the flags come from
    ``result``. A result with no step (or no full record) comes back as it is."""
    result = {k: v for k, v in result.items() if k != "config"}
    step = result.get("step")
    if step is None or result.get("failed"):
        return result
    full: dict[str, Any] | None = None
    if checkpoint is not None:
        try:
            full = read_record(checkpoint)
        except (OSError, ValueError):
            full = None
        if full is not None and full.get("step") != step:
            full = None
    if full is None and trial_dir is not None:
        full = record_at(trial_dir, int(step))
    return {**(full or {}), **result}


def failure_record(objectives: list[str], reason: str, step: int = 0, total_steps: int = 0,
                   resumed_from_step: int = 0) -> dict[str, Any]:
    """The record of a run that cannot succeed: objectives are NaN so nothing takes it for a
    result, and ``failed`` makes the driver record it (and tell Optuna FAIL) without retrying."""
    record: dict[str, Any] = {m: math.nan for m in objectives}
    record.update(step=step, total_steps=total_steps, progress=step / max(1, total_steps),
                  complete=False, failed=True, failure_reason=reason, final=True,
                  resumed_from_step=resumed_from_step)
    return record


class ReportToTune(Callback):
    """Reports to Ray Tune what the scheduler needs, with a checkpoint when one is due.

    Args:
        objectives: the sweep's metrics (always in a report, whatever ``RESULT_KEYS`` says).
        config: the trial's config (``plan`` = ``config["report"]``; absent in sweeps started
            before #17: every evaluation, as then).
        resumed_from_step: the step this attempt continues from (0: a fresh start).
        resumed: whether this attempt continues a checkpoint (its first evaluation is reported).
    """

    def __init__(self, objectives: list[str], config: dict[str, Any] | None = None,
                 resumed_from_step: int = 0, resumed: bool = False) -> None:
        config = config or {}
        self.objectives = list(objectives)
        self.plan: dict[str, Any] = dict(config.get("report") or {"kind": "every"})
        self.prune_interval = prune_interval_of(config) if config.get("base") else None
        self.resumed_from_step = resumed_from_step
        self._first_pending = resumed and self.plan["kind"] != "final"
        self._passed: list[int] = []
        self._last_checkpoint = time.perf_counter()

    def on_train_start(self, trainer: Any) -> None:
        self._last_checkpoint = time.perf_counter()

    def on_eval(self, trainer: Any, metrics: dict[str, Any]) -> None:
        final = bool(metrics.get("final"))
        record = flatten(metrics)
        record.update(complete=final and not metrics.get("stopped_early", False), failed=False,
                      failure_reason="", resumed_from_step=self.resumed_from_step)
        cfg = trainer.cfg
        period = (cfg.checkpoint_period_s if cfg.checkpoint_period_s is not None
                  else TRIAL_CHECKPOINT_PERIOD_S)
        checkpoint = final or checkpoint_due(
            trainer.step, cfg.checkpoint_interval,
            since_last_s=time.perf_counter() - self._last_checkpoint, period_s=period)
        if not (self.wants(record) or checkpoint):
            return
        result = slim(record, self.objectives)
        if not checkpoint:
            tune.report(result)
            return
        with tempfile.TemporaryDirectory(prefix="demp-ckpt-") as tmp:
            trainer.save_checkpoint(tmp)
            Path(tmp, RECORD_FILE).write_text(json.dumps(record))
            # report() copies the directory into the trial's storage before it returns.
            tune.report(result, checkpoint=tune.Checkpoint.from_directory(tmp))
        self._last_checkpoint = time.perf_counter()

    def wants(self, record: dict[str, Any]) -> bool:
        """Whether the scheduler needs this (non-final) evaluation (see the module doc)."""
        if record.get("final"):
            return True
        if self._first_pending:
            self._first_pending = False
            return True
        kind = self.plan["kind"]
        if kind == "every":
            return True
        if kind != "rungs":
            return False
        reached = rungs_judged(float(record["progress"]), int(record["step"]),
                               self.plan["rungs"], self._passed, self.prune_interval,
                               float(self.plan.get("recovery", 0.0)))
        self._passed += reached
        return bool(reached)

    def failure(self, trainer: Any, reason: str) -> dict[str, Any]:
        return failure_record(self.objectives, reason, trainer.step, trainer.total_steps,
                              self.resumed_from_step)


__all__ = ["RECORD_FILE", "RESULT_KEYS", "TRIAL_CHECKPOINT_PERIOD_S", "ReportToTune",
           "failure_record", "full_result", "read_record", "slim"]
