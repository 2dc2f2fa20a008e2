"""The method registry: what ``method:`` in a trainer config (or a sweep's search space) means.

Two kinds of entry. DemP and its ablations are *presets*: each sets a few existing trainer fields
(``demp.noise.enabled=false`` …) and trains with the ordinary DemP loop, so an ablation is exactly
the DemP run with that one switch changed. The structured baselines switch DemP off
(``demp.enabled=false``: no regularizer, no noise, no dead-unit removal) and attach a
``Baseline`` object to the trainer, which prunes through the same physical surgery and is
measured by the same metrics.

A preset is applied when the trainer starts (``resolve``), never written back into the user's
config: a sweep whose base says ``method: snap`` and whose space also tries ``demp`` must get a
DemP run with DemP switched on, which would be impossible if ``snap`` had already overwritten
``demp.enabled``. The trainer's own ``cfg`` (saved in checkpoints, logged to W&B) is the resolved
one, so what is recorded is what ran. Inside a preset the method wins over the same field set
in the config.

This module imports neither torch nor ``demp.config`` at import time: ``demp.config`` reads the
registry to validate ``method``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from demp.baselines.base import Baseline
    from demp.config import TrainConfig

MethodName = Literal[
    "demp", "demp_no_noise", "demp_constant", "demp_all_weights",
    "snap", "crop_it", "early_snap", "early_crop_s", "slimming",
]
Family = Literal["demp", "at_init", "early", "slimming"]


@dataclass(frozen=True)
class Method:
    """One entry: its preset (dotted trainer path → value), when it prunes, and with what score."""

    name: str
    summary: str
    family: Family
    preset: Mapping[str, Any] = field(default_factory=dict)
    score: Literal["snap", "crop_it"] | None = None

    @property
    def is_baseline(self) -> bool:
        return self.family != "demp"


_OFF = {"demp.enabled": False}

METHODS: dict[str, Method] = {m.name: m for m in (
    Method("demp", "Demon Pruning (the config's settings as they are)", "demp"),
    Method("demp_no_noise", "DemP ablation: no asymmetric noise", "demp",
           {"demp.noise.enabled": False}),
    Method("demp_constant", "DemP ablation: constant λ / σ schedule", "demp",
           {"demp.schedule.shape": "constant"}),
    Method("demp_all_weights", "DemP ablation: L1/L2 on all weights, not only norm scales",
           "demp", {"demp.regularizer.target": "all_weights"}),
    Method("snap", "SNAP at initialization: |Σ ∂L/∂c| per unit gate", "at_init", _OFF, "snap"),
    Method("crop_it", "CroP-it at initialization: |Σ H_c·g_c| per unit gate", "at_init", _OFF,
           "crop_it"),
    Method("early_snap", "EarlySNAP: SNAP once ‖θ_t − θ_0‖ settles", "early", _OFF, "snap"),
    Method("early_crop_s", "EarlyCroP-S: CroP-it once ‖θ_t − θ_0‖ settles", "early", _OFF,
           "crop_it"),
    Method("slimming", "network slimming: constant L1 on norm scales, |γ| threshold, fine-tune",
           "slimming", _OFF),
)}
assert set(METHODS) == set(get_args(MethodName)), "MethodName and METHODS must list the same names"


def preset_value(method: str, path: str, default: Any) -> Any:
    """The value ``method`` gives the trainer field ``path`` (``default`` if it sets none)."""
    m = METHODS.get(method)
    return m.preset.get(path, default) if m is not None else default


def resolve(cfg: TrainConfig) -> TrainConfig:
    """The config a run of ``cfg.method`` actually uses: the method's preset applied on top.

    Idempotent, and ``cfg`` itself when the method sets nothing (plain DemP).
    """
    from demp.config import TrainConfig, validate

    preset = METHODS[cfg.method].preset
    data = cfg.model_dump()
    if all(_get(data, p) == v for p, v in preset.items()):
        return cfg
    for path, value in preset.items():
        node = data
        *parents, last = path.split(".")
        for key in parents:
            node = node[key]
        node[last] = value
    return validate(TrainConfig, data)


def _get(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for key in path.split("."):
        node = node[key]
    return node


def build_baseline(cfg: TrainConfig) -> Baseline | None:
    """The pruning baseline the trainer attaches for ``cfg.method`` (None for DemP methods)."""
    m = METHODS[cfg.method]
    if m.family == "at_init":
        from demp.baselines.at_init import AtInitPruning

        return AtInitPruning(m.name, m.score, cfg.baseline)
    if m.family == "early":
        from demp.baselines.early import EarlyPruning

        return EarlyPruning(m.name, m.score, cfg.baseline)
    if m.family == "slimming":
        from demp.baselines.slimming import NetworkSlimming

        return NetworkSlimming(cfg.baseline.slimming)
    return None
