"""When a run writes a checkpoint: one rule for ``demp train`` and for sweep trials.

Its own module, free of torch, because the sweep's driver imports it too (through
``demp.sweep.reporting``) and the driver never trains: importing torch there cost every
``demp sweep run`` ≈ 1.5 s before Ray started (issue #17).
"""

from __future__ import annotations


def checkpoint_due(step: int, every: int | None = None, *, since_last_s: float = 0.0,
                   period_s: float | None = None) -> bool:
    """The one checkpoint-cadence rule, asked at each evaluation.

    ``every`` (``checkpoint_interval``, steps) wins when set: at its multiples and at every
    evaluation before the first one. Otherwise by time: once ``period_s`` seconds have passed
    since the last checkpoint (``since_last_s``); ``period_s`` None means at every evaluation
    (``demp train``'s default), 0 likewise. A sweep trial asks with a period (default
    ``demp.sweep.reporting.TRIAL_CHECKPOINT_PERIOD_S``), because each checkpoint it writes is a
    blocking report to Ray Tune and a snapshot of Ray's experiment state; a resumed trial
    continues exactly from any checkpoint (batches are a function of (seed, step)), so what a
    longer period risks is only recomputing up to ``period_s`` seconds after a crash. The final
    evaluation always writes one on top.
    """
    if every is not None:
        return step % every == 0 or step < every
    return period_s is None or since_last_s >= period_s


__all__ = ["checkpoint_due"]
