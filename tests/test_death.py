"""Death detection on hand-built networks whose dead units are known: eval mode, judged under
both the running statistics and the statistics of the death samples."""

from __future__ import annotations

import torch

from demp.config import ModelConfig
from demp.models import build_model
from demp.train.death import dead_units, unit_stats


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
        # fc unit 5: dead only with the *running* statistics (running mean huge, so in eval
        # mode (x − μ)/σ·γ + β < 0 for every sample) while it fires on the data under the data's
        # own statistics: stale statistics must not kill it
        bn_fc.running_mean[5] = 1e4
        bn_fc.running_var[5] = 1.0
        bn_fc.bias[5] = 0.0
        bn_fc.weight[5] = 1.0
    model.train()  # dead_units must switch to eval mode itself and restore train mode
    x = torch.randn(64, 1, 8, 8)
    dead = dead_units(model, [x[:40], x[40:]])
    assert torch.nonzero(dead["conv0"]).flatten().tolist() == [3, 7]
    assert not bool(dead["fc"].any())
    assert not bool(dead["conv1"].any())
    assert model.training
    # under batch statistics unit fc.5 fires: that is why it is kept
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
    act = unit_stats(model, [x])["fc0"].abs_sum
    assert float(act[2]) == torch.tensor(1e-7 * 10).float().item() or abs(float(act[2]) - 1e-6) < 1e-9
