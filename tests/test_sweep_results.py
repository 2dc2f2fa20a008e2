"""Trial ledger, frontier files, Optuna bookkeeping and resume reconciliation (no Ray cluster)."""

from __future__ import annotations

import csv
import itertools
import json
import os
import subprocess
import sys

import optuna
import pytest

from demp.config import ConfigError
from demp.results import (
    TrialLog, TrialRecord, classify, compute_frontier, write_frontier_files,
)
from demp.spec import DriverLock, SweepPaths, open_storage, validate_spec
from demp.spec.layout import repair_journal

optuna.logging.set_verbosity(optuna.logging.WARNING)
OBJ = ["val_acc", "param_sparsity"]
DIRS = ["maximize", "maximize"]


def rec(tid: str, acc: float, sp: float, status: str = "complete", **kw) -> TrialRecord:
    return TrialRecord(trial_id=tid, status=status,
                       metrics={"val_acc": acc, "param_sparsity": sp, "step": 10}, **kw)


def brute_front(points: list[tuple[float, float]]) -> set[int]:
    """Indices no other point dominates (both objectives maximized)."""
    return {i for i, p in enumerate(points)
            if not any(q[0] >= p[0] and q[1] >= p[1] and q != p for q in points)}


def brute_hv(points: list[tuple[float, float]], ref: tuple[float, float]) -> float:
    """Area dominated above the reference, by inclusion on a fine union of boxes (exact for 2-D)."""
    pts = sorted({p for p in points if p[0] > ref[0] and p[1] > ref[1]}, key=lambda p: -p[0])
    area, best_y = 0.0, ref[1]
    for x, y in pts:  # descending x: each point adds the strip above the best y so far
        if y > best_y:
            area += (x - ref[0]) * (y - best_y)
            best_y = y
    return area


# ------------------------------------------------------------------------------ ledger


def test_classify_is_the_shared_status_rule():
    assert classify({"complete": True, "val_acc": 0.9, "param_sparsity": 0.1}, False, OBJ) == (
        "complete", "")
    assert classify({"complete": False, "val_acc": 0.9}, False, OBJ)[0] == "truncated"
    assert classify({"failed": True, "failure_reason": "loss is nan"}, False, OBJ) == (
        "failed", "loss is nan")
    assert classify({"complete": True, "val_acc": float("nan"), "param_sparsity": 0}, False,
                    OBJ) == ("failed", "non-finite objective value(s): val_acc")
    assert classify({"complete": True}, True, OBJ)[0] == "failed"
    assert classify(None, False, OBJ)[0] == "truncated"


def test_trial_log_keeps_the_first_record_per_trial_and_survives_a_torn_line(tmp_path):
    log = TrialLog(tmp_path / "trials.jsonl")
    assert log.append(rec("a", 0.9, 0.1))
    assert not log.append(rec("a", 0.1, 0.9))  # a re-reported finish is not counted twice
    with log.path.open("a") as f:
        f.write('{"trial_id": "b", "sta')     # what a SIGKILL mid-write leaves
    assert [r.trial_id for r in log.records()] == ["a"]
    assert log.append(rec("c", 0.8, 0.2))
    records = log.records()
    assert [(r.trial_id, r.metrics["val_acc"]) for r in records] == [("a", 0.9), ("c", 0.8)]
    assert len(log.path.read_text().splitlines()) == 3


# ------------------------------------------------------------------------------ frontier


