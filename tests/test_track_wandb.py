"""W&B tracking, read back from the offline runs' ``.wandb`` transaction logs (no network).

One real (tiny) training run is shared by most tests; each test checks what landed in the run
files against what the trainer reported to a recording callback.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest

from demp.methods import build_trainer
from demp.track import keys
from demp.track import wandb as track
from demp.track.keys import (
    DEAD_FRACTION,
    LIVE_UNITS,
    LIVE_UNITS_HEATMAP,
    LIVE_UNITS_TABLE,
    PRUNE_DEAD,
    PRUNE_EVENTS_TABLE,
    PRUNE_REMOVED,
    PRUNE_REMOVED_TOTAL,
    STEP_KEY,
    layer_key,
)
from demp.track.sweep_run import SweepRunLogger
from demp.track.trial_run import WandbTrialCallback
from demp.track.wandb import sweep_run_id, trial_run_id
from demp.track.wandb_log import find_offline_runs, iter_transaction_log, read_offline_run
from demp.train import Trainer
from demp.train.callbacks import Callback

wandb = pytest.importorskip("wandb")

FAKE_KEY = "0123456789abcdef0123456789abcdef01234567"
SWEEP = "digits-test"
CFG: dict[str, Any] = {
    "model": {"name": "mlp", "hidden": [64, 64]}, "epochs": 4, "threads": 1,
    "optimizer": {"lr": 0.05},  # fast enough that units of both layers die within 80 steps
    "demp": {"regularizer": {"peak": 0.1}, "death": {"prune_interval": 20}},
}
# Values that depend on wall-clock time; everything else of a run is deterministic.
TIMING = {"step_time", "train_time"}


class Recorder(Callback):
    """What the trainer reported, to compare with what W&B stored."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.evals: list[dict[str, Any]] = []
        self.prunes: list[dict[str, Any]] = []
        self.summary: dict[str, Any] | None = None
        self.stop_at = stop_at

    def on_eval(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        self.evals.append(metrics)
        if self.stop_at is not None and metrics["step"] == self.stop_at and not metrics["final"]:
            trainer.request_stop()

    def on_prune(self, trainer: Trainer, event: dict[str, Any]) -> None:
        self.prunes.append(event)

    def on_end(self, trainer: Trainer, summary: dict[str, Any]) -> None:
        self.summary = summary


def _set_wandb_env(mp: pytest.MonkeyPatch, home: Path) -> None:
    for var in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL", "WANDB_PROJECT",
                "WANDB_ENTITY", "WANDB_RUN_ID", "WANDB_RESUME", "WANDB_RUN_GROUP",
                "WANDB_JOB_TYPE", "WANDB_NAME", "WANDB_TAGS"):
        mp.delenv(var, raising=False)
    mp.setenv("WANDB_MODE", "offline")
    mp.setenv("WANDB_SILENT", "true")
    mp.setenv("WANDB_DISABLE_GIT", "true")
    mp.setenv("WANDB_DISABLE_CODE", "true")
    mp.setenv("WANDB_DIR", str(home / "default-dir"))
    for var, sub in (("WANDB_CONFIG_DIR", "config"), ("WANDB_CACHE_DIR", "cache"),
                     ("WANDB_DATA_DIR", "data"), ("WANDB_ARTIFACT_DIR", "artifacts")):
        mp.setenv(var, str(home / sub))
    mp.setenv("NETRC", str(home / "netrc-absent"))


@pytest.fixture(scope="module")
def wandb_home(tmp_path_factory: pytest.TempPathFactory):
    """W&B's own directories (config, cache, logs) inside the test tree, fresh service."""
    home = tmp_path_factory.mktemp("wandb_home")
    with pytest.MonkeyPatch.context() as mp:
        _set_wandb_env(mp, home)
        wandb.teardown()  # forget settings an earlier test module may have loaded
        yield home
        wandb.teardown()


