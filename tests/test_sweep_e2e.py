"""End-to-end sweeps on a loopback-only Ray, with the real trainer on tiny digits configs.

Each sweep trains 16-unit MLPs for 60 steps, so a trial takes well under a second once its Ray
worker is warm; every assertion checks values that the sweep's three ledgers (Ray's results,
the Optuna study, trials.jsonl / the frontier files) must agree on.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import ray
import ray.cloudpickle
import torch
import yaml
from ray import tune

from demp.cli import main
from demp.results import TrialLog
from demp.spec import SweepPaths, open_storage, validate_spec
from demp.sweep import demp_trial, resume_sweep, run_sweep
from demp.train.callbacks import Callback

# The flaky trainable below is defined here, so Ray workers must receive it by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

S = optuna.trial.TrialState
BASE: dict[str, Any] = {
    "model": {"name": "mlp", "hidden": [16, 16]},
    "data": {"name": "digits"},
    "optimizer": {"lr": 0.03},
    "max_steps": 60,
    "eval_interval": 15,
    "threads": 1,
    "device": "cpu",
    "demp": {"death": {"prune_interval": 15}, "noise": {"peak": 1e-3}},
}
LAMBDA = {"low": 1e-3, "high": 3.0, "log": True}


def make_spec(tmp_path: Path, name: str, **fields: Any) -> dict[str, Any]:
    data = {"name": name, "output_root": str(tmp_path), "base": copy.deepcopy(BASE),
            "space": {"demp.regularizer.peak": dict(LAMBDA)}, "max_concurrent": 2,
            "sampler": {"name": "random", "seed": 0}}
    data.update(fields)
    return data


def study_of(paths: SweepPaths, name: str, storage: str | None = None) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(storage, paths))


def dominated(p: list[float], others: list[list[float]]) -> bool:
    return any(all(o >= x for o, x in zip(q, p)) and q != p for q in others)


def brute_hv(points: list[list[float]], ref: list[float]) -> float:
    pts = sorted({tuple(p) for p in points if p[0] > ref[0] and p[1] > ref[1]}, key=lambda p: -p[0])
    area, best = 0.0, ref[1]
    for x, y in pts:
        if y > best:
            area, best = area + (x - ref[0]) * (y - best), y
    return area


def check_agreement(paths: SweepPaths, name: str, planned: int,
                    storage: str | None = None) -> dict[str, Any]:
    """Ray's results, the Optuna study (in ``storage``, default the sweep's journal) and the
    frontier describe the same trials."""
    records = TrialLog(paths.trials).records()
    lines = [json.loads(x)["trial_id"] for x in paths.trials.read_text().splitlines()]
    assert len(lines) == len(set(lines)) == len(records) == planned  # none lost or counted twice
    by_id = {r.trial_id: r for r in records}

    analysis = tune.ExperimentAnalysis(str(paths.ray))
    ray_trials = {t.trial_id: t for t in analysis.trials}
    assert set(ray_trials) == set(by_id)
    for tid, t in ray_trials.items():
        assert t.status in ("TERMINATED", "ERROR")
        assert t.config["params"] == by_id[tid].params
        assert t.config["optuna_trial"] == by_id[tid].number

    study = study_of(paths, name, storage)
    ours = [t for t in study.trials if t.user_attrs.get("status") != "lost"]
    assert sorted(t.user_attrs["ray_trial_id"] for t in ours) == sorted(by_id)
    assert all(t.state != S.RUNNING for t in study.trials)
    lost = [t for t in study.trials if t.user_attrs.get("status") == "lost"]
    # lost: asked by Optuna after Ray's last snapshot (perhaps before its Ray id was stored)
    assert all(t.state == S.FAIL and t.user_attrs.get("ray_trial_id") not in ray_trials
               for t in lost)
    expected_state = {"complete": S.COMPLETE, "truncated": S.PRUNED, "failed": S.FAIL}
    for t in ours:
        r = by_id[t.user_attrs["ray_trial_id"]]
        assert t.state == expected_state[r.status] and t.number == r.number
        assert {k: v for k, v in t.params.items()} == r.params
        if r.status == "complete":
            assert t.values == [r.metrics["val_acc"], r.metrics["param_sparsity"]]
            last = ray_trials[r.trial_id].last_result
            assert [last["val_acc"], last["param_sparsity"]] == t.values

    doc = json.loads(paths.frontier_json.read_text())
    complete = {t.user_attrs["ray_trial_id"]: t.values for t in ours if t.state == S.COMPLETE}
    front = {tid for tid, v in complete.items() if not dominated(v, list(complete.values()))}
    assert {row["trial_id"] for row in doc["frontier"]} == front
    assert doc["hypervolume"] == pytest.approx(brute_hv(list(complete.values()), [0.1, 0.0]),
                                               abs=1e-12)
    hv = [h["hypervolume"] for h in doc["hypervolume_history"]]
    assert len(hv) == planned and hv == sorted(hv) and hv[-1] == doc["hypervolume"]
    rows = list(csv.DictReader(paths.frontier_csv.open()))
    assert [r["trial_id"] for r in rows] == [r["trial_id"] for r in doc["frontier"]]
    for row in doc["frontier"]:  # a frontier trial keeps its final checkpoint
        ckpt = Path(row["checkpoint"])
        assert (ckpt / "checkpoint.pt").is_file()
        assert json.loads((ckpt / "record.json").read_text())["complete"] is True
    return {"records": by_id, "study": study, "ray": ray_trials, "frontier": front}


# ------------------------------------------------------------------------------ a whole sweep


def test_tiny_sweep_end_to_end(tmp_path, ray_address, capsys):
    data = make_spec(tmp_path, "e2e", trials=6)
    data["space"].update({"demp.schedule.shape": {"choices": ["one_cycle", "warmup"]},
                          "demp.schedule.pct_start": {"low": 0.1, "high": 0.5}})
    spec = validate_spec(data)
    outcome = run_sweep(spec)
    paths = outcome.paths
    assert paths.root == (tmp_path / "e2e").resolve()
    got = check_agreement(paths, "e2e", planned=6)
    records = got["records"]
    assert all(r.status == "complete" and r.failures == 0 for r in records.values())
    for r in records.values():
        assert r.metrics["step"] == 60 and r.metrics["complete"] is True
        shape = r.params["demp.schedule.shape"]
        assert ("demp.schedule.pct_start" in r.params) == (shape == "one_cycle")
        assert 1e-3 <= r.params["demp.regularizer.peak"] <= 3.0
    assert len({r.params["demp.regularizer.peak"] for r in records.values()}) == 6
    # optuna-dashboard shows each trial's secondary metrics and its accuracy after every
    # evaluation (read from the trial's metrics.jsonl when it ended)
    for t in study_of(paths, "e2e").trials:
        rec = records[t.user_attrs["ray_trial_id"]]
        assert t.user_attrs["test_acc"] == rec.metrics["test_acc"]
        assert t.user_attrs["neural_sparsity"] == rec.metrics["neural_sparsity"]
        assert sorted(t.intermediate_values) == [15, 30, 45, 60]
        assert t.intermediate_values[60] == rec.metrics["val_acc"]
    assert outcome.frontier.hypervolume > 0
    assert paths.frontier_png.read_bytes()[:4] == b"\x89PNG"
    assert yaml.safe_load(paths.spec.read_text())["trials"] == 6
    assert json.loads(paths.meta.read_text())["runs"][0]["kind"] == "run"
    assert not paths.driver.exists()

    # status and frontier read the directory without Ray
    capsys.readouterr()
    assert main(["sweep", "status", str(paths.root)]) == 0
    out = capsys.readouterr().out
    assert "6/6 finished — 6 complete, 0 truncated, 0 failed; 0 running" in out
    assert "driver: done" in out
    assert main(["sweep", "frontier", str(paths.root), "--format", "csv"]) == 0
    assert capsys.readouterr().out == paths.frontier_csv.read_text()

    # export: the pruned model loads and reproduces the recorded validation accuracy
    best = json.loads(paths.frontier_json.read_text())["frontier"][0]
    assert main(["sweep", "export", str(paths.root), best["trial_id"]]) == 0
    from demp.data import build_data
    from demp.train.checkpoint import load_model

    model, cfg = load_model(paths.export_dir(best["trial_id"]))
    assert cfg.demp.regularizer.peak == records[best["trial_id"]].params["demp.regularizer.peak"]
    assert sum(p.numel() for p in model.parameters()) == records[best["trial_id"]].metrics["params"]
    correct = n = 0
    with torch.no_grad():
        for x, y in build_data(cfg.data).val:
            correct += int((model(x).argmax(1) == y).sum())
            n += len(y)
    assert correct / n == pytest.approx(best["val_acc"], abs=1e-12)
    exported = json.loads((paths.export_dir(best["trial_id"]) / "trial.json").read_text())
    assert exported["on_frontier"] is True
    # and it stands alone: raw (un-normalized) validation images give the same accuracy
    from demp.train import load_export

    standalone = load_export(paths.export_dir(best["trial_id"]))
    val = build_data(cfg.data).val
    assert (standalone.predict(val.x) == val.y.numpy()).mean() == pytest.approx(
        best["val_acc"], abs=1e-12)
    assert exported["preprocessing"] == standalone.preprocessing
    assert exported["preprocessing"]["scale"]["float"] == 1 / 16


# ------------------------------------------------------------------------------ failures


class _CrashOnce(Callback):
    """Fails the run right after its step-30 checkpoint was reported."""

    def on_eval(self, trainer: Any, metrics: dict[str, Any]) -> None:
        if trainer.step == 30 and not metrics.get("final"):
            raise RuntimeError("injected crash after the step-30 checkpoint")


def flaky_trial(config: dict[str, Any]) -> None:
    """demp_trial, except the (lr 0.03, digits) trial crashes once on its first attempt."""
    p = config["params"]
    first_attempt = tune.get_checkpoint() is None
    crash = first_attempt and p["optimizer.lr"] == 0.03 and p["data.name"] == "digits"
    demp_trial(config, callbacks=[_CrashOnce()] if crash else None)


def crash_once_trial(config: dict[str, Any]) -> None:
    """demp_trial, except the lr 0.03 trial crashes at step 30 on its first attempt, whether or
    not it had a checkpoint to restart from (a marker file in the sweep directory says)."""
    marker = Path(config["sweep_dir"], f"crashed-{config['optuna_trial']}")
    crash = config["params"]["optimizer.lr"] == 0.03 and not marker.exists()
    if crash:
        marker.touch()
    demp_trial(config, callbacks=[_CrashOnce()] if crash else None)


def test_failing_trials_are_recorded_with_reasons_and_the_sweep_goes_on(tmp_path, ray_address):
    data = make_spec(tmp_path, "fail", trials=4, retries=1, sampler={"name": "grid", "seed": 0})
    # a checkpoint at every evaluation (the default is by time), so the crash resumes at 30
    data["base"].update(divergence_loss=1e308, checkpoint_period_s=0)
    data["base"]["data"]["data_dir"] = str(tmp_path / "no-cifar-here")
    data["space"] = {"optimizer.lr": {"choices": [0.03, 1e30]},
                     "data.name": {"choices": ["digits", "cifar10"]}}
    outcome = run_sweep(validate_spec(data), trainable=flaky_trial)
    paths = outcome.paths
    got = check_agreement(paths, "fail", planned=4)
    by_params = {(r.params["optimizer.lr"], r.params["data.name"]): r
                 for r in got["records"].values()}

    retried = by_params[(0.03, "digits")]  # crashed once, resumed from its last checkpoint
    assert retried.status == "complete" and retried.failures == 1
    assert retried.metrics["resumed_from_step"] == 30 and retried.metrics["step"] == 60

    nan = by_params[(1e30, "digits")]      # NaN loss: recorded, not retried
    assert nan.status == "failed" and nan.failures == 0
    assert "training loss is nan" in nan.reason and "not finite" in nan.reason

    for lr in (0.03, 1e30):                # an exception: retried once, then recorded
        err = by_params[(lr, "cifar10")]
        assert err.status == "failed" and err.failures == 2
        assert err.reason.startswith("FileNotFoundError: data.data_dir: cifar10 not found")

    study = got["study"]
    reasons = {t.user_attrs["ray_trial_id"]: t.user_attrs.get("reason") for t in study.trials}
    assert reasons[nan.trial_id] == nan.reason
    assert reasons[by_params[(1e30, "cifar10")].trial_id].startswith("FileNotFoundError: ")
    assert [row["trial_id"] for row in json.loads(paths.frontier_json.read_text())["frontier"]] \
        == [retried.trial_id]
    assert outcome.frontier.hypervolume == pytest.approx(
        (retried.metrics["val_acc"] - 0.1) * retried.metrics["param_sparsity"], abs=1e-12)
    assert outcome.counts == {"complete": 1, "truncated": 0, "failed": 3}


def test_by_default_a_trial_reports_once_checkpoints_at_its_end_and_keeps_its_history(
        tmp_path, ray_address):
    """The default cadence (issue #17): no early stopping, so one slim report and one checkpoint
    per trial; every evaluation is in the trial's metrics.jsonl; trials.jsonl keeps the full final
    record; no CSV / TensorBoard files. A trial that crashes before its first (time-based)
    checkpoint is retried from the start and completes."""
    data = make_spec(tmp_path, "lean", trials=2, retries=1, sampler={"name": "grid", "seed": 0})
    data["space"] = {"optimizer.lr": {"choices": [0.03, 0.02]},
                     "data.name": {"choices": ["digits"]}}
    outcome = run_sweep(validate_spec(data), trainable=crash_once_trial)
    got = check_agreement(outcome.paths, "lean", planned=2)
    from demp.results import trial_history

    for r in got["records"].values():
        trial_dir = outcome.paths.trial_dir(r.trial_id)
        assert r.status == "complete" and r.metrics["step"] == 60
        assert len((trial_dir / "result.json").read_text().splitlines()) == 1
        assert len(list(trial_dir.glob("checkpoint_*"))) == 1
        assert not list(trial_dir.glob("progress.csv")) + list(trial_dir.glob("events.out.*"))
        assert [h["step"] for h in trial_history(outcome.paths, r).records] == [15, 30, 45, 60]
        assert {"live_units/fc0", "dead_fraction/fc1", "lam"} <= set(r.metrics)  # full record
        assert "live_units/fc0" not in got["ray"][r.trial_id].last_result         # slim in Ray
        crashed = r.params["optimizer.lr"] == 0.03
        assert (r.failures, r.metrics["resumed_from_step"]) == ((1, 0) if crashed else (0, 0))


def test_early_stopped_trials_are_truncated_and_kept_off_the_frontier(tmp_path, ray_address):
    choices = [0.05, 0.03, 1e-7]
    data = make_spec(tmp_path, "asha", trials=3, max_concurrent=1,
                     early_stopping={"metric": "val_acc", "grace_period": 1,
                                     "reduction_factor": 2})
    data["space"] = {"optimizer.lr": {"choices": choices}}
    for seed in range(50):  # a seed whose grid order does not start with the useless lr
        data["sampler"] = {"name": "grid", "seed": seed}
        spec = validate_spec(data)
        study = optuna.create_study(directions=spec.directions,
                                    sampler=optuna.samplers.GridSampler(
                                        spec.search_space().grid(), seed=seed))
        first = study.ask()
        spec.search_space()(first)
        if first.params["optimizer.lr"] != 1e-7:
            break
    outcome = run_sweep(spec)
    got = check_agreement(outcome.paths, "asha", planned=3)
    by_lr = {r.params["optimizer.lr"]: r for r in got["records"].values()}
    stopped = by_lr[1e-7]
    assert stopped.status == "truncated" and stopped.metrics["complete"] is False
    assert stopped.metrics["step"] < 60
    assert by_lr[first.params["optimizer.lr"]].status == "complete"
    state = {t.user_attrs["ray_trial_id"]: t.state for t in got["study"].trials}
    assert state[stopped.trial_id] == S.PRUNED
    assert stopped.trial_id not in got["frontier"]
    assert outcome.counts["truncated"] >= 1


# ------------------------------------------------------------------------------ resume


def test_resume_after_sigkill_finishes_the_planned_trials(tmp_path, ray_address):
    data = make_spec(tmp_path, "killed", trials=10, ray={"address": ray_address})
    data["base"].update(max_steps=300, eval_interval=30)
    data["base"]["demp"]["death"]["prune_interval"] = 30
    spec_path = tmp_path / "killed.yaml"
    spec_path.write_text(yaml.safe_dump(data))
    paths = SweepPaths.for_spec(tmp_path, "killed")
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    driver = subprocess.Popen(
        [sys.executable, "-m", "demp", "sweep", "run", str(spec_path), "--quiet"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 150
    while len(TrialLog(paths.trials).records()) < 2:
        assert driver.poll() is None, driver.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "driver finished no trial in time"
        time.sleep(0.05)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    driver.stderr.close()
    finished_before = len(TrialLog(paths.trials).records())
    assert 2 <= finished_before < 10
    assert paths.driver.exists()  # left behind by the killed driver, ignored as stale
    running = study_of(paths, "killed").get_trials(states=[S.RUNNING])
    deadline = time.monotonic() + 60  # Ray reclaims the dead driver's trial actors
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)

    outcome = resume_sweep(paths.root)
    got = check_agreement(paths, "killed", planned=10)
    assert all(r.status == "complete" for r in got["records"].values())
    assert outcome.counts == {"complete": 10, "truncated": 0, "failed": 0}
    # trials that were running at the kill were continued (same Ray id), not duplicated
    lost = {t.number for t in study_of(paths, "killed").trials
            if t.user_attrs.get("status") == "lost"}
    for t in running:
        assert t.user_attrs.get("ray_trial_id") in got["ray"] or t.number in lost
    meta = json.loads(paths.meta.read_text())
    assert [r["kind"] for r in meta["runs"]] == ["run", "resume"]
    assert not paths.driver.exists()
    # the frontier files equal what `demp sweep frontier` recomputes from the ledger
    before = paths.frontier_json.read_text()
    buf = io.StringIO()
    sys_stdout, sys.stdout = sys.stdout, buf
    try:
        assert main(["sweep", "frontier", str(paths.root), "--format", "json"]) == 0
    finally:
        sys.stdout = sys_stdout
    assert json.loads(buf.getvalue()) == json.loads(before)
