"""A sweep whose Optuna study lives on a real PostgreSQL server (``storage: postgresql://``).

The server is ``conftest.postgres``: Debian's PostgreSQL on a Unix socket in a temporary
directory, password authentication, the password only in the file PGPASSFILE names. One sweep
goes through everything docs/cluster.md promises for this storage:

- without the password file, or with a wrong database, ``run`` refuses with a line naming
  ``storage`` and leaves nothing behind (no directory, no study);
- the driver runs as the CLI runs it (a subprocess) while optuna-dashboard reads the study from
  the server and sees trials arrive; then it is SIGKILLed mid-sweep;
- ``resume`` finishes the planned trials: Ray's results, the study on the server, trials.jsonl
  and the frontier agree, none lost or counted twice;
- the password is in no file of the sweep directory;
- a second sweep with the same study name is refused, naming the sweep the study belongs to,
  and the study gains no trial.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import optuna
import pytest
import ray
import yaml

from demp.cli import main
from demp.results import TrialLog
from demp.spec import SweepPaths
from demp.sweep import resume_sweep
from demp.sweep.optuna_dashboard import make_dashboard_server

sys.path.insert(0, str(Path(__file__).parent))
from test_sweep_e2e import BASE, LAMBDA, check_agreement  # noqa: E402

S = optuna.trial.TrialState
# Enough trials, long enough, that the driver is still mid-sweep when the test has seen two of
# them arrive through optuna-dashboard (which caches a study's trials for 2 s): with 6 trials of
# 150 steps, a fast machine finished the whole sweep before the kill, and with 8 of 450 steps so
# did a fresh-clone CI run once the driver stopped importing torch (issue #17: it starts ~1.5 s
# sooner).
PLANNED = 14
STEPS = 450


def spec_data(root: Path, name: str, storage: str, ray_address: str) -> dict[str, Any]:
    base = copy.deepcopy(BASE)
    base.update(max_steps=STEPS, eval_interval=STEPS // 5)
    base["demp"]["death"]["prune_interval"] = STEPS // 5
    return {"name": name, "output_root": str(root), "base": base, "storage": storage,
            "space": {"demp.regularizer.peak": dict(LAMBDA)}, "trials": PLANNED,
            "max_concurrent": 2, "sampler": {"name": "random", "seed": 5},
            "ray": {"address": ray_address}, "wandb": {"mode": "disabled"}}


class Dashboard:
    """optuna-dashboard on the sweep's study, served from a thread on 127.0.0.1."""

    def __init__(self, directory: Path) -> None:
        self.server, self.study, _ = make_dashboard_server(directory, "127.0.0.1", 0)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def get(self, route: str) -> Any:
        with self.opener.open(f"{self.base}{route}", timeout=30) as resp:
            return json.loads(resp.read())

    def trials(self) -> list[dict[str, Any]]:
        (study,) = [s for s in self.get("/api/studies")["study_summaries"]
                    if s["study_name"] == self.study]
        return self.get(f"/api/studies/{study['study_id']}?after=0")["trials"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """Exit status and stderr, its lines unwrapped (rich wraps them at 160 columns)."""
    capsys.readouterr()
    code = main(argv)
    return code, " ".join(capsys.readouterr().err.split())


def test_a_sweep_on_postgresql(tmp_path, ray_address, postgres, capsys, monkeypatch):
    if "WANDB_SERVICE" in os.environ:  # `sweep run` in this process drops it; put it back after
        monkeypatch.setenv("WANDB_SERVICE", os.environ["WANDB_SERVICE"])
    good = postgres.url()
    spec_path = tmp_path / "pg.yaml"
    spec_path.write_text(yaml.safe_dump(spec_data(tmp_path, "pgsweep", good, ray_address)))
    paths = SweepPaths.for_spec(tmp_path, "pgsweep")

    # refused, with nothing left behind: no password file, then a database that does not exist
    passfile = os.environ.pop("PGPASSFILE")
    try:
        code, err = run_cli(["sweep", "run", str(spec_path), "--quiet"], capsys)
    finally:
        os.environ["PGPASSFILE"] = passfile
    assert code == 2 and "error: storage: cannot open the Optuna study database" in err, err
    assert "PGPASSFILE" in err and postgres.password not in err
    assert not paths.root.exists()
    code, err = run_cli(["sweep", "run", str(spec_path), "--quiet", "--set",
                         f"storage={postgres.url(database='no_such_db')}"], capsys)
    assert code == 2 and 'database "no_such_db" does not exist' in err, err
    assert not paths.root.exists()
    assert "pgsweep" not in optuna.study.get_all_study_names(good)

    # the driver, watched live by optuna-dashboard, SIGKILLed mid-sweep
    driver = subprocess.Popen(
        [sys.executable, "-m", "demp", "sweep", "run", str(spec_path), "--quiet"],
        env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    dashboard = None
    seen: list[int] = []
    storage = optuna.storages.RDBStorage(good)
    try:
        deadline = time.monotonic() + 420  # a loaded 2-core machine: trials take a while
        while True:
            recorded = len(TrialLog(paths.trials).records())
            assert driver.poll() is None, driver.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, \
                f"no two trials watched in time: {recorded} recorded, dashboard saw {seen}"
            if dashboard is None and paths.spec.is_file() \
                    and "pgsweep" in optuna.study.get_all_study_names(storage):
                dashboard = Dashboard(paths.root)
            if dashboard is not None:
                done = sum(t["state"] == "Complete" for t in dashboard.trials())
                if not seen or done != seen[-1]:
                    seen.append(done)
            if recorded >= 2 and len(seen) >= 2:
                break
            time.sleep(0.5)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        assert seen == sorted(seen) and seen[-1] > seen[0], seen  # it watched trials arrive
        # the dead driver changes the study no more; the dashboard caches a study's trials for
        # 2 s (optuna_dashboard._storage.get_trials), so it catches up within a few seconds
        study = optuna.load_study(study_name="pgsweep", storage=good)
        numbers = {t.number for t in study.trials}
        deadline = time.monotonic() + 30
        while {t["number"] for t in dashboard.trials()} != numbers \
                and time.monotonic() < deadline:
            time.sleep(0.5)
        assert {t["number"] for t in dashboard.trials()} == numbers
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        driver.stderr.close()
        if dashboard is not None:
            dashboard.close()
    finished_before = len(TrialLog(paths.trials).records())
    assert 2 <= finished_before < PLANNED
    assert optuna.load_study(study_name="pgsweep", storage=good).get_trials(states=[S.RUNNING])
    deadline = time.monotonic() + 60  # Ray reclaims the dead driver's trial actors
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)

    # resume on the same storage: nothing lost, nothing twice
    outcome = resume_sweep(paths.root)
    got = check_agreement(paths, "pgsweep", PLANNED, storage=good)
    assert outcome.counts == {"complete": PLANNED, "truncated": 0, "failed": 0}
    assert all(r.status == "complete" for r in got["records"].values())
    code, err = run_cli(["sweep", "status", str(paths.root)], capsys)
    assert code == 0

    # the password is in no file the sweep wrote (spec, Ray's state, pickled searcher, ...)
    secret = postgres.password.encode()
    assert not [p for p in paths.root.rglob("*") if p.is_file() and secret in p.read_bytes()]
    assert yaml.safe_load(paths.spec.read_text())["storage"] == good

    # a second sweep of the same name is refused and the study gains nothing
    other = tmp_path / "elsewhere"
    code, err = run_cli(["sweep", "run", str(spec_path), "--quiet", "--set",
                         f"output_root={other}"], capsys)
    assert code == 2, err
    assert "error: config: study_name: study 'pgsweep' already exists" in err
    assert f"it belongs to the sweep in {paths.root}" in err and "demp sweep resume" in err
    assert not (other / "pgsweep").exists()
    assert len(optuna.load_study(study_name="pgsweep", storage=good).trials) == \
        len(got["study"].trials)


@pytest.mark.parametrize("mode, reason", [(0o644, "can be read by other users, so libpq "
                                                   "ignores it"),
                                          (None, "cannot be read")])
def test_validate_refuses_a_password_file_libpq_would_ignore(tmp_path, postgres, mode, reason,
                                                             monkeypatch, capsys):
    passfile = tmp_path / "pgpass"
    if mode is not None:
        passfile.write_text(Path(os.environ["PGPASSFILE"]).read_text())
        passfile.chmod(mode)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    spec_path = tmp_path / "s.yaml"
    data = spec_data(tmp_path, "pgcheck", postgres.url(), "127.0.0.1:1")
    del data["ray"]
    spec_path.write_text(yaml.safe_dump(data))
    code, err = run_cli(["sweep", "validate", str(spec_path)], capsys)
    assert code == 2 and f"PGPASSFILE: {passfile} {reason}" in err, err
