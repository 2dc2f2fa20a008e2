"""Asymmetric noise lands only where the data gradient is non-zero, and never when σ = 0."""

from __future__ import annotations

import torch
from torch import nn

from demp.train.noise import add_noise, live_masks
from demp.train.regularize import add_penalty_grad, penalty, regularized_parameters


def _net_with_dead_unit() -> tuple[nn.Sequential, torch.Tensor]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        net[0].weight[1] = 0.0
        net[0].bias[1] = -1.0  # unit 1 is dead: relu(-1) = 0, zero gradient
    x = torch.randn(16, 4)
    return net, x


def test_noise_only_on_parameters_with_nonzero_gradient():
    net, x = _net_with_dead_unit()
    net(x).sum().backward()
    params = list(net.parameters())
    masks = live_masks(params)
    before = [p.detach().clone() for p in params]
    add_noise(params, masks, 0.1, torch.Generator().manual_seed(1))
    w0, b0 = params[0], params[1]
    # the dead unit's incoming weights and bias got no gradient, hence no noise
    assert torch.equal(w0[1], before[0][1])
    assert torch.equal(b0[1], before[1][1])
    # the consumer's column reading the dead unit got zero gradient too
    assert torch.equal(params[2][:, 1], before[2][:, 1])
    # everything else moved, by noise of the right scale
    changed = torch.cat([(w0 - before[0])[[0, 2]].flatten(), (b0 - before[1])[[0, 2]]])
    assert bool((changed != 0).all())
    assert 0.02 < float(changed.detach().std()) < 0.3


def test_no_noise_when_sigma_is_zero():
    net, x = _net_with_dead_unit()
    net(x).sum().backward()
    params = list(net.parameters())
    before = [p.detach().clone() for p in params]
    add_noise(params, live_masks(params), 0.0, torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip(params, before))


def test_penalty_gradient_added_after_mask_does_not_revive_dead_scale():
    bn_net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        bn_net[1].bias[2] = -5.0
        bn_net[1].weight[2] = 0.0  # unit 2 dead after BN
    bn_net(torch.randn(8, 4)).sum().backward()
    gammas = regularized_parameters(bn_net, "norm_scales")
    assert gammas == [bn_net[1].weight]
    masks = live_masks(gammas)
    assert not bool(masks[0][2])
    add_penalty_grad(gammas, "l1", 0.5)
    # l1: λ·sign(γ) — sign(0) = 0 for the dead one, ±0.5 added to the others
    assert penalty(gammas, "l1") == float(bn_net[1].weight.detach().abs().sum())
    assert penalty(gammas, "l2") == float(0.5 * bn_net[1].weight.detach().square().sum())
