"""Every kind of bad config value gives a message naming the field path."""

from __future__ import annotations

import json

import pytest

from demp.cli import main
from demp.config import ConfigError, TrainConfig, load_train_config, parse_override, validate


@pytest.mark.parametrize(
    "data,path,fragment",
    [
        ({"model": {"name": "resnet9000"}}, "model.name", "Input should be"),
        ({"model": {"width": 0}}, "model.width", "greater than 0"),
        ({"model": {"activation": "tanh"}}, "model.activation", "Input should be"),
        ({"model": {"hidden": [64, 0]}}, "model.hidden.1", "greater than or equal to 1"),
        ({"data": {"val_fraction": 1.5}}, "data.val_fraction", "less than 1"),
        ({"data": {"batch_size": "many"}}, "data.batch_size", "valid integer"),
        ({"optimizer": {"lr": -1}}, "optimizer.lr", "greater than 0"),
        ({"optimizer": {"name": "rmsprop"}}, "optimizer.name", "'adamw', 'adam' or 'sgd'"),
        ({"demp": {"regularizer": {"kind": "l3"}}}, "demp.regularizer.kind", "'l1' or 'l2'"),
        ({"demp": {"regularizer": {"peak": -0.1}}}, "demp.regularizer.peak", "greater than or equal to 0"),
        ({"demp": {"noise": {"peak": "loud"}}}, "demp.noise.peak", "valid number"),
        ({"demp": {"schedule": {"shape": "sawtooth"}}}, "demp.schedule.shape", "Input should be"),
        ({"demp": {"schedule": {"pct_start": 1.0}}}, "demp.schedule.pct_start", "less than 1"),
        ({"demp": {"schedule": {"span_fraction": 0}}}, "demp.schedule.span_fraction", "greater than 0"),
        ({"demp": {"death": {"prune_interval": 0}}}, "demp.death.prune_interval", "greater than or equal to 1"),
        ({"demp": {"death": {"epsilon": -1}}}, "demp.death.epsilon", "greater than or equal to 0"),
        ({"demp": {"typo": 1}}, "demp.typo", "unknown field"),
        ({"epochs": 0}, "epochs", "greater than 0"),
        ({"device": "tpu"}, "device", "Input should be"),
        ({"lr_schedule": {"name": "step"}}, "lr_schedule.milestones", "needs milestones"),
        ({"model": {"name": "mlp", "norm": False}}, "demp.regularizer.target", "norm_scales"),
    ],
)
def test_bad_value_names_the_field(data, path, fragment):
    with pytest.raises(ConfigError) as err:
        validate(TrainConfig, data)
    lines = str(err.value).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}: "), lines[0]
    assert fragment in lines[0]


def test_several_bad_values_give_one_line_each():
    with pytest.raises(ConfigError) as err:
        validate(TrainConfig, {"epochs": -1, "optimizer": {"lr": 0}})
    assert sorted(line.split(":")[0] for line in str(err.value).splitlines()) == [
        "epochs", "optimizer.lr"]


def test_yaml_with_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model: {name: small_cnn}\noptimizer: {lr: 0.01}\n")
    cfg = load_train_config(f, ["optimizer.lr=1e-3", "demp.noise.enabled=false",
                                "model.hidden=[32, 16]"])
    assert cfg.model.name == "small_cnn"
    assert cfg.optimizer.lr == 1e-3
    assert cfg.demp.noise.enabled is False
    assert cfg.model.hidden == [32, 16]


def test_override_errors():
    with pytest.raises(ConfigError, match="expected KEY.PATH=VALUE"):
        parse_override("optimizer.lr")
    with pytest.raises(ConfigError, match="optimizer.lr: is not a section"):
        load_train_config(None, ["optimizer.lr=1", "optimizer.lr.x=2"])


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_train_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_train_config(bad)


def test_cli_reports_bad_config_and_prints_schema(capsys):
    assert main(["train", "--set", "optimizer.lr=-3"]) == 2
    assert "optimizer.lr: Input should be greater than 0" in capsys.readouterr().err
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "TrainConfig"
    assert "demp" in schema["properties"]


def test_each_part_of_demp_switches_off():
    cfg = validate(TrainConfig, {"demp": {"regularizer": {"enabled": False},
                                          "noise": {"enabled": False},
                                          "death": {"enabled": False}}})
    assert not cfg.demp.regularizer.enabled and not cfg.demp.noise.enabled
    assert cfg.demp.enabled and not cfg.demp.death.enabled
