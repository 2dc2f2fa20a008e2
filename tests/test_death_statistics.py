"""Death is judged under the statistics of real data: stale or initial BN statistics never kill a
unit that fires on the data, the check leaves the training state untouched, and always-on units
are found and folded exactly."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from demp.config import ModelConfig, TrainConfig
from demp.methods import build_trainer
from demp.models import build_model
from demp.train.death import check_units, data_statistics
from demp.train.fold import can_fold, fold_constant_units
from demp.train.surgery import remove_dead

ARCHS = [
    ("mlp", {"hidden": [32, 32]}),
    ("small_cnn", {"width": 0.5}),
    ("vgg11", {"width": 0.25}),
    ("vgg16", {"width": 0.125}),
    ("resnet18", {"width": 0.25}),
    ("resnet34", {"width": 0.125}),
    ("resnet50", {"width": 0.125}),
    ("resnet18_imagenet", {"width": 0.125}),
    ("resnet50_imagenet", {"width": 0.0625}),
]


def _frozen_run(name: str, kw: dict) -> dict:
    """Parameters that cannot move (lr ≈ 0, no weight decay, no regularizer, no noise): only the
    BN running statistics change, from their initial values towards the data's."""
    return {
        "model": {"name": name, **kw},
        "data": {"name": "synthetic", "batch_size": 32, "eval_batch_size": 64,
                 "synthetic": {"shape": [3, 32, 32], "train_size": 192, "test_size": 64}},
        "optimizer": {"name": "adamw", "lr": 1e-30, "weight_decay": 0.0},
        "demp": {"regularizer": {"enabled": False}, "noise": {"enabled": False},
                 "death": {"prune_interval": 2, "samples": 192}},
        "max_steps": 8, "eval_interval": 100, "device": "cpu", "seed": 0,
    }


@pytest.mark.parametrize("name,kw", ARCHS, ids=[a[0] for a in ARCHS])
def test_frozen_run_removes_nothing_at_any_check(name, kw):
    events = []

    class Record:
        def __getattr__(self, hook):
            return (lambda _t, e: events.append(e)) if hook == "on_prune" else (lambda *a: None)

    trainer = build_trainer(TrainConfig.model_validate(_frozen_run(name, kw)), callbacks=[Record()])
    trainer.fit()
    assert [e["step"] for e in events] == [0, 2, 4, 6, 8]
    for e in events:
        assert sum(e["dead"].values()) == 0, (e["step"], e["dead"])
        assert sum(e["removed"].values()) == 0
    assert trainer.model.live_units() == trainer.model.initial_units()


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(name="mlp", hidden=[16, 12]), (5,), 3)


def test_check_leaves_running_statistics_momentum_and_rng_untouched():
    model = _mlp()
    x = torch.randn(50, 5)
    with torch.no_grad():
        model.train()
        model(x)  # some non-initial running statistics
    before = copy.deepcopy(model.state_dict())
    rng = torch.get_rng_state()
    check_units(model, lambda: [x[:30], x[30:]])
    after = model.state_dict()
    assert before.keys() == after.keys()
    for k in before:
        assert torch.equal(before[k], after[k]), k
    assert torch.equal(rng, torch.get_rng_state())
    assert all(m.momentum == 0.1 for m in model.modules() if isinstance(m, nn.BatchNorm1d))
    assert model.training


def test_data_statistics_are_the_samples_mean_and_variance():
    model = _mlp()
    x = torch.randn(400, 5) * 3 + 2
    with data_statistics(model, [x]):
        bn = model.layers[0].bn
        pre = model.layers[0].fc(x)
        assert torch.allclose(bn.running_mean, pre.mean(0), atol=1e-5)
        assert torch.allclose(bn.running_var, pre.var(0), rtol=1e-4)
    assert torch.equal(model.layers[0].bn.running_mean, torch.zeros(16))


def test_unit_dead_under_initial_statistics_but_firing_on_data_is_kept():
    model = _mlp()
    with torch.no_grad():
        fc = model.layers[0].fc
        fc.weight[4] = 0.0
        fc.weight[4, 0] = 1.0  # unit 4's pre-activation is x0, and x0 ≈ −50 on the data
    x = torch.randn(64, 5)
    x[:, 0] -= 50.0
    check = check_units(model, [x])
    # initial statistics (mean 0, var 1): (x0 − 0)/1 ≈ −50 → ReLU 0 everywhere: "dead"
    assert float(check.running["fc0"].abs_sum[4]) == 0.0
    # the data's statistics: (x0 + 50)/1 ~ N(0, 1) → fires on about half the samples
    assert float(check.data["fc0"].abs_sum[4]) > 0.0
    assert not bool(check.dead()["fc0"][4])
    # a unit dead under both is dead: γ = 0, β < 0
    with torch.no_grad():
        model.layers[0].bn.weight[7] = 0.0
        model.layers[0].bn.bias[7] = -1.0
    assert torch.nonzero(check_units(model, [x]).dead()["fc0"]).flatten().tolist() == [7]


