"""Two Ray hosts on this machine for tests/test_multinode.py: network namespaces, a veth pair,
one ``ray start --block`` per host.

Each host is a network namespace with its own address on a private /24 that exists only between
the two namespaces (nothing outside them can be reached from inside, and nothing is sent
anywhere else). Each Ray node runs as PID 1 of its own PID namespace (``unshare --pid --fork
--kill-child``): killing the ``unshare`` process takes every process of that node with it, so a
test can neither leak Ray processes nor touch anyone else's (no ``ray stop``, which would stop
every Ray on the machine). Node temp dirs are separate (``--temp-dir``) and short: Ray's Unix
socket paths live there and must stay under 108 bytes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

SUBNET = "10.231.0"          # used only inside the test's two namespaces
HEAD_IP = f"{SUBNET}.1"
WORKER_IP = f"{SUBNET}.2"
GCS_PORT = 6379
DASHBOARD_PORT = 8265
MARKER_ENV = "DEMP_MULTINODE_NODE"   # every process of a node inherits it: how we find them


def unavailable_reason() -> str | None:
    """Why two namespaced hosts cannot be made here, or None when they can."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            return f"`{tool}` is missing (Debian: apt-get install iproute2 util-linux)"
    probe = f"dmnprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip() or made.returncode}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=20)


@dataclass
class TwoHosts:
    """Namespaces ``head`` and ``worker`` joined by a veth pair (names unique per test run)."""

    head: str
    worker: str

    @classmethod
    @contextmanager
    def create(cls) -> Iterator["TwoHosts"]:
        tag = uuid.uuid4().hex[:6]
        hosts = cls(head=f"dmn{tag}h", worker=f"dmn{tag}w")
        veth_h, veth_w = f"dmn{tag}a", f"dmn{tag}b"   # interface names: at most 15 characters
        try:
            _ip("netns", "add", hosts.head)
            _ip("netns", "add", hosts.worker)
            _ip("link", "add", veth_h, "type", "veth", "peer", "name", veth_w)
            _ip("link", "set", veth_h, "netns", hosts.head)
            _ip("link", "set", veth_w, "netns", hosts.worker)
            for ns, dev, ip in ((hosts.head, veth_h, HEAD_IP), (hosts.worker, veth_w, WORKER_IP)):
                _ip("-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
                _ip("-n", ns, "link", "set", dev, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
            yield hosts
        finally:
            for ns in (hosts.head, hosts.worker):   # deleting a namespace deletes its veth end
                subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
            subprocess.run(["ip", "link", "del", veth_h], capture_output=True, timeout=20)

    def run(self, ns: str, argv: list[str], env: dict[str, str], timeout: float,
            **kwargs: object) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", ns, *argv], env=env, timeout=timeout,
                              **kwargs)

    def popen(self, ns: str, argv: list[str], env: dict[str, str], log: Path,
              **kwargs: object) -> subprocess.Popen:
        out = log.open("ab")
        return subprocess.Popen(["ip", "netns", "exec", ns, *argv], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, **kwargs)


@dataclass
class RayNode:
    """One ``ray start --block`` in its own PID namespace inside a host's network namespace."""

    name: str
    ip: str
    process: subprocess.Popen
    log: Path
    marker: str
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def start(cls, hosts: TwoHosts, ns: str, name: str, ip: str, ray_args: list[str],
              env: dict[str, str], temp_dir: Path, log: Path) -> "RayNode":
        marker = f"{name}-{uuid.uuid4().hex[:8]}"
        ray = str(Path(sys.executable).with_name("ray"))
        argv = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child=SIGKILL",
                ray, "start", "--block", f"--node-ip-address={ip}", f"--temp-dir={temp_dir}",
                "--disable-usage-stats", *ray_args]
        process = hosts.popen(ns, argv, {**env, MARKER_ENV: marker}, log)
        return cls(name=name, ip=ip, process=process, log=log, marker=marker)

    def wait_started(self, timeout: float) -> None:
        """Until ``ray start`` says the node is up (it then blocks, watching its processes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "Ray runtime started" in self.log.read_text(errors="replace"):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"ray node {self.name} did not start in {timeout:.0f} s:\n"
                           f"{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def pids(self, predicate=None) -> list[int]:  # noqa: ANN001 - (comm, cmdline) -> bool
        """Host PIDs of this node's processes (they inherit the marker) matching ``predicate``."""
        found = []
        needle = f"{MARKER_ENV}={self.marker}".encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                environ = Path("/proc", entry, "environ").read_bytes()
                if needle not in environ.split(b"\0"):
                    continue
                comm = Path("/proc", entry, "comm").read_text().strip()
                cmdline = Path("/proc", entry, "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:  # exited meanwhile, or a kernel thread
                continue
            if predicate is None or predicate(comm, cmdline.decode(errors="replace")):
                found.append(int(entry))
        return found

    def raylet_pid(self) -> int:
        pids = self.pids(lambda comm, cmd: comm == "raylet")
        if len(pids) != 1:
            raise RuntimeError(f"expected one raylet on {self.name}, found {pids}")
        return pids[0]

    def running_trials(self) -> set[str]:
        """Ids of the Ray Tune trials running on this node. A trial actor (``ray::ImplicitFunc``)
        works in its trial's working directory, ``.../working_dirs/trial_<id>``."""
        trials = set()
        for pid in self.pids(lambda comm, cmd: cmd.startswith("ray::ImplicitFunc")):
            try:
                cwd = Path(os.readlink(f"/proc/{pid}/cwd")).name
            except OSError:
                continue
            if cwd.startswith("trial_"):
                trials.add(cwd.removeprefix("trial_"))
        return trials

    def kill_raylet(self) -> int:
        pid = self.raylet_pid()
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> None:
        """SIGKILL to ``unshare``: its child, PID 1 of the node's namespace, gets SIGKILL, and
        with it every process of the node."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 10
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.1)
