"""The sweep driver's displays (``demp.sweep.monitor.SweepDisplay``): one line per finished trial
for logs and pipes, and a live table of running trials above those lines on a terminal.

Both show a trial by what was searched: each parameter of the spec's space under its own label
(``λ``, ``σ``, ``ρ`` …, ``demp.cli.tables.param_label``) with its sampled value, never the
current λ_t/σ_t of the schedule, so a column means the same thing in the live table, the final
table and trials.jsonl. The live header counts finished, running and pending trials and gives the
elapsed time and an estimate of the time left (finished trials per second so far).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from demp.cli.tables import param_label, status_text
from demp.results.history import METRICS_FILE
from demp.results.records import TrialRecord, counts
from demp.results.values import fmt


def _params(params: dict[str, Any], space: list[str]) -> str:
    return "  ".join(f"{param_label(p)}={fmt(params[p])}" for p in space if p in params)


def _line(rec: TrialRecord, monitor: Any) -> str:
    n = len(monitor.records)
    metrics = "  ".join(f"{m}={fmt(rec.metrics.get(m))}" for m in monitor.spec.metrics)
    tail = f"  ({rec.reason})" if rec.reason else ""
    if rec.feasible is False:
        tail += "  (infeasible: misses the sparsity target)"
    status, note = status_text(rec, monitor.spec)
    if note:
        tail += f"  ({note})"
    params = _params(rec.params, list(monitor.spec.space))
    return (f"[{n:>3}/{monitor.spec.trials}] {rec.trial_id} {status:<9} {metrics}  "
            f"HV={monitor.frontier.hypervolume:.4f}  {params}{tail}").rstrip()


def latest_record(trial_dir: Path) -> dict[str, Any]:
    """The last evaluation a running trial wrote to its metrics.jsonl (trials report to Ray only
    what its scheduler needs, issue #17): only the file's tail is read, each refresh."""
    path = trial_dir / METRICS_FILE
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            lines = f.read().splitlines()
    except OSError:
        return {}
    for raw in reversed(lines):
        try:
            row = json.loads(raw)
        except ValueError:
            continue  # the line being written, or cut by the seek
        if isinstance(row, dict):
            return {k: v for k, v in row.items() if not isinstance(v, dict)}
    return {}


def clock(seconds: float) -> str:
    """``1h02m``, ``4m05s``, ``12s``."""
    s = int(max(0.0, seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class LineDisplay:
    """One line per finished trial: for logs and pipes."""

    def __init__(self, out: Console) -> None:
        self.out = out
        self.started = time.monotonic()
        self.finished_at_start = 0

    def start(self, monitor: Any) -> None:
        self.started = time.monotonic()
        self.finished_at_start = len(monitor.records)
        resumed = f", {len(monitor.records)} already finished" if monitor.records else ""
        self.out.print(f"sweep {monitor.spec.name}: {monitor.spec.trials} trials, "
                       f"{monitor.spec.max_concurrent} at a time{resumed} → {monitor.paths.root}"
                       f"  (Ray's log: {monitor.paths.driver_log.name})", highlight=False)

    def finished(self, rec: TrialRecord, monitor: Any) -> None:
        self.out.print(_line(rec, monitor), highlight=False)

    def note(self, text: str) -> None:
        self.out.print(text, highlight=False)

    def update(self, trials: list[Any], monitor: Any) -> None:
        pass

    def stop(self) -> None:
        pass

    def eta(self, monitor: Any) -> str:
        """Time left at the rate trials finished since this driver started; '?' before one."""
        done = len(monitor.records) - self.finished_at_start
        left = monitor.spec.trials - len(monitor.records)
        if left <= 0:
            return "0s"
        if done <= 0:
            return "?"
        return clock((time.monotonic() - self.started) / done * left)


class LiveDisplay(LineDisplay):
    """A live table of running trials above the finished-trial lines (terminals only)."""

    def __init__(self, out: Console) -> None:
        super().__init__(out)
        self.live: Live | None = None
        self.last = 0.0

    def start(self, monitor: Any) -> None:
        super().start(monitor)
        self.live = Live(self._render([], monitor), console=self.out, refresh_per_second=4,
                         transient=True)
        self.live.start()

    def finished(self, rec: TrialRecord, monitor: Any) -> None:
        if self.live is not None:
            self.live.console.print(_line(rec, monitor), highlight=False)

    def note(self, text: str) -> None:
        if self.live is not None:
            self.live.console.print(text, highlight=False)
        else:
            super().note(text)

    def update(self, trials: list[Any], monitor: Any) -> None:
        now = time.monotonic()
        if self.live is None or now - self.last < 0.25:
            return
        self.last = now
        self.live.update(self._render(trials, monitor))

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def _render(self, trials: list[Any], monitor: Any) -> Group:
        c = counts(monitor.records)
        finished = sum(c.values())
        running = [t for t in trials if t.status == "RUNNING"]
        pending = max(0, monitor.spec.trials - finished - len(running))
        head = (f"{monitor.spec.name}: {finished}/{monitor.spec.trials} finished · "
                f"{len(running)} running · {pending} pending · {c['complete']} complete · "
                f"{c['truncated']} truncated · {c['failed']} failed · frontier "
                f"{len(monitor.frontier.members)} · HV {monitor.frontier.hypervolume:.4f} · "
                f"elapsed {clock(time.monotonic() - self.started)} · ETA {self.eta(monitor)}")
        space = list(monitor.spec.space)
        table = Table(show_edge=False, pad_edge=False)
        table.add_column("trial", no_wrap=True)
        table.add_column("running", justify="right", no_wrap=True)
        table.add_column("progress", justify="right", no_wrap=True)
        for col in (*monitor.spec.metrics, *[param_label(p) for p in space]):
            table.add_column(col, justify="right", no_wrap=True)
        now = time.time()
        for t in running[:12]:
            r = {**(t.last_result or {}), **latest_record(monitor.paths.trial_dir(t.trial_id))}
            params = (t.config or {}).get("params") or {}
            began = t.run_metadata.start_time
            table.add_row(t.trial_id, clock(now - began) if began else "",
                          f"{100 * r['progress']:.0f}%" if "progress" in r else "",
                          *[fmt(r.get(m)) for m in monitor.spec.metrics],
                          *[fmt(params.get(p)) for p in space])
        return Group(head, table)


def display_for(out: Console, quiet: bool) -> LineDisplay | None:
    """No display with ``--quiet``, the live one on a terminal, lines otherwise."""
    if quiet:
        return None
    return LiveDisplay(out) if out.is_terminal else LineDisplay(out)


__all__ = ["LineDisplay", "LiveDisplay", "clock", "display_for", "latest_record"]
