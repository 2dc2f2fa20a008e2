"""One driver per sweep directory: an exclusive ``flock`` on ``driver.pid``, held while it runs.

Two drivers on one sweep would both ask Optuna for trials and both append to ``trials.jsonl``,
and the lock is also what makes it safe, on resume, to repair what a killed driver left in the
ledgers (``demp.spec.journal_repair``, ``demp.sweep.ledger_repair``). The lock is the kernel's,
not the file's content:

- **Atomic.** ``flock(LOCK_EX | LOCK_NB)`` either takes the lock or fails; there is no window
  between reading an owner and writing ours in which a second driver can slip in.
- **Stale locks take themselves over.** The kernel drops a lock when its holder dies, SIGKILL
  included, so a driver.pid left behind by a killed driver holds nothing and the next driver
  locks it at once; there is no PID to compare, so a reused PID cannot fool it. On NFS (Linux
  emulates ``flock`` with the server's locks) a crashed host's lock is released when its lease
  expires.
- **Unlinking is safe.** A driver deletes driver.pid on exit while still holding the lock; a
  process that locked the file just before it vanished sees, by comparing inodes, that it holds
  a deleted file and starts over on a fresh one.

``driver.pid`` holds ``"pid host"`` of the holder, for people and for ``demp sweep status``,
which asks whether the lock is held with a shared, non-blocking probe (``driver_owner``). A
driver that finds the lock held retries for up to ``wait_s`` while the file does not name a live
driver, so such a probe, which holds the lock for microseconds, never turns a driver away.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from typing import Any

from demp.errors import SweepDirectoryError

WAIT_S = 1.0
_FLAGS = os.O_CLOEXEC


class DriverLock:
    """The sweep's driver lock, held for the lifetime of a driver (a context manager)."""

    def __init__(self, paths: Any, wait_s: float = WAIT_S) -> None:
        self.paths = paths
        self.wait_s = wait_s
        self.fd: int | None = None

    @property
    def held(self) -> bool:
        return self.fd is not None

    def acquire(self) -> None:
        path = self.paths.driver
        self.paths.root.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.wait_s
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | _FLAGS, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                owner = _parse(_read(path))
                if (owner is not None and _plausibly_alive(owner)) \
                        or time.monotonic() >= deadline:
                    raise SweepDirectoryError(_refusal(self.paths, owner)) from None
                time.sleep(0.005)
                continue
            if not _still_at(fd, path):  # its holder deleted it as it exited: start over
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
            os.fsync(fd)
            self.fd = fd
            return

    def release(self) -> None:
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            if _still_at(fd, self.paths.driver):
                os.unlink(self.paths.driver)  # while still locked: see the module docstring
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)

    def __enter__(self) -> "DriverLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def driver_owner(paths: Any) -> tuple[int, str] | None:
    """(pid, host) of the driver that holds the sweep, or None if none does.

    Asks the kernel with a shared, non-blocking probe: a lock file whose driver died holds no
    lock, whatever pid it names. (0, "?") when the lock is held but the file names nobody yet.
    """
    try:
        fd = os.open(paths.driver, os.O_RDONLY | _FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            held = True
        else:
            held = False
        text = os.pread(fd, 256, 0).decode("utf-8", "replace")
    finally:
        os.close(fd)
    if not held:
        return None
    return _parse(text) or (0, "?")


def _read(path: Any) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(256).decode("utf-8", "replace")
    except OSError:
        return ""


def _parse(text: str) -> tuple[int, str] | None:
    try:
        pid_text, host = text.split()
        return int(pid_text), host
    except ValueError:
        return None


def _plausibly_alive(owner: tuple[int, str]) -> bool:
    """Whether the pid a held lock file names can be its holder (a live process here, or any
    process on another host); False for the stale pid of a killed driver, which means the lock
    is held by someone who has not written the file yet, or by a status probe."""
    pid, host = owner
    if host != socket.gethostname():
        return True
    if pid == os.getpid():
        return True  # this process holds it through another DriverLock
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _still_at(fd: int, path: Any) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _refusal(paths: Any, owner: tuple[int, str] | None) -> str:
    who = f"pid {owner[0]} on {owner[1]}" if owner else "its lock file is held"
    return (f"{paths.root}: a driver is already running this sweep ({who}); wait for it to "
            f"finish (`demp sweep status {paths.root}` shows its progress), or stop it and "
            f"continue with `demp sweep resume {paths.root}`")


__all__ = ["WAIT_S", "DriverLock", "driver_owner"]
