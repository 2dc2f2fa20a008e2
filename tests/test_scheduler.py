"""ParetoAsha's decisions on hand-made rung results, its recovery window, and its state.

Results are built by hand (val_acc, param_sparsity, both maximized) so each test states exactly
which trial dominates which; the Ray-facing hooks get minimal stand-ins for Ray's ``Trial``.
"""

from __future__ import annotations

import json
import pickle
from types import SimpleNamespace

import pytest
import yaml

from demp.sweep.scheduler import (
    ParetoAsha, in_recovery, progress_rungs, prune_interval_of, recovery_window,
)

CONTINUE, STOP = "CONTINUE", "STOP"
OBJECTIVES = [("val_acc", "maximize"), ("param_sparsity", "maximize")]
TOTAL = 400      # steps per trial
INTERVAL = 40    # prune every 40 steps -> recovery window of 20 steps at recovery=0.5


def result(acc: float, sparsity: float, step: int, **extra: object) -> dict:
    return {"val_acc": acc, "param_sparsity": sparsity, "step": step, "progress": step / TOTAL,
            "final": False, **extra}


def scheduler(**kwargs: object) -> ParetoAsha:
    kwargs.setdefault("rungs", [0.3, 0.6])
    return ParetoAsha(OBJECTIVES, **kwargs)


def fill_rung(s: ParetoAsha, points: dict[str, tuple[float, float]], step: int = 120) -> None:
    for tid, (acc, sp) in points.items():
        s.decide(tid, result(acc, sp, step), INTERVAL)


# ------------------------------------------------------------------------------ decisions


def test_rungs_default_to_asha_geometry_in_progress():
    assert progress_rungs(0.1, 3) == [0.1, 0.3, 0.9]
    assert progress_rungs(0.25, 2) == [0.25, 0.5]
    assert ParetoAsha(OBJECTIVES, min_progress=0.1, reduction_factor=3).rungs == [0.1, 0.3, 0.9]
    with pytest.raises(ValueError, match="rungs must be progress fractions"):
        ParetoAsha(OBJECTIVES, rungs=[0.5, 1.0])


def test_first_trial_at_a_rung_continues_and_nothing_is_judged_before_the_rung():
    s = scheduler()
    assert s.decide("a", result(0.2, 0.0, 80), INTERVAL) == CONTINUE   # progress 0.2 < 0.3
    assert s.decisions == []
    assert s.decide("a", result(0.2, 0.0, 120), INTERVAL) == CONTINUE  # alone at the rung
    assert s.recorded[0] == {"a": [0.2, 0.0]}


def test_dominated_trial_is_stopped_and_non_dominated_trials_are_kept():
    s = scheduler(reduction_factor=3)
    fill_rung(s, {"a": (0.90, 0.50)})
    assert s.decide("dominated", result(0.80, 0.40, 120), INTERVAL) == STOP
    # less accurate but sparser than everything recorded: on the front, kept
    assert s.decide("sparse", result(0.60, 0.80, 120), INTERVAL) == CONTINUE
    # more accurate but denser: kept
    assert s.decide("accurate", result(0.95, 0.10, 120), INTERVAL) == CONTINUE
    last = s.decisions[-1]
    assert last["rank"] == 0 and last["recorded"] == 4
    stopped = [d for d in s.decisions if d["decision"] == STOP]
    assert [(d["trial_id"], d["rank"]) for d in stopped] == [("dominated", 1)]
    # a single-metric ASHA on val_acc would have stopped the sparse trial (worst accuracy)
    accs = sorted(v[0] for v in s.recorded[0].values())
    assert s.recorded[0]["sparse"][0] == accs[0]


def test_dominated_trial_in_the_top_one_over_eta_by_rank_and_crowding_is_kept():
    s = scheduler(reduction_factor=2)
    fill_rung(s, {"a": (0.90, 0.50), "b": (0.50, 0.90), "c": (0.30, 0.30), "d": (0.20, 0.20)})
    # dominated by a only; 5 recorded, keep ceil(5/2) = 3: fronts {a, b}, {x}, ... -> 3rd
    assert s.decide("x", result(0.85, 0.45, 120), INTERVAL) == CONTINUE
    assert (s.decisions[-1]["rank"], s.decisions[-1]["position"],
            s.decisions[-1]["keep"]) == (1, 2, 3)
    # fronts {a, b}, {x}, {c}, {y}, {d}: y is 5th of 6, past keep = 3
    assert s.decide("y", result(0.25, 0.25, 120), INTERVAL) == STOP
    assert (s.decisions[-1]["rank"], s.decisions[-1]["position"]) == (3, 4)


