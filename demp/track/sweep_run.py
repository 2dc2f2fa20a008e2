"""The sweep's own W&B run (job_type ``sweep``): frontier, hypervolume history, trial counts.

The sweep driver (``demp.sweep.runner.SweepMonitor``) feeds ``SweepRunLogger.update`` each time a
trial finishes and finishes the run when Tune returns; a resumed sweep opens the same run id again
and continues it.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from demp.track.keys import (
    FRONTIER_PLOT,
    FRONTIER_TABLE,
    JOB_SWEEP,
    SWEEP_STEP_KEY,
    TRIALS_TABLE,
    sweep_rows,
)
from demp.track.wandb import GuardedRun, sweep_run_id


class SweepRunLogger(GuardedRun):
    """The sweep's own run (job_type ``sweep``): frontier, hypervolume history, trial counts.

    Call ``update`` whenever a trial finishes. The hypervolume history is logged point by point
    (x = finished trials), so each update only adds the new points, with the trial counts and the
    frontier size. The tables (``frontier``, ``trials``) and the frontier plot are re-logged whole
    (W&B shows the latest) when the frontier changed, every ``media_every`` updates otherwise,
    and at ``finish``: re-logging a growing table after every trial would store O(trials²).

    ``media_interval`` seconds must also have passed since the media were last logged; until
    then the newest state waits and goes with the next update that may log media (or ``flush``
    once the interval has passed), or at ``finish``. Early in a sweep the frontier changes with
    almost every trial, and each drawing rebuilds the whole trials table and the plot: 0.13 s
    of the driver's CPU at 24 trials, 0.5 s at 1,000 (and online, an upload of the whole table
    each time), for images W&B replaces moments later. The interval bounds that work by time
    whatever the sweep's size (docs/BENCHMARKS.md, issue #17: 13 drawings → 2 in the 24-trial
    digits sweep). The counts and hypervolume points are logged at every update whatever the
    interval; 0 logs media at every frontier change.

    The frontier plot is a matplotlib image, not a ``wandb.plot.scatter``: that preset draws a
    single series, so it cannot mark the frontier against the dominated trials, and it renders
    only in the W&B app. The image looks the same offline, online and in the offline report; the
    interactive view is the workspace's scatter of the trial runs' summaries and the ``trials``
    table (its ``on_frontier`` column).
    """

    def __init__(self, sweep: str, *, mode: str = "auto", project: str | None = None,
                 entity: str | None = None, dir: str | os.PathLike[str] | None = None,
                 tags: Sequence[str] = (), config: Mapping[str, Any] | None = None,
                 run_id: str | None = None, media_every: int = 10,
                 media_interval: float = 30.0, system_metrics: bool = False,
                 init_timeout: float = 60.0, finish_timeout: float = 300.0,
                 fallback_offline: bool = True, silent: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(
            run_id=run_id or sweep_run_id(sweep), job_type=JOB_SWEEP, mode=mode,
            project=project, entity=entity, group=sweep, name=f"{sweep} (sweep)", dir=dir,
            tags=tags, system_metrics=system_metrics, init_timeout=init_timeout,
            finish_timeout=finish_timeout, fallback_offline=fallback_offline,
            silent=silent)
        self.sweep = sweep
        self.config = dict(config or {})
        self.media_every = max(1, int(media_every))
        if not media_interval >= 0:  # NaN included
            raise ValueError(f"media_interval must be >= 0 seconds, not {media_interval!r}")
        self.media_interval = float(media_interval)
        self._clock = clock
        self._media_at: float | None = None  # clock reading when media were last logged
        self._hv_logged: int | None = None
        self._frontier_ids: tuple[str, ...] | None = None
        self._since_media = 0
        self._pending: tuple[Any, ...] | None = None  # the last update whose media is unlogged
        self._pending_due = False  # ... and it would have logged them but for the interval

    def start(self) -> bool:
        """Open the run now (``update`` does it on first use)."""
        if not self._init({"sweep": self.sweep, **self.config}):
            return False
        run = self.run

        def setup() -> None:
            run.define_metric(SWEEP_STEP_KEY)
            run.define_metric("sweep/*", step_metric=SWEEP_STEP_KEY)
            # A resumed online run already holds the points logged before the driver stopped.
            self._hv_logged = int(run.summary.get(SWEEP_STEP_KEY, 0) or 0)

        self._guard("define_metric", setup)
        return self.active

    def update(self, frontier_rows: list[dict[str, Any]], all_rows: list[dict[str, Any]],
               hv_history: list[float], counts: Mapping[str, int],
               objectives: Sequence[tuple[str, str]]) -> None:
        """Log the sweep's state after a trial finished.

        Args:
            frontier_rows: One flat dict per frontier trial (``demp.results.frontier_rows``).
            all_rows: One flat dict per finished trial (``trial_id``, ``status``, metrics, params).
            hv_history: Hypervolume after each finished trial, in finish order.
            counts: Trials by status (``complete`` / ``truncated`` / ``failed``).
            objectives: ``(metric, direction)`` pairs; the first two are the plot's axes.
        """
        if not self.enabled or (self.run is None and not self.start()):
            return
        run = self.run
        n = len(hv_history)
        rows = sweep_rows(len(frontier_rows), hv_history, counts,
                          already_logged=self._hv_logged or 0)
        ids = _frontier_key(frontier_rows)
        self._since_media += 1
        state = (list(frontier_rows), list(all_rows), list(objectives), n)
        due = ids != self._frontier_ids or self._since_media >= self.media_every
        now = self._clock()
        if due and (self._media_at is None or now - self._media_at >= self.media_interval):
            media = self._guard("sweep tables", lambda: sweep_media(*state[:3]))
            if media is None:
                return
            rows[-1].update(media)
            self._media_logged(ids, now)
        else:
            self._pending, self._pending_due = state, due
        for row in rows:
            self._guard("log sweep", lambda row=row: run.log(row, step=row[SWEEP_STEP_KEY]))
            if not self.active:
                return
        self._hv_logged = max(self._hv_logged or 0, n)
        self._guard("summary", lambda: run.summary.update(
            {"objectives": [list(o) for o in objectives]}))

    def log_replicates(self, rows: list[dict[str, Any]], hypervolume: float,
                       interval: Sequence[float] | None) -> None:
        """The frontier over seeds (``demp.results.replicated``): one row per configuration with
        its mean, sd and 95 % interval per objective, and the hypervolume of the means with its
        bootstrap interval, in the summary."""
        if not self.enabled or (self.run is None and not self.start()):
            return
        run, n = self.run, self._hv_logged or 0
        flat = [{k: v for k, v in r.items() if not isinstance(v, (dict, list))} for r in rows]
        self._guard("replicate table", lambda: run.log(
            {SWEEP_STEP_KEY: n, "sweep/frontier_of_means": table_of(flat)}, step=n))
        self._guard("summary", lambda: run.summary.update(
            {"replicates/hypervolume_of_means": hypervolume,
             "replicates/hypervolume_95": list(interval) if interval else None,
             "replicates/configurations": len(flat)}))

    def flush(self) -> None:
        """Log the media an update held back for ``media_interval`` once that has passed, so a
        frontier change shows without waiting for the next trial to end (the driver's W&B
        thread calls this while it has nothing else to do). Updates that would not have logged
        media anyway (an unchanged frontier) still wait for ``media_every`` or ``finish``."""
        if not self._pending_due or self._media_at is None:
            return
        if self._clock() - self._media_at >= self.media_interval:
            self._log_pending()

    def _media_logged(self, ids: tuple[str, ...], at: float) -> None:
        """The media now in the run are those of frontier ``ids``; nothing is held back."""
        self._frontier_ids, self._since_media, self._media_at = ids, 0, at
        self._pending, self._pending_due = None, False

    def _log_pending(self) -> None:
        pending, run = self._pending, self.run
        self._pending, self._pending_due = None, False
        if pending is not None and run is not None and self.active:
            frontier_rows, all_rows, objectives, n = pending
            self._guard("sweep tables", lambda: run.log(
                {SWEEP_STEP_KEY: n, **sweep_media(frontier_rows, all_rows, objectives)}, step=n))
            self._media_logged(_frontier_key(frontier_rows), self._clock())

    def finish(self, exit_code: int = 0) -> None:
        """Log the latest tables / plot if an update left them stale, then finish the run."""
        self._log_pending()
        super().finish(exit_code)


def _frontier_key(frontier_rows: list[dict[str, Any]]) -> tuple[str, ...]:
    """Which trials form the frontier, in a form that compares equal for the same set."""
    return tuple(sorted(str(r.get("trial_id")) for r in frontier_rows))


def sweep_media(frontier_rows: list[dict[str, Any]], all_rows: list[dict[str, Any]],
                objectives: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The sweep run's tables and frontier plot (``SWEEP_MEDIA_KEYS``)."""
    out = {FRONTIER_TABLE: table_of(frontier_rows),
           TRIALS_TABLE: table_of(_mark_frontier(all_rows, frontier_rows))}
    if objectives and all_rows:
        out[FRONTIER_PLOT] = _frontier_image(frontier_rows, all_rows, objectives)
    return out


