"""Death detection on a hand-built network whose dead units are known, BN in eval mode."""

from __future__ import annotations

import torch

from demp.config import ModelConfig
from demp.models import build_model
from demp.train.death import dead_units, unit_activity


def test_known_dead_units_with_bn_in_eval_mode():
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="small_cnn"), (1, 8, 8), 10)
    bn0 = model.stages[0].bn
    bn_fc = model.fc_bn
    with torch.no_grad():
        for bn in (bn0, model.stages[1].bn, bn_fc):
            bn.weight.fill_(0.0)
            bn.bias.fill_(1.0)  # everything else outputs 1: certainly alive
        # conv0 units 3 and 7: γ = 0, β < 0 → BN output negative everywhere → relu 0
        bn0.weight[[3, 7]] = 0.0
        bn0.bias[[3, 7]] = -1.0
        # fc unit 5: dead only with *running* statistics: running mean huge, so in eval mode
        # (x − μ)/σ·γ + β < 0 for every sample, while batch statistics would keep it alive
        bn_fc.running_mean[5] = 1e4
        bn_fc.running_var[5] = 1.0
        bn_fc.bias[5] = 0.0
        bn_fc.weight[5] = 1.0
    model.train()  # dead_units must switch to eval mode itself and restore train mode
    x = torch.randn(64, 1, 8, 8)
    dead = dead_units(model, [x[:40], x[40:]])
    assert torch.nonzero(dead["conv0"]).flatten().tolist() == [3, 7]
    assert torch.nonzero(dead["fc"]).flatten().tolist() == [5]
    assert not bool(dead["conv1"].any())
    assert model.training
    # with batch statistics unit fc.5 would be alive: the eval-mode choice matters
    with torch.no_grad():
        h = model.stages[1](model.stages[0](x)).flatten(1)
        pre = model.fc(h)
        batch_norm = (pre[:, 5] - pre[:, 5].mean()) / pre[:, 5].std()
    assert bool((batch_norm > 0).any())


def test_epsilon_threshold_counts_near_zero_units():
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="mlp", hidden=[6]), (4,), 3)
    with torch.no_grad():
        model.layers[0].bn.weight[2] = 0.0
        model.layers[0].bn.bias[2] = 1e-7  # tiny but positive: alive at ε=0, dead at ε=1e-3
    x = torch.randn(10, 4)
    assert not bool(dead_units(model, [x])["fc0"][2])
    assert bool(dead_units(model, [x], epsilon=1e-3)["fc0"][2])
    act = unit_activity(model, [x])["fc0"]
    assert float(act[2]) == torch.tensor(1e-7 * 10).float().item() or abs(float(act[2]) - 1e-6) < 1e-9