def test_crowding_breaks_ties_inside_the_cut_front():
    # Front 0 = {a}; the others are all dominated by a only, so they share front 1 and the cut
    # (keep ceil(n / eta)) falls inside it: its extremes (infinite crowding) are kept first.
    s = scheduler(reduction_factor=5 / 3)
    fill_rung(s, {"a": (0.95, 0.95), "p": (0.90, 0.10), "q": (0.10, 0.90)})
    # q: 3 recorded, keep 2; p and q are both extremes of front 1 and p was recorded first
    assert [d["decision"] for d in s.decisions] == [CONTINUE, CONTINUE, STOP]
    # an interior point of front 1: 4 recorded, keep 3 = a, p, q
    assert s.decide("m", result(0.50, 0.50, 120), INTERVAL) == STOP
    assert (s.decisions[-1]["rank"], s.decisions[-1]["position"], s.decisions[-1]["keep"]) \
        == (1, 3, 3)
    # a new extreme of the same front (sparsest of it): 5 recorded, keep 3; it ties with p (the
    # most accurate of the front), which was recorded first: a, p, e
    assert s.decide("e", result(0.05, 0.93, 120), INTERVAL) == CONTINUE
    assert (s.decisions[-1]["rank"], s.decisions[-1]["position"], s.decisions[-1]["keep"]) \
        == (1, 2, 3)


def test_a_duplicate_of_a_recorded_point_yields_to_it():
    s = scheduler(reduction_factor=2)
    fill_rung(s, {"a": (0.90, 0.50), "first": (0.10, 0.10)})
    # 3 recorded, keep 2: a, then the two identical points, the earlier record first
    assert s.decide("copy", result(0.10, 0.10, 120), INTERVAL) == STOP
    assert (s.decisions[-1]["rank"], s.decisions[-1]["position"], s.decisions[-1]["keep"]) \
        == (1, 2, 2)


# ------------------------------------------------------------------------------ prune events


def test_recovery_window_rule():
    assert recovery_window(40, 0.5) == 20 and recovery_window(None, 0.5) == 0
    # prune events at 0, 40, 80, ... run right after the evaluation at that step
    assert in_recovery(10, 40, 20) and in_recovery(19, 40, 20) and not in_recovery(20, 40, 20)
    assert not in_recovery(40, 40, 20)   # the evaluation at 40 precedes the prune at 40
    assert in_recovery(41, 40, 20) and in_recovery(59, 40, 20) and not in_recovery(60, 40, 20)
    assert not in_recovery(45, None, 20) and not in_recovery(45, 40, 0)


def test_trial_in_a_post_prune_dip_is_not_judged_until_it_recovers():
    s = scheduler(rungs=[0.3], reduction_factor=3)
    fill_rung(s, {"a": (0.90, 0.50), "b": (0.70, 0.70)})
    # step 130: 10 steps after the prune at 120 -> inside the window; its dipped accuracy is
    # dominated by a, but it is not judged (and not recorded) yet
    assert s.decide("c", result(0.60, 0.45, 130), INTERVAL) == CONTINUE
    assert "c" not in s.recorded[0] and len(s.decisions) == 2
    assert s.decide("c", result(0.80, 0.52, 135), INTERVAL) == CONTINUE  # still recovering
    assert "c" not in s.recorded[0]
    # step 140: recovered, judged at the rung: not dominated any more (sparsest so far)
    assert s.decide("c", result(0.80, 0.72, 140), INTERVAL) == CONTINUE
    assert s.recorded[0]["c"] == [0.80, 0.72]
    assert s.decisions[-1]["step"] == 140 and s.decisions[-1]["rank"] == 0
    # judged once per rung: a later dip does not reopen the decision
    assert s.decide("c", result(0.10, 0.10, 200), INTERVAL) == CONTINUE
    assert len(s.decisions) == 3


