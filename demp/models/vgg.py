"""VGG-11 / VGG-16 with batch normalization."""

from __future__ import annotations

import torch
from torch import nn

from demp.models.units import PrunableNet, make_activation

CFGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


class VGG(PrunableNet):
    """Conv-BN-act stack, global average pool, one hidden dense layer, classifier.

    Max-pools that would shrink a 1×1 map are skipped, so small inputs (digits, 8×8) work.
    """

    def __init__(
        self,
        name: str,
        input_shape: tuple[int, ...],
        num_classes: int,
        width: float = 1.0,
        activation: str = "relu",
        hidden: int = 512,
    ) -> None:
        super().__init__()
        c_in, h, w = input_shape
        self.features = nn.Sequential()
        prev: str | None = None
        n = 0
        for v in CFGS[name]:
            if v == "M":
                if h >= 2 and w >= 2:
                    self.features.add_module(f"pool{n}", nn.MaxPool2d(2))
                    h, w = h // 2, w // 2
                continue
            c = max(1, int(round(int(v) * width)))
            i = len(self.features)
            self.features.add_module(str(i), nn.Conv2d(c_in, c, 3, padding=1, bias=False))
            self.features.add_module(str(i + 1), nn.BatchNorm2d(c))
            self.features.add_module(str(i + 2), make_activation(activation))
            if prev is not None:
                self.add_consumer(prev, f"features.{i}")
            prev = self.declare(
                f"conv{n}", c, f"features.{i + 2}", [f"features.{i}", f"features.{i + 1}"], []
            )
            n += 1
            c_in = c
        self.pool = nn.AdaptiveAvgPool2d(1)
        hidden = max(1, int(round(hidden * width)))
        self.fc = nn.Linear(c_in, hidden, bias=False)
        self.add_consumer(prev, "fc")
        self.fc_bn = nn.BatchNorm1d(hidden)
        self.fc_act = make_activation(activation)
        self.declare("fc", hidden, "fc_act", ["fc", "fc_bn"], ["head"])
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x)).flatten(1)
        return self.head(self.fc_act(self.fc_bn(self.fc(x))))
