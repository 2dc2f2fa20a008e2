"""SNAP and CroP-it at initialization: prune to the target density before the first step.

The whole training budget is then spent on the pruned network. Run once, at step 0 of a fresh
run; the ``done`` flag in the checkpoint keeps a resumed run from pruning again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from demp.methods.baseline import Baseline
from demp.methods.pruning import prune_to_density

if TYPE_CHECKING:
    from demp.config import BaselineConfig
    from demp.train.trainer import Trainer


class AtInitPruning(Baseline):
    def __init__(self, name: str, score: str, cfg: BaselineConfig) -> None:
        self.name, self.score, self.cfg = name, score, cfg
        self.done = False

    def before_step(self, trainer: Trainer) -> None:
        if self.done:
            return
        self.done = True
        prune_to_density(trainer, self.name, self.score, self.cfg)

    def state_dict(self) -> dict[str, Any]:
        return {"done": self.done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.done = bool(state["done"])