def test_a_dominated_trial_is_stopped_once_out_of_the_recovery_window():
    s = scheduler(rungs=[0.3])
    fill_rung(s, {"a": (0.90, 0.50)})
    assert s.decide("c", result(0.60, 0.45, 125), INTERVAL) == CONTINUE
    assert s.decide("c", result(0.65, 0.45, 150), INTERVAL) == STOP


def test_a_trial_that_skips_past_rungs_is_judged_once_at_the_highest():
    s = scheduler(rungs=[0.3, 0.6])
    fill_rung(s, {"a": (0.90, 0.50)}, step=240)      # a recorded at the 0.6 rung
    assert s.decide("late", result(0.50, 0.20, 280), INTERVAL) == STOP
    assert s.decisions[-1]["rung"] == 1 and s.passed["late"] == [0, 1]
    assert "late" not in s.recorded[0]


def test_final_failed_and_non_finite_results_are_never_judged():
    s = scheduler()
    fill_rung(s, {"a": (0.90, 0.50)})
    assert s.decide("f", result(0.10, 0.10, 400, final=True, progress=1.0), INTERVAL) == CONTINUE
    assert s.decide("n", result(float("nan"), 0.1, 120), INTERVAL) == CONTINUE
    assert s.decide("x", result(0.1, 0.1, 120, failed=True), INTERVAL) == CONTINUE
    assert len(s.decisions) == 1


def test_prune_interval_comes_from_the_trial_config():
    base = {"demp": {"death": {"prune_interval": 40}}}
    assert prune_interval_of({"base": base}) == 40
    assert prune_interval_of({"base": base, "params": {"demp.death.prune_interval": 17}}) == 17
    assert prune_interval_of({"base": {"demp": {"death": {"enabled": False}}}}) is None
    assert prune_interval_of({"base": base, "params": {"demp.enabled": False}}) is None
    assert prune_interval_of({"base": {}}) == 1000  # the trainer's default


def test_ray_hooks_use_each_trials_own_prune_interval():
    s = scheduler(rungs=[0.3])
    slow = SimpleNamespace(trial_id="slow", config={"base": {"demp": {"death": {
        "prune_interval": 100}}}})
    fast = SimpleNamespace(trial_id="fast", config={
        "base": {"demp": {"death": {"prune_interval": 100}}},
        "params": {"demp.death.prune_interval": 10}})
    s.on_trial_add(None, slow)
    s.on_trial_add(None, fast)
    # step 130: 30 steps after slow's prune at 100 (window 50) but 10 after fast's at 120 (5)
    assert s.on_trial_result(None, slow, result(0.5, 0.5, 130)) == CONTINUE
    assert s.on_trial_result(None, fast, result(0.5, 0.5, 130)) == CONTINUE
    assert set(s.recorded[0]) == {"fast"}
    s.on_trial_complete(None, fast, result(0.5, 0.5, 400))
    assert "fast" in s.recorded[0]  # completed trials stay comparison points


# ------------------------------------------------------------------------------ state


def test_state_round_trips_through_save_and_restore(tmp_path):
    path = tmp_path / "scheduler_state.json"
    s = scheduler(reduction_factor=2, state_path=path)
    fill_rung(s, {"a": (0.90, 0.50), "b": (0.50, 0.90), "c": (0.30, 0.30)})  # c stopped
    assert s.decide("a", result(0.92, 0.6, 240), INTERVAL) == CONTINUE
    on_disk = json.loads(path.read_text())        # written on every decision
    assert [d["decision"] for d in on_disk["decisions"]] == [CONTINUE, CONTINUE, STOP, CONTINUE]
    assert on_disk["recorded"]["1"] == {"a": [0.92, 0.6]}

    restored = scheduler(reduction_factor=2)
    restored.restore(path)
    assert restored.state() == s.state()
    # the same next results get the same decisions from both (they depend on the records)
    for sched in (s, restored):
        assert sched.decide("d", result(0.2, 0.2, 120), INTERVAL) == STOP
        assert sched.decide("b", result(0.5, 0.5, 240), INTERVAL) == STOP       # a dominates
        assert sched.decide("a", result(0.1, 0.1, 260), INTERVAL) == CONTINUE   # passed all
        assert sched.decide("c", result(0.9, 0.9, 260), INTERVAL) == STOP       # was stopped
    assert restored.state() == s.state()

    with pytest.raises(ValueError, match="scheduler state is for objectives"):
        ParetoAsha([("val_acc", "maximize")], rungs=[0.3, 0.6]).restore(path)


