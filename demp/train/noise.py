"""Asymmetric noise: θ ← θ + σ_t·ξ on parameters whose data gradient is non-zero.

Dead units receive zero gradient, so they receive no noise either: once dead, a unit stays dead
(the "demon"). σ is a standard deviation, not lr-scaled, and never enters the optimizer moments
because it is applied after the optimizer step. The noise for all parameters is drawn in one call
and applied with foreach kernels: per-parameter calls would dominate the cost on small models.

``live_masks`` and ``add_noise`` state the method in the plainest form and serve as the reference.
``LiveNoise`` is what the trainer runs: the same arithmetic on the same random stream (bit-identical
to the reference, see tests/test_noise.py), with the per-step bookkeeping kept across steps.
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
    """θ += σ·ξ·mask, ξ ~ N(0, 1) drawn as one flat ``normal_`` over the masked-in parameters in
    order (the reference form; ``LiveNoise`` computes exactly this)."""
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


class LiveNoise:
    """``live_masks`` then ``add_noise``, split over the two hooks of a step, at a fraction of the
    cost on small models.

    On small_cnn (53 K parameters in 11 tensors) the reference spent more time on bookkeeping than
    on the draw: a Python list and a bool mask allocated per tensor, ``split`` + ``view_as`` and a
    ``sum`` of sizes every step, and a multiply by bool masks (bool→float promotion runs an order
    of magnitude slower on CPU than a float multiply). Here two flat buffers (ξ and a float 0/1
    mask) and their views shaped like the parameters are built once and rebuilt only when the
    parameters change; each step is then a handful of calls whatever the number of tensors:

    * ``read``: the data gradients copied into the mask buffer (one foreach copy) and turned into
      1.0 where non-zero, 0.0 elsewhere (one flat ``ne_``; NaN and ±inf count as non-zero, −0 as
      zero, as ``p.grad != 0`` does);
    * ``apply``: one flat ``normal_`` into ξ, one flat multiply by the mask, one foreach add with
      ``alpha=σ``.

    The values are bit-identical to the reference: ξ is the same ``normal_`` over the same count
    in the same parameter order, ξ·1.0 = ξ and ξ·0.0 = ξ·False, and the add is the same op.

    The cache is checked every step against the parameters that have a gradient now: the same
    objects and shapes, and the same dtype and device. Surgery slices parameters in place (same
    objects, new shapes), a restored checkpoint brings new objects, ``model.to`` a new device or
    dtype; any of these rebuilds it. Parameters of mixed dtypes or devices (one flat buffer cannot hold them) go
    through the reference functions instead.
    """

    def __init__(self) -> None:
        self._key: list[tuple[nn.Parameter, torch.Size]] = []
        self._dtype: torch.dtype | None = None
        self._device: torch.device | None = None
        self._params: list[nn.Parameter] = []
        self._xi: torch.Tensor | None = None
        self._mask: torch.Tensor | None = None
        self._xi_views: list[torch.Tensor] = []
        self._mask_views: list[torch.Tensor] = []
        self._fallback: list[torch.Tensor | None] | None = None
        self._buffer = NoiseBuffer()  # for the fallback
        self._ready = False

    def _matches(self, params: list[nn.Parameter]) -> bool:
        """Same objects and shapes as cached; dtype and device checked on the first only (they
        change for the whole model at once). Even this costs tens of µs between training steps
        on small_cnn, which is why the checks stop there."""
        key = self._key
        if len(key) != len(params):
            return False
        for (q, shape), p in zip(key, params):
            if q is not p or p.shape != shape:
                return False
        like = params[0] if params else None
        return like is None or (like.dtype == self._dtype and like.device == self._device)

    def _rebuild(self, params: list[nn.Parameter]) -> None:
        self._key = [(p, p.shape) for p in params]
        self._dtype = params[0].dtype if params else None
        self._device = params[0].device if params else None
        self._params = list(params)
        self._xi = self._mask = None
        self._xi_views, self._mask_views = [], []
        if not params or any(p.dtype != params[0].dtype or p.device != params[0].device
                             for p in params):
            return  # nothing to do, or the fallback
        like, n = params[0], sum(p.numel() for p in params)
        self._xi = torch.empty(n, dtype=like.dtype, device=like.device)
        self._mask = torch.empty(n, dtype=like.dtype, device=like.device)
        sizes = [p.numel() for p in params]
        self._xi_views = [c.view(p.shape) for c, p in zip(self._xi.split(sizes), params)]
        self._mask_views = [c.view(p.shape) for c, p in zip(self._mask.split(sizes), params)]

    @torch.no_grad()
    def read(self, params: list[nn.Parameter]) -> None:
        """Record which entries of ``params`` (all with a ``.grad``) have a non-zero gradient:
        call after the data-loss backward, before anything else is added to ``.grad``."""
        if not self._matches(params):
            self._rebuild(params)
        self._ready = bool(params)
        if self._mask is None:
            self._fallback = live_masks(params)
            return
        torch._foreach_copy_(self._mask_views, [p.grad for p in params])
        self._mask.ne_(0)

    @torch.no_grad()
    def apply(self, sigma: float, generator: torch.Generator) -> None:
        """θ += σ·ξ on the entries recorded by the last ``read``; once per ``read``."""
        ready, self._ready = self._ready, False
        fallback, self._fallback = self._fallback, None
        if not ready or sigma == 0.0:
            return
        if self._mask is None:
            add_noise(self._params, fallback, sigma, generator, self._buffer)
            return
        xi = self._xi.normal_(generator=generator)
        xi.mul_(self._mask)
        torch._foreach_add_(self._params, self._xi_views, alpha=sigma)
