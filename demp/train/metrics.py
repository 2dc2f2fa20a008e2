"""Sparsities, parameter counts and inference FLOPs of the current (possibly pruned) network.

FLOPs count what ``torch.utils.flop_counter`` counts for inference: 2·MACs of every convolution
and matrix product (biases, norms and activations are not counted), per sample.
"""

from __future__ import annotations

import torch
from torch import nn

from demp.models.units import PrunableNet


def count_parameters(model: nn.Module) -> int:
    """All parameters, BN scales / shifts and biases included."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def inference_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass of one sample, from the shapes seen by forward hooks."""
    total = 0

    def conv_hook(m: nn.Conv2d, _inp, out) -> None:
        nonlocal total
        kernel = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
        total += 2 * out.numel() * kernel

    def linear_hook(m: nn.Linear, inp, _out) -> None:
        nonlocal total
        rows = inp[0].numel() // m.in_features if m.in_features else inp[0].shape[0]
        total += 2 * rows * m.in_features * m.out_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        model(torch.zeros((1, *input_shape), device=device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return int(total)


def neural_sparsity(model: PrunableNet) -> float:
    initial = sum(model.initial_units().values())
    return 1.0 - sum(model.live_units().values()) / initial if initial else 0.0


def per_layer_units(model: PrunableNet) -> tuple[dict[str, int], dict[str, float]]:
    """Live units and dead fraction per unit group."""
    live = model.live_units()
    init = model.initial_units()
    return live, {g: 1.0 - live[g] / init[g] for g in init}
