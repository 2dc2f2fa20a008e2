"""Calls to a W&B run object made on a thread of its own, one at a time, in the order given.

Why: the sweep driver updates its W&B run after every trial (history rows, the tables, the
frontier image), which costs it about 190 ms per trial offline (issue #17, measured on the
2-core machine), and the driver's callbacks run between one trial's end and the next trial's
start: every millisecond there is a trial slot standing idle. On its own thread the same work
overlaps the trials instead. Nothing is coalesced or dropped (each update logs its own history
rows and counts), so the run's contents are what the synchronous calls logged.

``close`` queues its call last and waits for the thread, so the run is complete when the driver
moves on. A driver killed before ``close`` loses the queued calls, as it would lose the calls it
had not reached; the sweep's ledgers never go through here.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

log = logging.getLogger(__name__)


class BackgroundCalls:
    """Runs ``getattr(target, name)(*args, **kwargs)`` for each ``submit`` on one worker thread."""

    def __init__(self, target: Any, name: str = "demp-wandb",
                 idle: tuple[str, float] | None = None) -> None:
        """``idle=(method, seconds)``: call ``target.method()`` whenever the queue has stayed
        empty that long (``SweepRunLogger.flush``: media held back by its interval)."""
        self.target = target
        self._idle = idle
        self._queue: queue.SimpleQueue[tuple[str, tuple[Any, ...], dict[str, Any]] | None] = (
            queue.SimpleQueue())
        self._closed = False
        # Started by the first call, so an object that is never used leaves no thread behind. A
        # daemon: an interpreter that exits without ``close`` (a crash) does not hang on W&B.
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)

    def submit(self, name: str, *args: Any, **kwargs: Any) -> None:
        if self._closed:
            raise RuntimeError(f"{type(self).__name__}: submit({name!r}) after close")
        if self._thread.ident is None:  # never started
            self._thread.start()
        self._queue.put((name, args, kwargs))

    def close(self, name: str | None = None, *args: Any, **kwargs: Any) -> None:
        """Queue a last call (if named), then wait until every queued call has run."""
        if self._closed:
            return
        if name is not None:
            self.submit(name, *args, **kwargs)
        self._closed = True
        if self._thread.ident is not None:  # started: let it drain, then stop
            self._queue.put(None)
            self._thread.join()

    def _work(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._idle[1] if self._idle else None)
            except queue.Empty:
                item = (self._idle[0], (), {})  # type: ignore[index]
            if item is None:
                return
            name, args, kwargs = item
            try:
                getattr(self.target, name)(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - W&B never stops a sweep (GuardedRun warns too)
                log.warning("W&B %s failed: %s: %s", name, type(exc).__name__, exc)


__all__ = ["BackgroundCalls"]
