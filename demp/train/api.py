"""What a strategy or a callback may use of the trainer: its public face, as a protocol.

``demp.train.trainer.Trainer`` is the implementation; the hooks in ``strategy`` and ``callbacks``
are typed against this protocol so that neither module needs the trainer (which calls them).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

    from demp.config import TrainConfig
    from demp.data import Data
    from demp.models import PrunableNet
    from demp.train.surgery import SurgeryReport


class TrainerAPI(Protocol):
    """The trainer as its strategy and callbacks see it."""

    cfg: TrainConfig
    device: torch.device
    data: Data
    model: PrunableNet
    optimizer: torch.optim.Optimizer
    step: int                 # completed optimizer steps
    total_steps: int
    steps_per_epoch: int
    initial_params: int       # of the unpruned network
    initial_flops: int
    flops: int                # inference FLOPs per sample of the current network

    def apply_surgery(self, remove: dict[str, torch.Tensor]) -> SurgeryReport:
        """Remove the marked units (optimizer state sliced alike); FLOPs are recounted."""

    def emit_prune(self, event: dict[str, Any]) -> None:
        """Announce a death check or pruning to every callback."""

    def save_checkpoint(self, directory: str | Path) -> str:
        """Everything needed to resume identically, in ``directory``."""

    def request_stop(self) -> None:
        """Ask ``fit`` to return after the current step."""


__all__ = ["TrainerAPI"]
