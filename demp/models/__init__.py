"""Model registry: every model is a PrunableNet that declares its unit groups."""

from __future__ import annotations

from demp.config import ModelConfig
from demp.models.resnet import ResNet
from demp.models.small import MLP, SmallCNN
from demp.models.units import ChannelMap, Consumer, PrunableNet, UnitGroup
from demp.models.vgg import VGG

__all__ = ["build_model", "PrunableNet", "UnitGroup", "Consumer", "ChannelMap"]


def build_model(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> PrunableNet:
    """The full-width (unpruned) network for ``cfg``."""
    shape = tuple(input_shape)
    if cfg.name == "mlp":
        return MLP(shape, num_classes, cfg.hidden, cfg.width, cfg.activation, cfg.norm)
    if len(shape) != 3:
        raise ValueError(f"model.name: {cfg.name} needs image inputs (C, H, W), got shape {shape}")
    if cfg.name == "small_cnn":
        return SmallCNN(shape, num_classes, cfg.width, cfg.activation, cfg.norm)
    if cfg.name in ("vgg11", "vgg16"):
        return VGG(cfg.name, shape, num_classes, cfg.width, cfg.activation)
    if cfg.name.startswith("resnet"):
        imagenet = cfg.name.endswith("_imagenet")
        depth = cfg.name.removesuffix("_imagenet")
        return ResNet(depth, shape, num_classes, cfg.width, cfg.activation,
                      imagenet_stem=imagenet, zero_init_residual=cfg.zero_init_residual)
    raise ValueError(f"model.name: unknown model {cfg.name!r}")