def test_an_unpickled_scheduler_continues_from_its_state_file(tmp_path):
    """What Tuner.restore does on `demp sweep resume`: it unpickles the scheduler as it was when
    the sweep started (tuner.pkl), so the state must come from the file."""
    path = tmp_path / "scheduler_state.json"
    pristine = pickle.dumps(scheduler(state_path=path))
    live = pickle.loads(pristine)
    live.on_trial_add(None, SimpleNamespace(trial_id="a", config={}))
    fill_rung(live, {"a": (0.9, 0.5), "b": (0.5, 0.4)})
    assert [d["decision"] for d in live.decisions] == [CONTINUE, STOP]

    resumed = pickle.loads(pristine)   # the driver died; a new one restores the experiment
    assert resumed.decisions == []
    resumed.on_trial_add(None, SimpleNamespace(trial_id="a", config={}))
    assert resumed.state() == live.state()
    assert resumed.decide("c", result(0.4, 0.3, 120), INTERVAL) == STOP


def test_a_stopped_trial_that_reports_again_after_a_restart_is_stopped_again(tmp_path):
    path = tmp_path / "scheduler_state.json"
    s = scheduler(state_path=path)
    fill_rung(s, {"a": (0.9, 0.5), "b": (0.5, 0.4)})
    resumed = scheduler(state_path=path)
    resumed.on_trial_add(None, SimpleNamespace(trial_id="b", config={}))
    # Ray resumed b from a checkpoint taken before the decision reached it
    assert resumed.decide("b", result(0.6, 0.45, 135), INTERVAL) == STOP
    assert len(resumed.decisions) == 2


# ------------------------------------------------------------------------------ the spec


def _spec(tmp_path, **early_stopping: object) -> dict:
    return {"name": "s", "output_root": str(tmp_path), "trials": 4,
            "space": {"demp.regularizer.peak": {"low": 1e-3, "high": 1.0, "log": True}},
            "early_stopping": early_stopping}


def test_spec_builds_pareto_asha_with_state_in_the_sweep_directory(tmp_path):
    from demp.sweep.scheduler import make_scheduler
    from demp.spec import dump_spec, validate_spec
    from demp.spec import SweepPaths

    spec = validate_spec(_spec(tmp_path, kind="pareto_asha", rungs=[0.2, 0.5], recovery=0.25,
                               reduction_factor=2))
    again = validate_spec(yaml.safe_load(dump_spec(spec)))  # what resume reads back
    assert again.early_stopping == spec.early_stopping
    paths = SweepPaths.for_spec(tmp_path, "s")
    sched = make_scheduler(again, paths)
    assert isinstance(sched, ParetoAsha)
    assert sched.rungs == [0.2, 0.5] and sched.recovery == 0.25 and sched.reduction_factor == 2
    assert sched.metrics == ["val_acc", "param_sparsity"]
    assert sched.state_path == paths.root / "scheduler_state.json"
    default = make_scheduler(validate_spec(_spec(tmp_path, kind="pareto_asha")), paths)
    assert default.rungs == [0.1, 0.3, 0.9]
    assert type(make_scheduler(validate_spec(_spec(tmp_path)), paths)).__name__ == \
        "AsyncHyperBandScheduler"  # kind defaults to asha, as before


