"""The method registry: what ``method:`` in a trainer config (or a sweep's search space) names.

Plain data, no torch and nothing of ``demp`` imported, because the trainer config validates
``method`` against it and reads presets in its cross-field rules. What the names *do* lives in
``demp.methods``: ``resolve`` applies a method's preset, ``build_trainer`` attaches its strategy.

Two kinds of entry. DemP and its ablations are *presets*: each sets a few existing trainer fields
(``demp.noise.enabled=false`` …) and trains with the ordinary DemP loop, so an ablation is exactly
the DemP run with that one switch changed. The structured baselines switch DemP off
(``demp.enabled=false``: no regularizer, no noise, no dead-unit removal) and attach a baseline
strategy to the trainer, which prunes through the same physical surgery and is measured by the
same metrics.

A preset is applied when the trainer is built, never written back into the user's config: a
sweep whose base says ``method: snap`` and whose space also tries ``demp`` must get a DemP run
with DemP switched on, which would be impossible if ``snap`` had already overwritten
``demp.enabled``. Inside a preset the method wins over the same field set in the config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

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


__all__ = ["METHODS", "Family", "Method", "MethodName", "preset_value"]
