"""End-to-end trainer behaviour on digits: accuracy, sparsity, FLOPs, resume, failures."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from demp.config import ModelConfig, TrainConfig, validate
from demp.data import build_data
from demp.methods import build_trainer
from demp.models import build_model
from demp.train import TrainingDiverged
from demp.train.callbacks import Callback
from demp.train.checkpoint import load_model
from demp.train.metrics import inference_flops
from demp.train.schedules import lr_factor
from demp.train.surgery import remove_dead

DIGITS = {
    "model": {"name": "mlp", "hidden": [256, 256]},
    "optimizer": {"lr": 3e-3},
    "epochs": 30,
    "demp": {"regularizer": {"peak": 0.05}, "death": {"prune_interval": 100}},
    "threads": 1,
}


@pytest.fixture(scope="module")
def digits():
    return build_data(validate(TrainConfig, DIGITS).data)


class Recorder(Callback):
    def __init__(self):
        self.losses: dict[int, float] = {}
        self.evals: list[dict] = []
        self.prunes: list[dict] = []
        self.ended = False

    def on_step(self, trainer, step, loss):
        self.losses[step] = loss

    def on_eval(self, trainer, metrics):
        self.evals.append(metrics)

    def on_prune(self, trainer, event):
        self.prunes.append(event)

    def on_end(self, trainer, summary):
        self.ended = True


def test_demp_on_digits_is_accurate_and_sparser_than_dense(digits):
    rec = Recorder()
    demp = build_trainer(DIGITS, callbacks=[rec], data=digits).fit()
    dense_cfg = dict(DIGITS, demp={"enabled": False})
    dense = build_trainer(dense_cfg, data=digits).fit()
    assert demp["test_acc"] >= 0.90
    assert dense["test_acc"] >= 0.90
    assert demp["neural_sparsity"] > dense["neural_sparsity"] + 0.05
    assert dense["neural_sparsity"] == 0.0
    assert demp["param_sparsity"] > 0.05
    assert demp["flops"] < dense["flops"]
    # death checked at step 0, every 100 steps, and at the end (600 steps)
    assert [e["step"] for e in rec.prunes] == [0, 100, 200, 300, 400, 500, 600]
    assert rec.ended and rec.evals[-1]["final"] and not rec.evals[-1]["stopped_early"]
    # live counts in the record agree with the last prune event
    assert rec.evals[-1]["live_units"] == rec.prunes[-1]["live_units"]
    lams = [e["lam"] for e in rec.evals]
    assert max(lams) == pytest.approx(0.05, rel=0.05)


def test_metrics_record_fields(digits):
    rec = Recorder()
    build_trainer(dict(DIGITS, epochs=2), callbacks=[rec], data=digits).fit()
    m = rec.evals[0]
    assert m["step"] == digits.steps_per_epoch
    for key in ("val_acc", "val_loss", "test_acc", "test_loss", "neural_sparsity",
                "param_sparsity", "flops", "train_flops", "step_time", "lr", "lam", "sigma"):
        assert isinstance(m[key], (int, float)), key
    assert set(m["live_units"]) == {"fc0", "fc1"}
    json.dumps(m)


@pytest.mark.parametrize("name,shape", [("mlp", (1, 8, 8)), ("small_cnn", (1, 8, 8)),
                                        ("vgg11", (3, 16, 16)), ("resnet18", (3, 16, 16)),
                                        ("resnet50", (3, 16, 16))])
def test_flops_agree_with_torch_flop_counter_dense_and_pruned(name, shape):
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=name, width=0.25), shape, 10).eval()
    for prune in (False, True):
        if prune:
            gen = torch.Generator().manual_seed(0)
            remove_dead(model, {g: torch.rand(i.numel(), generator=gen) < 0.5
                                for g, i in model.unit_ids.items()})
        with FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *shape))
        assert inference_flops(model, shape) == counter.get_total_flops()


def test_resume_from_checkpoint_continues_identically(digits, tmp_path):
    cfg = dict(DIGITS, epochs=6, eval_interval=40, optimizer={"lr": 2e-2, "name": "adamw"},
               demp={"regularizer": {"peak": 0.1}, "noise": {"peak": 1e-3},
                     "death": {"prune_interval": 30}})
    full = Recorder()
    build_trainer(cfg, callbacks=[full], data=digits).fit()

    class StopAt(Callback):
        def on_eval(self, trainer, metrics):
            if trainer.step == 80:
                trainer.save_checkpoint(tmp_path / "ck")
                trainer.request_stop()

    first = Recorder()
    out = build_trainer(cfg, callbacks=[first, StopAt()], data=digits).fit()
    assert out["stopped_early"] and out["step"] == 80
    resumed = Recorder()
    t = build_trainer(cfg, callbacks=[resumed], resume_from=tmp_path / "ck", data=digits)
    assert t.step == 80
    final = t.fit()
    assert [s for s in resumed.losses] == list(range(81, t.total_steps + 1))
    for s, loss in resumed.losses.items():
        assert loss == full.losses[s], s  # bit-identical
    assert final["val_acc"] == full.evals[-1]["val_acc"]
    assert final["live_units"] == full.evals[-1]["live_units"]
    assert any(sum(e["removed"].values()) for e in full.prunes), "pruning must happen in this run"


def test_resume_under_a_changing_lr_schedule_continues_identically(digits, tmp_path):
    """The first resumed step runs at the checkpoint's learning rate (a rebuilt LR schedule
    used to reset it to the schedule's step-0 value for that one step)."""
    cfg = dict(DIGITS, max_steps=120, eval_interval=40, lr_schedule={"name": "cosine"},
               demp={"death": {"prune_interval": 30}})
    full = Recorder()
    build_trainer(cfg, callbacks=[full], data=digits).fit()

    class StopAt(Callback):
        def on_eval(self, trainer, metrics):
            if trainer.step == 40:
                trainer.save_checkpoint(tmp_path / "ck")
                trainer.request_stop()

    build_trainer(cfg, callbacks=[StopAt()], data=digits).fit()
    resumed = Recorder()
    t = build_trainer(cfg, callbacks=[resumed], resume_from=tmp_path / "ck", data=digits)
    schedule = validate(TrainConfig, cfg).lr_schedule
    assert t.optimizer.param_groups[0]["lr"] == pytest.approx(
        3e-3 * lr_factor(schedule, 40, 120, digits.steps_per_epoch))
    t.fit()
    assert resumed.losses == {s: full.losses[s] for s in range(41, 121)}  # bit-identical


