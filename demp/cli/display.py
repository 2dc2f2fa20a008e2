"""The sweep driver's displays (``demp.sweep.monitor.SweepDisplay``): one line per finished trial
for logs and pipes, and a live table of running trials above those lines on a terminal.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from demp.results.records import TrialRecord, counts
from demp.results.values import fmt


def _line(rec: TrialRecord, monitor: Any) -> str:
    n = len(monitor.records)
    metrics = "  ".join(f"{m}={fmt(rec.metrics.get(m))}" for m in monitor.spec.metrics)
    tail = f"  ({rec.reason})" if rec.reason else ""
    if rec.feasible is False:
        tail += "  (infeasible: misses the sparsity target)"
    return (f"[{n:>3}/{monitor.spec.trials}] {rec.trial_id} {rec.status:<9} {metrics}  "
            f"HV={monitor.frontier.hypervolume:.4f}{tail}")


class LineDisplay:
    """One line per finished trial: for logs and pipes."""

    def __init__(self, out: Console) -> None:
        self.out = out

    def start(self, monitor: Any) -> None:
        self.out.print(f"sweep {monitor.spec.name}: {monitor.spec.trials} trials, "
                       f"{monitor.spec.max_concurrent} at a time → {monitor.paths.root}",
                       highlight=False)

    def finished(self, rec: TrialRecord, monitor: Any) -> None:
        self.out.print(_line(rec, monitor), highlight=False)

    def note(self, text: str) -> None:
        self.out.print(text, highlight=False)

    def update(self, trials: list[Any], monitor: Any) -> None:
        pass

    def stop(self) -> None:
        pass


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

    @staticmethod
    def _render(trials: list[Any], monitor: Any) -> Group:
        c = counts(monitor.records)
        active = [t for t in trials if t.status in ("RUNNING", "PENDING")]
        head = (f"{monitor.spec.name}: {sum(c.values())}/{monitor.spec.trials} finished · "
                f"{sum(t.status == 'RUNNING' for t in active)} running · {c['complete']} complete "
                f"· {c['truncated']} truncated · {c['failed']} failed · frontier "
                f"{len(monitor.frontier.members)} · hypervolume "
                f"{monitor.frontier.hypervolume:.4f}")
        table = Table(show_edge=False, pad_edge=False)
        for col in ("trial", "status", "progress", *monitor.spec.metrics, "λ", "σ"):
            table.add_column(col, justify="right" if col not in ("trial", "status") else "left")
        for t in active[:12]:
            r = t.last_result or {}
            table.add_row(t.trial_id, t.status.lower(), f"{100 * r.get('progress', 0):.0f}%",
                          *[fmt(r.get(m)) for m in monitor.spec.metrics],
                          fmt(r.get("lam")), fmt(r.get("sigma")))
        return Group(head, table)


def display_for(out: Console, quiet: bool) -> LineDisplay | None:
    """No display with ``--quiet``, the live one on a terminal, lines otherwise."""
    if quiet:
        return None
    return LiveDisplay(out) if out.is_terminal else LineDisplay(out)


__all__ = ["LineDisplay", "LiveDisplay", "display_for"]
