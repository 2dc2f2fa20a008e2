"""Ray's own log lines, sent to ``<sweep dir>/driver.log`` while a driver runs.

Ray configures its ``ray`` logger on import with a handler on stderr (``propagate = False``), so
its start-up warnings (token authentication, resource hints, Tune's notices) would print over the
live display and between the one-line-per-trial output. While a driver runs they go to the
sweep's ``driver.log`` instead, with a timestamp; the handlers are put back afterwards, so a
notebook or test that called ``run_sweep`` keeps Ray's usual output for its own code.
"""

from __future__ import annotations

import logging
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RayLogToFile:
    """``start()`` swaps the ``ray`` logger's handlers for one that appends to ``path``;
    ``stop()`` puts them back (both idempotent). The file is opened at the first line, so a
    driver that logs nothing leaves no file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.saved: list[logging.Handler] | None = None
        self.handler: logging.Handler | None = None

    def start(self) -> None:
        if self.saved is not None:
            return
        ray_logger = logging.getLogger("ray")
        self.saved = list(ray_logger.handlers)
        self.handler = logging.FileHandler(self.path, delay=True, encoding="utf-8")
        self.handler.setFormatter(logging.Formatter(FORMAT))
        for h in self.saved:
            ray_logger.removeHandler(h)
        ray_logger.addHandler(self.handler)

    def stop(self) -> None:
        if self.saved is None:
            return
        ray_logger = logging.getLogger("ray")
        if self.handler is not None:
            ray_logger.removeHandler(self.handler)
            self.handler.close()
        for h in self.saved:
            ray_logger.addHandler(h)
        self.saved, self.handler = None, None


__all__ = ["RayLogToFile"]