def test_frontier_and_hypervolume_match_brute_force():
    pts = [(0.9, 0.1), (0.8, 0.5), (0.85, 0.5), (0.5, 0.9), (0.5, 0.2), (0.9, 0.1), (0.3, 0.95)]
    records = [rec(f"t{i}", a, s) for i, (a, s) in enumerate(pts)]
    records.insert(2, rec("trunc", 0.99, 0.99, status="truncated"))
    records.insert(4, rec("fail", 0.99, 0.99, status="failed", reason="nan"))
    front = compute_frontier(records, OBJ, DIRS, [0.1, 0.0])
    assert {r.trial_id for r in front.members} == {f"t{i}" for i in brute_front(pts)}
    assert [r.trial_id for r in front.members] == ["t0", "t5", "t2", "t3", "t6"]  # by accuracy
    assert front.hypervolume == pytest.approx(brute_hv(pts, (0.1, 0.0)), abs=1e-12)
    # history: one value per finished trial; truncated / failed ones leave it unchanged
    assert [t for t, _ in front.history] == [r.trial_id for r in records]
    hv = dict(front.history)
    assert hv["trunc"] == hv["t1"] and hv["fail"] == hv["t2"]
    expected = [brute_hv([p for p, r in zip(pts, [x for x in records if x.status == "complete"])
                          ][: k + 1], (0.1, 0.0)) for k in range(len(pts))]
    assert [h for t, h in front.history if not t.startswith(("trunc", "fail"))] == \
        pytest.approx(expected, abs=1e-12)


def test_frontier_with_a_minimized_objective_and_stated_reference():
    records = [TrialRecord(f"t{i}", "complete", metrics={"val_acc": a, "flops": f})
               for i, (a, f) in enumerate([(0.9, 100.0), (0.8, 50.0), (0.7, 60.0), (0.95, 300.0)])]
    front = compute_frontier(records, ["val_acc", "flops"], ["maximize", "minimize"],
                             [0.1, 200.0])
    assert {r.trial_id for r in front.members} == {"t0", "t1", "t3"}
    # t3 is beyond the FLOPs reference so it adds nothing; the rest: exact 2-D area
    assert front.hypervolume == pytest.approx((0.9 - 0.1) * (200 - 100) + (0.8 - 0.1) * (100 - 50))


