"""L1 / L2 regularization of normalization scales (γ, or γ and β, or all weights), scheduled λ_t.

The penalty's gradient is added to ``.grad`` analytically after the data-loss backward pass, so
that the noise mask (which parameters received a non-zero *data* gradient) is read first: a dead
unit's scale still feels the L1 pull toward zero, but it must not count as alive for the demon.
"""

from __future__ import annotations

import torch
from torch import nn

NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm)


def regularized_parameters(model: nn.Module, target: str) -> list[nn.Parameter]:
    """The scales γ of every normalization layer (``norm_scales``), γ and the shifts β
    (``norm_params``: β ≤ 0 is what lets a unit with γ ≈ 0 die instead of staying always-on),
    or every weight tensor (``all_weights``, biases excluded)."""
    if target in ("norm_scales", "norm_params"):
        attrs = ("weight",) if target == "norm_scales" else ("weight", "bias")
        return [getattr(m, a) for m in model.modules() if isinstance(m, NORM_TYPES)
                for a in attrs if getattr(m, a, None) is not None]
    if target == "all_weights":
        return [p for n, p in model.named_parameters() if n.endswith("weight")]
    raise ValueError(f"unknown regularization target {target!r}")


@torch.no_grad()
def penalty(params: list[nn.Parameter], kind: str) -> float:
    """R = Σ|θ| (l1) or ½Σθ² (l2), not normalized by count."""
    if not params:
        return 0.0
    if kind == "l1":
        return float(sum(p.abs().sum() for p in params))
    return float(sum(p.square().sum() for p in params)) * 0.5


@torch.no_grad()
def add_penalty_grad(params: list[nn.Parameter], kind: str, lam: float) -> None:
    """grad += λ·∂R/∂θ: λ·sign(θ) for l1, λ·θ for l2.

    Two foreach calls instead of two calls per parameter (on CPU foreach runs the same per-tensor
    kernels, so the result is bit-identical; what it saves is the Python and dispatch per tensor).
    A parameter without a gradient gets λ·∂R/∂θ as its gradient."""
    if lam == 0.0 or not params:
        return
    with_grad = [p for p in params if p.grad is not None]
    if len(with_grad) < len(params):
        for p in params:
            if p.grad is None:
                p.grad = (torch.sign(p) if kind == "l1" else p) * lam
    if with_grad:
        terms = torch._foreach_sign(with_grad) if kind == "l1" else with_grad
        torch._foreach_add_([p.grad for p in with_grad], terms, alpha=lam)
