"""One W&B run per trial: evaluations, death checks, a per-layer table and heat map.

``WandbTrialCallback`` is a trainer ``Callback`` (the trainer itself never imports W&B) and a
``GuardedRun`` (a W&B failure disables the run, never the trial). The sweep attaches it in
``demp.sweep.trial``; ``demp train`` users can attach it by hand.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from demp.results.figures import live_units_heatmap
from demp.results.plot import png_bytes
from demp.track.keys import (
    JOB_TRIAL,
    LIVE_UNITS_HEATMAP,
    LIVE_UNITS_TABLE,
    PRUNE_EVENTS_TABLE,
    STEP_KEY,
    SUMMARY_RESUMED_FROM,
    SUMMARY_STOPPED_BY,
    SUMMARY_STOPPED_EARLY,
    eval_row,
    prune_row,
    summary_values,
)
from demp.track.wandb import GuardedRun, make_run_id, trial_run_id
from demp.train.callbacks import Callback

if TYPE_CHECKING:
    from demp.train.trainer import Trainer


class WandbTrialCallback(GuardedRun, Callback):
    """One W&B run per trial: evaluations, prune events, a per-layer table and heat map.

    Use as a context manager (or call ``finish(exit_code=1)`` on failure) so a trial that raises
    closes its run as failed; a trial that ends normally finishes the run in ``on_end``.

    Args:
        trial_id: The trial's id (Ray's trial id in a sweep); with ``sweep`` it fixes the run id.
        sweep: The sweep name, used as the W&B group.
        mode: ``auto`` / ``online`` / ``offline`` / ``disabled``.
        extra_config: Logged beside the trainer config under ``trial`` (e.g. sampled params).
        dir: Parent of the ``wandb/`` run directories (default: ``WANDB_DIR`` or the cwd).
        system_metrics: W&B's CPU / GPU / memory sampling (off in tests).
        silent: No W&B output on the terminal (a Ray worker's stdout is not read by anyone).
    """

    def __init__(self, trial_id: str, sweep: str | None = None, *, mode: str = "auto",
                 project: str | None = None, entity: str | None = None,
                 dir: str | os.PathLike[str] | None = None, tags: Sequence[str] = (),
                 name: str | None = None, extra_config: Mapping[str, Any] | None = None,
                 run_id: str | None = None, system_metrics: bool = True,
                 init_timeout: float = 60.0, finish_timeout: float = 300.0,
                 fallback_offline: bool = True, silent: bool = False) -> None:
        super().__init__(
            run_id=run_id or (trial_run_id(sweep, trial_id) if sweep else make_run_id(trial_id)),
            job_type=JOB_TRIAL, mode=mode, project=project, entity=entity, group=sweep,
            name=name or trial_id, dir=dir, tags=tags, system_metrics=system_metrics,
            init_timeout=init_timeout, finish_timeout=finish_timeout,
            fallback_offline=fallback_offline, silent=silent)
        self.trial_id = trial_id
        self.sweep = sweep
        self.extra_config = dict(extra_config or {})
        self._groups: list[str] = []
        self._evals: list[tuple[int, dict[str, int], dict[str, float]]] = []
        self._prunes: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ hooks
    def on_train_start(self, trainer: Trainer) -> None:
        if not self.enabled:
            return
        config: dict[str, Any] = trainer.cfg.model_dump(mode="json")
        config["trial"] = {"id": self.trial_id, "sweep": self.sweep, **self.extra_config}
        config["trainer"] = {"total_steps": trainer.total_steps,
                             "steps_per_epoch": getattr(trainer, "steps_per_epoch", None)}
        if not self._init(config):
            return
        run = self.run
        self._guard("define_metric", lambda: self._define_metrics(run))
        self._guard("summary", lambda: run.summary.update(
            {SUMMARY_RESUMED_FROM: trainer.step} if trainer.step else {}))

    @staticmethod
    def _define_metrics(run: Any) -> None:
        run.define_metric(STEP_KEY)
        run.define_metric("*", step_metric=STEP_KEY)

    def on_eval(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        if not self.enabled:
            return
        live = {str(g): int(n) for g, n in (metrics.get("live_units") or {}).items()}
        dead = {str(g): float(f) for g, f in (metrics.get("dead_fraction") or {}).items()}
        for g in [*live, *dead]:
            if g not in self._groups:
                self._groups.append(g)
        self._evals.append((int(metrics["step"]), live, dead))
        if self.run is not None:
            row = eval_row(metrics)
            run = self.run
            self._guard("log eval", lambda: run.log(row, step=row[STEP_KEY]))

    def on_prune(self, trainer: Trainer, event: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self._prunes.append(event)
        if self.run is not None:
            row = prune_row(event)
            run = self.run
            self._guard("log prune", lambda: run.log(row, step=row[STEP_KEY]))

    def on_end(self, trainer: Trainer, summary: dict[str, Any]) -> None:
        if not self.active:
            self.finish(exit_code=0)
            return
        run, step = self.run, int(summary["step"])
        final = summary_values(summary)
        self._guard("live units table", lambda: run.log(
            {STEP_KEY: step, LIVE_UNITS_TABLE: self.live_units_table()}, step=step))
        if self._prunes:
            self._guard("prune table", lambda: run.log(
                {STEP_KEY: step, PRUNE_EVENTS_TABLE: self.prune_events_table()}, step=step))
        if self._evals and self._groups:
            self._guard("heat map", lambda: run.log(
                {STEP_KEY: step, LIVE_UNITS_HEATMAP: self._heatmap_image()}, step=step))
        self._guard("summary", lambda: run.summary.update(final))
        self.finish(exit_code=0)

    def stopped(self, by: str) -> None:
        """Close the run of a trial stopped from outside (``by``: e.g. ``"scheduler"``).

        Ray Tune stops a trial that its scheduler gave up on by raising ``SystemExit`` out of
        ``tune.report``: the trainer never reaches ``on_end``. Such a trial did not fail, so its
        run is finished with exit code 0 and ``stopped_early`` / ``stopped_by`` in its summary.
        """
        run = self.run
        if run is not None and self.active:
            self._guard("summary", lambda: run.summary.update(
                {SUMMARY_STOPPED_EARLY: True, SUMMARY_STOPPED_BY: by}))
        self.finish(exit_code=0)

    # ------------------------------------------------------------------ end-of-run artefacts
    def live_units_rows(self) -> tuple[list[str], list[list[Any]]]:
        """Columns ``step, <group>...`` and one row per evaluation of this attempt."""
        columns = ["step", *self._groups]
        rows = [[step, *[live.get(g) for g in self._groups]] for step, live, _ in self._evals]
        return columns, rows

    def live_units_table(self) -> Any:
        import wandb

        columns, rows = self.live_units_rows()
        return wandb.Table(columns=columns, data=rows, allow_mixed_types=True)

    def prune_events_table(self) -> Any:
        import wandb

        rows = []
        for e in self._prunes:
            removed, live = e.get("removed") or {}, e.get("live_units") or {}
            for g, n in (e.get("dead") or {}).items():
                rows.append([int(e["step"]), str(g), int(n), int(removed.get(g, 0)),
                             live.get(g)])
        return wandb.Table(columns=["step", "group", "dead", "removed", "live_units"], data=rows,
                           allow_mixed_types=True)

    def heatmap_png(self) -> bytes:
        """The live fraction (1 − dead fraction) of each group at each evaluation, as a PNG."""
        return png_bytes(live_units_heatmap(
            [s for s, _, _ in self._evals], self._groups, [live for _, live, _ in self._evals],
            [dead for _, _, dead in self._evals]))

    def _heatmap_image(self) -> Any:
        import wandb
        from PIL import Image

        return wandb.Image(Image.open(io.BytesIO(self.heatmap_png())),
                           caption="live fraction per layer × step")


