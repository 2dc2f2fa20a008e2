"""W&B in real sweeps, read back from the offline runs' ``.wandb`` transaction logs (no network).

The shared ``offline_sweep`` (conftest) ran 3 tiny trials with ``wandb: {mode: offline}`` and a
sentinel API key in the environment of the driver and of every Ray worker; Optuna trial 0 crashed
once after its step-30 checkpoint and was retried. What the trials logged is checked against what
they reported to Ray Tune (``ray/trial_<id>/result.json``) and what the sweep recorded
(``trials.jsonl``, ``frontier.json``).
"""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import pytest
import ray.cloudpickle
from conftest import CRASHING_TRIAL, SENTINEL_KEY, keyed_trial, offline_sweep_spec

from demp.results import TrialLog, read_trial_history
from demp.spec import validate_spec
from demp.sweep import resume_sweep, run_sweep
from demp.sweep.trial import demp_trial, trial_config
from demp.track import keys
from demp.track.keys import DEAD_FRACTION, LIVE_UNITS, STEP_KEY, layer_key
from demp.track.wandb import sweep_run_id, trial_run_id
from demp.track.wandb_log import OfflineRun, find_offline_runs, read_offline_run

wandb = pytest.importorskip("wandb")
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

SWEEP = "wbsweep"
# Metrics that are the same number whether read from Ray's result.json or from W&B.
TIMING = {"step_time", "train_time"}


def reported(paths: Any, trial_id: str) -> dict[int, dict[str, Any]]:
    """What a trial recorded at each evaluation, by step (a retried attempt re-records some
    steps): its own metrics.jsonl since Ray Tune receives only a few slim results (#17)."""
    return {int(r["step"]): r for r in read_trial_history(paths.trial_dir(trial_id))}


def runs_of(root: Path, run_id: str) -> list[OfflineRun]:
    """The run's attempts, in the order they logged."""
    runs = [read_offline_run(d) for d in find_offline_runs(root / "wandb", run_id)]
    return sorted(runs, key=lambda r: min((x.get(STEP_KEY, 0) for x in r.history), default=0))


# ------------------------------------------------------------------------------ trial runs


def test_every_trial_has_its_own_run_with_the_full_config(offline_sweep: Any) -> None:
    paths, spec = offline_sweep.paths, offline_sweep.spec
    records = TrialLog(paths.trials).records()
    assert [r.status for r in records] == ["complete"] * 3
    for rec in records:
        runs = runs_of(paths.root, trial_run_id(SWEEP, rec.trial_id))
        assert runs, rec.trial_id
        for run in runs:
            assert run.offline and run.run_id == trial_run_id(SWEEP, rec.trial_id)
            assert (run.group, run.job_type, run.project) == (SWEEP, "trial", "demp-test")
            assert run.tags == ["ci"]
            expected = trial_config({"base": spec.base.model_dump(mode="json"),
                                     "params": rec.params}).model_dump(mode="json")
            assert {k: run.config[k] for k in expected} == expected
            assert run.config["demp"]["regularizer"]["peak"] == rec.params[
                "demp.regularizer.peak"]
            assert run.config["trial"] == {"id": rec.trial_id, "sweep": SWEEP,
                                           "params": rec.params, "optuna_trial": rec.number}


def test_logged_rows_equal_the_reported_records(offline_sweep: Any) -> None:
    paths = offline_sweep.paths
    for rec in TrialLog(paths.trials).records():
        by_step = reported(paths, rec.trial_id)
        logged: dict[int, dict[str, Any]] = {}
        for run in runs_of(paths.root, trial_run_id(SWEEP, rec.trial_id)):
            for row in run.rows_with("val_acc"):
                logged[row[STEP_KEY]] = row
        assert sorted(logged) == sorted(by_step) == [15, 30, 45, 60]
        for step, row in logged.items():
            want = by_step[step]
            for key in keys.EVAL_METRICS:
                if key not in TIMING:
                    assert row[key] == pytest.approx(want[key], rel=1e-12), (step, key)
            groups = {k.split("/", 1)[1] for k in want if k.startswith(f"{DEAD_FRACTION}/")}
            assert groups == {"fc0", "fc1"}
            for g in groups:  # the per-layer dead fractions and live counts
                assert row[layer_key(DEAD_FRACTION, g)] == want[f"{DEAD_FRACTION}/{g}"]
                assert row[layer_key(LIVE_UNITS, g)] == want[f"{LIVE_UNITS}/{g}"]
        final = runs_of(paths.root, trial_run_id(SWEEP, rec.trial_id))[-1].summary
        for key in ("val_acc", "param_sparsity", "neural_sparsity", "params"):
            assert final[key] == rec.metrics[key], key
        assert final[layer_key(DEAD_FRACTION, "fc1")] == rec.metrics[f"{DEAD_FRACTION}/fc1"]
        assert final["stopped_early"] is False and final[STEP_KEY] == 60


def test_a_retried_trial_continues_its_run(offline_sweep: Any) -> None:
    paths = offline_sweep.paths
    (rec,) = [r for r in TrialLog(paths.trials).records() if r.number == CRASHING_TRIAL]
    assert rec.failures == 1 and rec.metrics["resumed_from_step"] == 30
    first, second = runs_of(paths.root, trial_run_id(SWEEP, rec.trial_id))
    assert first.run_id == second.run_id
    assert first.exit_code == 1 and second.exit_code == 0  # the crash closed its run as failed
    assert [r[STEP_KEY] for r in first.rows_with("val_acc")] == [15, 30]
    assert [r[STEP_KEY] for r in second.rows_with("val_acc")] == [45, 60]
    assert second.summary["resumed_from_step"] == 30
    others = [r for r in TrialLog(paths.trials).records() if r.number != CRASHING_TRIAL]
    assert all(len(runs_of(paths.root, trial_run_id(SWEEP, r.trial_id))) == 1 for r in others)


