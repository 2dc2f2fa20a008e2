"""Target-sparsity sweeps: maximize accuracy under |achieved − target| ≤ tolerance.

A tiny grid over λ's starting peak on digits: 1e-6 cannot reach the target even scaled up by the
controller's maximum (sparsity stays 0), 0.05 reaches it. Both trials finish; the first is
recorded infeasible (kept in the study and trials.jsonl, constraint > 0), the second feasible.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import optuna
import pytest

from demp.cli import main
from demp.config import ConfigError
from demp.results import TrialLog
from demp.spec import open_storage, validate_spec
from demp.sweep import run_sweep

TARGET = 0.4
BASE: dict[str, Any] = {
    "model": {"name": "mlp", "hidden": [32, 32]}, "data": {"name": "digits"},
    "optimizer": {"lr": 0.03}, "max_steps": 120, "eval_interval": 30, "threads": 1,
    "device": "cpu",
    "demp": {"death": {"prune_interval": 15}, "noise": {"peak": 1e-3},
             "target": {"metric": "param_sparsity", "value": TARGET}},
}


def target_spec(tmp_path: Path, name: str, **fields: Any) -> dict[str, Any]:
    data = {"name": name, "output_root": str(tmp_path), "base": copy.deepcopy(BASE),
            "space": {"demp.regularizer.peak": {"choices": [1e-6, 0.05]}},
            "trials": 2, "max_concurrent": 2, "sampler": {"name": "grid", "seed": 0},
            "wandb": {"mode": "disabled"}}
    data.update(fields)
    return data


# ------------------------------------------------------------------------------ the spec


def test_target_mode_defaults_to_accuracy_under_a_sparsity_constraint(tmp_path):
    spec = validate_spec(target_spec(tmp_path, "t"))
    assert spec.metrics == ["val_acc"] and spec.directions == ["maximize"]
    assert spec.resolved_tolerance == pytest.approx(0.03)
    params = {"demp.regularizer.peak": 0.05}
    assert spec.constraint_violation(params, {"param_sparsity": 0.38}) == pytest.approx(-0.01)
    assert spec.constraint_violation(params, {"param_sparsity": 0.0}) == pytest.approx(0.37)
    # a searched target value is the trial's own
    assert spec.constraint_violation({"demp.target.value": 0.2}, {"param_sparsity": 0.0}) \
        == pytest.approx(0.17)
    # FLOPs budgets: tolerance in FLOPs, default 3 % of the budget
    flops = target_spec(tmp_path, "f")
    flops["base"]["demp"]["target"] = {"metric": "flops", "value": 1000.0}
    fspec = validate_spec(flops)
    assert fspec.resolved_tolerance == pytest.approx(30.0)
    assert fspec.constraint_violation({}, {"flops": 1040.0}) == pytest.approx(10.0)
    # without a target there is no constraint
    plain = target_spec(tmp_path, "p")
    del plain["base"]["demp"]["target"]
    assert validate_spec(plain).constraint_violation({}, {"param_sparsity": 0.1}) is None


def test_target_spec_errors_name_the_field(tmp_path):
    plain = target_spec(tmp_path, "p", target_tolerance=0.05)
    del plain["base"]["demp"]["target"]
    with pytest.raises(ConfigError, match=r"^target_tolerance: needs base\.demp\.target"):
        validate_spec(plain)
    with pytest.raises(ConfigError, match=r"^target_tolerance: Input should be greater than 0"):
        validate_spec(target_spec(tmp_path, "t", target_tolerance=-0.1))


def test_the_searcher_holds_plain_data_not_the_spec(tmp_path):
    """Ray pickles the searcher into the experiment's state: the target constraint goes in as
    plain data (``TargetConstraint``), not as a bound method of the pydantic spec."""
    import pickle

    from demp.sweep.search import make_searcher

    spec = validate_spec(target_spec(tmp_path, "t"))
    state = pickle.dumps(make_searcher(spec, optuna.storages.InMemoryStorage()))
    assert b"SweepSpec" not in state and b"TrainConfig" not in state
    constraint = pickle.loads(state).searcher._constraint
    params = {"demp.regularizer.peak": 0.05}
    assert constraint(params, {"param_sparsity": 0.38}) == pytest.approx(
        spec.constraint_violation(params, {"param_sparsity": 0.38}))


# ------------------------------------------------------------------------------ a sweep


def test_infeasible_trials_are_kept_and_marked_not_dropped(tmp_path, ray_address, capsys):
    outcome = run_sweep(validate_spec(target_spec(tmp_path, "target")))
    paths = outcome.paths
    records = {r.params["demp.regularizer.peak"]: r for r in TrialLog(paths.trials).records()}
    assert set(records) == {1e-6, 0.05}
    missed, hit = records[1e-6], records[0.05]
    # both ran to the end: the constraint marks, it does not truncate or fail
    assert missed.status == hit.status == "complete"
    assert missed.metrics["param_sparsity"] == 0.0
    assert missed.feasible is False and missed.violation == pytest.approx(TARGET - 0.03)
    assert hit.feasible is True
    assert abs(hit.metrics["param_sparsity"] - TARGET) <= 0.03
    assert hit.violation == pytest.approx(abs(hit.metrics["param_sparsity"] - TARGET) - 0.03)
    lines = [json.loads(x) for x in paths.trials.read_text().splitlines()]
    assert sorted(x["feasible"] for x in lines) == [False, True]

    # Optuna: both COMPLETE with their accuracy; the constraint is what tells them apart
    study = optuna.load_study(study_name="target", storage=open_storage(None, paths))
    by_id = {t.user_attrs["ray_trial_id"]: t for t in study.trials}
    t_missed, t_hit = by_id[missed.trial_id], by_id[hit.trial_id]
    assert t_missed.state == t_hit.state == optuna.trial.TrialState.COMPLETE
    assert t_missed.values == [missed.metrics["val_acc"]]
    assert t_missed.constraints == {"target": pytest.approx(missed.violation)}
    assert t_hit.constraints["target"] <= 0
    assert t_missed.user_attrs["feasible"] is False and t_hit.user_attrs["feasible"] is True
    assert study.best_trial.number == t_hit.number  # Optuna's own best is the feasible one

    # the result is the best feasible trial only
    assert [r.trial_id for r in outcome.frontier.members] == [hit.trial_id]
    doc = json.loads(paths.frontier_json.read_text())
    assert [row["trial_id"] for row in doc["frontier"]] == [hit.trial_id]
    assert outcome.frontier.hypervolume == pytest.approx(hit.metrics["val_acc"] - 0.1)

    capsys.readouterr()
    assert main(["sweep", "status", str(paths.root)]) == 0
    out = capsys.readouterr().out
    assert "2/2 finished — 2 complete, 0 truncated, 0 failed" in out
    assert "target: param_sparsity = 0.4 ± 0.03 — 1 feasible, 1 infeasible" in out
    assert f"infeasible {missed.trial_id}: param_sparsity = 0.0000" in out
