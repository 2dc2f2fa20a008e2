"""Structured baselines: scores against hand computations, the density schedule and global
ranking, target densities reached, the early trigger, network slimming, method presets, and
exact resume of a baseline's state."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from demp.methods import (
    METHODS, NetworkSlimming, SettlingTrigger, crop_it_scores, density_schedule, global_removal,
    resolve, snap_scores, threshold_removal, unit_scales,
)
from demp.config import ConfigError, ModelConfig, SlimmingConfig, TrainConfig, validate
from demp.data import build_data
from demp.methods import build_trainer
from demp.models import build_model
from demp.spec import apply_params
from demp.train.callbacks import Callback

BASE = {
    "model": {"name": "mlp", "hidden": [32, 32]},
    "data": {"name": "digits"},
    "optimizer": {"lr": 0.01},
    "epochs": 4,
    "threads": 1,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def digits():
    return build_data(validate(TrainConfig, BASE).data)


class Recorder(Callback):
    def __init__(self):
        self.losses: dict[int, float] = {}
        self.prunes: list[dict] = []

    def on_step(self, trainer, step, loss):
        self.losses[step] = loss

    def on_prune(self, trainer, event):
        self.prunes.append(event)


# ------------------------------------------------------------------------------ scores by hand


def _one_layer_net(seed: int = 0):
    """x (3) → Linear(3, 4) + bias → ReLU → [gate] → Linear(4, 3): the gates feed the head only,
    so ∂L/∂c and the Hessian in c have closed forms."""
    torch.manual_seed(seed)
    model = build_model(ModelConfig(name="mlp", hidden=[4], norm=False), (3,), 3).double()
    batches = [(torch.randn(5, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 1, 0])),
               (torch.randn(6, 3, dtype=torch.float64), torch.tensor([2, 2, 0, 1, 1, 0]))]
    return model, batches


def _hand_grad_and_hessian(model, x, y):
    """g_j = (1/N) Σ_n a_nj (W2ᵀ δ_n)_j, H = (1/N) Σ_n diag(a_n) W2ᵀ (diag p_n − p_n p_nᵀ) W2
    diag(a_n), with a = relu(W1 x + b1), p = softmax(W2 a + b2), δ = p − onehot(y)."""
    w1 = model.layers[0].fc.weight.detach().numpy()
    b1 = model.layers[0].fc.bias.detach().numpy()
    w2 = model.head.weight.detach().numpy()
    b2 = model.head.bias.detach().numpy()
    x, y = x.numpy(), y.numpy()
    n = len(y)
    g = np.zeros(w1.shape[0])
    h = np.zeros((w1.shape[0], w1.shape[0]))
    for i in range(n):
        a = np.maximum(w1 @ x[i] + b1, 0.0)
        z = w2 @ a + b2
        p = np.exp(z - z.max())
        p /= p.sum()
        delta = p.copy()
        delta[y[i]] -= 1.0
        g += a * (w2.T @ delta) / n
        h += np.diag(a) @ w2.T @ (np.diag(p) - np.outer(p, p)) @ w2 @ np.diag(a) / n
    return g, h


def test_snap_score_matches_the_hand_computed_gate_gradient():
    model, batches = _one_layer_net()
    expected = np.abs(sum(_hand_grad_and_hessian(model, x, y)[0] for x, y in batches))
    scores = snap_scores(model, batches, F.cross_entropy)
    assert set(scores) == {"fc0"}
    np.testing.assert_allclose(scores["fc0"].numpy(), expected, rtol=1e-10, atol=1e-14)
    assert expected.max() > 1e-3  # the check is not vacuous


def test_crop_it_score_matches_the_hand_computed_hessian_gradient_product():
    model, batches = _one_layer_net(seed=1)
    total = np.zeros(4)
    for x, y in batches:
        g, h = _hand_grad_and_hessian(model, x, y)
        total += h @ g
    scores = crop_it_scores(model, batches, F.cross_entropy)
    np.testing.assert_allclose(scores["fc0"].numpy(), np.abs(total), rtol=1e-9, atol=1e-14)
    assert np.abs(total).max() > 1e-5


def test_snap_score_of_an_inner_layer_matches_finite_differences():
    """Gate c_j on fc0 unit j ≡ scaling column j of the consumer fc1 by c_j: the central
    difference of the loss in that scale is ∂L/∂c_j, computed without any gate code. BN layers
    run on batch statistics and their running statistics are left as they were."""
    torch.manual_seed(3)
    model = build_model(ModelConfig(name="mlp", hidden=[5, 4]), (6,), 3).double()
    x = torch.randn(8, 6, dtype=torch.float64)
    y = torch.randint(0, 3, (8,))
    bn = model.layers[0].bn
    stats = (bn.running_mean.clone(), bn.running_var.clone(), int(bn.num_batches_tracked))
    scores = snap_scores(model, [(x, y)], F.cross_entropy)
    assert torch.equal(bn.running_mean, stats[0]) and torch.equal(bn.running_var, stats[1])
    assert int(bn.num_batches_tracked) == stats[2]
    model.train()
    eps = 1e-6
    w = model.layers[1].fc.weight
    fd = []
    for j in range(5):
        with torch.no_grad():
            w[:, j] *= 1 + eps
            up = float(F.cross_entropy(model(x), y))
            w[:, j] /= 1 + eps
            w[:, j] *= 1 - eps
            down = float(F.cross_entropy(model(x), y))
            w[:, j] /= 1 - eps
        fd.append(abs(up - down) / (2 * eps))
    np.testing.assert_allclose(scores["fc0"].numpy(), fd, rtol=1e-5, atol=1e-9)


def test_scoring_leaves_parameter_gradients_untouched():
    model, batches = _one_layer_net()
    crop_it_scores(model, batches, F.cross_entropy)
    assert all(p.grad is None for p in model.parameters())


# ------------------------------------------------------------------------------ schedule, ranking


def test_density_schedule_follows_the_formula_and_ends_at_rho():
    assert density_schedule(0.1) == pytest.approx([0.5, 0.3, 0.2, 0.15, 0.1])
    assert density_schedule(0.6) == pytest.approx([0.8, 0.7, 0.65, 0.625, 0.6])
    assert density_schedule(0.2, steps=1) == [0.2]
    assert density_schedule(1.0) == []
    for rho in (0.01, 0.3, 0.49, 0.5, 0.9):
        ds = density_schedule(rho)
        assert ds[-1] == rho and all(a > b for a, b in zip(ds, ds[1:])) and ds[0] < 1


def test_global_ranking_keeps_the_top_scores_and_one_unit_per_group():
    scores = {"a": torch.tensor([5.0, 1.0, 3.0]), "b": torch.tensor([0.1, 0.2]),
              "c": torch.tensor([4.0, 4.0, float("nan")])}
    # keep 4: each group's best (a0, b1, c0) is reserved, then the best remaining: c1 (4.0)
    remove = global_removal(scores, keep=4)
    assert remove["a"].tolist() == [False, True, True]
    assert remove["b"].tolist() == [True, False]
    assert remove["c"].tolist() == [False, False, True]
    # fewer units than groups: every group keeps its best one
    assert [int((~m).sum()) for m in global_removal(scores, keep=1).values()] == [1, 1, 1]
    # frozen (placeholder) groups are left alone and not counted
    remove = global_removal(scores, keep=3, frozen={"b"})
    assert not remove["b"].any() and int((~remove["a"]).sum() + (~remove["c"]).sum()) == 3


# ------------------------------------------------------------------------------ target density


@pytest.mark.parametrize("method,model,rho", [
    ("snap", "mlp", 0.05), ("snap", "small_cnn", 0.3), ("crop_it", "mlp", 0.7),
    ("crop_it", "small_cnn", 0.1),
])
def test_at_init_pruning_reaches_the_target_density(digits, method, model, rho):
    rec = Recorder()
    width = 0.25 if model == "small_cnn" else 1.0  # 56 / 64 units in 3 / 2 groups
    cfg = dict(BASE, method=method, model={"name": model, "hidden": [32, 32], "width": width},
               max_steps=3, baseline={"density": rho, "score_batches": 2})
    t = build_trainer(cfg, callbacks=[rec], data=digits)
    initial = sum(t.model.initial_units().values())
    summary = t.fit()
    live = sum(summary["live_units"].values())
    assert live == round(rho * initial)
    assert summary["neural_sparsity"] == pytest.approx(1 - live / initial)
    assert all(n >= 1 for n in summary["live_units"].values())
    [event] = rec.prunes
    assert event["step"] == 0 and event["method"] == method
    assert event["densities"] == pytest.approx(density_schedule(rho))
    assert sum(event["removed"].values()) == initial - live
    assert summary["flops"] < t.initial_flops
    assert t.cfg.demp.enabled is False  # a baseline trains without DemP


# ------------------------------------------------------------------------------ early trigger


def test_settling_trigger_rule():
    trig = SettlingTrigger(threshold=0.3)
    assert trig.update(1.0) == (False, None)       # epoch 1: no relative change yet
    fire, rel = trig.update(1.5)                   # +50 %
    assert not fire and rel == pytest.approx(0.5)
    fire, rel = trig.update(1.8)                   # +20 % < 30 %
    assert fire and rel == pytest.approx(0.2)


def test_early_pruning_fires_at_the_first_settled_epoch(digits):
    """Distances recorded independently at each epoch end; the event must come at the first
    epoch whose relative change is below 1 − ρ (here epoch 4: not the first possible one)."""
    rho = 0.9

    class Distances(Callback):
        def __init__(self):
            self.d = {}

        def on_train_start(self, trainer):
            self.theta0 = [p.detach().clone() for p in trainer.model.parameters()]

        def on_step(self, trainer, step, loss):
            if step % trainer.steps_per_epoch == 0 and not rec.prunes:
                self.d[step] = math.sqrt(sum(float((p.detach() - q).square().sum())
                                             for p, q in zip(trainer.model.parameters(),
                                                             self.theta0)))

    rec, dist = Recorder(), Distances()
    cfg = dict(BASE, method="early_snap", epochs=6,
               baseline={"density": rho, "score_batches": 2, "early": {"latest_fraction": 1.0}})
    t = build_trainer(cfg, callbacks=[rec, dist], data=digits)
    t.fit()
    steps = sorted(dist.d)
    expected = next(b for a, b in zip(steps, steps[1:])
                    if abs(dist.d[b] - dist.d[a]) / dist.d[a] < 1 - rho)
    [event] = rec.prunes
    assert event["step"] == expected and not event["trigger"]["forced"]
    assert event["trigger"]["epoch"] == expected / t.steps_per_epoch > 2
    assert sum(t.model.live_units().values()) == round(rho * 64)


def test_early_pruning_is_forced_at_latest_fraction(digits):
    rec = Recorder()
    cfg = dict(BASE, method="early_crop_s", epochs=4,
               baseline={"density": 0.999, "score_batches": 1, "early": {"latest_fraction": 0.3}})
    t = build_trainer(cfg, callbacks=[rec], data=digits)
    t.fit()
    [event] = rec.prunes
    assert event["trigger"]["forced"] and event["step"] == math.ceil(0.3 * t.total_steps)


# ------------------------------------------------------------------------------ slimming


def test_slimming_penalty_is_l1_on_norm_scales_until_removal():
    model = build_model(ModelConfig(name="mlp", hidden=[4, 3]), (5,), 2)
    with torch.no_grad():
        model.layers[0].bn.weight.copy_(torch.tensor([0.5, -0.2, 0.0, 1.0]))
    slim = NetworkSlimming(SlimmingConfig(lam=0.1, threshold=0.3, finetune_epochs=1))
    trainer = SimpleNamespace(model=model)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    slim.before_optimizer_step(trainer)
    assert model.layers[0].bn.weight.grad.tolist() == pytest.approx([0.1, -0.1, 0.0, 0.1])
    assert model.layers[1].bn.weight.grad.tolist() == pytest.approx([0.1] * 3)
    assert not model.layers[0].fc.weight.grad.any()  # only the scales are penalized
    slim.pruned = True  # fine-tuning: no penalty
    model.layers[0].bn.weight.grad.zero_()
    slim.before_optimizer_step(trainer)
    assert not model.layers[0].bn.weight.grad.any()
    # threshold: |γ| < 0.3 goes; a group whose scales are all small keeps its largest
    with torch.no_grad():
        model.layers[1].bn.weight.copy_(torch.tensor([0.01, -0.02, 0.015]))
    remove = threshold_removal(model, 0.3)
    assert remove["fc0"].tolist() == [False, True, True, False]
    assert remove["fc1"].tolist() == [True, False, True]


def test_slimming_removes_small_scales_then_fine_tunes(digits):
    """Removal at T − F of exactly the units whose |γ| is then below the threshold."""

    class Scales(Callback):
        def on_step(self, trainer, step, loss):
            if step == trainer.strategy.baseline.prune_step(trainer):
                self.scales = unit_scales(trainer.model)

    rec, sc = Recorder(), Scales()
    cfg = dict(BASE, method="slimming", epochs=5, optimizer={"lr": 0.03},
               baseline={"slimming": {"lam": 0.03, "threshold": 0.1, "finetune_epochs": 2}})
    t = build_trainer(cfg, callbacks=[rec, sc], data=digits)
    summary = t.fit()
    [event] = rec.prunes
    assert event["step"] == t.total_steps - 2 * t.steps_per_epoch
    expected = {g: int((s < 0.1).sum()) for g, s in sc.scales.items()}
    assert event["removed"] == expected and sum(expected.values()) > 0
    assert summary["live_units"] == {g: 32 - n for g, n in expected.items()}
    assert summary["test_acc"] > 0.8  # fine-tuned, not collapsed


# ------------------------------------------------------------------------------ presets, config


def test_ablation_presets_expand_to_trainer_settings_without_touching_the_config():
    base = validate(TrainConfig, {"demp": {"noise": {"enabled": True}}})
    assert resolve(base) is base
    cases = {"demp_no_noise": ("noise", "enabled", False),
             "demp_constant": ("schedule", "shape", "constant"),
             "demp_all_weights": ("regularizer", "target", "all_weights")}
    for method, (section, key, value) in cases.items():
        cfg = validate(TrainConfig, {"method": method})
        assert getattr(getattr(cfg.demp, section), key) != value  # the config keeps its values
        run = resolve(cfg)
        assert getattr(getattr(run.demp, section), key) == value
        assert resolve(run) is run and run.method == method
    for name, m in METHODS.items():
        if m.is_baseline:
            assert resolve(validate(TrainConfig, {"method": name})).demp.enabled is False


def test_a_searched_method_overrides_a_baseline_base(digits):
    """A sweep whose base is a baseline can still search DemP: presets are never baked in."""
    base = validate(TrainConfig, dict(BASE, method="snap")).model_dump(mode="json")
    cfg = validate(TrainConfig, apply_params(base, {"method": "demp"}))
    assert resolve(cfg).demp.enabled is True


@pytest.mark.parametrize("data,line", [
    ({"method": "magnitude"}, "method: Input should be 'demp'"),
    ({"baseline": {"density": 0}}, "baseline.density: Input should be greater than 0"),
    ({"baseline": {"density": 1.5}}, "baseline.density: Input should be less than or equal"),
    ({"baseline": {"steps": 0}}, "baseline.steps: Input should be greater than or equal to 1"),
    ({"baseline": {"early": {"latest_fraction": 0}}}, "baseline.early.latest_fraction: "),
    ({"baseline": {"slimming": {"lam": -1}}}, "baseline.slimming.lam: "),
    ({"method": "slimming", "model": {"name": "mlp", "norm": False}},
     "model.norm: method slimming prunes by normalization scales"),
    ({"method": "slimming", "epochs": 4},
     "baseline.slimming.finetune_epochs: must be below epochs (4)"),
])
def test_bad_baseline_settings_name_the_field(data, line):
    with pytest.raises(ConfigError) as err:
        validate(TrainConfig, data)
    assert str(err.value).startswith(line), str(err.value)
    assert len(str(err.value).splitlines()) == 1


def test_presets_change_which_cross_field_rules_apply():
    no_norm = {"model": {"name": "mlp", "norm": False}}
    with pytest.raises(ConfigError, match="^demp.regularizer.target: norm_scales"):
        validate(TrainConfig, no_norm)
    for method in ("demp_all_weights", "snap", "early_crop_s"):
        assert validate(TrainConfig, dict(no_norm, method=method)).method == method


def test_method_and_baseline_fields_are_searchable_in_a_spec():
    from demp.spec import validate_spec

    spec = {"name": "m", "base": BASE, "trials": 2,
            "space": {"method": {"choices": ["demp", "early_crop_s", "slimming"]},
                      "baseline.density": {"low": 0.05, "high": 0.9, "log": True}}}
    with pytest.raises(ConfigError) as err:  # slimming with 4 epochs and 5 fine-tuning epochs
        validate_spec(spec)
    assert str(err.value).startswith("space.method.choices.2: ")
    spec["base"] = dict(BASE, epochs=8)
    assert validate_spec(spec).space["method"].choices == ["demp", "early_crop_s", "slimming"]


# ------------------------------------------------------------------------------ resume


@pytest.mark.parametrize("method,extra,stop_at", [
    # θ_0 and d_1 (20 steps per epoch) are in the checkpoint at step 30; the trigger fires at
    # the end of epoch 2
    ("early_crop_s", {"baseline": {"density": 0.5, "score_batches": 2,
                                   "early": {"latest_fraction": 1.0}}}, 30),
    # stop during the L1 phase (removal at step 60), remove after the resume
    ("slimming", {"optimizer": {"lr": 0.03},
                  "baseline": {"slimming": {"lam": 0.03, "threshold": 0.1,
                                            "finetune_epochs": 1}}}, 30),
])
def test_baseline_runs_resume_exactly(digits, tmp_path, method, extra, stop_at):
    cfg = dict(BASE, method=method, epochs=4, eval_interval=10, **extra)
    full = Recorder()
    expected = build_trainer(cfg, callbacks=[full], data=digits).fit()
    assert full.prunes and full.prunes[0]["step"] > stop_at
    assert sum(full.prunes[0]["removed"].values()) > 0

    class StopAt(Callback):
        def on_eval(self, trainer, metrics):
            if trainer.step == stop_at:
                trainer.save_checkpoint(tmp_path / "ck")
                trainer.request_stop()

    first = Recorder()
    build_trainer(cfg, callbacks=[first, StopAt()], data=digits).fit()
    assert not first.prunes
    resumed = Recorder()
    t = build_trainer(cfg, callbacks=[resumed], resume_from=tmp_path / "ck", data=digits)
    final = t.fit()
    for s, loss in resumed.losses.items():
        assert loss == full.losses[s], s  # bit-identical
    assert [e["step"] for e in resumed.prunes] == [e["step"] for e in full.prunes]
    assert [e["removed"] for e in resumed.prunes] == [e["removed"] for e in full.prunes]
    for key in ("val_acc", "test_acc", "live_units", "flops", "param_sparsity"):
        assert final[key] == expected[key], key
    assert final["flops"] < t.initial_flops
