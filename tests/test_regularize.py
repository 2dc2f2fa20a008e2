"""Regularization targets: which tensors each one penalizes, and the penalty's gradient."""

from __future__ import annotations

import pytest
import torch

from demp.config import ConfigError, ModelConfig, TrainConfig, validate
from demp.models import build_model
from demp.train.regularize import add_penalty_grad, penalty, regularized_parameters


def _model():
    torch.manual_seed(0)
    return build_model(ModelConfig(name="small_cnn", width=0.25), (1, 8, 8), 10)


def test_norm_scales_are_the_gammas_and_norm_params_add_the_betas():
    m = _model()
    norms = [m.stages[0].bn, m.stages[1].bn, m.fc_bn]
    scales = regularized_parameters(m, "norm_scales")
    params = regularized_parameters(m, "norm_params")
    assert [id(p) for p in scales] == [id(b.weight) for b in norms]
    assert sorted(map(id, params)) == sorted([id(b.weight) for b in norms]
                                              + [id(b.bias) for b in norms])
    weights = regularized_parameters(m, "all_weights")
    assert all(p.dim() >= 1 for p in weights) and len(weights) == len(
        [n for n, _ in m.named_parameters() if n.endswith("weight")])


def test_l1_gradient_on_betas_pulls_them_toward_zero():
    m = _model()
    bn = m.fc_bn
    with torch.no_grad():
        bn.bias.copy_(torch.linspace(-1, 1, bn.bias.numel()))
    params = regularized_parameters(m, "norm_params")
    add_penalty_grad(params, "l1", 0.5)
    assert torch.equal(bn.bias.grad, 0.5 * torch.sign(bn.bias.detach()))
    expected = sum(float(p.abs().sum()) for p in params)
    assert penalty(params, "l1") == pytest.approx(expected)


@pytest.mark.parametrize("target", ["norm_scales", "norm_params"])
def test_norm_targets_need_normalization_layers(target):
    with pytest.raises(ConfigError, match=f"demp.regularizer.target: {target} needs model.norm"):
        validate(TrainConfig, {"model": {"name": "mlp", "norm": False},
                               "demp": {"regularizer": {"target": target}}})
