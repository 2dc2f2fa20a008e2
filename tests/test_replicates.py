"""Replicates: a finished search's configurations re-run on further seeds as Ray trials that the
sampler never sees; killed mid-way and resumed, with nothing lost or run twice; extended later
with ``demp sweep replicate``, which runs only the missing seeds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import ray
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from test_sweep_e2e import make_spec, study_of  # noqa: E402

from demp.cli import exits, main  # noqa: E402
from demp.results import TrialLog, load_sweep  # noqa: E402
from demp.spec import SweepPaths  # noqa: E402
from demp.sweep import resume_sweep  # noqa: E402


def test_replicates_survive_a_kill_and_never_feed_the_sampler(tmp_path, ray_address):
    data = make_spec(tmp_path, "reps", trials=3, ray={"address": ray_address},
                     wandb={"mode": "disabled"}, replicates={"seeds": 2, "stage": "all"})
    data["base"].update(max_steps=90, eval_interval=30, seed=5)
    data["base"]["demp"]["death"]["prune_interval"] = 30
    spec_path = tmp_path / "reps.yaml"
    spec_path.write_text(yaml.safe_dump(data))
    paths = SweepPaths.for_spec(tmp_path, "reps")
    driver = subprocess.Popen(
        [sys.executable, "-m", "demp", "sweep", "run", str(spec_path), "--quiet"],
        env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 300
    while not TrialLog(paths.replicates).records():  # the first replicate ended
        assert driver.poll() is None, driver.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "no replicate in time"
        time.sleep(0.05)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    driver.stderr.close()
    before = TrialLog(paths.replicates).records()
    assert 1 <= len(before) < 3, "the replicates finished before the kill"
    deadline = time.monotonic() + 60
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)

    outcome = resume_sweep(paths.root)
    reps = TrialLog(paths.replicates).records()
    searched = {r.trial_id: r for r in outcome.records}
    assert len(searched) == 3 and all(r.status == "complete" for r in searched.values())
    assert sorted((r.group, r.replicate) for r in reps) == sorted((t, 1) for t in searched)
    assert len({r.trial_id for r in reps}) == 3                       # no replicate twice
    assert [r.trial_id for r in reps[:len(before)]] == [r.trial_id for r in before]  # kept
    for r in reps:
        assert r.status == "complete" and r.seed == 6 and r.params["seed"] == 6
        assert {k: v for k, v in r.params.items() if k != "seed"} == searched[r.group].params
    # the sampler saw the three search trials only
    assert len(study_of(paths, "reps").trials) == 3
    doc = json.loads((paths.root / "frontier_replicates.json").read_text())
    assert doc["configurations"] == 3 and {r["seeds"] for r in doc["rows"]} == {2}
    assert {tuple(r["seed_list"]) for r in doc["rows"]} == {(5, 6)}
    lo, hi = doc["hypervolume_interval"]
    assert lo <= doc["hypervolume_of_means"] <= hi

    # a resume with nothing left does nothing; `replicate --seeds 3` adds only seed 7
    assert resume_sweep(paths.root).already_finished
    frontier = [r.trial_id for r in load_sweep(paths.root).frontier.members]
    assert main(["sweep", "replicate", str(paths.root), "--seeds", "3", "--quiet"]) == exits.OK
    again = TrialLog(paths.replicates).records()
    assert len(again) == 3 + len(frontier)
    assert sorted(r.group for r in again if r.replicate == 2) == sorted(frontier)
    assert {r.seed for r in again if r.replicate == 2} == {7}
    assert len(optuna.load_study(study_name="reps", storage=study_of(paths, "reps")._storage)
               .trials) == 3
