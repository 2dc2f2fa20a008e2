"""Target-sparsity mode: λ adapted online reaches the target without a λ search."""

from __future__ import annotations

import pytest

from demp.config import TargetConfig, TrainConfig, validate
from demp.data import build_data
from demp.methods import build_trainer
from demp.train.callbacks import Callback
from demp.train.controller import SparsityController

BASE = {"model": {"name": "mlp", "hidden": [256, 256]}, "optimizer": {"lr": 3e-3}, "epochs": 30,
        "threads": 1, "demp": {"regularizer": {"peak": 0.01}, "death": {"prune_interval": 50}}}


@pytest.fixture(scope="module")
def digits():
    return build_data(validate(TrainConfig, BASE).data)


def _cfg(metric: str, value: float) -> dict:
    demp = dict(BASE["demp"], target={"metric": metric, "value": value})
    return dict(BASE, demp=demp)


class Events(Callback):
    def __init__(self):
        self.events = []

    def on_prune(self, trainer, event):
        self.events.append(event)


@pytest.mark.parametrize("metric,value", [("param_sparsity", 0.5), ("neural_sparsity", 0.3)])
def test_controller_reaches_target_within_three_points(digits, metric, value):
    rec = Events()
    summary = build_trainer(_cfg(metric, value), callbacks=[rec], data=digits).fit()
    assert abs(summary[metric] - value) <= 0.03
    assert summary[metric] <= value + 1e-9  # removal never overshoots
    assert summary["test_acc"] >= 0.9
    # λ was switched off once the target was met, and the events say so
    assert rec.events[-1]["lam_scale"] == 0.0
    assert all(e["target_sparsity"] == value for e in rec.events)


def test_controller_scales_lambda_up_when_behind_and_stops_when_reached():
    c = SparsityController(TargetConfig(value=0.5, gain=1.0, ramp_fraction=0.5), span_steps=1000)
    assert c.desired(250, 0.5) == pytest.approx(0.25)
    up = c.update(250, measured=0.0, target=0.5)
    assert up == pytest.approx(2.718281828 ** 0.5)
    c.update(500, measured=0.5, target=0.5)
    assert c.reached and c.scale == 0.0
    restored = SparsityController(TargetConfig(value=0.5), span_steps=1000)
    restored.load_state_dict(c.state_dict())
    assert restored.reached and restored.scale == 0.0


def test_target_mode_resumes_identically(digits, tmp_path):
    cfg = dict(_cfg("param_sparsity", 0.5), epochs=6, eval_interval=40)
    full = Events()
    end = build_trainer(cfg, callbacks=[full], data=digits).fit()

    class StopAt(Callback):
        def on_eval(self, trainer, metrics):
            if trainer.step == 40:
                trainer.save_checkpoint(tmp_path / "ck")
                trainer.request_stop()

    build_trainer(cfg, callbacks=[StopAt()], data=digits).fit()
    resumed = Events()
    again = build_trainer(cfg, callbacks=[resumed], resume_from=tmp_path / "ck", data=digits).fit()
    assert again["val_acc"] == end["val_acc"]
    assert [e["lam_scale"] for e in resumed.events] == [
        e["lam_scale"] for e in full.events if e["step"] >= 40]


def test_target_config_errors_name_the_field():
    from demp.config import ConfigError

    with pytest.raises(ConfigError, match=r"^demp\.target\.value: a sparsity target"):
        validate(TrainConfig, {"demp": {"target": {"value": 1.2}}})
    with pytest.raises(ConfigError, match=r"^demp\.target: target-sparsity mode needs"):
        validate(TrainConfig, {"demp": {"target": {"value": 0.5}, "death": {"remove": False}}})
