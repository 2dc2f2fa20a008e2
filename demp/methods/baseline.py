"""What every structured baseline shares: a strategy with a name, and one way to announce removal.

A baseline hooks in where DemP does (``demp.train.strategy``): ``before_step`` at the top of
every iteration and once at the end, ``before_optimizer_step`` between the backward pass and the
optimizer step. It keeps no reference to the model or optimizer between calls (a resumed trainer
rebuilds both), and everything it must remember lives in its ``state_dict``, saved under the
checkpoint's ``baseline`` entry, so a resumed run continues exactly.

Every removal goes through ``trainer.apply_surgery``: the same surgery as dead-unit removal
(optimizer state sliced) with the trainer's inference FLOPs recounted. Each pruning (however many
iterative surgeries it took) is announced by one prune event (``emit_prune_event``), so W&B,
``prune_events.jsonl`` and the progress display see baseline removals like DemP's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from demp.train.strategy import TrainingStrategy

if TYPE_CHECKING:
    from demp.train.trainer import Trainer


class Baseline(TrainingStrategy):
    """Base of every baseline; hooks are no-ops by default. ``state_dict`` / ``load_state_dict``
    hold the baseline's own state (the method strategy files it under ``baseline``)."""

    name = "baseline"

    def load_state_dict(self, state: Any) -> None:
        """Restore what ``state_dict`` returned."""


def emit_prune_event(trainer: Trainer, removed: dict[str, int], info: dict[str, Any]) -> dict:
    """One prune event for a baseline's removal (however many surgeries it took).

    ``dead`` is zero everywhere: a baseline removes live units, it finds none dead. ``info`` (the
    method, densities, scoring and surgery time …) is merged in.
    """
    event: dict[str, Any] = {
        "step": trainer.step,
        "dead": {g: 0 for g in removed},
        "removed": dict(removed),
        "messages": [],
        "live_units": trainer.model.live_units(),
        **info,
    }
    trainer.emit_prune(event)
    return event


__all__ = ["Baseline", "emit_prune_event"]
