"""What a baseline is to the trainer: three hooks, a checkpointable state, and one way to remove.

The trainer calls ``before_step`` at the top of every iteration (where DemP's death check sits)
and once more at the end of training, and ``before_optimizer_step`` between the backward pass
and the optimizer step (where DemP adds its penalty gradient). A baseline keeps no reference to
the model or optimizer between calls: a resumed trainer rebuilds both, and everything a
baseline must remember lives in ``state_dict`` (saved in the trainer's checkpoint), so a resumed
run continues exactly.

Every removal goes through ``remove_units``: the same surgery as dead-unit removal (optimizer
state sliced) and the trainer's inference FLOPs recomputed. Each pruning (however many
iterative surgeries it took) is announced by one ``on_prune`` event (``emit_prune_event``), so
W&B, ``prune_events.jsonl`` and the progress display see baseline removals like DemP's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from demp.train.metrics import inference_flops
from demp.train.surgery import SurgeryReport, remove_dead

if TYPE_CHECKING:
    from demp.train.trainer import Trainer


class Baseline:
    """Base of every baseline; hooks are no-ops by default."""

    name = "baseline"

    def before_step(self, trainer: Trainer) -> None:
        """At ``trainer.step`` before that step runs; at the end with step == total_steps."""

    def before_optimizer_step(self, trainer: Trainer) -> None:
        """After backward (and DemP's penalty gradient), before the optimizer step."""

    def state_dict(self) -> dict[str, Any]:
        """Plain data and tensors only: checkpoints load with ``weights_only=True``."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""


def remove_units(trainer: Trainer, remove: dict[str, Tensor]) -> SurgeryReport:
    """Physically remove the units marked in ``remove`` (positions in the current network) and
    recompute the trainer's inference FLOPs. Placeholder groups are never touched."""
    report = remove_dead(trainer.model, remove, trainer.optimizer)
    if trainer.use_cuda:
        torch.cuda.synchronize()
    trainer.flops = inference_flops(trainer.model, trainer.data.input_shape)
    return report


def emit_prune_event(trainer: Trainer, removed: dict[str, int], info: dict[str, Any]) -> dict:
    """One ``on_prune`` event for a baseline's removal (however many surgeries it took).

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
    trainer.callbacks.on_prune(trainer, event)
    return event
