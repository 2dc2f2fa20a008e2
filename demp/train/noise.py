"""Asymmetric noise: θ ← θ + σ_t·ξ on parameters whose data gradient is non-zero.

Dead units receive zero gradient, so they receive no noise either: once dead, a unit stays dead
(the "demon"). σ is a standard deviation, not lr-scaled, and never enters the optimizer moments
because it is applied after the optimizer step.
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def live_masks(params: list[nn.Parameter]) -> list[torch.Tensor | None]:
    """Which entries received a non-zero gradient (read before the penalty gradient is added)."""
    return [None if p.grad is None else p.grad != 0 for p in params]


@torch.no_grad()
def add_noise(
    params: list[nn.Parameter],
    masks: list[torch.Tensor | None],
    sigma: float,
    generator: torch.Generator,
) -> None:
    if sigma == 0.0:
        return
    for p, m in zip(params, masks):
        if m is None:
            continue
        xi = torch.randn(p.shape, generator=generator, device=p.device, dtype=p.dtype)
        p.add_(xi.mul_(m), alpha=sigma)