@pytest.fixture
def env(wandb_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _set_wandb_env(monkeypatch, wandb_home)
    return wandb_home


def _trial(root: Path, trial_id: str = "trial_00001", **kw: Any) -> WandbTrialCallback:
    return WandbTrialCallback(trial_id, SWEEP, mode=kw.pop("mode", "offline"), project="demp-test",
                              dir=root, system_metrics=False, **kw)


@pytest.fixture(scope="module")
def trial_run(wandb_home: Path, tmp_path_factory: pytest.TempPathFactory):
    """One tiny trial logged offline, with a (fake) API key in the environment."""
    root = tmp_path_factory.mktemp("trial")
    with pytest.MonkeyPatch.context() as mp:
        _set_wandb_env(mp, wandb_home)
        mp.setenv("WANDB_API_KEY", FAKE_KEY)
        rec = Recorder()
        cb = _trial(root, extra_config={
            "params": {"demp.regularizer.peak": 0.1},
            "wandb_api_key": FAKE_KEY,                      # a secret-looking key: masked
            "storage": f"postgresql://u:{FAKE_KEY}@h/db",   # the key's value: masked
            "notes": "x" * 40_000,                          # spans blocks of the log
        })
        assert cb.run_id == trial_run_id(SWEEP, "trial_00001")
        summary = build_trainer(CFG, callbacks=[rec, cb]).fit()
        mode = cb.mode
    (run_dir,) = find_offline_runs(root)
    return {"root": root, "rec": rec, "cb": cb, "summary": summary, "mode": mode,
            "run": read_offline_run(run_dir), "run_dir": run_dir}


# ------------------------------------------------------------------------------ the trial run


def test_trial_run_is_offline_with_id_group_job_type(trial_run: dict[str, Any]) -> None:
    run = trial_run["run"]
    assert trial_run["mode"] == "offline"          # a key in the env does not make it online
    assert run.offline and run.path.name.startswith("offline-run-")
    assert run.run_id == trial_run_id(SWEEP, "trial_00001")
    assert run.group == SWEEP and run.job_type == "trial" and run.project == "demp-test"
    assert run.exit_code == 0
    assert trial_run["cb"].error is None


def test_config_holds_the_full_trainer_config(trial_run: dict[str, Any]) -> None:
    run, cfg = trial_run["run"], build_trainer(CFG).cfg.model_dump(mode="json")
    for key, value in cfg.items():
        assert run.config[key] == value, key
    assert run.config["demp"]["regularizer"]["peak"] == 0.1
    assert run.config["trial"]["id"] == "trial_00001"
    assert run.config["trial"]["sweep"] == SWEEP
    assert run.config["trial"]["params"] == {"demp.regularizer.peak": 0.1}
    assert run.config["trial"]["notes"] == "x" * 40_000  # a record split over several chunks
    assert run.config["trial"]["wandb_api_key"] == track.REDACTED
    assert run.config["trial"]["storage"] == f"postgresql://u:{track.REDACTED}@h/db"
    assert run.config["trainer"]["total_steps"] == 80


def test_each_evaluation_is_logged_with_its_values(trial_run: dict[str, Any]) -> None:
    run, rec = trial_run["run"], trial_run["rec"]
    rows = [r for r in run.history if "val_acc" in r]
    assert [r[STEP_KEY] for r in rows] == [m["step"] for m in rec.evals] == [20, 40, 60, 80]
    for row, m in zip(rows, rec.evals):
        for key in keys.EVAL_METRICS:
            assert row[key] == pytest.approx(m[key], rel=1e-12), key
        assert set(m["dead_fraction"]) == {"fc0", "fc1"}
        for g, frac in m["dead_fraction"].items():
            assert row[layer_key(DEAD_FRACTION, g)] == frac
            assert row[layer_key(LIVE_UNITS, g)] == m["live_units"][g]
    # The first unit of fc1 to die (at the step-20 check) shows in its dead fraction (1 of 64).
    assert rows[0][layer_key(DEAD_FRACTION, "fc1")] == 0.0
    assert rows[1][layer_key(DEAD_FRACTION, "fc1")] == pytest.approx(1 / 64)


def test_prune_events_are_logged(trial_run: dict[str, Any]) -> None:
    run, rec = trial_run["run"], trial_run["rec"]
    rows = [r for r in run.history if PRUNE_REMOVED_TOTAL in r]
    assert [r[STEP_KEY] for r in rows] == [e["step"] for e in rec.prunes] == [0, 20, 40, 60, 80]
    for row, e in zip(rows, rec.prunes):
        assert row[PRUNE_REMOVED_TOTAL] == sum(e["removed"].values())
        for g, n in e["removed"].items():
            assert row[layer_key(PRUNE_REMOVED, g)] == n
            assert row[layer_key(PRUNE_DEAD, g)] == e["dead"][g]
    removed = {g: sum(r[layer_key(PRUNE_REMOVED, g)] for r in rows) for g in ("fc0", "fc1")}
    final_live = trial_run["summary"]["live_units"]
    assert removed == {g: 64 - final_live[g] for g in ("fc0", "fc1")}
    assert removed["fc1"] >= 1
    columns, data = run.table(PRUNE_EVENTS_TABLE)
    assert columns == ["step", "group", "dead", "removed", "live_units"]
    assert [d[:4] for d in data] == [[e["step"], g, e["dead"][g], e["removed"][g]]
                                     for e in rec.prunes for g in e["dead"]]


def test_charts_use_the_training_step(trial_run: dict[str, Any]) -> None:
    defs = trial_run["run"].metric_defs
    assert {"name": STEP_KEY, "glob_name": "", "step_metric": ""} in defs
    assert {"name": "", "glob_name": "*", "step_metric": STEP_KEY} in defs
    assert all(r["_step"] == r[STEP_KEY] for r in trial_run["run"].history)


def test_summary_holds_the_final_metrics(trial_run: dict[str, Any]) -> None:
    summary, final = trial_run["run"].summary, trial_run["summary"]
    assert final["final"] is True
    for key in ("val_acc", "test_acc", "val_loss", "param_sparsity", "neural_sparsity",
                "flops", "params", "lam", "sigma", "lr"):
        assert summary[key] == pytest.approx(final[key], rel=1e-12), key
    assert summary[STEP_KEY] == final["step"] == 80
    assert summary["stopped_early"] is False and summary["total_steps"] == 80
    for g, frac in final["dead_fraction"].items():
        assert summary[layer_key(DEAD_FRACTION, g)] == frac
        assert summary[layer_key(LIVE_UNITS, g)] == final["live_units"][g]


def test_live_units_table_and_heat_map(trial_run: dict[str, Any]) -> None:
    run, rec = trial_run["run"], trial_run["rec"]
    columns, data = run.table(LIVE_UNITS_TABLE)
    assert columns == ["step", "fc0", "fc1"]
    assert data == [[m["step"], m["live_units"]["fc0"], m["live_units"]["fc1"]]
                    for m in rec.evals]
    (ref,) = [r[LIVE_UNITS_HEATMAP] for r in run.history if LIVE_UNITS_HEATMAP in r]
    assert ref["_type"] == "image-file"
    assert run.load_file(ref).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_api_key_is_in_no_file(trial_run: dict[str, Any], wandb_home: Path) -> None:
    needle = FAKE_KEY.encode()
    files = [p for root in (trial_run["root"], wandb_home) for p in root.rglob("*")
             if p.is_file()]
    assert any(p.suffix == ".wandb" for p in files) and len(files) > 5
    leaks = [str(p) for p in files if needle in p.read_bytes()]
    assert leaks == []


# ------------------------------------------------------------------------------ failures


def _deterministic(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in TIMING}


def test_trial_finishes_when_wandb_init_fails(env: Path, tmp_path: Path,
                                              trial_run: dict[str, Any],
                                              monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def broken_init(*args: Any, **kwargs: Any) -> None:
        calls.append(kwargs.get("mode"))
        raise wandb.errors.CommError("cannot reach W&B")

    monkeypatch.setattr(wandb, "init", broken_init)
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    monkeypatch.delenv("WANDB_MODE")
    cb = _trial(tmp_path, mode="auto")  # a key is set, so auto = online, then the offline retry
    with caplog.at_level(logging.WARNING, logger="demp.track.wandb"):
        summary = build_trainer(CFG, callbacks=[cb]).fit()
    assert calls == ["online", "offline"]
    assert _deterministic(summary) == _deterministic(trial_run["summary"])
    assert not cb.enabled and "cannot reach W&B" in (cb.error or "")
    disabled = [r for r in caplog.records if "disabled" in r.getMessage()]
    assert len(disabled) == 1 and FAKE_KEY not in caplog.text
    assert find_offline_runs(tmp_path) == []


def test_wandb_failing_mid_run_disables_logging_not_training(
        env: Path, tmp_path: Path, trial_run: dict[str, Any],
        caplog: pytest.LogCaptureFixture) -> None:
    cb = _trial(tmp_path, trial_id="trial_flaky")

    class BreakLog(Callback):
        def on_eval(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
            if metrics["step"] == 40:
                def fail(*a: Any, **k: Any) -> None:
                    raise OSError("disk full")
                cb.run.log = fail  # the next log call (the prune check at step 40) fails

    with caplog.at_level(logging.WARNING, logger="demp.track.wandb"):
        summary = build_trainer(CFG, callbacks=[cb, BreakLog()]).fit()
    assert _deterministic(summary) == _deterministic(trial_run["summary"])
    assert cb.error is not None and "disk full" in cb.error
    assert len([r for r in caplog.records if "disabled" in r.getMessage()]) == 1
    (run_dir,) = find_offline_runs(tmp_path)
    steps = [r[STEP_KEY] for r in read_offline_run(run_dir).history if "val_acc" in r]
    assert steps == [20, 40]  # what was logged before the failure is kept


def test_disabled_mode_never_starts_wandb(env: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wandb, "init", lambda *a, **k: pytest.fail("wandb.init called"))
    cb = _trial(tmp_path, mode="disabled")
    build_trainer({**CFG, "epochs": 1}, callbacks=[cb]).fit()
    assert cb.run is None and cb.error is None and not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------ ids and resume


def test_run_ids_are_deterministic_and_legal() -> None:
    a = trial_run_id("my sweep/v2", "abc123_00004")
    assert a == trial_run_id("my sweep/v2", "abc123_00004")
    assert a != trial_run_id("my sweep/v2", "abc123_00005")
    assert a != trial_run_id("my-sweep-v2", "abc123_00004")  # same slug, different names
    assert sweep_run_id("s") not in {trial_run_id("s", "sweep"), trial_run_id("s", "s")}
    for rid in (a, sweep_run_id("x" * 300), trial_run_id("ÄÖ", "::")):
        assert re.fullmatch(r"[a-z0-9_-]{1,64}", rid), rid
        assert not any(c in rid for c in ":;,#?/'")


def test_resumed_trial_continues_its_run(env: Path, tmp_path: Path) -> None:
    out = tmp_path / "trial_out"
    cfg = {**CFG, "output_dir": str(out)}
    first = Recorder(stop_at=40)
    cb1 = _trial(tmp_path / "wb", trial_id="trial_resume")
    s1 = build_trainer(cfg, callbacks=[first, cb1]).fit()
    assert s1["stopped_early"] and s1["step"] == 40
    cb2 = _trial(tmp_path / "wb", trial_id="trial_resume")
    assert cb2.run_id == cb1.run_id
    second = Recorder()
    s2 = build_trainer(cfg, callbacks=[second, cb2], resume_from=out / "checkpoint").fit()
    assert s2["step"] == 80 and not s2["stopped_early"]

    runs = [read_offline_run(d) for d in find_offline_runs(tmp_path / "wb")]
    assert len(runs) == 2 and {r.run_id for r in runs} == {cb1.run_id}
    by_first_step = sorted(runs, key=lambda r: min(x[STEP_KEY] for x in r.history))
    before, after = by_first_step
    # W&B's own step is the training step, so the two attempts' rows never collide on sync;
    # the stopped attempt's final record (step 40) is merged into its step-40 row.
    assert before.series("val_acc") == [(20, first.evals[0]["val_acc"]), (40, s1["val_acc"])]
    assert [s for s, _ in after.series("val_acc")] == [60, 80]
    assert all(r["_step"] == r[STEP_KEY] for r in before.history + after.history)
    assert after.series("val_acc") == [(m["step"], m["val_acc"]) for m in second.evals]
    assert after.summary["resumed_from_step"] == 40
    assert before.summary["stopped_early"] is True and after.summary["stopped_early"] is False


# ------------------------------------------------------------------------------ modes


def test_auto_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert track.resolve_mode("auto") == "disabled"  # no key: no runs (offline only if asked)
    assert not track.api_key_configured()

    from wandb.sdk.lib import urls
    from urllib.parse import urlsplit

    netloc = urlsplit(urls.DEFAULT_BASE_URL).netloc
    (tmp_path / "netrc").write_text(f"machine {netloc}\n  login user\n  password {FAKE_KEY}\n")
    assert track.api_key_configured() and track.resolve_mode("auto") == "online"
    (tmp_path / "netrc").unlink()

    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    assert track.resolve_mode("auto") == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert track.resolve_mode("auto") == "disabled"
    assert track.resolve_mode("offline") == "offline"  # an explicit mode wins
    with pytest.raises(ValueError, match="wandb mode"):
        track.resolve_mode("sometimes")


def test_scrub_masks_secrets_and_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    cfg = {"model": {"name": "mlp"}, "api_key": "a", "auth": {"token": "t", "Password": "p"},
           "urls": [f"https://x/?k={FAKE_KEY}"], "key": 3, "keys_kept": 1}
    assert track.scrub(cfg) == {
        "model": {"name": "mlp"}, "api_key": "***", "auth": {"token": "***", "Password": "***"},
        "urls": ["https://x/?k=***"], "key": "***", "keys_kept": 1}


# ------------------------------------------------------------------------------ the sweep run


def test_sweep_run_logs_frontier_hypervolume_and_counts(env: Path, tmp_path: Path) -> None:
    objectives = [("val_acc", "maximize"), ("param_sparsity", "maximize")]
    t = [{"trial_id": f"t{i}", "status": s, "val_acc": a, "param_sparsity": p,
          "demp.regularizer.peak": lam}
         for i, (s, a, p, lam) in enumerate([("complete", 0.95, 0.10, 1e-3),
                                             ("complete", 0.90, 0.50, 1e-2),
                                             ("failed", None, None, 3.0),
                                             ("complete", 0.85, 0.40, 5e-2)])]
    with SweepRunLogger(SWEEP, mode="offline", project="demp-test", dir=tmp_path,
                        media_interval=0,  # every frontier change (the interval: below)
                        config={"spec": {"trials": 4, "password": "hunter2"}}) as logger:
        logger.update([t[0]], t[:1], [0.0855], {"complete": 1, "truncated": 0, "failed": 0},
                      objectives)
        frontier = [t[0], t[1]]
        logger.update(frontier, t[:3], [0.0855, 0.4, 0.4],
                      {"complete": 2, "truncated": 0, "failed": 1}, objectives)
        # The frontier is unchanged: counts and hypervolume go now, tables and plot at finish.
        logger.update(frontier, t, [0.0855, 0.4, 0.4, 0.4],
                      {"complete": 3, "truncated": 0, "failed": 1}, objectives)
        assert logger.error is None
    (run_dir,) = find_offline_runs(tmp_path)
    run = read_offline_run(run_dir)
    assert run.run_id == sweep_run_id(SWEEP) and run.job_type == "sweep" and run.group == SWEEP
    assert run.config["spec"] == {"trials": 4, "password": "***"}
    assert run.series(keys.HYPERVOLUME, keys.SWEEP_STEP_KEY) == [
        (1, 0.0855), (2, 0.4), (3, 0.4), (4, 0.4)]
    last = run.rows_with(keys.count_key("total"))[-1]
    assert last[keys.SWEEP_STEP_KEY] == last["_step"] == 4
    assert last[keys.count_key("complete")] == 3 and last[keys.count_key("failed")] == 1
    assert last[keys.count_key("total")] == 4 and last[keys.FRONTIER_SIZE] == 2
    assert [r[keys.SWEEP_STEP_KEY] for r in run.rows_with(keys.FRONTIER_PLOT)] == [1, 3, 4]
    columns, data = run.table(keys.FRONTIER_TABLE)
    assert columns == ["trial_id", "status", "val_acc", "param_sparsity", "demp.regularizer.peak"]
    assert data == [[r[c] for c in columns] for r in frontier]
    columns, data = run.table(keys.TRIALS_TABLE)
    assert [row[columns.index("on_frontier")] for row in data] == [True, True, False, False]
    png = run.load_file(run.history[-1][keys.FRONTIER_PLOT])
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert run.summary[keys.HYPERVOLUME] == 0.4 and run.exit_code == 0


def test_sweep_run_media_wait_for_their_interval(env: Path, tmp_path: Path) -> None:
    """The frontier plot and tables are drawn at most once per ``media_interval``: a frontier
    change inside it is held back, logged by ``flush`` (the idle W&B thread) once the interval
    has passed or by the next update after it; counts and hypervolume go at every update."""
    objectives = [("val_acc", "maximize"), ("param_sparsity", "maximize")]
    rows = [{"trial_id": f"t{i}", "status": "complete", "val_acc": 0.9 - 0.1 * i,
             "param_sparsity": 0.1 + 0.2 * i} for i in range(5)]
    now = [0.0]
    done = {"complete": 0, "truncated": 0, "failed": 0}
    logger = SweepRunLogger(SWEEP, mode="offline", project="demp-test", dir=tmp_path,
                            media_interval=30.0, clock=lambda: now[0])

    def update(n: int, frontier: int, at: float) -> None:
        now[0] = at
        logger.update(rows[:frontier], rows[:n], [0.1 * k for k in range(1, n + 1)],
                      {**done, "complete": n}, objectives)

    update(1, 1, at=0.0)     # first: drawn
    update(2, 2, at=1.0)     # changed, 1 s later: held back
    now[0] = 10.0
    logger.flush()           # 10 s after the last drawing: still held
    now[0] = 31.0
    logger.flush()           # 31 s: drawn, as of update 2
    update(3, 3, at=32.0)    # changed: held back
    update(4, 3, at=70.0)    # the frontier of update 3, not yet drawn, 39 s on: drawn
    update(5, 3, at=100.0)   # unchanged: waits for the end, whatever the time
    now[0] = 200.0
    logger.flush()           # not a held-back change: nothing drawn
    logger.finish()
    assert logger.error is None
    (run_dir,) = find_offline_runs(tmp_path)
    run = read_offline_run(run_dir)
    assert [r[keys.SWEEP_STEP_KEY] for r in run.rows_with(keys.FRONTIER_PLOT)] == [1, 2, 4, 5]
    assert [r[keys.SWEEP_STEP_KEY] for r in run.rows_with(keys.FRONTIER_TABLE)] == [1, 2, 4, 5]
    assert [s for s, _ in run.series(keys.HYPERVOLUME, keys.SWEEP_STEP_KEY)] == [1, 2, 3, 4, 5]
    columns, data = run.table(keys.TRIALS_TABLE)
    assert len(data) == 5  # the last drawing holds every trial


def test_sweep_run_media_interval_must_be_a_duration() -> None:
    with pytest.raises(ValueError, match="media_interval"):
        SweepRunLogger(SWEEP, mode="offline", media_interval=-1.0)
    with pytest.raises(ValueError, match="media_interval"):
        SweepRunLogger(SWEEP, mode="offline", media_interval=float("nan"))


def test_runs_of_one_process_list_the_installed_packages_once(
        env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each run's requirements.txt lists the installed distributions (W&B's ``working_set``);
    the trials a worker runs share one scan of them, in its order."""
    import wandb.util

    from wandb.util import InstalledDistribution

    scans = []

    def working_set():  # stands in for W&B's scan of the installed distributions
        scans.append(1)
        yield from (InstalledDistribution(key="zeta-pkg", version="2.0"),
                    InstalledDistribution(key="alpha-pkg", version="1.0"))

    monkeypatch.setattr(wandb.util, "working_set", working_set)
    for i in range(3):
        cb = _trial(tmp_path / f"t{i}", trial_id=f"trial_{i}")
        build_trainer(CFG, callbacks=[cb]).fit()
        assert cb.error is None
    assert len(scans) == 1
    for i in range(3):
        (run_dir,) = find_offline_runs(tmp_path / f"t{i}")
        lines = (run_dir / "files" / "requirements.txt").read_text().split()
        assert lines == ["zeta-pkg==2.0", "alpha-pkg==1.0"]


def test_sweep_logger_survives_a_failing_wandb(env: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wandb, "init", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("x")))
    logger = SweepRunLogger(SWEEP, mode="offline", dir=tmp_path)
    for _ in range(2):
        logger.update([], [], [0.0], {"complete": 0, "truncated": 0, "failed": 1},
                      [("val_acc", "maximize")])
    logger.finish()
    assert logger.error is not None and "RuntimeError" in logger.error


# ------------------------------------------------------------------------------ the log reader


def test_reader_stops_at_a_torn_tail(trial_run: dict[str, Any], tmp_path: Path) -> None:
    (log_file,) = trial_run["run_dir"].glob("run-*.wandb")
    data = log_file.read_bytes()
    whole = list(iter_transaction_log(log_file))
    torn = tmp_path / "run-torn.wandb"
    torn.write_bytes(data[: len(data) - 100])
    partial = list(iter_transaction_log(torn))
    assert 0 < len(partial) < len(whole)
    assert [r.SerializeToString() for r in partial] == [
        r.SerializeToString() for r in whole[: len(partial)]]
    torn.write_bytes(b"not a log")
    with pytest.raises(ValueError, match="not a W&B transaction log"):
        list(iter_transaction_log(torn))


def test_importing_tracking_does_not_import_wandb() -> None:
    import subprocess
    import sys

    code = "import sys, demp.track, demp.track.wandb_workspace; print('wandb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_settings_kwargs_from_the_sweep_spec() -> None:
    from demp.spec import WandbSpec

    spec = WandbSpec(mode="offline", project="demp", entity="team")
    assert track.settings_kwargs(spec) == {"mode": "offline", "project": "demp", "entity": "team"}
    assert track.settings_kwargs(spec.model_dump()) == track.settings_kwargs(spec)
    assert track.settings_kwargs({"mode": "disabled", "tags": ("a",)}) == {
        "mode": "disabled", "tags": ["a"]}
    assert track.settings_kwargs(None) == {}


def test_a_failing_trial_closes_its_run_as_failed(env: Path, tmp_path: Path) -> None:
    from demp.train import TrainingDiverged

    cb = _trial(tmp_path, trial_id="trial_diverges")
    with pytest.raises(TrainingDiverged):
        with cb:
            build_trainer({**CFG, "divergence_loss": 0.01}, callbacks=[cb]).fit()
    assert cb.finished and cb.error is None
    (run_dir,) = find_offline_runs(tmp_path)
    run = read_offline_run(run_dir)
    assert run.exit_code == 1
    assert [r[STEP_KEY] for r in run.rows_with(PRUNE_REMOVED_TOTAL)] == [0]


_OFFLINE_PROCESS = r"""
import atexit, socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[:2]))
    raise OSError("network disabled in this test")
socket.getaddrinfo = refuse
socket.create_connection = refuse
from demp.track.sweep_run import SweepRunLogger
import wandb
logger = SweepRunLogger("s", mode="offline", dir=sys.argv[1])
logger.update([], [], [0.1], {"complete": 1}, [("val_acc", "maximize")])
logger.finish()
wandb.teardown()
atexit._run_exitfuncs()
print("ATTEMPTS", attempts, logger.error)
"""


def test_offline_run_makes_no_network_lookups(wandb_home: Path, tmp_path: Path) -> None:
    """An offline run passed as an argument (no WANDB_MODE) keeps W&B's analytics quiet too."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(WANDB_SILENT="true", WANDB_DISABLE_GIT="true", NETRC=str(tmp_path / "netrc"),
               WANDB_CONFIG_DIR=str(tmp_path / "cfg"), WANDB_CACHE_DIR=str(tmp_path / "cache"),
               WANDB_DATA_DIR=str(tmp_path / "data"))
    out = subprocess.run([sys.executable, "-c", _OFFLINE_PROCESS, str(tmp_path / "runs")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert "ATTEMPTS [] None" in out.stdout, out.stdout + out.stderr
    assert len(find_offline_runs(tmp_path / "runs")) == 1


def test_sweep_run_logs_the_frontier_over_seeds(env: Path, tmp_path: Path) -> None:
    rows = [{"group": "a", "seeds": 3, "replicated": True, "on_frontier": True,
             "not_separable": False, "val_acc_mean": 0.93, "val_acc_sd": 0.02,
             "val_acc_ci_low": 0.88, "val_acc_ci_high": 0.98, "params": {"lam": 0.1},
             "seed_list": [0, 1, 2]}]
    with SweepRunLogger(SWEEP, mode="offline", project="demp-test", dir=tmp_path) as logger:
        logger.update(rows[:0], [], [0.4], {"complete": 1, "truncated": 0, "failed": 0},
                      [("val_acc", "maximize"), ("param_sparsity", "maximize")])
        logger.log_replicates(rows, 0.41, (0.39, 0.43))
        assert logger.error is None
    run = read_offline_run(find_offline_runs(tmp_path)[0])
    columns, data = run.table("sweep/frontier_of_means")
    assert "params" not in columns and data[0][columns.index("val_acc_mean")] == 0.93
    assert data[0][columns.index("group")] == "a" and data[0][columns.index("seeds")] == 3
    assert run.summary["replicates/hypervolume_of_means"] == 0.41
    assert run.summary["replicates/hypervolume_95"] == [0.39, 0.43]


def test_a_second_driver_run_continues_the_sweep_run(env: Path, tmp_path: Path) -> None:
    """A resumed driver opens the sweep's run again under the same id and logs on from the
    state it starts from (hypervolume steps continue)."""
    objectives = [("val_acc", "maximize"), ("param_sparsity", "maximize")]
    t = [{"trial_id": f"t{i}", "status": "complete", "val_acc": 0.9, "param_sparsity": 0.1 * i}
         for i in range(3)]
    counts = {"complete": 0, "truncated": 0, "failed": 0}
    with SweepRunLogger(SWEEP, mode="offline", project="demp-test", dir=tmp_path) as first:
        first.update(t[:1], t[:1], [0.1], {**counts, "complete": 1}, objectives)
        first.update(t[:2], t[:2], [0.1, 0.2], {**counts, "complete": 2}, objectives)
    with SweepRunLogger(SWEEP, mode="offline", project="demp-test", dir=tmp_path) as second:
        second.update(t, t, [0.1, 0.2, 0.3], {**counts, "complete": 3}, objectives)
        assert second.error is None
    runs = [read_offline_run(d) for d in find_offline_runs(tmp_path)]
    assert len(runs) == 2 and {r.run_id for r in runs} == {sweep_run_id(SWEEP)}
    steps = sorted(s for r in runs for s, _ in r.series(keys.HYPERVOLUME, keys.SWEEP_STEP_KEY))
    assert steps[-1] == 3
