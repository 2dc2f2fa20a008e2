"""The driver's view of a running sweep: the ledger, the frontier files, the W&B sweep run, and
the display protocol the CLI implements.

Ray pickles its callbacks into the experiment and restores the original run's on resume, so the
Ray-side piece, ``ForwardToMonitor``, is a stateless shim. Everything stateful lives in this
driver's ``SweepMonitor`` (installed by ``monitoring`` while Tune runs): it appends each ended
trial to ``trials.jsonl`` (first record per trial wins), rewrites ``frontier.csv`` / ``.json``,
keeps the sweep's W&B run (``demp.track.sweep_run.SweepRunLogger``) up to date, and tells the
display. The W&B calls run in order on a thread of their own (``demp.track.background``): the
driver's callbacks sit between one trial's end and the next one's start. A W&B failure disables
that run with a warning, never the sweep.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from ray import tune

from demp.results.frontier import (
    Frontier, compute_frontier, frontier_rows, trial_rows, write_frontier_files,
)
from demp.results.records import TrialLog, TrialRecord, classify, counts
from demp.spec.layout import SweepPaths
from demp.spec.schema import SweepSpec
from demp.sweep.reporting import full_result
from demp.track.background import BackgroundCalls

logger = logging.getLogger(__name__)
IDLE_FLUSH_S = 5.0  # how often the idle W&B thread looks for media its interval held back


class SweepDisplay(Protocol):
    """What the driver shows while Tune runs (the CLI's line and live displays implement it)."""

    def start(self, monitor: SweepMonitor) -> None:
        """Before the first trial (a resumed sweep: with the records it starts from)."""

    def finished(self, record: TrialRecord, monitor: SweepMonitor) -> None:
        """A trial ended and was recorded (``monitor`` holds the updated frontier)."""

    def note(self, text: str) -> None:
        """A message for the user (a retry, a reconciled ledger)."""

    def update(self, trials: list[Any], monitor: SweepMonitor) -> None:
        """Each step of Tune's loop, with Ray's trials (keep it cheap)."""

    def stop(self) -> None:
        """After Tune returned or raised."""


class SweepMonitor:
    """Driver-side bookkeeping while Tune runs: trials.jsonl, frontier files, live display, and
    the sweep's W&B run (``SweepRunLogger``, unless the spec disables W&B)."""

    def __init__(self, spec: SweepSpec, paths: SweepPaths, display: SweepDisplay | None) -> None:
        self.spec = spec
        self.paths = paths
        self.log = TrialLog(paths.trials)
        self.display = display
        self.records = self.log.records()
        self.frontier = self._frontier()
        self.trials: dict[str, Any] = {}  # Ray's trials as of the last loop step
        self.wandb = sweep_run_logger(spec, paths)
        # The run's calls go to a thread of their own: between one trial's end and the next
        # one's start the driver only records (``demp.track.background``).
        # While the thread idles it lets the run log the media its interval held back.
        self._wandb_calls = (BackgroundCalls(self.wandb, idle=("flush", IDLE_FLUSH_S))
                             if self.wandb is not None else None)
        self.stopped_by: str | None = None  # "SIGINT" / "SIGTERM" once the user stopped Tune

    def catch_stop_signals(self) -> None:
        """Note Ctrl-C and SIGTERM, then hand them to Ray Tune's own SIGINT handler.

        Tune installs that handler when ``fit`` starts (before its callbacks' ``setup``, which
        calls this): it ends the run gracefully after one last experiment snapshot, returns
        normally, and restores the handler that was there before, so a second Ctrl-C stops at
        once. Wrapping it keeps that behaviour and lets the driver tell an interrupted sweep
        from a finished one (``demp.cli.exits.INTERRUPTED``). SIGTERM, what cluster schedulers
        and ``kill`` send, takes the same graceful path once, then its default.
        """
        if threading.current_thread() is not threading.main_thread():
            return
        tune_handler = signal.getsignal(signal.SIGINT)
        if not callable(tune_handler):
            return

        def stop(signum: int, frame: Any) -> None:
            first = self.stopped_by is None
            self.stopped_by = self.stopped_by or signal.Signals(signum).name
            if signum == signal.SIGTERM:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if first:
                self.note(f"{self.stopped_by}: stopping the sweep (finished trials are kept; "
                          f"press Ctrl-C again to stop at once)")
                tune_handler(signal.SIGINT, frame)
            else:
                raise KeyboardInterrupt

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)

    def _frontier(self) -> Frontier:
        return compute_frontier(self.records, self.spec.metrics, self.spec.directions,
                                self.spec.reference_point())

    def start(self) -> None:
        """Open the sweep's W&B run; a resumed sweep logs the state it starts from."""
        if self._wandb_calls is None:
            return
        self._wandb_calls.submit("start")
        if self.records:
            self.log_wandb()

    def log_wandb(self) -> None:
        """Queue the sweep's current state for its W&B run (the rows are built here, now)."""
        if self._wandb_calls is None:
            return
        self._wandb_calls.submit(
            "update", frontier_rows(self.frontier), trial_rows(self.records, self.spec.metrics),
            [hv for _, hv in self.frontier.history], counts(self.records),
            list(zip(self.spec.metrics, self.spec.directions)))

    def log_replicates(self) -> None:
        """The frontier over seeds to the sweep's W&B run, once replicates have run."""
        if self._wandb_calls is None:
            return
        from demp.results.outcome import load_sweep
        from demp.results.replicated import replicated_document, replicated_groups

        outcome = load_sweep(self.paths.root)
        if not outcome.replicates:
            return
        doc = replicated_document(replicated_groups(outcome), self.spec.metrics,
                                  self.spec.directions, self.spec.reference_point(),
                                  self.spec.name)
        self._wandb_calls.submit("log_replicates", doc["rows"], doc["hypervolume_of_means"],
                                 doc["hypervolume_interval"])

    def close(self, exit_code: int = 0) -> None:
        """Finish the sweep's W&B run after everything queued for it (waits for W&B)."""
        if self._wandb_calls is not None:
            self._wandb_calls.close("finish", exit_code=exit_code)

    def record(self, trial: Any, errored: bool) -> None:
        checkpoint = trial.checkpoint
        # Ray holds the slim result; the ledger keeps the trial's full record of that step.
        result = full_result(trial.last_result or {}, self.paths.trial_dir(trial.trial_id),
                             checkpoint.path if checkpoint else None)
        status, reason = classify(result, errored, self.spec.metrics)
        if errored:
            reason = error_reason(trial)
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