@pytest.mark.parametrize("fields,message", [
    ({"kind": "pareto_asha", "metric": "test_acc"},
     "early_stopping.metric: only for kind asha (pareto_asha judges on the sweep's objectives)"),
    ({"kind": "pareto_asha", "grace_period": 5}, "early_stopping.grace_period: only for kind asha"),
    ({"rungs": [0.3]}, "early_stopping.rungs: only for kind pareto_asha"),
    ({"recovery": 0.2}, "early_stopping.recovery: only for kind pareto_asha"),
    ({"kind": "pareto_asha", "rungs": [0.3], "min_progress": 0.2},
     "early_stopping.min_progress: give rungs or min_progress, not both"),
    ({"kind": "pareto_asha", "rungs": [0.3, 1.5]},
     "early_stopping.rungs.1: Input should be less than 1 (got 1.5)"),
    ({"kind": "pareto_asha", "rungs": [0.5, 0.3]},
     "early_stopping.rungs: must be strictly increasing, got [0.5, 0.3]"),
    ({"kind": "pareto_asha", "recovery": 1.0},
     "early_stopping.recovery: Input should be less than 1 (got 1.0)"),
    ({"kind": "hyperband"}, "early_stopping.kind: Input should be 'asha' or 'pareto_asha'"),
])
def test_spec_errors_name_the_early_stopping_field(tmp_path, fields, message):
    from demp.config import ConfigError
    from demp.spec import validate_spec

    with pytest.raises(ConfigError) as err:
        validate_spec(_spec(tmp_path, **fields))
    assert str(err.value).splitlines()[0].startswith(message)


def test_time_budget_stops_new_trials_and_restarts_on_resume(tmp_path):
    """``time_budget_s`` (what the benchmark compares schedulers under): once it has passed, the
    searcher suggests no new trial; a resumed driver (restored searcher) gets a fresh budget."""
    import time

    import optuna

    from demp.sweep.search import DempOptunaSearch
    from demp.spec import validate_spec

    spec = validate_spec({**_spec(tmp_path), "early_stopping": None, "time_budget_s": 0.3})
    storage = optuna.storages.InMemoryStorage()

    def searcher() -> DempOptunaSearch:
        return DempOptunaSearch(spec.search_space(), spec.metrics, spec.directions,
                                optuna.samplers.RandomSampler(seed=0), "s", storage, spec.trials,
                                budget_s=spec.time_budget_s)

    first = searcher()
    assert isinstance(first.suggest("a"), dict) and isinstance(first.suggest("b"), dict)
    time.sleep(0.35)
    assert first.suggest("c") == "FINISHED"
    first.save(str(tmp_path / "searcher.pkl"))
    resumed = searcher()
    resumed.restore(str(tmp_path / "searcher.pkl"))
    assert resumed.suggest("c")["optuna_trial"] == 2


# ------------------------------------------------------------------------------ in a sweep

SWEEP_BASE = {
    "model": {"name": "mlp", "hidden": [16, 16]}, "data": {"name": "digits"},
    "optimizer": {"lr": 0.03}, "max_steps": 120, "eval_interval": 15, "threads": 1,
    "device": "cpu", "demp": {"death": {"prune_interval": 30}, "noise": {"peak": 1e-3}},
}


