"""Asymmetric noise: θ ← θ + σ_t·ξ on parameters whose data gradient is non-zero.

Dead units receive zero gradient, so they receive no noise either: once dead, a unit stays dead
(the "demon"). σ is a standard deviation, not lr-scaled, and never enters the optimizer moments
because it is applied after the optimizer step. The noise for all parameters is drawn in one call
and applied with foreach kernels: per-parameter calls would dominate the cost on small models.
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def live_masks(params: list[nn.Parameter]) -> list[torch.Tensor | None]:
    """Which entries received a non-zero gradient (read before the penalty gradient is added)."""
    return [None if p.grad is None else p.grad != 0 for p in params]


class NoiseBuffer:
    """One flat buffer reused across steps: a fresh allocation per step costs a third of the
    draw on CPU. Reallocated only when the parameter count changes (after surgery)."""

    def __init__(self) -> None:
        self._buf: torch.Tensor | None = None

    def normal(self, n: int, like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        buf = self._buf
        if buf is None or buf.numel() != n or buf.device != like.device or buf.dtype != like.dtype:
            buf = self._buf = torch.empty(n, device=like.device, dtype=like.dtype)
        return buf.normal_(generator=generator)


@torch.no_grad()
def add_noise(
    params: list[nn.Parameter],
    masks: list[torch.Tensor | None],
    sigma: float,
    generator: torch.Generator,
    buffer: NoiseBuffer | None = None,
) -> None:
    if sigma == 0.0:
        return
    pairs = [(p, m) for p, m in zip(params, masks) if m is not None]
    if not pairs:
        return
    ps = [p for p, _ in pairs]
    flat = (buffer or NoiseBuffer()).normal(sum(p.numel() for p in ps), ps[0], generator)
    xi = [c.view_as(p) for c, p in zip(flat.split([p.numel() for p in ps]), ps)]
    torch._foreach_mul_(xi, [m for _, m in pairs])
    torch._foreach_add_(ps, xi, alpha=sigma)
