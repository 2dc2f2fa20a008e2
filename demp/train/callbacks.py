"""The callback interface through which the sweep service and W&B attach to the trainer.

The trainer never imports Ray or W&B; everything they need arrives through these hooks. Each hook
is optional (no-op by default), in the style of Lightning's one-behaviour-per-callback modules.
"""

from __future__ import annotations

from typing import Any

from demp.train.api import TrainerAPI


class Callback:
    """Override the hooks you need.

    ``metrics`` dicts hold plain floats / ints / dicts (JSON-serializable). A callback that raises
    fails the run, so callbacks for optional services (W&B) must catch their own errors.
    """

    def on_train_start(self, trainer: TrainerAPI) -> None:
        """Before the first step (after a resume: before the first resumed step)."""

    def on_step(self, trainer: TrainerAPI, step: int, loss: float) -> None:
        """After each optimizer step (``step`` counts completed steps). Keep it cheap."""

    def on_eval(self, trainer: TrainerAPI, metrics: dict[str, Any]) -> None:
        """After each evaluation, with the full metrics record (see ``Trainer.evaluate``)."""

    def on_prune(self, trainer: TrainerAPI, event: dict[str, Any]) -> None:
        """After each death check: step, dead / removed units per group, surgery time."""

    def on_checkpoint(self, trainer: TrainerAPI, path: str) -> None:
        """After the trainer wrote a checkpoint to ``path`` (a directory)."""

    def on_end(self, trainer: TrainerAPI, summary: dict[str, Any]) -> None:
        """After training, with the final metrics record."""


class CallbackList(Callback):
    """Fans each hook out to several callbacks in order."""

    def __init__(self, callbacks: list[Callback] | None = None) -> None:
        self.callbacks = list(callbacks or [])

    def on_train_start(self, trainer: TrainerAPI) -> None:
        for cb in self.callbacks:
            cb.on_train_start(trainer)

    def on_step(self, trainer: TrainerAPI, step: int, loss: float) -> None:
        for cb in self.callbacks:
            cb.on_step(trainer, step, loss)

    def on_eval(self, trainer: TrainerAPI, metrics: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_eval(trainer, metrics)

    def on_prune(self, trainer: TrainerAPI, event: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_prune(trainer, event)

    def on_checkpoint(self, trainer: TrainerAPI, path: str) -> None:
        for cb in self.callbacks:
            cb.on_checkpoint(trainer, path)

    def on_end(self, trainer: TrainerAPI, summary: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_end(trainer, summary)
