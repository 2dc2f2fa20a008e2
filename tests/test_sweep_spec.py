"""Sweep spec and search space: shipped specs validate, every kind of bad spec names its field."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import yaml

from demp.config import ConfigError, TrainConfig
from demp.spec import (
    SweepSpec, apply_params, apply_spec_overrides, dump_spec, is_active, load_spec, spec_warnings,
    sweep_json_schema, validate_spec,
)

SWEEPS = Path(__file__).resolve().parents[1] / "sweeps"
REAL_SPECS = ["cifar10-resnet18-adam", "cifar10-resnet18-sgdm", "cifar10-vgg16",
              "imagenet-resnet50"]


def good() -> dict:
    return {
        "name": "t",
        "base": {"model": {"name": "mlp"}, "data": {"name": "digits"}},
        "space": {
            "demp.regularizer.peak": {"low": "1e-3", "high": 3, "log": True},
            "demp.noise.peak": {"low": 1e-5, "high": 1e-2, "log": True},
            "demp.schedule.shape": {"choices": ["one_cycle", "warmup"]},
            "demp.schedule.pct_start": {"low": 0.1, "high": 0.5},
            "demp.death.prune_interval": {"low": 10, "high": 100, "log": True},
        },
        "trials": 4,
    }


def errors_of(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate_spec(data)
    return str(info.value).splitlines()


# ------------------------------------------------------------------------------ shipped specs


def test_digits_quick_is_a_small_multi_objective_cpu_sweep():
    spec = load_spec(SWEEPS / "digits-quick.yaml")
    assert spec.base.data.name == "digits" and spec.base.device == "cpu"
    assert [(o.metric, o.direction) for o in spec.objectives] == [
        ("val_acc", "maximize"), ("param_sparsity", "maximize")]
    assert spec.reference_point() == [0.1, 0.0]
    assert spec.resources.gpu == 0 and spec.ray.address is None
    assert spec.storage is None and spec.sampler.name == "tpe"
    assert {"demp.regularizer.peak", "demp.noise.peak", "demp.schedule.shape",
            "demp.death.prune_interval"} <= set(spec.space)
    assert spec.space["demp.regularizer.peak"].log and spec.space["demp.death.prune_interval"].log
    assert spec_warnings(spec) == []


@pytest.mark.parametrize("name", REAL_SPECS)
def test_real_specs_use_the_paper_settings_with_one_gpu_per_trial(name):
    spec = load_spec(SWEEPS / f"{name}.yaml")
    assert spec.resources.gpu == 1 and spec.base.device == "cuda"
    lam = spec.space["demp.regularizer.peak"]
    assert lam.type == "float" and lam.log
    assert spec.space["demp.noise.peak"].log
    assert spec.space["demp.death.prune_interval"].type == "int"
    assert "demp.schedule.shape" in spec.space
    b = spec.base
    if name.startswith("cifar10-resnet18"):
        assert (b.model.name, b.data.batch_size, b.epochs) == ("resnet18", 128, 250)
        assert b.lr_schedule.milestones == [77, 154, 231] and b.lr_schedule.factor == 0.2
        assert b.demp.death.prune_interval == 5000
        assert b.demp.schedule.span_fraction == pytest.approx(85_000 / 97_600, abs=1e-3)
        assert b.optimizer.weight_decay == 5e-4
    if name == "cifar10-resnet18-adam":
        assert (b.optimizer.name, b.optimizer.lr) == ("adamw", 5e-3)
        assert (lam.low, lam.high) == (1e-6, 0.35)
    if name == "cifar10-resnet18-sgdm":
        assert (b.optimizer.name, b.optimizer.lr, b.optimizer.momentum) == ("sgd", 0.1, 0.9)
    if name == "cifar10-vgg16":
        assert (b.model.name, b.data.batch_size, b.epochs) == ("vgg16", 256, 80)
        assert b.lr_schedule.name == "one_cycle" and b.demp.death.prune_interval == 1000
    if name == "imagenet-resnet50":
        assert (b.model.name, b.data.batch_size, b.epochs) == ("resnet50_imagenet", 256, 100)
        assert (b.optimizer.name, b.optimizer.lr, b.optimizer.weight_decay) == ("sgd", 0.1, 1e-4)
        assert b.label_smoothing == 0.1 and b.model.zero_init_residual
        assert spec.reference_point() == [pytest.approx(1e-3), 0.0]


def test_dumped_spec_reloads_identically(tmp_path):
    spec = validate_spec(good())
    path = tmp_path / "spec.yaml"
    path.write_text(dump_spec(spec))
    again = load_spec(path)
    assert again == spec
    assert again.space["demp.regularizer.peak"].low == 1e-3  # "1e-3" (YAML 1.1 string) coerced


def test_json_schema_describes_the_spec():
    schema = json.loads(sweep_json_schema())
    assert {"name", "base", "space", "objectives", "sampler", "trials", "storage", "ray",
            "early_stopping", "retries", "wandb", "resources", "max_concurrent"} <= set(
        schema["properties"])
    assert schema["required"] == ["name", "space", "trials"]


# ------------------------------------------------------------------------------ bad specs


@pytest.mark.parametrize("change, expected", [
    (lambda d: d.update(trials=0), "trials: Input should be greater than or equal to 1"),
    (lambda d: d.update(bogus=1), "bogus: unknown field"),
    (lambda d: d.pop("space"), "space: Field required"),
    (lambda d: d.update(space={}), "space: Dictionary should have at least 1 item"),
    (lambda d: d.update(name="has space"), "name: String should match pattern"),
    (lambda d: d["base"]["model"].update(hiden=[1]), "base.model.hiden: unknown field"),
    (lambda d: d["base"]["model"].update(name="resnet9"), "base.model.name: Input should be"),
    (lambda d: d["base"].update(output_dir="x"), "base.output_dir: must be unset in a sweep"),
    (lambda d: d["space"]["demp.regularizer.peak"].update(high=1e-4),
     "space.demp.regularizer.peak.high: must be > low (0.001)"),
    (lambda d: d["space"]["demp.regularizer.peak"].update(low=0),
     "space.demp.regularizer.peak.low: must be > 0 on a log scale"),
    (lambda d: d["space"]["demp.regularizer.peak"].update(step=0.1),
     "space.demp.regularizer.peak.step: cannot be combined with log"),
    (lambda d: d["space"]["demp.noise.peak"].update(sigma=1),
     "space.demp.noise.peak.sigma: unknown field"),
    (lambda d: d["space"].update({"demp.regularizer.peek": {"low": 1, "high": 2}}),
     "space.demp.regularizer.peek: 'peek' is not a field of demp.regularizer"),
    (lambda d: d["space"].update({"model.hidden": {"choices": [1, 2]}}),
     "space.model.hidden: 'model.hidden' holds a list"),
    (lambda d: d["space"].update({"demp.schedule": {"choices": [1]}}),
     "space.demp.schedule: 'demp.schedule' is a section"),
    (lambda d: d["space"]["demp.schedule.pct_start"].update(high=1.5),
     "space.demp.schedule.pct_start.high: Input should be less than 1 (got 1.5)"),
    (lambda d: d["space"]["demp.schedule.shape"].update(choices=["one_cycle", "zigzag"]),
     "space.demp.schedule.shape.choices.1: Input should be 'one_cycle'"),
    (lambda d: d["space"]["demp.death.prune_interval"].update(type="float"),
     "space.demp.death.prune_interval.type: a float parameter cannot set a field of kind int"),
    (lambda d: d["space"]["demp.death.prune_interval"].update(low=0, log=False),
     "space.demp.death.prune_interval.low: Input should be greater than or equal to 1"),
    (lambda d: d["space"].update({"x.y": {"type": "foo", "low": 1}}),
     "space.x.y: Input tag 'foo' found using 'type' does not match"),
    (lambda d: d["space"]["demp.noise.peak"].update(when={"data.bogus": 1}),
     "space.demp.noise.peak.when.data.bogus: 'bogus' is not a field of data"),
    (lambda d: d["space"].update({
        "optimizer.name": {"choices": ["sgd", "adamw"], "when": {"optimizer.momentum": 0.9}},
        "optimizer.momentum": {"low": 0.5, "high": 0.99, "when": {"optimizer.name": "sgd"}}}),
     "space.optimizer.name.when: circular conditions (optimizer.name -> optimizer.momentum -> "
     "optimizer.name)"),
    (lambda d: d["space"]["demp.noise.peak"].update(when={"optimizer.name": "lion"}),
     "space.demp.noise.peak.when.optimizer.name: Input should be 'adamw', 'adam' or 'sgd'"),
    (lambda d: d["base"].update(demp={"noise": {"enabled": False}}),
     "space.demp.noise.peak: never sampled: base.demp.noise.enabled is False"),
    (lambda d: d.update(objectives=[{"metric": "val_accuracy"}]), "objectives.0.metric: Input"),
    (lambda d: d.update(objectives=[{"metric": "val_acc", "direction": "up"}]),
     "objectives.0.direction: Input should be 'maximize' or 'minimize'"),
    (lambda d: d.update(objectives=[{"metric": "val_acc"}, {"metric": "val_acc"}]),
     "objectives.1.metric: val_acc is listed twice"),
    (lambda d: d.update(objectives=[{"metric": "val_acc"}, {"metric": "flops",
                                                            "direction": "minimize"}]),
     "objectives.1.reference: required for flops (minimize)"),
    (lambda d: d.update(objectives=[]), "objectives: List should have at least 1 item"),
    (lambda d: d.update(sampler={"name": "cmaes"}), "sampler.name: Input should be 'tpe'"),
    (lambda d: d.update(sampler={"name": "tpe", "seed": "x"}), "sampler.seed: Input should be"),
    (lambda d: d.update(sampler={"name": "grid"}),
     "space.demp.regularizer.peak.grid: the grid sampler needs grid or grid_points"),
    (lambda d: d.update(sampler={"name": "nsga2", "population_size": 1}),
     "sampler.population_size: Input should be greater than or equal to 2"),
    (lambda d: d.update(max_concurrent=0), "max_concurrent: Input should be greater than"),
    (lambda d: d.update(retries=-1), "retries: Input should be greater than or equal to 0"),
    (lambda d: d.update(resources={"cpu": 0}), "resources.cpu: Input should be greater than 0"),
    (lambda d: d.update(resources={"gpu": 1}), "base.device: is cpu but resources.gpu"),
    (lambda d: d.update(storage="redis://h/0"), "storage: must be an SQLAlchemy URL"),
    (lambda d: d.update(study_name="a b"), "study_name: String should match pattern"),
    (lambda d: d.update(ray={"adress": "auto"}), "ray.adress: unknown field"),
    (lambda d: d.update(early_stopping={"metric": "val_acc", "grace_period": 5, "max_t": 2}),
     "early_stopping: grace_period (5) must be <= max_t (2)"),
    (lambda d: d.update(early_stopping={"metric": "accuracy"}),
     "early_stopping.metric: Input should be"),
    (lambda d: d.update(wandb={"mode": "on"}), "wandb.mode: Input should be 'auto'"),
    (lambda d: d.update(wandb={"media_interval": -5}),
     "wandb.media_interval: Input should be greater than or equal to 0"),
])
def test_bad_spec_message_names_the_field(change, expected):
    data = good()
    if "device" not in data["base"]:
        data["base"]["device"] = "cpu"
    change(data)
    lines = errors_of(data)
    assert any(line.startswith(expected) for line in lines), lines
    assert all(": " in line for line in lines)


def test_password_in_storage_url_is_rejected_without_echoing_it():
    data = good()
    data["storage"] = "postgresql://user:hunter2@db.example/sweeps"
    lines = errors_of(data)
    assert lines[0].startswith("storage: contains a password")
    assert not any("hunter2" in line for line in lines)


def test_all_problems_of_a_pass_are_reported_at_once():
    data = good()
    data["space"]["demp.regularizer.peak"]["high"] = 1e-4
    data["trials"] = 0
    lines = errors_of(data)
    assert {line.split(":")[0] for line in lines} == {"space.demp.regularizer.peak.high", "trials"}


def test_overrides_reach_dotted_parameter_names(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(good()))  # sorted keys: pct_start now precedes shape
    spec = load_spec(path, ["trials=7", "space.demp.regularizer.peak.high=10",
                            "base.optimizer.lr=3e-3", "sampler.seed=5"])
    assert (spec.trials, spec.space["demp.regularizer.peak"].high) == (7, 10.0)
    assert (spec.base.optimizer.lr, spec.sampler.seed) == (3e-3, 5)
    with pytest.raises(ConfigError, match="no parameter of space matches"):
        apply_spec_overrides(good(), ["space.demp.nothing.high=1"])


# ------------------------------------------------------------------------------ the space


def test_parameter_types_follow_the_trainer_fields():
    spec = validate_spec(good())
    assert [p.type for p in spec.space.values()] == ["float", "float", "categorical", "float",
                                                    "int"]


def test_a_parameter_is_sampled_after_the_parameters_its_conditions_read():
    from demp.spec import sampling_order

    data = good()
    data["space"] = {"demp.noise.peak": {"low": 1e-5, "high": 1e-3, "log": True},
                     "demp.schedule.pct_start": {"low": 0.1, "high": 0.5},
                     "demp.noise.enabled": {"choices": [True, False]},
                     "demp.schedule.shape": {"choices": ["one_cycle", "warmup"]}}
    spec = validate_spec(data)
    assert sampling_order(spec.space) == ["demp.noise.enabled", "demp.noise.peak",
                                          "demp.schedule.shape", "demp.schedule.pct_start"]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        t = study.ask()
        spec.search_space()(t)
        assert ("demp.noise.peak" in t.params) == t.params["demp.noise.enabled"]
        study.tell(t, 0.0)


def test_conditions_noise_only_when_on_pct_start_only_for_one_cycle():
    spec = validate_spec(good())
    base = spec.base.model_dump(mode="json")
    sigma, pct = spec.space["demp.noise.peak"], spec.space["demp.schedule.pct_start"]
    assert is_active("demp.noise.peak", sigma, base, {})
    off = apply_params(base, {"demp.noise.enabled": False})
    assert not is_active("demp.noise.peak", sigma, off, {})
    assert is_active("demp.schedule.pct_start", pct, base, {"demp.schedule.shape": "one_cycle"})
    assert not is_active("demp.schedule.pct_start", pct, base, {"demp.schedule.shape": "warmup"})


def test_define_by_run_space_samples_conditionally_and_builds_valid_configs():
    spec = validate_spec(good())
    space = spec.search_space()
    study = optuna.create_study(directions=["maximize", "maximize"],
                                sampler=optuna.samplers.RandomSampler(seed=3))
    seen_shapes = set()
    for _ in range(30):
        trial = study.ask()
        space(trial)
        params = trial.params
        shape = params["demp.schedule.shape"]
        seen_shapes.add(shape)
        assert ("demp.schedule.pct_start" in params) == (shape == "one_cycle")
        assert 1e-3 <= params["demp.regularizer.peak"] <= 3
        assert isinstance(params["demp.death.prune_interval"], int)
        cfg = TrainConfig.model_validate(apply_params(spec.base.model_dump(mode="json"), params))
        assert cfg.demp.regularizer.peak == params["demp.regularizer.peak"]
        assert cfg.demp.schedule.shape == shape
        study.tell(trial, [0.5, 0.5])
    assert seen_shapes == {"one_cycle", "warmup"}


def test_grid_values_and_grid_size():
    data = good()
    data["sampler"] = {"name": "grid"}
    data["space"] = {
        "demp.regularizer.peak": {"low": 1e-3, "high": 1e-1, "log": True, "grid_points": 3},
        "demp.death.prune_interval": {"low": 10, "high": 12},
        "demp.schedule.shape": {"choices": ["one_cycle", "warmup"]},
    }
    data["trials"] = 18
    spec = validate_spec(data)
    grid = spec.search_space().grid()
    assert grid["demp.regularizer.peak"] == pytest.approx([1e-3, 1e-2, 1e-1])
    assert grid["demp.death.prune_interval"] == [10, 11, 12]
    assert spec.search_space().grid_size() == 18
    assert spec_warnings(spec) == []
    data["trials"] = 20
    assert spec_warnings(validate_spec(data)) == [
        "trials: 20 trials but the grid has 18 points; the grid sampler repeats points once it "
        "is exhausted"]


def test_spec_defaults_are_explicit():
    spec = SweepSpec.model_validate({"name": "d", "space": {"optimizer.lr": {"low": 1e-4,
                                                                             "high": 1e-2}},
                                     "trials": 2})
    assert spec.resolved_study_name == "d"
    assert (spec.sampler.name, spec.sampler.seed) == ("tpe", 0)
    assert (spec.max_concurrent, spec.retries, spec.resources.cpu, spec.resources.gpu) == (
        1, 1, 1.0, 0.0)
    assert spec.ray.address is None and spec.storage is None and spec.early_stopping is None
    assert spec.wandb.mode == "auto" and spec.wandb.tags == []
    assert spec.output_root == Path("sweeps_out")


@pytest.mark.parametrize("address, local", [
    (None, True), ("127.0.0.1:6379", True), ("localhost:6379", True),
    ("ray://127.0.0.1:10001", True), ("auto", False), ("10.0.0.5:6379", False),
    ("ray://head.cluster:10001", False)])
def test_ray_address_locality_decides_loopback_binding(address, local, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    shared = {"output_root": "/mnt/demp/sweeps",
              "ray": {"address": address, "shared_paths": ["/mnt/demp"]}}
    assert validate_spec({**good(), **shared}).ray.is_local is local


def test_cli_validate_prints_one_line_per_bad_field(tmp_path, capsys):
    from demp.cli import main

    data = good()
    data["space"]["demp.regularizer.peak"]["high"] = 1e-4
    data["objectives"] = [{"metric": "flops", "direction": "minimize"}]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["sweep", "validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: config: space.demp.regularizer.peak.high: must be > low (0.001), "
                   "got 0.0001"]
    data["space"]["demp.regularizer.peak"]["high"] = 3
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["sweep", "validate", str(path)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: config: objectives.0.reference: required for flops (minimize), which has no natural "
        "worst value"]
    assert main(["sweep", "validate", str(path), "--set", "objectives.0.reference=1e9"]) == 0
    assert "valid — 4 trials, sampler tpe (seed 0)" in capsys.readouterr().out
