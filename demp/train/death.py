"""Dead-unit (and always-on unit) detection on a fixed set of un-augmented training samples.

A unit is dead when Σ|activation| ≤ ε over every position of every sample. The verdict must not
depend on normalization statistics that are not those of the data: PyTorch initializes running
statistics to mean 0 / var 1, and an eval-mode check made with them (at step 0, or while the
running averages still carry most of that start) zeroes units that fire on real data. So the
check runs two eval-mode passes:

* with the **running statistics**, i.e. the network as it is evaluated now, and
* with **statistics measured on the death samples themselves** (each normalization layer's
  running mean/var temporarily replaced by the cumulative average over those samples), i.e. the
  network as the data sees it.

A unit is dead only when it is dead in both, so a removal changes neither the evaluated network
nor the network on real data. The running statistics, the momentum, ``num_batches_tracked`` and
every RNG are restored untouched afterwards: training stays bit-identical whether a check ran or
a run resumed across one.

The same passes record each unit's range (min, max) and mean, from which *always-on* units are
found: units whose output is the same value on every sample and position (γ ≈ 0, β > 0 after a
ReLU). They carry no information but are not dead; see ``constant_units``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from demp.models.units import PrunableNet


@dataclass
class UnitStats:
    """Per-unit statistics of one group over all death samples and positions (fp32)."""

    abs_sum: Tensor
    minimum: Tensor
    maximum: Tensor
    total: Tensor
    count: int

    @property
    def mean(self) -> Tensor:
        return self.total / max(1, self.count)

    def merge(self, other: "UnitStats") -> "UnitStats":
        return UnitStats(self.abs_sum + other.abs_sum, torch.minimum(self.minimum, other.minimum),
                         torch.maximum(self.maximum, other.maximum), self.total + other.total,
                         self.count + other.count)


def _batch_stats(out: Tensor) -> UnitStats:
    x = out.detach().float().transpose(0, 1).reshape(out.shape[1], -1)
    return UnitStats(x.abs().sum(1), x.amin(1), x.amax(1), x.sum(1), x.shape[1])


@torch.no_grad()
def unit_stats(model: PrunableNet, batches: Iterable[Tensor]) -> dict[str, UnitStats]:
    """Statistics of every unit group over the given samples, in eval mode (running stats)."""
    stats: dict[str, UnitStats] = {}
    handles = []
    for name, group in model.unit_groups.items():
        def hook(_m, _inp, out, name=name):
            s = _batch_stats(out)
            stats[name] = s if name not in stats else stats[name].merge(s)

        handles.append(model.get_submodule(group.site).register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        for x in batches:
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return stats


def _norm_layers(model: nn.Module) -> list[_BatchNorm]:
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


@contextmanager
def data_statistics(model: nn.Module, batches: Iterable[Tensor]) -> Iterator[None]:
    """Within the block, every BatchNorm's running statistics are those measured on ``batches``.

    Measured by a forward pass with only the normalization layers in training mode and momentum
    None (PyTorch's cumulative average over batches), so dropout and the like stay off and no
    random number is drawn. Everything is restored on exit.
    """
    norms = _norm_layers(model)
    saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone(),
              m.momentum, m.training) for m in norms]
    was_training = model.training
    try:
        if norms:
            model.eval()
            for m in norms:
                m.reset_running_stats()
                m.momentum = None
                m.train()
            with torch.no_grad():
                for x in batches:
                    if len(x) > 1:  # batch statistics need two samples
                        model(x)
        yield
    finally:
        for m, (mean, var, tracked, momentum, training) in zip(norms, saved):
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(tracked)
            m.momentum = momentum
            m.train(training)
        model.train(was_training)


@dataclass
class DeathCheck:
    """Both passes of one check: the running-statistics view and the data-statistics view."""

    running: dict[str, UnitStats]
    data: dict[str, UnitStats]

    def dead(self, epsilon: float = 0.0) -> dict[str, Tensor]:
        """Units dead under both views (positions in the current, possibly pruned, net)."""
        return {g: ((s.abs_sum <= epsilon) & (self.data[g].abs_sum <= epsilon)).cpu()
                for g, s in self.running.items()}

    def constant(self, tolerance: float) -> dict[str, tuple[Tensor, Tensor]]:
        """Always-on units: (mask, value) per group; see ``constant_units``."""
        return {g: constant_units(s, self.data[g], tolerance) for g, s in self.running.items()}


def constant_units(running: UnitStats, data: UnitStats, tolerance: float) -> tuple[Tensor, Tensor]:
    """Units that output one non-zero value everywhere, under both views; and that value.

    "The same value" is relative to the layer's activity: a unit's range (max − min) must be at
    most ``tolerance`` × the mean range of the group's units, in both views, and the two views'
    means must agree as closely. tolerance 0 accepts only exactly constant units. Dead units (all
    zero) are not constant units.
    """
    spans = []
    for s in (running, data):
        spans.append(s.maximum - s.minimum)
    scale = torch.stack([sp.mean() for sp in spans]).max()
    limit = tolerance * scale
    mask = (spans[0] <= limit) & (spans[1] <= limit)
    mask &= (running.mean - data.mean).abs() <= limit
    mask &= (running.abs_sum > 0) | (data.abs_sum > 0)
    return mask.cpu(), running.mean.cpu()


Samples = Iterable[Tensor] | Callable[[], Iterable[Tensor]]


def check_units(model: PrunableNet, samples: Samples) -> DeathCheck:
    """Run both passes of a death check over the same samples.

    ``samples`` is best a callable that yields the batches afresh (they are read three times):
    then large inputs (ImageNet crops) are never all held in memory at once.
    """
    if callable(samples):
        read = samples
    else:
        held = list(samples)
        read = lambda: held  # noqa: E731
    running = unit_stats(model, read())
    with data_statistics(model, read()):
        data = unit_stats(model, read())
    return DeathCheck(running, data)


def dead_units(model: PrunableNet, samples: Samples, epsilon: float = 0.0) -> dict[str, Tensor]:
    """Boolean mask of dead units per group (positions in the current, possibly pruned, net)."""
    return check_units(model, samples).dead(epsilon)
