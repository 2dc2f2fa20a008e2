"""Asymmetric noise lands only where the data gradient is non-zero, and never when σ = 0; the
trainer's cached path (``LiveNoise``) is bit-identical to the reference and a function of the seed
and step alone."""

from __future__ import annotations

import copy

import torch
from torch import nn

from demp.methods import build_trainer
from demp.train.noise import LiveNoise, add_noise, live_masks
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


# ------------------------------------------------------------------ the trainer's path (LiveNoise)

def _reference_step(params, grads, sigma, seed):
    """live_masks + add_noise on clones of ``params`` carrying ``grads``: the method as stated."""
    clones = [nn.Parameter(p.detach().clone()) for p in params]
    for c, g in zip(clones, grads):
        c.grad = g.clone()
    add_noise(clones, live_masks(clones), sigma, torch.Generator().manual_seed(seed))
    return [c.detach() for c in clones]


def test_live_noise_is_bit_identical_to_the_reference_across_surgery_and_a_new_model():
    net, x = _net_with_dead_unit()
    noise = LiveNoise()

    def step(net, seed):
        net.zero_grad(set_to_none=True)
        net(x).sum().backward()
        params = [p for p in net.parameters() if p.grad is not None]
        expected = _reference_step(params, [p.grad for p in params], 0.05, seed)
        noise.read(params)
        noise.apply(0.05, torch.Generator().manual_seed(seed))
        assert all(torch.equal(p.detach(), e) for p, e in zip(params, expected))
        noise.apply(0.05, torch.Generator().manual_seed(seed))  # once per read: a no-op now
        assert all(torch.equal(p.detach(), e) for p, e in zip(params, expected))

    step(net, 1)
    step(net, 2)  # cached buffers reused
    with torch.no_grad():  # surgery's way: slice in place, same Parameter objects
        keep = torch.tensor([0, 2])
        for t, dim in ((net[0].weight, 0), (net[0].bias, 0), (net[2].weight, 1)):
            t.data = t.data.index_select(dim, keep).contiguous()
    step(net, 3)
    step(copy.deepcopy(net), 4)  # a restored checkpoint: new objects
    net[2].bias.requires_grad_(False)  # a parameter without a gradient is left out
    step(net, 5)


def test_a_demp_step_adds_sigma_xi_exactly_on_entries_with_a_data_gradient():
    """One trainer step, λ > 0: θ_after − θ_after_optimizer = σ·ξ where the data gradient (read
    before the penalty's) is non-zero and exactly 0 elsewhere, ξ from the (seed, step) stream."""
    cfg = {"model": {"name": "mlp", "hidden": [16, 16]}, "epochs": 1, "threads": 1, "seed": 3,
           "eval_interval": 10**9,
           "demp": {"regularizer": {"peak": 0.05}, "noise": {"peak": 1e-2},
                    "schedule": {"shape": "constant"},
                    "death": {"prune_interval": 10**9, "remove": False}}}
    t = build_trainer(cfg)
    t.advance()
    with torch.no_grad():  # unit 0 of the first layer dead: BN shift far below zero
        t.model.layers[0].bn.bias[0] = -100.0
    d, seen = t.strategy.demp, {}
    before, after = d.before_optimizer_step, d.after_optimizer_step

    def spy_before(trainer):
        seen["params"] = [p for p in trainer.model.parameters() if p.grad is not None]
        seen["data_grads"] = [p.grad.clone() for p in seen["params"]]
        before(trainer)

    def spy_after(trainer):
        seen["optimized"] = [p.detach().clone() for p in seen["params"]]
        after(trainer)

    d.before_optimizer_step, d.after_optimizer_step = spy_before, spy_after
    step = t.step
    t.advance()
    sigma = d.sigma(step, t.total_steps)
    assert sigma > 0 and d.lam(step, t.total_steps) > 0
    params, grads, optimized = seen["params"], seen["data_grads"], seen["optimized"]
    gen = torch.Generator().manual_seed((3 * 1_000_003 + step) % 2**62 + 17)
    xi = torch.empty(sum(p.numel() for p in params)).normal_(generator=gen)
    for p, g, o, c in zip(params, grads, optimized, xi.split([p.numel() for p in params])):
        live = g != 0
        expected = torch.where(live, torch.add(o, c.view_as(o), alpha=sigma), o)
        assert torch.equal(p.detach(), expected)
    gamma = t.model.layers[0].bn.weight
    i = next(i for i, p in enumerate(params) if p is gamma)
    assert grads[i][0] == 0 and bool((grads[i][1:] != 0).all())
    # the dead scale still felt the L1 pull (the optimizer moved it) but got no noise
    assert float(optimized[i][0]) != 1.0 and torch.equal(gamma[0].detach(), optimized[i][0])


def test_same_seed_gives_bit_identical_parameters_and_another_seed_does_not():
    def run(seed):
        cfg = {"model": {"name": "mlp", "hidden": [16]}, "epochs": 1, "threads": 1,
               "seed": seed, "eval_interval": 10**9,
               "demp": {"noise": {"peak": 1e-2}, "death": {"prune_interval": 10**9}}}
        t = build_trainer(cfg)
        for _ in range(8):
            t.advance()
        return [p.detach().clone() for p in t.model.parameters()]

    a, b, c = run(5), run(5), run(6)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))
