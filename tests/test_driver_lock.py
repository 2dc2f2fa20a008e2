"""The driver lock is atomic: two drivers released together never both hold a sweep.

Two worker processes (spawned, so nothing of this process's Ray or W&B state is shared) meet
at a barrier each round and try ``DriverLock`` at the same instant; the test process, the
barrier's third party, checks between the steps that exactly one holds the lock and that
``driver_owner`` (what ``demp sweep status`` asks) names it. Some rounds start from a stale
``driver.pid`` (a dead process's pid, as a SIGKILLed driver leaves it), and a third process
probes the lock with ``driver_owner`` all the time, as ``status`` beside a starting driver
would: neither may let both in, nor turn both away.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from demp.spec import SweepPaths
from demp.spec.lock import DriverLock, driver_owner

ROUNDS = 200


def _contender(root: str, barrier, results, rounds: int) -> None:  # noqa: ANN001
    from demp.config import ConfigError

    paths = SweepPaths(Path(root))
    for _ in range(rounds):
        barrier.wait()                      # 1: everyone at the start line
        lock = DriverLock(paths)
        try:
            lock.__enter__()
            outcome = "held"
        except ConfigError as err:
            outcome = f"refused: {err}"
        results.put((os.getpid(), outcome))
        barrier.wait()                      # 2: both tried; the test process looks
        barrier.wait()                      # 3: it has looked
        if outcome == "held":
            lock.__exit__(None, None, None)
        barrier.wait()                      # 4: released before the next round


def _prober(root: str, stop) -> None:  # noqa: ANN001
    paths = SweepPaths(Path(root))
    while not stop.is_set():
        driver_owner(paths)


def test_two_drivers_released_by_a_barrier_never_both_hold_the_lock(tmp_path):
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(3)
    results = ctx.Queue()
    stop = ctx.Event()
    paths = SweepPaths(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    workers = [ctx.Process(target=_contender, args=(str(tmp_path), barrier, results, ROUNDS))
               for _ in range(2)]
    prober = ctx.Process(target=_prober, args=(str(tmp_path), stop))
    for p in [*workers, prober]:
        p.start()
    stale_rounds = 0
    try:
        for i in range(ROUNDS):
            if i % 3 == 0:  # a stale lock file left by a killed driver
                paths.driver.write_text(f"{dead} {socket.gethostname()}\n")
                stale_rounds += 1
            barrier.wait(timeout=60)
            barrier.wait(timeout=60)
            outcomes = dict(results.get(timeout=10) for _ in range(2))
            holders = [pid for pid, o in outcomes.items() if o == "held"]
            assert len(holders) == 1, (i, outcomes)
            (loser,) = [o for pid, o in outcomes.items() if pid != holders[0]]
            assert loser.startswith("refused: ") and "already running this sweep" in loser
            assert f"pid {holders[0]} on {socket.gethostname()}" in loser, (i, loser)
            assert driver_owner(paths) == (holders[0], socket.gethostname())
            barrier.wait(timeout=60)
            barrier.wait(timeout=60)
            assert driver_owner(paths) is None
    finally:
        stop.set()
        for p in [*workers, prober]:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert stale_rounds > 50
    assert all(p.exitcode == 0 for p in workers)
    assert not paths.driver.exists()


def test_a_lock_held_by_a_sigkilled_driver_is_taken_over_at_once(tmp_path):
    """The kernel drops the lock of a killed process: no pid to compare, nothing to delete."""
    paths = SweepPaths(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
         "from demp.spec import DriverLock, SweepPaths\n"
         "lock = DriverLock(SweepPaths(Path(sys.argv[1])))\nlock.acquire()\n"
         "print('locked', flush=True)\ntime.sleep(60)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    assert driver_owner(paths) == (holder.pid, socket.gethostname())
    holder.kill()
    holder.wait()
    assert paths.driver.read_text().split()[0] == str(holder.pid)
    assert driver_owner(paths) is None           # status: no driver, whatever the file says
    t0 = time.monotonic()
    with DriverLock(paths):
        assert time.monotonic() - t0 < 0.5       # no waiting out a stale lock
        assert driver_owner(paths) == (os.getpid(), socket.gethostname())
    assert not paths.driver.exists()
