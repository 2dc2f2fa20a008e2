"""The CLI as a Unix tool: exit statuses that say what happened, Ctrl-C that keeps what finished,
errors that name their category, a finished sweep that resume leaves alone, sweep names resolved
through the default output root, and a display that shows what was searched.

The sweeps run on the session's loopback Ray (``conftest.ray_address``); the interrupted driver is
a subprocess so that it can be sent SIGINT as a terminal would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray
import yaml
from rich.console import Console

sys.path.insert(0, str(Path(__file__).parent))
from test_sweep_e2e import check_agreement, make_spec  # noqa: E402

from demp.cli import exits, main  # noqa: E402
from demp.cli.display import LineDisplay, clock  # noqa: E402
from demp.results import TrialLog  # noqa: E402
from demp.results.frontier import compute_frontier  # noqa: E402
from demp.results.records import TrialRecord  # noqa: E402
from demp.spec import SweepPaths, validate_spec  # noqa: E402


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Exit status, stdout and stderr (stderr's lines unwrapped)."""
    capsys.readouterr()
    code = main(argv)
    got = capsys.readouterr()
    return code, got.out, " ".join(got.err.split())


def write_spec(tmp_path: Path, name: str, ray_address: str, **fields) -> Path:
    data = make_spec(tmp_path, name, ray={"address": ray_address}, wandb={"mode": "disabled"},
                     **fields)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# ------------------------------------------------------------------------------ exit statuses

def test_a_sweep_whose_trials_fail_exits_3_and_one_that_completes_exits_0(tmp_path, ray_address,
                                                                          capsys):
    failing = write_spec(tmp_path, "diverges", ray_address, trials=2,
                         space={"optimizer.lr": {"low": 100.0, "high": 1000.0, "log": True}})
    code, out, err = run_cli(["sweep", "run", str(failing), "--quiet"], capsys)
    assert code == exits.TRIALS_FAILED == 3, err
    assert "0 complete, 0 truncated, 2 failed" in out
    assert "files:" not in out  # no frontier to point at: the files hold only headers

    good = write_spec(tmp_path, "fine", ray_address, trials=2)
    code, out, err = run_cli(["sweep", "run", str(good), "--quiet"], capsys)
    assert code == exits.OK, err
    assert "2 complete, 0 truncated, 0 failed" in out and "files:" in out

    # resuming the finished sweep says so and exits at once: no Ray start, no new driver run
    paths = SweepPaths.for_spec(tmp_path, "fine")
    runs_before = json.loads(paths.meta.read_text())["runs"]
    log_before = paths.driver_log.read_bytes() if paths.driver_log.exists() else b""
    t0 = time.monotonic()
    code, out, err = run_cli(["sweep", "resume", str(paths.root)], capsys)
    assert code == exits.OK and time.monotonic() - t0 < 30, err
    assert f"{paths.root}: already finished — 2/2 trials (2 complete" in " ".join(out.split())
    assert json.loads(paths.meta.read_text())["runs"] == runs_before
    assert (paths.driver_log.read_bytes() if paths.driver_log.exists() else b"") == log_before
    # the failing one, finished too, keeps saying that its trials failed
    code, out, _ = run_cli(["sweep", "resume", str(SweepPaths.for_spec(tmp_path, "diverges")
                                                    .root)], capsys)
    assert code == exits.TRIALS_FAILED and "already finished" in out