def table_of(rows: list[dict[str, Any]]) -> Any:
    """A ``wandb.Table`` of flat dicts: columns in first-seen order, missing cells None."""
    import wandb

    columns: list[str] = []
    for row in rows:
        columns += [str(c) for c in row if str(c) not in columns]
    data = [[_plain(row.get(c)) for c in columns] for row in rows]
    return wandb.Table(columns=columns or ["trial_id"], data=data, allow_mixed_types=True)


def _mark_frontier(all_rows: list[dict[str, Any]],
                   frontier_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    members = {r.get("trial_id") for r in frontier_rows}
    return [{**r, "on_frontier": r.get("trial_id") in members} for r in all_rows]


def frontier_png(frontier_rows: list[dict[str, Any]], all_rows: list[dict[str, Any]],
                 objectives: Sequence[tuple[str, str]]) -> bytes:
    """The frontier scatter of the sweep run (``demp.results.plot``, the one frontier plotter):
    frontier rows in red, other complete rows grey, failed / truncated rows left out."""
    from demp.results.plot import axes_metrics, frontier_scatter_png

    x_m, y_m = axes_metrics([m for m, _ in objectives])
    members = {r.get("trial_id") for r in frontier_rows}
    rest = [r for r in all_rows if r.get("trial_id") not in members
            and r.get("status", "complete") == "complete"]
    return frontier_scatter_png([(r.get(x_m), r.get(y_m)) for r in frontier_rows],
                                [(r.get(x_m), r.get(y_m)) for r in rest], x_m, y_m)


def _frontier_image(frontier_rows: list[dict[str, Any]], all_rows: list[dict[str, Any]],
                    objectives: Sequence[tuple[str, str]]) -> Any:
    import wandb
    from PIL import Image

    png = frontier_png(frontier_rows, all_rows, objectives)
    return wandb.Image(Image.open(io.BytesIO(png)), caption="frontier (red) and dominated trials")


def _plain(value: Any) -> Any:
    """Numpy scalars to Python, lists / dicts to JSON text (table cells stay scalar)."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        try:
            return value.item()
        except Exception:  # noqa: BLE001
            return str(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
