"""What the driver does to stay off the trials' critical path (issue #17): Ray Tune's usage tag
no longer imports W&B, and the sweep's W&B run is written from a thread of its own, in order."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import ray.tune.tune as tune_module

from demp.track.background import BackgroundCalls

TAG_SCRIPT = textwrap.dedent("""
    import sys
    from ray.air._internal import usage
    from ray.tune.logger import JsonLoggerCallback
    from demp.sweep.monitor import ForwardToMonitor
    from demp.sweep.ray_setup import driver_env
    if sys.argv[1] == "demp":
        driver_env(display=False)
    assert "wandb" not in sys.modules
    usage.tag_callbacks([ForwardToMonitor(), JsonLoggerCallback()])  # what tune.run calls
    print("wandb imported" if "wandb" in sys.modules else "wandb not imported")
""")


def _tag(mode: str) -> str:
    out = subprocess.run([sys.executable, "-c", TAG_SCRIPT, mode], capture_output=True,
                         text=True, timeout=120, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_tune_usage_tag_imports_wandb_unless_the_driver_skips_it() -> None:
    # Ray still tags the callbacks of every run, through the module attribute we replace ...
    assert "air_usage.tag_callbacks(callbacks)" in Path(tune_module.__file__).read_text()
    # ... which, left alone, imports W&B (and MLflow, Comet, Aim) on the driver,
    assert _tag("ray") == "wandb imported"
    # and after demp's driver settings does not.
    assert _tag("demp") == "wandb not imported"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []
        self.threads: set[str] = set()

    def _note(self, name: str, *args: object, **kwargs: object) -> None:
        self.threads.add(threading.current_thread().name)
        self.calls.append((name, args, kwargs))

    def update(self, *args: object) -> None:
        time.sleep(0.02)  # slow, as a W&B update is: the caller must not wait for it
        self._note("update", *args)

    def broken(self) -> None:
        raise RuntimeError("W&B is down")

    def finish(self, exit_code: int = 0) -> None:
        self._note("finish", exit_code=exit_code)


def test_background_calls_run_in_order_off_the_caller_thread_and_close_waits() -> None:
    target = Recorder()
    calls = BackgroundCalls(target)
    t0 = time.perf_counter()
    for i in range(10):
        calls.submit("update", i)
    submitted = time.perf_counter() - t0
    calls.submit("broken")  # a failing call is logged; the ones after it still run
    calls.close("finish", exit_code=3)
    assert submitted < 0.1  # ten 20 ms updates were queued, not run, by the caller
    assert [c[1] for c in target.calls[:10]] == [(i,) for i in range(10)]
    assert target.calls[10] == ("finish", (), {"exit_code": 3})
    assert len(target.calls) == 11
    assert target.threads == {"demp-wandb"}
    calls.close()  # idempotent


def test_background_calls_call_the_idle_method_while_nothing_is_queued() -> None:
    target = Recorder()
    target.flush = lambda: target._note("flush")  # type: ignore[attr-defined]
    calls = BackgroundCalls(target, name="demp-wandb-idle", idle=("flush", 0.05))
    calls.submit("update", 1)
    time.sleep(0.4)
    calls.close("finish")
    names = [c[0] for c in target.calls]
    assert names[0] == "update" and names[-1] == "finish"
    assert names.count("flush") >= 3  # ≈ 7 idle periods of 50 ms in 0.4 s, minus the update
    assert set(names[1:-1]) == {"flush"}
    assert target.threads == {"demp-wandb-idle"}


def test_background_calls_start_no_thread_until_used() -> None:
    calls = BackgroundCalls(Recorder(), name="demp-wandb-unused")
    assert all(t.name != "demp-wandb-unused" for t in threading.enumerate())
    calls.close()  # nothing queued, nothing started: returns at once
    assert all(t.name != "demp-wandb-unused" for t in threading.enumerate())



def test_ray_session_stops_while_the_results_are_written(tmp_path: Path) -> None:
    import pytest

    from demp.sweep.ray_setup import RaySession

    session = RaySession(spec=None, driver_log=tmp_path / "driver.log")  # type: ignore[arg-type]
    stopping = threading.Event()
    session.stop = stopping.set  # type: ignore[method-assign]
    # the work sees the stop under way: the two overlap (a serial stop would time out here)
    assert session.stop_during(lambda: stopping.wait(timeout=10)) is True

    def broken_stop() -> None:
        raise RuntimeError("shutdown failed")

    session.stop = broken_stop  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="shutdown failed"):
        session.stop_during(lambda: "results")
