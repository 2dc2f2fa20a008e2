"""The strategy interface through which a pruning method drives the trainer's loop.

The trainer never names a method. DemP's parts (scheduled penalty, asymmetric noise, death checks)
and every structured baseline arrive as one ``TrainingStrategy`` (``demp.methods.build_trainer``
picks it for ``cfg.method``), and the trainer calls it at fixed points of each step:

    before_step            (death checks, one-shot pruning)
    forward, loss, backward
    before_optimizer_step  (penalty gradients; read which entries got a data gradient)
    clip, optimizer step, LR step
    after_optimizer_step   (noise on the parameters)

``before_step`` is also called once after the last step (``trainer.step == total_steps``), where
DemP makes its final death check. Callbacks (``demp.train.callbacks``) observe; a strategy acts.
A strategy acts on the trainer only through its public API: ``model``, ``optimizer``, ``data``,
``step``, ``total_steps``, ``apply_surgery`` (physical removal, FLOPs recounted) and
``emit_prune`` (the prune event every callback sees).

Everything a strategy must remember across a restart goes into top-level entries of the
trainer's checkpoint (``state_dict``): plain data and tensors only, because checkpoints load with
``weights_only=True``. A resumed trainer rebuilds model and optimizer, so a strategy keeps no
reference to either between calls unless it re-derives it from ``trainer.model``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from demp.train.api import TrainerAPI


class TrainingStrategy:
    """Override the hooks you need; the base class trains without any pruning method."""

    def attach(self, trainer: TrainerAPI) -> None:
        """Once, when the trainer is built (before a checkpoint is restored into it)."""

    def before_step(self, trainer: TrainerAPI) -> None:
        """At ``trainer.step`` before that step runs; at the end with step == total_steps."""

    def before_optimizer_step(self, trainer: TrainerAPI) -> None:
        """After backward (``.grad`` holds the data gradients), before clipping and the step."""

    def after_optimizer_step(self, trainer: TrainerAPI) -> None:
        """After the optimizer and LR steps of ``trainer.step`` (not yet incremented)."""

    def record(self, trainer: TrainerAPI) -> dict[str, Any]:
        """Entries of the metrics record at an evaluation (plain numbers)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Top-level checkpoint entries; plain data and tensors only."""
        return {}

    def load_state_dict(self, checkpoint: Mapping[str, Any]) -> None:
        """Restore from a checkpoint's entries (the whole checkpoint mapping)."""


__all__ = ["TrainingStrategy"]
