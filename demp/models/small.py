"""Small networks for quick runs on digits: an MLP and a small CNN."""

from __future__ import annotations

import math

import torch
from torch import nn

from demp.models.units import Consumer, PrunableNet, make_activation


def _scaled(width: int, mult: float) -> int:
    return max(1, int(round(width * mult)))


class MLP(PrunableNet):
    """Flatten → [Linear → BN1d → act] × k → Linear. Each hidden output is a unit."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        hidden: list[int],
        width: float = 1.0,
        activation: str = "relu",
        norm: bool = True,
    ) -> None:
        super().__init__()
        in_features = math.prod(input_shape)
        self.layers = nn.ModuleList()
        prev_group: str | None = None
        for i, h in enumerate(hidden):
            h = _scaled(h, width)
            layer = nn.Sequential()
            layer.add_module("fc", nn.Linear(in_features, h, bias=not norm))
            producers = [f"layers.{i}.fc"]
            if norm:
                layer.add_module("bn", nn.BatchNorm1d(h))
                producers.append(f"layers.{i}.bn")
            layer.add_module("act", make_activation(activation))
            self.layers.append(layer)
            if prev_group is not None:
                self.add_consumer(prev_group, f"layers.{i}.fc")
            prev_group = self.declare(f"fc{i}", h, f"layers.{i}.act", producers, [])
            in_features = h
        self.head = nn.Linear(in_features, num_classes)
        if prev_group is not None:
            self.add_consumer(prev_group, "head")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


class SmallCNN(PrunableNet):
    """Two conv-BN-act-pool stages, a flatten, one hidden dense layer and the classifier.

    The hidden dense layer is the "first linear after a flatten": each conv unit of the last
    stage owns ``spatial`` of its input columns.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        width: float = 1.0,
        activation: str = "relu",
        norm: bool = True,
        channels: tuple[int, int] = (32, 64),
        hidden: int = 128,
    ) -> None:
        super().__init__()
        c_in, h, w = input_shape
        self.stages = nn.ModuleList()
        prev: str | None = None
        for i, c in enumerate(channels):
            c = _scaled(c, width)
            stage = nn.Sequential()
            stage.add_module("conv", nn.Conv2d(c_in, c, 3, padding=1, bias=not norm))
            producers = [f"stages.{i}.conv"]
            if norm:
                stage.add_module("bn", nn.BatchNorm2d(c))
                producers.append(f"stages.{i}.bn")
            stage.add_module("act", make_activation(activation))
            if h >= 2 and w >= 2:
                stage.add_module("pool", nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            self.stages.append(stage)
            if prev is not None:
                self.add_consumer(prev, f"stages.{i}.conv")
            prev = self.declare(f"conv{i}", c, f"stages.{i}.act", producers, [])
            c_in = c
        hidden = _scaled(hidden, width)
        self.fc = nn.Linear(c_in * h * w, hidden, bias=not norm)
        self.add_consumer(prev, Consumer("fc", spatial=h * w))
        self.fc_bn = nn.BatchNorm1d(hidden) if norm else nn.Identity()
        self.fc_act = make_activation(activation)
        self.declare("fc", hidden, "fc_act", ["fc", "fc_bn"] if norm else ["fc"], ["head"])
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            x = stage(x)
        return self.head(self.fc_act(self.fc_bn(self.fc(x.flatten(1)))))