def test_checkpoint_loads_pruned_model_with_weights_only(digits, tmp_path):
    cfg = dict(DIGITS, epochs=10, output_dir=str(tmp_path / "run"))
    summary = build_trainer(cfg, data=digits).fit()
    raw = torch.load(tmp_path / "run" / "model" / "checkpoint.pt", weights_only=True)
    assert raw["architecture"]["unit_ids"]["fc0"] == sorted(raw["architecture"]["unit_ids"]["fc0"])
    model, loaded_cfg = load_model(tmp_path / "run" / "model")
    assert loaded_cfg.model.name == "mlp"
    assert model.live_units() == summary["live_units"]
    correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in digits.test)
    assert correct / len(digits.test) == pytest.approx(summary["test_acc"])
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["final"] is True
    assert (tmp_path / "run" / "prune_events.jsonl").exists()


def test_nan_loss_raises_training_diverged(digits):
    cfg = dict(DIGITS, epochs=3, optimizer={"lr": 1e6, "name": "sgd", "momentum": 0.0},
               demp={"enabled": False})
    with pytest.raises(TrainingDiverged, match="training loss is"):
        build_trainer(cfg, data=digits).fit()


def test_training_is_deterministic(digits):
    a, b = Recorder(), Recorder()
    cfg = dict(DIGITS, epochs=2)
    build_trainer(cfg, callbacks=[a], data=digits).fit()
    build_trainer(cfg, callbacks=[b], data=digits).fit()
    assert a.losses == b.losses