def test_pareto_asha_sweep_survives_a_killed_driver(tmp_path, ray_address):
    """A sweep with ParetoAsha on the loopback Ray: the driver is SIGKILLed after its first
    decisions and resumed. Useless trials (lr 1e-7: chance accuracy, no sparsity) that reach a
    rung after a learning trial are stopped and recorded truncated; no (trial, rung) is judged
    twice, the decisions made before the kill are kept, and every decision after the resume
    saw the trials recorded before it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import optuna
    import ray

    from demp.results import TrialLog
    from demp.sweep import resume_sweep
    from demp.spec import validate_spec
    from demp.spec import SweepPaths, open_storage

    data = {"name": "pasha", "output_root": str(tmp_path), "base": SWEEP_BASE,
            "space": {"optimizer.lr": {"choices": [0.05, 1e-7]},
                      "demp.regularizer.peak": {"choices": [0.01, 0.1, 1.0]}},
            "trials": 6, "max_concurrent": 2,
            "early_stopping": {"kind": "pareto_asha", "rungs": [0.25, 0.5],
                               "reduction_factor": 3, "recovery": 0.5},
            "ray": {"address": ray_address}, "wandb": {"mode": "disabled"}}
    # A grid order that starts with a learning trial: every useless trial started after the
    # first pair then reaches the first rung after a learner was recorded there.
    for seed in range(50):
        data["sampler"] = {"name": "grid", "seed": seed}
        spec = validate_spec(data)
        study = optuna.create_study(directions=spec.directions, sampler=optuna.samplers.
                                    GridSampler(spec.search_space().grid(), seed=seed))
        first = study.ask()
        spec.search_space()(first)
        if first.params["optimizer.lr"] == 0.05:
            break
    spec_path = tmp_path / "pasha.yaml"
    spec_path.write_text(yaml.safe_dump(data))
    paths = SweepPaths.for_spec(tmp_path, "pasha")
    state_path = paths.root / "scheduler_state.json"

    def decisions() -> list[dict]:
        try:
            return json.loads(state_path.read_text())["decisions"]
        except (FileNotFoundError, json.JSONDecodeError):
            return []

    driver = subprocess.Popen(
        [sys.executable, "-m", "demp", "sweep", "run", str(spec_path), "--quiet"],
        env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 150
    while len(decisions()) < 3 or not TrialLog(paths.trials).records():
        assert driver.poll() is None, driver.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "no decisions in time"
        time.sleep(0.05)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    driver.stderr.close()
    before = decisions()
    assert len(TrialLog(paths.trials).records()) < 6, "the sweep finished before the kill"
    deadline = time.monotonic() + 60  # Ray reclaims the dead driver's trial actors
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)

    outcome = resume_sweep(paths.root)
    after = decisions()
    assert after[:len(before)] == before                     # restored, not restarted
    judged = [(d["trial_id"], d["rung"]) for d in after]
    assert len(judged) == len(set(judged))                   # no rung judged twice
    seen: dict[int, set[str]] = {}
    for d in after:                                          # each saw all earlier records
        seen.setdefault(d["rung"], set()).add(d["trial_id"])
        assert d["recorded"] == len(seen[d["rung"]])

    records = {r.trial_id: r for r in outcome.records}
    assert len(records) == 6
    # A trial judged before the kill may have been lost with the driver (running, unknown to
    # Ray's snapshot: marked lost in the study, its grid point queued again); only the trials
    # the sweep recorded are checked against their decisions.
    study = optuna.load_study(study_name="pasha", storage=open_storage(None, paths))
    lost = {t.user_attrs.get("ray_trial_id") for t in study.trials
            if t.user_attrs.get("status") == "lost"}
    assert {d["trial_id"] for d in after} - set(records) <= lost
    stopped = {d["trial_id"]: d for d in after if d["decision"] == STOP and d["trial_id"]
               in records}
    truncated = {t for t, r in records.items() if r.status == "truncated"}
    assert set(stopped) == truncated and stopped                # at least one stop
    for tid, d in stopped.items():
        assert records[tid].metrics["complete"] is False
        assert d["step"] <= records[tid].metrics["step"] < 120
    for d in after:  # the rule, checked from the log: not dominated -> kept; dominated by at
        # least `keep` earlier records -> stopped
        earlier = [e["values"] for e in after[:after.index(d)] if e["rung"] == d["rung"]]
        dominators = sum(dominates(e, d["values"]) for e in earlier)
        if dominators == 0:
            assert d["decision"] == CONTINUE, d
        if dominators >= d["keep"]:
            assert d["decision"] == STOP, d
    # every useless trial judged at a rung after a learner was recorded there is stopped (a
    # lost trial's lr comes from the study)
    lr = {t.user_attrs["ray_trial_id"]: t.params["optimizer.lr"] for t in study.trials
          if "ray_trial_id" in t.user_attrs and "optimizer.lr" in t.params}
    lr.update({t: r.params["optimizer.lr"] for t, r in records.items()})
    useless_after_learner = [d for d in after if lr[d["trial_id"]] == 1e-7 and any(
        lr[e["trial_id"]] == 0.05 for e in after[:after.index(d)] if e["rung"] == d["rung"])]
    assert useless_after_learner and all(d["decision"] == STOP for d in useless_after_learner)
    # truncated trials are PRUNED in Optuna and off the frontier
    states = {t.user_attrs["ray_trial_id"]: t.state for t in study.trials
              if t.user_attrs.get("status") != "lost"}
    assert all(states[t] == optuna.trial.TrialState.PRUNED for t in truncated)
    assert not truncated & {r.trial_id for r in outcome.frontier.members}
    assert all(r.status == "complete" for r in outcome.frontier.complete)


def dominates(a: list[float], b: list[float]) -> bool:
    """Both objectives maximized."""
    return all(x >= y for x, y in zip(a, b)) and a != b