# ------------------------------------------------------------------------------ the sweep run


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def test_sweep_run_agrees_with_frontier_json(offline_sweep: Any) -> None:
    paths = offline_sweep.paths
    doc = json.loads(paths.frontier_json.read_text())
    (run,) = runs_of(paths.root, sweep_run_id(SWEEP))
    assert (run.job_type, run.group, run.exit_code) == ("sweep", SWEEP, 0)
    assert run.config["spec"]["name"] == SWEEP and run.tags == ["ci"]
    columns, data = run.table(keys.FRONTIER_TABLE)
    assert len(data) == len(doc["frontier"]) >= 1
    for row, want in zip(data, doc["frontier"]):
        assert columns == list(want)
        assert [_clean(v) for v in row] == [_clean(want[c]) for c in columns]
    hv = [h["hypervolume"] for h in doc["hypervolume_history"]]
    assert run.series(keys.HYPERVOLUME, keys.SWEEP_STEP_KEY) == list(zip(range(1, 4), hv))
    last = run.rows_with(keys.count_key("total"))[-1]
    assert last[keys.count_key("complete")] == doc["trials"]["complete"] == 3
    assert last[keys.count_key("total")] == 3 and last[keys.FRONTIER_SIZE] == len(data)
    columns, data = run.table(keys.TRIALS_TABLE)
    on_front = {row[columns.index("trial_id")]: row[columns.index("on_frontier")] for row in data}
    assert on_front == {r.trial_id: r.trial_id in {f["trial_id"] for f in doc["frontier"]}
                        for r in TrialLog(paths.trials).records()}
    png = run.load_file(run.rows_with(keys.FRONTIER_PLOT)[-1][keys.FRONTIER_PLOT])
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_no_api_key_in_any_file_of_the_sweep(offline_sweep: Any) -> None:
    files = [p for p in offline_sweep.paths.root.rglob("*") if p.is_file()]
    # 3 trials, 1 retry, the sweep run (and one more if the resume test ran first)
    assert sum(p.suffix == ".wandb" for p in files) >= 5
    assert len(files) > 50
    needle = SENTINEL_KEY.encode()
    assert [str(p) for p in files if needle in p.read_bytes()] == []


def test_resuming_the_finished_sweep_opens_no_run(offline_sweep: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing left to do: resume says so, starts no Ray trial and adds no W&B run (#13). That
    a driver run that does work continues the sweep's run under the same id is
    test_track_wandb's ``test_a_second_driver_run_continues_the_sweep_run``."""
    paths = offline_sweep.paths
    before = {d.name for d in find_offline_runs(paths.root / "wandb")}
    monkeypatch.setenv("WANDB_API_KEY", SENTINEL_KEY)
    outcome = resume_sweep(paths.root, trainable=keyed_trial)
    assert outcome.already_finished
    assert outcome.counts == {"complete": 3, "truncated": 0, "failed": 0}
    assert {d.name for d in find_offline_runs(paths.root / "wandb")} == before


# ------------------------------------------------------------------------------ failures


def refused_wandb_trial(config: dict[str, Any]) -> None:
    """``demp_trial`` in a worker whose ``wandb.init`` always raises (and leaves a mark, so the
    test knows the trial did try)."""
    import os
    import uuid

    import wandb as wb

    original = wb.init

    def refuse(*args: Any, **kwargs: Any) -> None:
        marks = Path(config["wandb"]["dir"], "refused")
        marks.mkdir(exist_ok=True)
        (marks / f"{os.getpid()}-{uuid.uuid4().hex}").write_text(str(kwargs.get("id")))
        raise wb.errors.CommError("W&B refused in this test")

    wb.init = refuse
    try:
        demp_trial(config)
    finally:
        wb.init = original


def test_sweep_completes_when_wandb_init_fails_everywhere(
        tmp_path: Path, ray_address: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(wandb, "init", lambda *a, **k: (_ for _ in ()).throw(
        wandb.errors.CommError("W&B refused in this test")))  # the driver's sweep run
    spec = validate_spec(offline_sweep_spec(tmp_path, "refused", trials=1, max_concurrent=1,
                                            retries=0))
    with caplog.at_level(logging.WARNING, logger="demp.track.wandb"):
        outcome = run_sweep(spec, trainable=refused_wandb_trial)
    assert outcome.counts == {"complete": 1, "truncated": 0, "failed": 0}
    records = TrialLog(outcome.paths.trials).records()
    assert all(r.failures == 0 and r.metrics["step"] == 60 for r in records)
    assert json.loads(outcome.paths.frontier_json.read_text())["hypervolume"] > 0
    assert [r for r in caplog.records if "W&B logging disabled" in r.getMessage()]
    assert list(outcome.paths.root.rglob("*.wandb")) == []
    tried = sorted(p.read_text() for p in (outcome.paths.root / "refused").iterdir())
    assert tried == sorted(trial_run_id("refused", r.trial_id) for r in records)