def error_reason_of(trial_id: str) -> str | None:
    """The exception line of a trial Ray just failed, from the monitor installed while Tune
    runs (the Optuna searcher's ``error_reason``); None outside a driver run."""
    return _MONITOR.error_reason(trial_id) if _MONITOR is not None else None


def sweep_run_logger(spec: SweepSpec, paths: SweepPaths) -> Any | None:
    """The sweep's W&B run (files in ``<sweep dir>/wandb/``), or None when W&B is disabled."""
    from demp.track.wandb import resolve_mode, settings_kwargs

    if resolve_mode(spec.wandb.mode) == "disabled":
        return None
    from demp.track.sweep_run import SweepRunLogger

    return SweepRunLogger(spec.name, **settings_kwargs(spec.wandb), dir=paths.root, silent=True,
                          media_interval=spec.wandb.media_interval,
                          config={"spec": spec.model_dump(mode="json")})


@contextmanager
def monitoring(monitor: SweepMonitor) -> Iterator[SweepMonitor]:
    """Installs ``monitor`` for ``ForwardToMonitor`` while Tune runs; closes its W&B run (exit
    code 1 when Tune raised) and display afterwards."""
    global _MONITOR
    _MONITOR = monitor
    before = _signal_handlers()  # what Tune's and the monitor's handlers replace while it runs
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
            for signum, handler in before.items():
                signal.signal(signum, handler)


def _signal_handlers() -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)
            if signal.getsignal(s) is not None}


class ForwardToMonitor(tune.Callback):
    """Stateless shim that Ray pickles into the experiment; forwards to this driver's monitor.

    Ray restores the callbacks of the original run on resume, so anything stateful (open
    files, a terminal display, paths) lives in the driver's ``SweepMonitor`` instead.
    """

    def setup(self, **info: Any) -> None:
        if _MONITOR is not None:
            _MONITOR.catch_stop_signals()

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


__all__ = ["ForwardToMonitor", "SweepDisplay", "SweepMonitor", "error_reason",
           "error_reason_of", "monitoring", "sweep_run_logger"]
