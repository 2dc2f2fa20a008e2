"""ResNets (CIFAR-style 3×3 stem without max-pool, and ImageNet-style) with per-block channel sets.

Every block's output (the activation after the addition) is its own unit group. An identity
shortcut is a ChannelMap, so when block k loses a channel that block k+1 keeps, the shortcut
simply stops carrying it; projection shortcuts are sliced on both sides.
"""

from __future__ import annotations

import torch
from torch import nn

from demp.models.units import ChannelMap, PrunableNet, make_activation


def _conv_bn(c_in: int, c_out: int, k: int, stride: int = 1) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    return nn.Conv2d(c_in, c_out, k, stride, padding=k // 2, bias=False), nn.BatchNorm2d(c_out)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int, activation: str) -> None:
        super().__init__()
        c_out = planes * self.expansion
        self.conv1, self.bn1 = _conv_bn(c_in, planes, 3, stride)
        self.act1 = make_activation(activation)
        self.conv2, self.bn2 = _conv_bn(planes, c_out, 3)
        self.shortcut = _shortcut(c_in, c_out, stride)
        self.act_out = make_activation(activation)

    def declare(self, net: PrunableNet, p: str, in_group: str) -> str:
        net.add_consumer(in_group, f"{p}.conv1")
        mid = net.declare(f"{p}.mid", self.conv1.out_channels, f"{p}.act1",
                          [f"{p}.conv1", f"{p}.bn1"], [f"{p}.conv2"])
        del mid
        return _declare_output(self, net, p, in_group, f"{p}.conv2", f"{p}.bn2")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        return self.act_out(_add_shortcut(self.shortcut, out, x))

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn2


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int, activation: str) -> None:
        super().__init__()
        c_out = planes * self.expansion
        self.conv1, self.bn1 = _conv_bn(c_in, planes, 1)
        self.act1 = make_activation(activation)
        self.conv2, self.bn2 = _conv_bn(planes, planes, 3, stride)
        self.act2 = make_activation(activation)
        self.conv3, self.bn3 = _conv_bn(planes, c_out, 1)
        self.shortcut = _shortcut(c_in, c_out, stride)
        self.act_out = make_activation(activation)

    def declare(self, net: PrunableNet, p: str, in_group: str) -> str:
        net.add_consumer(in_group, f"{p}.conv1")
        net.declare(f"{p}.mid1", self.conv1.out_channels, f"{p}.act1",
                    [f"{p}.conv1", f"{p}.bn1"], [f"{p}.conv2"])
        net.declare(f"{p}.mid2", self.conv2.out_channels, f"{p}.act2",
                    [f"{p}.conv2", f"{p}.bn2"], [f"{p}.conv3"])
        return _declare_output(self, net, p, in_group, f"{p}.conv3", f"{p}.bn3")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn3(self.conv3(self.act2(self.bn2(self.conv2(out)))))
        return self.act_out(_add_shortcut(self.shortcut, out, x))

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3


def _shortcut(c_in: int, c_out: int, stride: int) -> nn.Module:
    if stride == 1 and c_in == c_out:
        return ChannelMap(c_in)
    conv, bn = _conv_bn(c_in, c_out, 1, stride)
    return nn.Sequential(conv, bn)


def _add_shortcut(shortcut: nn.Module, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if isinstance(shortcut, ChannelMap):
        return shortcut.add(out, x)
    return out + shortcut(x)


def _declare_output(block: nn.Module, net: PrunableNet, p: str, in_group: str,
                    conv: str, bn: str) -> str:
    producers = [conv, bn]
    if isinstance(block.shortcut, ChannelMap):
        producers.append(f"{p}.shortcut")
        net.add_consumer(in_group, f"{p}.shortcut")
    else:
        producers += [f"{p}.shortcut.0", f"{p}.shortcut.1"]
        net.add_consumer(in_group, f"{p}.shortcut.0")
    c_out = block.last_bn.num_features
    return net.declare(f"{p}.out", c_out, f"{p}.act_out", producers, [])


ARCHS: dict[str, tuple[type[nn.Module], list[int]]] = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
}


class ResNet(PrunableNet):
    def __init__(
        self,
        depth_name: str,
        input_shape: tuple[int, ...],
        num_classes: int,
        width: float = 1.0,
        activation: str = "relu",
        imagenet_stem: bool = False,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        block_cls, counts = ARCHS[depth_name]
        c_in = input_shape[0]
        base = max(1, int(round(64 * width)))
        if imagenet_stem:
            self.conv1, self.bn1 = _conv_bn(c_in, base, 7, 2)
            self.conv1.padding = (3, 3)
            self.maxpool: nn.Module = nn.MaxPool2d(3, 2, 1)
        else:
            self.conv1, self.bn1 = _conv_bn(c_in, base, 3, 1)
            self.maxpool = nn.Identity()
        self.act1 = make_activation(activation)
        group = self.declare("stem", base, "act1", ["conv1", "bn1"], [])
        blocks: list[nn.Module] = []
        c = base
        names: list[str] = []
        for stage, n in enumerate(counts):
            planes = max(1, int(round(64 * width * 2**stage)))
            for i in range(n):
                stride = 2 if (i == 0 and stage > 0) else 1
                blk = block_cls(c, planes, stride, activation)
                blocks.append(blk)
                names.append(f"blocks.{len(blocks) - 1}")
                c = planes * block_cls.expansion
        self.blocks = nn.Sequential(*blocks)
        for name, blk in zip(names, self.blocks):
            group = blk.declare(self, name, group)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(c, num_classes)
        self.add_consumer(group, "head")
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_residual:
            for blk in self.blocks:
                nn.init.zeros_(blk.last_bn.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        x = self.blocks(x)
        return self.head(self.pool(x).flatten(1))