def test_ctrl_c_keeps_what_finished_says_how_to_resume_and_exits_130(tmp_path, ray_address):
    spec_path = write_spec(tmp_path, "stopped", ray_address, trials=5)
    data = yaml.safe_load(spec_path.read_text())
    data["base"].update(max_steps=150, eval_interval=30)
    data["base"]["demp"]["death"]["prune_interval"] = 30
    spec_path.write_text(yaml.safe_dump(data))
    paths = SweepPaths.for_spec(tmp_path, "stopped")
    driver = subprocess.Popen(
        [sys.executable, "-m", "demp", "sweep", "run", str(spec_path)],
        env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 240
    while not TrialLog(paths.trials).records():
        assert driver.poll() is None, driver.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no trial finished in time"
        time.sleep(0.1)
    os.killpg(driver.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
    out, err = driver.communicate(timeout=120)
    assert driver.returncode == exits.INTERRUPTED == 130, err[-3000:]
    kept = len(TrialLog(paths.trials).records())
    assert 1 <= kept < 5
    lines = [ln for ln in err.splitlines() if ln.startswith("interrupted")]
    assert len(lines) == 1, err
    assert f"{kept} of 5 trials finished" in lines[0]
    assert f"`demp sweep resume {paths.root}`" in lines[0]
    assert err.count("sweep stopped: 5 trials") == 1  # the header, once
    assert "Pareto frontier" not in out  # no final table: the sweep did not end

    deadline = time.monotonic() + 60  # Ray reclaims the stopped driver's trial actors
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert main(["sweep", "resume", str(paths.root), "--quiet"]) == exits.OK
    got = check_agreement(paths, "stopped", planned=5)
    assert len(got["records"]) == 5  # nothing lost, nothing twice


DRIVER_SCRIPT = """
import json, sys
from demp.cli import main
code = main(["sweep", "run", sys.argv[1], "--quiet"])
print(json.dumps({"code": code, "imported": sorted(m for m in ("torch", "sklearn", "wandb")
                                                   if m in sys.modules)}))
"""


def test_the_sweep_driver_trains_nothing_and_never_imports_torch(tmp_path, ray_address):
    # Trials train in Ray's workers; the driver only schedules them and writes the results, and
    # importing torch cost it ~1.5 s before Ray started (issue #17).
    spec = write_spec(tmp_path, "torchless", ray_address, trials=2)
    out = subprocess.run([sys.executable, "-c", DRIVER_SCRIPT, str(spec)], capture_output=True,
                         text=True, timeout=300, cwd=Path(__file__).parents[1],
                         env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"})
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"code": exits.OK, "imported": []}
    assert len(TrialLog(SweepPaths.for_spec(tmp_path, "torchless").trials).records()) == 2


# ------------------------------------------------------------------------------ error categories

def test_errors_name_their_category(tmp_path, capsys, monkeypatch):
    code, _, err = run_cli(["sweep", "run", str(tmp_path / "none.yaml")], capsys)
    assert (code, err) == (2, f"error: file: {tmp_path / 'none.yaml'}: no such config file")
    code, _, err = run_cli(["sweep", "status", str(tmp_path)], capsys)
    assert code == 2 and err.startswith(f"error: sweep directory: {tmp_path}: not a sweep "
                                        f"directory (it has no spec.yaml")
    code, _, err = run_cli(["sweep", "status", str(tmp_path / "gone")], capsys)
    assert code == 2 and err.startswith(f"error: sweep directory: {tmp_path / 'gone'}: no such "
                                        f"directory")
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(make_spec(tmp_path, "s", trials=2)))
    code, _, err = run_cli(["sweep", "validate", str(spec), "--set", "max_concurent=3"], capsys)
    assert code == 2 and err.startswith("error: config: max_concurent: unknown field")
    code, _, err = run_cli(["train", "--set", "epochs=-1"], capsys)
    assert code == 2 and err.startswith("error: config: epochs:")


def test_unknown_trial_and_busy_port(tmp_path, capsys):
    paths = SweepPaths.for_spec(tmp_path, "read")
    paths.root.mkdir(parents=True)
    spec = validate_spec(make_spec(tmp_path, "read", trials=2))
    from demp.spec import dump_spec
    import optuna

    paths.spec.write_text(dump_spec(spec))
    optuna.create_study(study_name=spec.resolved_study_name, directions=spec.directions,
                        storage=optuna.storages.JournalStorage(
                            optuna.storages.journal.JournalFileBackend(str(paths.journal))))
    code, _, err = run_cli(["sweep", "export", str(paths.root), "nope"], capsys)
    assert (code, err) == (2, "error: trial: no finished trial 'nope' in this sweep")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run_cli(["sweep", "dashboard", str(paths.root), "--port", str(port)],
                               capsys)
    assert code == 2 and err.startswith(f"error: port: cannot listen on 127.0.0.1:{port}")
    assert err.endswith("pass --port 0 for any free port")


def test_version_help_and_sweep_names(tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.startswith("demp ")
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "130 interrupted" in " ".join(text.split())
    # a sweep name finds <default output root>/<name>, as `status` / `frontier` / ... take it
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "sweeps_out"
    spec = validate_spec(make_spec(root, "named", trials=2))
    paths = SweepPaths.for_spec(root, "named")
    paths.root.mkdir(parents=True)
    from demp.spec import dump_spec

    paths.spec.write_text(dump_spec(spec))
    code, out, err = run_cli(["sweep", "frontier", "named"], capsys)
    assert code == 0, err
    assert "frontier: no complete trials yet" in out


# ------------------------------------------------------------------------------ the display

class _Monitor:
    def __init__(self, spec, records, paths):
        self.spec, self.records, self.paths = spec, records, paths
        self.frontier = compute_frontier(records, spec.metrics, spec.directions,
                                         spec.reference_point())


def test_display_lines_show_sampled_parameters_and_collapsed_trials(tmp_path):
    data = make_spec(tmp_path, "shown", trials=4)
    data["space"]["baseline.density"] = {"low": 0.05, "high": 0.9}
    data["base"]["method"] = "early_crop_s"
    spec = validate_spec(data)
    good = TrialRecord(trial_id="a1", status="complete", params={
        "demp.regularizer.peak": 0.25, "baseline.density": 0.3},
        metrics={"val_acc": 0.95, "param_sparsity": 0.7, "lam": 0.0, "sigma": 0.0})
    bad = TrialRecord(trial_id="b2", status="complete", params={
        "demp.regularizer.peak": 3.0, "baseline.density": 0.05},
        metrics={"val_acc": 0.07, "param_sparsity": 0.99})
    width = 400
    console = Console(width=width, record=True, file=open(os.devnull, "w"))
    display = LineDisplay(console)
    monitor = _Monitor(spec, [good], SweepPaths.for_spec(tmp_path, "shown"))
    display.finished(good, monitor)
    monitor.records.append(bad)
    display.finished(bad, monitor)
    first, second = console.export_text().splitlines()
    assert "λ=0.25" in first and "ρ=0.3" in first and " complete " in first
    assert "λ=0 " not in first and "σ=" not in first  # the schedule's λ_t / σ_t are not shown
    assert " collapsed " in second and "below chance accuracy 0.1" in second
    assert clock(3725) == "1h02m" and clock(65) == "1m05s" and clock(9.9) == "9s"


def test_the_live_table_reads_a_running_trials_latest_evaluation(tmp_path):
    from demp.cli.display import latest_record

    d = tmp_path / "trial_x"
    assert latest_record(d) == {}
    d.mkdir()
    rows = [{"step": 30, "progress": 0.25, "val_acc": 0.5, "live_units": {"fc0": 3}},
            {"step": 60, "progress": 0.5, "val_acc": 0.75, "live_units": {"fc0": 2}}]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 9')
    assert latest_record(d) == {"step": 60, "progress": 0.5, "val_acc": 0.75}


def test_the_frontier_table_never_cuts_a_number_at_100_columns(tmp_path):
    """Columns that do not fit go to a continuation table instead of being ellipsized."""
    from demp.cli.tables import frontier_tables

    data = make_spec(tmp_path, "wide", trials=4)
    params = {"demp.regularizer.peak": 0.0003801234, "demp.noise.peak": 0.000152211,
              "optimizer.lr": 0.003514123, "demp.schedule.shape": "cosine_decay",
              "demp.schedule.span_fraction": 0.79191, "demp.death.prune_interval": 38,
              "demp.schedule.pct_start": 0.123456}
    records = [TrialRecord(trial_id=f"t{i}abcdef", status="complete", number=i, params=params,
                           metrics={"val_acc": 0.9 - i / 100, "param_sparsity": 0.5 + i / 10})
               for i in range(3)]
    spec = validate_spec(data)
    front = compute_frontier(records, spec.metrics, spec.directions, spec.reference_point())
    console = Console(width=100, record=True, file=open(os.devnull, "w"))
    tables = frontier_tables(front, 100)
    assert len(tables) >= 2
    for t in tables:
        console.print(t)
    text = console.export_text()
    assert "…" not in text and max(map(len, text.splitlines())) <= 100
    for value in ("0.0003801", "0.0001522", "0.003514", "cosine_decay", "0.7919", "38"):
        assert value in text
