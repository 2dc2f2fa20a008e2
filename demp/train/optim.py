"""The trainer's optimizers: PyTorch's AdamW / Adam / SGD, minus the ``torch._dynamo`` import.

Every public method of ``torch.optim.Optimizer`` that a training run calls imports
``torch._dynamo`` the first time it runs: ``add_param_group`` (so the constructor),
``zero_grad``, ``state_dict`` and ``load_state_dict`` through ``torch._disable_dynamo``, and
``step`` through ``_use_grad_for_differentiable``, whatever ``foreach`` / ``fused`` say (torch
2.14.1). That import costs 2.1–2.3 s of CPU on the 2-core machine, once per Ray worker, before
its first trial trains (issue #17), and nothing in a trial compiles. Both wrappers matter only
while Dynamo traces the call: ``_disable_dynamo`` keeps Dynamo out of the method and
``_use_grad`` adds two ``graph_break()`` around the step; in eager mode they run the same body.

So each class here calls the undecorated body (the ``__wrapped__`` that ``functools.wraps``
leaves) while ``torch._dynamo`` has not been imported, under the same grad mode ``_use_grad``
sets, and PyTorch's decorated method as soon as anything has imported Dynamo (a user's
``torch.compile``): nothing can be tracing before that import. The classes subclass PyTorch's, so
their updates, state dicts, param groups, LR schedulers and ``isinstance`` checks are PyTorch's
own: tests/test_optim.py checks the parameters bit for bit against ``torch.optim`` and that a
whole trial leaves ``torch._dynamo`` unimported. Where a future torch drops ``__wrapped__``, the
decorated method is used unchanged.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from demp.config import TrainConfig

DYNAMO = "torch._dynamo"


def _undecorated(decorated: Callable[..., Any], *, grad_mode: bool = False) -> Callable[..., Any]:
    """``decorated`` (an ``Optimizer`` method wrapped by ``torch._disable_dynamo``, or with
    ``grad_mode`` a ``step`` wrapped by ``_use_grad_for_differentiable``) calling its undecorated
    body while Dynamo is not imported; with ``grad_mode``, under the grad mode ``_use_grad`` sets,
    without its graph breaks."""
    raw = getattr(decorated, "__wrapped__", None)
    if raw is None:
        return decorated

    @functools.wraps(raw)
    def method(self: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> Any:
        if DYNAMO in sys.modules:
            return decorated(self, *args, **kwargs)
        if not grad_mode:
            return raw(self, *args, **kwargs)
        with torch.set_grad_enabled(self.defaults["differentiable"]):
            return raw(self, *args, **kwargs)

    return method


def _eager(base: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    core = torch.optim.Optimizer
    namespace = {
        "__module__": __name__,
        "__qualname__": base.__name__,
        "__doc__": f"``torch.optim.{base.__name__}`` without the Dynamo import (module doc).",
        "add_param_group": _undecorated(core.add_param_group),
        "zero_grad": _undecorated(core.zero_grad),
        "state_dict": _undecorated(core.state_dict),
        "load_state_dict": _undecorated(core.load_state_dict),
        "step": _undecorated(base.step, grad_mode=True),
    }
    return type(base.__name__, (base,), namespace)


AdamW = _eager(torch.optim.AdamW)
Adam = _eager(torch.optim.Adam)
SGD = _eager(torch.optim.SGD)


def build_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    o = cfg.optimizer
    params = list(model.parameters())
    if o.name == "adamw":
        return AdamW(params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
    if o.name == "adam":
        return Adam(params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
    return SGD(params, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov,
               weight_decay=o.weight_decay)


__all__ = ["SGD", "Adam", "AdamW", "build_optimizer"]
