"""The exit statuses of ``demp``, so that ``demp sweep run … && demp sweep report …`` only goes
on when it should. The numbers follow shell conventions: 2 for bad input (as argparse and most
Unix tools use it), 128 + SIGINT for an interrupted run.

- ``OK`` (0): the command did what was asked; for ``sweep run`` / ``resume``, every planned
  trial finished and none failed (early-stopped trials are an outcome, not a failure).
- ``FAILED`` (1): an error that is not the user's input: a crash (with its traceback), a
  diverged ``demp train``, ``sweep status`` on damaged ledgers.
- ``BAD_INPUT`` (2): a config, spec, file, sweep directory, trial name or port the user has to
  fix; one ``error: <category>: …`` line each, and nothing ran.
- ``TRIALS_FAILED`` (3): the sweep ran to its planned count, but some trials failed (all of them,
  possibly); their reasons are in trials.jsonl and ``demp sweep status``.
- ``INCOMPLETE`` (4): the driver returned before the planned trials finished, without being
  interrupted (Ray lost trials); ``demp sweep resume`` continues.
- ``INTERRUPTED`` (130): Ctrl-C (SIGINT) or SIGTERM; finished trials are kept and
  ``demp sweep resume DIR`` continues the rest.
"""

from __future__ import annotations

OK = 0
FAILED = 1
BAD_INPUT = 2
TRIALS_FAILED = 3
INCOMPLETE = 4
INTERRUPTED = 130

__all__ = ["BAD_INPUT", "FAILED", "INCOMPLETE", "INTERRUPTED", "OK", "TRIALS_FAILED"]
