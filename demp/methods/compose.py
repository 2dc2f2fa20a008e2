"""The one place a trainer is put together for a config: ``build_trainer(cfg, callbacks=...)``.

``demp train``, the sweep trial and the benches all call it. It applies the method's preset
(``resolve``: an ablation's switch, DemP off for a baseline), so the config the trainer saves in
its checkpoints and logs to W&B is the one that runs, and it attaches the method's strategy:
DemP's parts always (each honours its own switch, so a baseline run reports λ = σ = 0 like any
run with DemP off) and, for a baseline method, the baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from demp import dotted
from demp.config import TrainConfig, validate
from demp.methods.at_init import AtInitPruning
from demp.methods.baseline import Baseline
from demp.methods.demp import DempStrategy
from demp.methods.early import EarlyPruning
from demp.methods.slimming import NetworkSlimming
from demp.registry import METHODS
from demp.train.callbacks import Callback
from demp.train.strategy import TrainingStrategy
from demp.train.trainer import Trainer

if TYPE_CHECKING:
    from demp.data import Data


def resolve(cfg: TrainConfig) -> TrainConfig:
    """The config a run of ``cfg.method`` actually uses: the method's preset applied on top.

    Idempotent, and ``cfg`` itself when the method sets nothing (plain DemP).
    """
    preset = METHODS[cfg.method].preset
    data = cfg.model_dump()
    if all(dotted.get(data, p) == v for p, v in preset.items()):
        return cfg
    for path, value in preset.items():
        dotted.set_value(data, path, value)
    return validate(TrainConfig, data)


def build_baseline(cfg: TrainConfig) -> Baseline | None:
    """The pruning baseline for ``cfg.method`` (None for DemP methods)."""
    m = METHODS[cfg.method]
    if m.family == "at_init":
        return AtInitPruning(m.name, m.score, cfg.baseline)
    if m.family == "early":
        return EarlyPruning(m.name, m.score, cfg.baseline)
    if m.family == "slimming":
        return NetworkSlimming(cfg.baseline.slimming)
    return None


class MethodStrategy(TrainingStrategy):
    """DemP's parts and the method's baseline (if any), as the one strategy a trainer runs.

    The baseline acts first at the top of a step (DemP is off for baselines, so the order only
    fixes what a combination would do) and after DemP's penalty before the optimizer step. The
    checkpoint holds ``last_checked`` and ``controller`` (DemP) and ``baseline`` entries for
    every method, ``None`` where a part has no state.
    """

    def __init__(self, demp: DempStrategy, baseline: Baseline | None = None) -> None:
        self.demp = demp
        self.baseline = baseline

    def _parts(self) -> list[TrainingStrategy]:
        return [self.demp] if self.baseline is None else [self.demp, self.baseline]

    def attach(self, trainer: Trainer) -> None:
        for part in self._parts():
            part.attach(trainer)

    def before_step(self, trainer: Trainer) -> None:
        if self.baseline is not None:
            self.baseline.before_step(trainer)
        self.demp.before_step(trainer)

    def before_optimizer_step(self, trainer: Trainer) -> None:
        for part in self._parts():
            part.before_optimizer_step(trainer)

    def after_optimizer_step(self, trainer: Trainer) -> None:
        for part in self._parts():
            part.after_optimizer_step(trainer)

    def record(self, trainer: Trainer) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for part in self._parts():
            out.update(part.record(trainer))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {**self.demp.state_dict(),
                "baseline": self.baseline.state_dict() if self.baseline is not None else None}

    def load_state_dict(self, checkpoint: Mapping[str, Any]) -> None:
        self.demp.load_state_dict(checkpoint)
        if self.baseline is not None and checkpoint.get("baseline") is not None:
            self.baseline.load_state_dict(checkpoint["baseline"])


def build_strategy(cfg: TrainConfig) -> MethodStrategy:
    """The strategy of ``cfg.method`` for a resolved ``cfg``."""
    return MethodStrategy(DempStrategy(cfg.demp, cfg.seed), build_baseline(cfg))


def build_trainer(cfg: TrainConfig | dict[str, Any], callbacks: list[Callback] | None = None,
                  resume_from: str | Path | None = None, data: Data | None = None, *,
                  init_from: str | Path | None = None, keep_optimizer: bool = False) -> Trainer:
    """A trainer for ``cfg`` with its method attached (``resume_from``: a checkpoint directory
    to continue from; ``data``: reuse already loaded data; ``init_from``: a checkpoint whose
    pruned network this run starts from at step 0, with a fresh optimizer unless
    ``keep_optimizer`` — see ``demp.methods.finetune`` for fine-tuning with pruning frozen)."""
    resolved = resolve(cfg if isinstance(cfg, TrainConfig) else validate(TrainConfig, cfg))
    return Trainer(resolved, callbacks=callbacks, resume_from=resume_from, data=data,
                   strategy=build_strategy(resolved), init_from=init_from,
                   keep_optimizer=keep_optimizer)


__all__ = ["MethodStrategy", "build_baseline", "build_strategy", "build_trainer", "resolve"]