def _constant_net(name: str, kw: dict, shape):
    torch.manual_seed(1)
    model = build_model(ModelConfig(name=name, **kw), shape, 4)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.bias.uniform_(-0.1, 0.3)
    return model.eval()


@pytest.mark.parametrize("name,kw,shape,group", [
    ("mlp", {"hidden": [16, 12]}, (6,), "fc0"),   # linear consumer without bias: BN's μ
    ("mlp", {"hidden": [16, 12]}, (6,), "fc1"),   # the head
    ("mlp", {"hidden": [16, 12], "norm": False}, (6,), "fc0"),  # linear with bias
    ("small_cnn", {"width": 0.25}, (1, 8, 8), "conv1"),  # the first linear after a flatten
    ("small_cnn", {"width": 0.25}, (1, 8, 8), "fc"),
    ("vgg11", {"width": 0.125}, (3, 16, 16), "conv7"),  # dense layer after global pooling
    ("vgg11", {"width": 0.125}, (3, 16, 16), "fc"),
])
def test_fold_of_always_on_units_is_exact(name, kw, shape, group):
    model = _constant_net(name, kw, shape)
    assert can_fold(model, group)
    units = [1, 3]
    bn = model.unit_groups[group].producers[-1] if kw.get("norm", True) else None
    with torch.no_grad():
        if bn is not None:
            norm = model.get_submodule(bn)
            norm.weight[units] = 0.0
            norm.bias[units] = torch.tensor([0.7, 0.2])
        else:  # no norm: a unit whose weights are zero outputs relu(bias)
            fc = model.get_submodule("layers.0.fc")
            fc.weight[units] = 0.0
            fc.bias[units] = torch.tensor([0.7, 0.2])
    x = torch.randn(40, *shape)
    check = check_units(model, [x])
    mask, values = check.constant(0.0)[group]
    assert torch.nonzero(mask).flatten().tolist() == units
    assert torch.allclose(values[units], torch.tensor([0.7, 0.2]))
    dense = model(x)
    fold_constant_units(model, group, torch.tensor(units), values[units])
    remove_dead(model, {group: mask})
    assert model.live_units()[group] == model.initial_units()[group] - 2
    assert torch.allclose(model(x), dense, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,kw,shape,group", [
    ("small_cnn", {"width": 0.25}, (1, 8, 8), "conv0"),   # zero-padded conv consumer
    ("resnet18", {"width": 0.125}, (3, 16, 16), "blocks.0.out"),  # conv + identity shortcut
    ("resnet18", {"width": 0.125}, (3, 16, 16), "stem"),
    ("resnet18", {"width": 0.125}, (3, 16, 16), "blocks.7.mid"),
    ("vgg11", {"width": 0.125}, (3, 16, 16), "conv0"),
])
def test_groups_with_padded_conv_or_shortcut_consumers_are_never_folded(name, kw, shape, group):
    assert not can_fold(_constant_net(name, kw, shape), group)


def test_last_residual_block_folds_into_the_head_after_global_pooling():
    assert can_fold(_constant_net("resnet18", {"width": 0.125}, (3, 16, 16)), "blocks.7.out")


def _digits_cfg(**death) -> dict:
    return {"model": {"name": "mlp", "hidden": [64, 64]},
            "data": {"name": "digits", "batch_size": 64, "val_fraction": 0.2},
            "optimizer": {"name": "adamw", "lr": 0.01},
            "demp": {"regularizer": {"peak": 3.0}, "noise": {"peak": 1e-3},
                     "death": {"prune_interval": 20, **death}},
            "max_steps": 200, "eval_interval": 50, "device": "cpu", "seed": 0}


def test_fold_constant_removes_always_on_units_counted_apart():
    events = []

    class Record:
        def __getattr__(self, hook):
            return (lambda _t, e: events.append(e)) if hook == "on_prune" else (lambda *a: None)

    off = build_trainer(TrainConfig.model_validate(_digits_cfg())).fit()
    on = build_trainer(TrainConfig.model_validate(_digits_cfg(fold_constant=True)),
                 callbacks=[Record()]).fit()
    assert all("always_on" in e for e in events)
    folded = sum(sum(e["always_on"].values()) for e in events)
    assert folded > 0
    assert on["neural_sparsity"] > off["neural_sparsity"]