def test_frontier_files_agree_and_plot_is_a_png(tmp_path):
    from demp.results import plot_frontier

    records = [rec("a", 0.9, 0.1, params={"demp.regularizer.peak": 0.01}, number=0),
               rec("b", 0.8, 0.6, params={"demp.regularizer.peak": 0.3}, number=1),
               rec("c", 0.7, 0.5, params={"demp.regularizer.peak": 0.2}, number=2),
               rec("d", 0.1, 0.0, status="failed", reason="diverged")]
    front = compute_frontier(records, OBJ, DIRS, [0.1, 0.0])
    csv_path, json_path = tmp_path / "frontier.csv", tmp_path / "frontier.json"
    write_frontier_files(front, records, "s", 5, csv_path, json_path)
    doc = json.loads(json_path.read_text())
    rows = list(csv.DictReader(csv_path.open()))
    assert [r["trial_id"] for r in rows] == [r["trial_id"] for r in doc["frontier"]] == ["a", "b"]
    assert float(rows[1]["demp.regularizer.peak"]) == 0.3 and rows[1]["optuna_trial"] == "1"
    assert doc["trials"] == {"planned": 5, "complete": 3, "truncated": 0, "failed": 1}
    assert doc["reference_point"] == [0.1, 0.0]
    assert doc["hypervolume"] == pytest.approx(brute_hv([(0.9, 0.1), (0.8, 0.6), (0.7, 0.5)],
                                                        (0.1, 0.0)))
    assert [h["trial_id"] for h in doc["hypervolume_history"]] == ["a", "b", "c", "d"]
    png = plot_frontier(front, tmp_path / "frontier.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


# ------------------------------------------------------------------------------ Optuna adapter


def make_searcher(planned: int = 10, objectives: tuple[str, ...] = ("val_acc", "param_sparsity")):
    from demp.sweep.search import DempOptunaSearch

    spec = validate_spec({"name": "s", "space": {"demp.regularizer.peak": {
        "low": 1e-3, "high": 1.0, "log": True}}, "trials": planned})
    directions = ["maximize"] * len(objectives)
    storage = optuna.storages.InMemoryStorage()
    searcher = DempOptunaSearch(spec.search_space(), list(objectives), directions,
                                optuna.samplers.RandomSampler(seed=0), "s", storage, planned)
    return searcher, optuna.load_study(study_name="s", storage=storage)


def test_searcher_tells_optuna_what_each_trial_became():
    searcher, study = make_searcher()
    outcomes = {
        "done": ({"complete": True, "failed": False, "val_acc": 0.9, "param_sparsity": 0.4,
                  "test_acc": 0.88, "neural_sparsity": 0.3, "flops": 1234.0, "step": 60,
                  "objective_history": [[0, 0.1], [30, 0.7], [60, 0.9]]}, False),
        "asha": ({"complete": False, "failed": False, "val_acc": 0.5, "param_sparsity": 0.1},
                 False),
        "nan": ({"complete": False, "failed": True, "failure_reason": "training loss is nan",
                 "val_acc": float("nan"), "param_sparsity": float("nan")}, False),
        "boom": (None, True),
    }
    for tid in [*outcomes, "pending"]:
        s = searcher.suggest(tid)
        assert set(s) == {"params", "optuna_trial"}
        assert 1e-3 <= s["params"]["demp.regularizer.peak"] <= 1.0
    for tid, (result, error) in outcomes.items():
        searcher.on_trial_complete(tid, result=result, error=error)
    searcher.on_trial_complete("pending")  # removed before running: stays RUNNING for resume
    searcher.on_trial_complete("done", result={"complete": True, "val_acc": 0.1,
                                               "param_sparsity": 0.1})  # a second finish
    by_id = {t.user_attrs["ray_trial_id"]: t for t in study.get_trials()}
    S = optuna.trial.TrialState
    assert by_id["done"].state == S.COMPLETE and by_id["done"].values == [0.9, 0.4]
    # what optuna-dashboard shows beside the objectives: secondary metrics, intermediate values
    assert {k: by_id["done"].user_attrs[k] for k in ("test_acc", "neural_sparsity", "flops",
                                                     "step")} == \
        {"test_acc": 0.88, "neural_sparsity": 0.3, "flops": 1234.0, "step": 60.0}
    assert "val_acc" not in by_id["done"].user_attrs  # an objective already
    assert by_id["done"].intermediate_values == {0: 0.1, 30: 0.7, 60: 0.9}
    assert by_id["asha"].state == S.PRUNED and by_id["asha"].user_attrs["status"] == "truncated"
    assert by_id["nan"].state == S.FAIL
    assert by_id["nan"].user_attrs["reason"] == "training loss is nan"
    assert by_id["boom"].state == S.FAIL and by_id["boom"].user_attrs["status"] == "failed"
    assert by_id["pending"].state == S.RUNNING
    assert [by_id[t].number for t in ["done", "asha", "nan", "boom", "pending"]] == [0, 1, 2, 3, 4]


def test_searcher_stops_at_the_planned_number_of_attributed_trials():
    from ray.tune.search import Searcher

    searcher, study = make_searcher(planned=3)
    assert all(isinstance(searcher.suggest(t), dict) for t in "abc")
    assert searcher.suggest("d") == Searcher.FINISHED
    # a lost trial does not count toward the plan
    study._storage.set_trial_user_attr(study.trials[0]._trial_id, "status", "lost")
    assert isinstance(searcher.suggest("e"), dict)


def test_searcher_state_survives_save_and_restore(tmp_path):
    searcher, study = make_searcher()
    searcher.suggest("a")
    searcher.suggest("b")
    searcher.on_trial_complete("a", result={"complete": True, "val_acc": 0.7,
                                            "param_sparsity": 0.2})
    path = str(tmp_path / "searcher.pkl")
    searcher.save(path)
    again, _ = make_searcher()
    again.restore(path)
    again.on_trial_complete("b", result={"complete": True, "val_acc": 0.8, "param_sparsity": 0.3})
    values = {t.user_attrs["ray_trial_id"]: t.values for t in again._ot_study.get_trials()}
    assert values == {"a": [0.7, 0.2], "b": [0.8, 0.3]}


# ------------------------------------------------------------------------------ resume helpers


def journal_spec(tmp_path, sampler: str = "random"):
    data = {"name": "r", "output_root": str(tmp_path), "trials": 4,
            "space": {"demp.regularizer.peak": {"low": 1e-3, "high": 1.0, "log": True,
                                                "grid_points": 4}},
            "sampler": {"name": sampler, "seed": 0}}
    return validate_spec(data)


def test_reconcile_settles_what_a_killed_driver_left_running(tmp_path):
    from demp.sweep.recovery import reconcile

    spec = journal_spec(tmp_path, sampler="grid")
    paths = SweepPaths.for_spec(spec.output_root, spec.name)
    paths.root.mkdir(parents=True)
    storage = open_storage(None, paths)
    study = optuna.create_study(storage=storage, study_name="r", directions=spec.directions,
                                sampler=optuna.samplers.GridSampler(spec.search_space().grid()))
    trials = []
    for ray_id in ["known", "lost", "recorded"]:
        t = study.ask()
        spec.search_space()(t)
        t.set_user_attr("ray_trial_id", ray_id)
        trials.append(t)
    TrialLog(paths.trials).append(rec("recorded", 0.8, 0.3, number=2))
    notes = reconcile(spec, paths, storage, known_to_ray={"known"})
    by_id = {t.user_attrs["ray_trial_id"]: t for t in study.get_trials()
             if "ray_trial_id" in t.user_attrs}
    S = optuna.trial.TrialState
    assert by_id["known"].state == S.RUNNING          # Ray resumes it
    assert by_id["lost"].state == S.FAIL and by_id["lost"].user_attrs["status"] == "lost"
    assert by_id["recorded"].state == S.COMPLETE and by_id["recorded"].values == [0.8, 0.3]
    assert len(study.get_trials(states=[S.WAITING])) == 1  # the lost grid point is queued again
    nxt = study.ask()
    spec.search_space()(nxt)
    assert nxt.params == by_id["lost"].params
    assert any("Optuna trial 1 was lost" in n for n in notes)
    assert any("trial recorded ended after Ray's last snapshot" in n for n in notes)


def test_a_grid_trial_lost_mid_suggestion_is_queued_again_whole(tmp_path):
    """A driver killed between ``ask`` and the last ``suggest`` leaves a RUNNING grid trial with
    only some of its parameters; its whole grid point is queued again (GridSampler refuses a
    partial one), and a lost trial that was itself queued keeps its queued point."""
    from demp.sweep.recovery import reconcile
    from demp.sweep.search import make_sampler

    data = journal_spec(tmp_path, sampler="grid").model_dump(mode="json")
    data["space"]["optimizer.lr"] = {"choices": [0.01, 0.1]}
    spec = validate_spec(data)
    paths = SweepPaths.for_spec(spec.output_root, spec.name)
    paths.root.mkdir(parents=True)
    storage = open_storage(None, paths)
    study = optuna.create_study(storage=storage, study_name="r", directions=spec.directions,
                                sampler=make_sampler(spec))
    full = study.ask()
    spec.search_space()(full)                      # what the sampler gives trial 0, whole
    expected = dict(full.params)
    study.tell(full, state=optuna.trial.TrialState.FAIL)
    study.enqueue_trial(expected)                  # trial 1: queued, then cut off mid-suggestion
    for _ in range(2):                             # trial 2: sampled, cut off the same way
        t = study.ask()
        t.suggest_categorical("optimizer.lr", [0.01, 0.1])
        t.set_user_attr("ray_trial_id", f"cut{t.number}")
    partial = {t.number: t for t in study.get_trials(states=[optuna.trial.TrialState.RUNNING])}
    assert all(len(t.params) == 1 for t in partial.values())
    points = {n: t.system_attrs.get("grid_id") for n, t in partial.items()}
    notes = reconcile(spec, paths, storage, known_to_ray=set())
    assert sum("was lost" in n for n in notes) == 2
    queued = study.get_trials(states=[optuna.trial.TrialState.WAITING])
    assert [q.system_attrs["fixed_params"] for q in queued][0] == expected
    again = []
    for _ in queued:
        t = study.ask()
        spec.search_space()(t)
        again.append(dict(t.params))
    assert again[0] == expected and len(again[1]) == 2
    grid = make_sampler(spec)
    assert again[1] == dict(zip(grid._param_names, grid._all_grids[points[2]]))


def test_repair_journal_removes_stale_lock_and_torn_line(tmp_path):
    spec = journal_spec(tmp_path)
    paths = SweepPaths.for_spec(spec.output_root, spec.name)
    paths.root.mkdir(parents=True)
    storage = open_storage(None, paths)
    optuna.create_study(storage=storage, study_name="r")
    good = paths.journal.read_bytes()
    with paths.journal.open("ab") as f:
        f.write(b'{"op_code": 4, "worker_id"')
    os.symlink(paths.journal, str(paths.journal) + ".lock")
    fixed = repair_journal(paths)
    assert len(fixed) == 2 and paths.journal.read_bytes() == good
    assert not os.path.lexists(str(paths.journal) + ".lock")
    study = optuna.load_study(study_name="r", storage=open_storage(None, paths))
    study.enqueue_trial({"x": 1})  # appends after the repair are readable again
    assert len(optuna.load_study(study_name="r", storage=open_storage(None, paths)).trials) == 1


def test_driver_lock_refuses_a_second_live_driver_and_takes_over_a_killed_ones(tmp_path):
    """The lock is the kernel's flock: a live holder refuses a second driver, and the lock of
    a SIGKILLed holder is free at once although its driver.pid is left behind."""
    paths = SweepPaths(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
         "from demp.spec import DriverLock, SweepPaths\n"
         "with DriverLock(SweepPaths(Path(sys.argv[1]))):\n"
         "    print('locked', flush=True); time.sleep(60)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match=f"already running this sweep \\(pid {holder.pid}"):
            DriverLock(paths).__enter__()
    finally:
        holder.kill()
        holder.wait()
    assert paths.driver.read_text().split()[0] == str(holder.pid)  # left behind by the kill
    with DriverLock(paths):  # the killed driver holds no lock
        assert paths.driver.read_text().split()[0] == str(os.getpid())
    assert not paths.driver.exists()


def test_every_sampler_is_built_with_the_spec_seed(tmp_path):
    from demp.sweep import make_sampler

    for name in ["tpe", "nsga2", "gp", "random", "qmc", "grid"]:
        spec = journal_spec(tmp_path, sampler=name)
        draws = []
        for _ in range(2):
            study = optuna.create_study(directions=spec.directions, sampler=make_sampler(spec))
            t = study.ask()
            spec.search_space()(t)
            draws.append(t.params["demp.regularizer.peak"])
        assert draws[0] == draws[1], name   # same seed, same first suggestion
    assert type(make_sampler(journal_spec(tmp_path, "qmc"))).__name__ == "QMCSampler"
    assert list(itertools.chain(*make_sampler(journal_spec(tmp_path, "grid"))._search_space
                                .values())) == pytest.approx([1e-3, 1e-2, 1e-1, 1.0])


def test_trial_configs_are_revalidated_inside_the_trial():
    from demp.config import TrainConfig
    from demp.sweep.trial import flatten, trial_config

    base = TrainConfig().model_dump(mode="json")
    cfg = trial_config({"base": base, "params": {"optimizer.lr": 0.5, "demp.noise.peak": 1e-4}})
    assert (cfg.optimizer.lr, cfg.demp.noise.peak) == (0.5, 1e-4)
    assert base["optimizer"]["lr"] == 1e-3  # the shared base is not modified
    with pytest.raises(ConfigError, match=r"^trial\.lr_schedule\.milestones: "):
        trial_config({"base": base, "params": {"lr_schedule.name": "step"}})
    with pytest.raises(ConfigError, match=r"^trial\.optimizer\.lr: "):
        trial_config({"base": base, "params": {"optimizer.lr": -1.0}})
    assert flatten({"a": 1, "live_units": {"fc0": 3, "fc1": 4}}) == {
        "a": 1, "live_units/fc0": 3, "live_units/fc1": 4}
