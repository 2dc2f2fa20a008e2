"""Shared fixtures. Kept small: one loopback-only Ray instance for the whole test session, and a
W&B environment that can never reach the network or the user's own W&B files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

# Must be set before the first `import ray` anywhere in the session: Ray then binds 127.0.0.1.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import pytest  # noqa: E402

# W&B in tests: offline whatever the developer's shell says (``mode: auto`` resolves to it), no
# real key, no netrc, nothing printed. Set at import so Ray workers, started by the session's
# ray.init below, inherit it too.
for _var in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL", "WANDB_ENTITY",
             "WANDB_PROJECT", "WANDB_RUN_ID", "WANDB_RESUME", "WANDB_RUN_GROUP", "WANDB_DIR"):
    os.environ.pop(_var, None)
os.environ.update(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DISABLE_GIT="true",
                  WANDB_DISABLE_CODE="true")


@pytest.fixture(scope="session", autouse=True)
def wandb_session_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """W&B's own config / cache / data / artifact directories and netrc inside the test tree."""
    home = tmp_path_factory.mktemp("wandb_session")
    values = {"WANDB_CONFIG_DIR": home / "config", "WANDB_CACHE_DIR": home / "cache",
              "WANDB_DATA_DIR": home / "data", "WANDB_ARTIFACT_DIR": home / "artifacts",
              "NETRC": home / "netrc-absent"}
    with pytest.MonkeyPatch.context() as mp:
        for var, path in values.items():
            mp.setenv(var, str(path))
        yield home


@pytest.fixture(scope="session")
def ray_address(wandb_session_dirs: Path) -> Iterator[str]:
    """GCS address of a session-scoped local Ray (2 CPUs, no dashboard, 127.0.0.1 only)."""
    import ray

    info = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    assert ray.util.get_node_ip_address() == "127.0.0.1"
    yield info.address_info["gcs_address"]
    ray.shutdown()


# ------------------------------------------------------------------------------ a W&B sweep
# One tiny sweep with W&B offline, shared by the sweep-level W&B, report and dashboard tests.
# The trainables below run in Ray workers (separate processes, started before any test could
# monkeypatch them), so this module is pickled by value and they set up the worker themselves.

SENTINEL_KEY = "demp-sentinel-key-7f3a9c2e5b1d4086a2c4e6f8091b3d5f"
CRASHING_TRIAL = 0   # Optuna trial number that crashes once, right after its step-30 checkpoint
OFFLINE_SWEEP_BASE = {
    "model": {"name": "mlp", "hidden": [16, 16]}, "data": {"name": "digits"},
    "optimizer": {"lr": 0.03}, "max_steps": 60, "eval_interval": 15, "threads": 1,
    "device": "cpu", "demp": {"death": {"prune_interval": 15}, "noise": {"peak": 1e-3}},
    "checkpoint_period_s": 0,  # a checkpoint at every evaluation, so the crash resumes at step 30
}


def _crash_once_callback():  # noqa: ANN202 - a Callback subclass, built where it is used
    from demp.train.callbacks import Callback

    class CrashAfterStep30(Callback):
        def on_eval(self, trainer, metrics):  # noqa: ANN001, ANN202
            if trainer.step == 30 and not metrics.get("final"):
                raise RuntimeError("injected crash after the step-30 checkpoint")

    return CrashAfterStep30()


def keyed_trial(config: dict) -> None:
    """``demp_trial`` with the sentinel API key in the worker's environment (where W&B runs);
    Optuna trial ``CRASHING_TRIAL`` crashes once, so Ray retries it from its checkpoint."""
    from ray import tune

    from demp.sweep import demp_trial

    before = os.environ.get("WANDB_API_KEY")
    os.environ["WANDB_API_KEY"] = SENTINEL_KEY
    try:
        crash = config.get("optuna_trial") == CRASHING_TRIAL and tune.get_checkpoint() is None
        demp_trial(config, callbacks=[_crash_once_callback()] if crash else None)
    finally:
        if before is None:
            os.environ.pop("WANDB_API_KEY", None)
        else:
            os.environ["WANDB_API_KEY"] = before


def offline_sweep_spec(root: Path, name: str, **fields: object) -> dict:
    import copy

    data = {"name": name, "output_root": str(root), "base": copy.deepcopy(OFFLINE_SWEEP_BASE),
            "space": {"demp.regularizer.peak": {"low": 1e-3, "high": 3.0, "log": True}},
            "trials": 3, "max_concurrent": 2, "retries": 1,
            "sampler": {"name": "random", "seed": 1},
            "wandb": {"mode": "offline", "project": "demp-test", "tags": ["ci"]}}
    data.update(fields)
    return data


@pytest.fixture(scope="session")
def offline_sweep(ray_address: str, tmp_path_factory: pytest.TempPathFactory):
    """A finished 3-trial sweep that logged to W&B offline with an API key in the environment
    of the driver and of every trial (one trial crashed once and was retried)."""
    import sys

    import ray.cloudpickle

    from demp.sweep import run_sweep
    from demp.spec import validate_spec

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    root = tmp_path_factory.mktemp("offline_sweep")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_API_KEY", SENTINEL_KEY)
        outcome = run_sweep(validate_spec(offline_sweep_spec(root, "wbsweep")),
                            trainable=keyed_trial)
    return outcome


# ------------------------------------------------------------------------------ PostgreSQL


@pytest.fixture(scope="session")
def postgres() -> Iterator[object]:
    """A real PostgreSQL server on a Unix socket in a temporary directory (no TCP), with role
    ``demp`` whose password is only in the file PGPASSFILE names (set for the session, which
    drivers started as subprocesses inherit). Skipped, with the reason, where no server can
    run (``tests/pgserver.py``)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from pgserver import Unavailable, start

    try:
        server = start()
    except Unavailable as exc:
        pytest.skip(f"no PostgreSQL server: {exc}")
    before = os.environ.get("PGPASSFILE")
    os.environ["PGPASSFILE"] = str(server.passfile)
    try:
        yield server
    finally:
        if before is None:
            os.environ.pop("PGPASSFILE", None)
        else:
            os.environ["PGPASSFILE"] = before
        server.stop()
