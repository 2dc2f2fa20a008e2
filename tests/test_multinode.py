"""A sweep on a real two-node Ray cluster: submitted as a Ray job, a node lost mid-sweep.

Two hosts are network namespaces on this machine joined by a veth pair (10.231.0.1 = head,
10.231.0.2 = worker; the addresses exist only inside the two namespaces). Each runs ``ray start``
with one CPU, so a sweep of two concurrent trials needs both nodes. The sweep is submitted to the
head's job server with ``ray job submit`` and runs as the cluster's users run it: ``demp sweep
run SPEC`` as the job's entrypoint, with a spec that names no Ray address (like the laptop
default): the driver joins the cluster through the ``RAY_ADDRESS`` the job server sets, and the
cluster rules hold it to an output on a directory the nodes declare shared
(``DEMP_SHARED_PATHS``; both namespaces see this machine's file system, so it is shared for
real). Once a trial on the worker has written two checkpoints, the worker's raylet is SIGKILLed;
the head declares the node dead within ~2 s (health checks tightened below), Ray Tune retries the
lost trial on the head from its last checkpoint, and the sweep completes.

Needs root, ``ip`` (iproute2) and ``unshare`` (util-linux), and ray[default] (the job server is
part of Ray's dashboard); skipped with the reason where any is missing. About 70-90 s on two
busy cores, most of it Ray, the driver and the trials starting up.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from multinode import (
    DASHBOARD_PORT, GCS_PORT, HEAD_IP, WORKER_IP, RayNode, TwoHosts, unavailable_reason,
)

DEADLINE_S = 300            # the whole test, start-up to teardown
SWEEP = "multinode"
TRIALS = 4


def _skip_reason() -> str | None:
    reason = unavailable_reason()
    if reason:
        return reason
    missing = [m for m in ("aiohttp", "aiohttp_cors", "opencensus", "prometheus_client")
               if importlib.util.find_spec(m) is None]
    if missing:
        return (f"ray[default] is not installed ({', '.join(missing)} missing): Ray's job server "
                f"is part of its dashboard")
    return None


pytestmark = pytest.mark.skipif(bool(_skip_reason()), reason=_skip_reason() or "")


def node_env(base: Path, shared: Path) -> dict[str, str]:
    """The environment of both Ray nodes, and so of the job's driver and every trial."""
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                f"/usr/bin:/sbin:/bin",
        "HOME": str(base / "home"), "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1",
        # Cluster mode (nodes on non-loopback addresses), no usage reports.
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1", "RAY_USAGE_STATS_ENABLED": "0",
        # A lost node is declared dead after 3 missed health checks 0.5 s apart (Ray's defaults
        # take several times longer).
        "RAY_health_check_initial_delay_ms": "1000", "RAY_health_check_period_ms": "500",
        "RAY_health_check_timeout_ms": "500", "RAY_health_check_failure_threshold": "3",
        "DEMP_SHARED_PATHS": str(shared),
        "WANDB_MODE": "disabled",
        # The demp under test: the test's own tree when PYTHONPATH points there (else the
        # installed package, which is the same tree in CI's editable install).
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}),
    }


def sweep_spec(shared: Path) -> dict:
    """A small digits sweep: each trial ~12 evaluations, a checkpoint at each."""
    return {
        "name": SWEEP, "output_root": str(shared / "sweeps"),
        "base": {"model": {"name": "mlp", "hidden": [32, 32]}, "data": {"name": "digits"},
                 "optimizer": {"lr": 0.03}, "max_steps": 600, "eval_interval": 50,
                 "threads": 1, "device": "cpu", "demp": {"death": {"prune_interval": 50}},
                 "checkpoint_period_s": 0},  # a checkpoint at every evaluation
        "space": {"demp.regularizer.peak": {"low": 1e-3, "high": 3.0, "log": True}},
        "trials": TRIALS, "max_concurrent": 2, "retries": 2,
        "sampler": {"name": "random", "seed": 0},
        "wandb": {"mode": "disabled"},      # no `ray:` section: the job's RAY_ADDRESS is joined
    }


@pytest.fixture
def cluster() -> Iterator[tuple[TwoHosts, RayNode, RayNode, Path]]:
    """A head and a worker node, 1 CPU each; everything torn down whatever happens."""
    # Ray's Unix sockets live under --temp-dir: keep the path short (not pytest's tmp_path).
    base = Path(tempfile.mkdtemp(prefix="dmn", dir="/tmp"))
    shared = base / "shared"
    shared.mkdir()
    env = node_env(base, shared)
    with TwoHosts.create() as hosts:
        nodes: list[RayNode] = []
        try:
            head = RayNode.start(
                hosts, hosts.head, "head", HEAD_IP,
                ["--head", f"--port={GCS_PORT}", "--num-cpus=1", "--include-dashboard=true",
                 f"--dashboard-host={HEAD_IP}", f"--dashboard-port={DASHBOARD_PORT}"],
                env, base / "h", base / "head.log")
            nodes.append(head)
            head.wait_started(timeout=120)
            worker = RayNode.start(
                hosts, hosts.worker, "worker", WORKER_IP,
                [f"--address={HEAD_IP}:{GCS_PORT}", "--num-cpus=1"],
                env, base / "w", base / "worker.log")
            nodes.append(worker)
            worker.wait_started(timeout=120)
            yield hosts, head, worker, base
        finally:
            for node in reversed(nodes):
                node.stop()
            shutil.rmtree(base, ignore_errors=True)


def checkpoints_written(trial_dir: Path) -> int:
    """How many checkpoints a trial has written (Ray keeps only the latest: read its index)."""
    indices = [int(p.name.rsplit("_", 1)[1]) for p in trial_dir.glob("checkpoint_*")
               if p.name.rsplit("_", 1)[1].isdigit()]
    return max(indices, default=-1) + 1


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_sweep_as_ray_job_on_two_nodes_survives_losing_the_worker(cluster):
    hosts, head, worker, base = cluster
    t0 = time.monotonic()
    shared = base / "shared"
    spec_file = shared / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(sweep_spec(shared)))
    sweep_dir = shared / "sweeps" / SWEEP

    submit = hosts.popen(
        hosts.head,
        ["ray", "job", "submit", f"--address=http://{HEAD_IP}:{DASHBOARD_PORT}",
         "--submission-id=demp-multinode", "--", "demp", "sweep", "run", str(spec_file)],
        node_env(base, shared), base / "submit.log")
    try:
        # A trial on the worker with two checkpoints on the shared storage: kill its raylet.
        victim = None
        while victim is None and time.monotonic() - t0 < DEADLINE_S - 60:
            assert submit.poll() is None, "the job ended before a trial ran on the worker:\n" \
                + (base / "submit.log").read_text(errors="replace")[-4000:]
            for trial in worker.running_trials():
                if checkpoints_written(sweep_dir / "ray" / f"trial_{trial}") >= 2:
                    victim = trial
            time.sleep(0.2)
        assert victim is not None, f"no trial checkpointed on the worker:\n{worker.tail()}"
        worker.kill_raylet()
        killed_at = time.monotonic() - t0
        rc = submit.wait(timeout=max(5.0, DEADLINE_S - 30 - (time.monotonic() - t0)))
    finally:
        if submit.poll() is None:
            submit.kill()
    log = (base / "submit.log").read_text(errors="replace")
    ledger = sweep_dir / "trials.jsonl"
    ended = [(r["trial_id"], r["status"], r.get("failures"), r.get("reason"))
             for r in (read_jsonl(ledger) if ledger.is_file() else [])]
    error_files = {t: sweep_dir / "ray" / f"trial_{t}" / "error.txt"
                   for t, status, _, _ in ended if status == "failed"}
    errors = {t: f.read_text()[-1500:] for t, f in error_files.items() if f.is_file()}
    assert rc == 0, f"ray job submit exited {rc}; trials {ended}; errors {errors}:\n{log[-4000:]}"
    assert "Job 'demp-multinode' succeeded" in log

    # The sweep completed: every planned trial, each complete and on the frontier's ledger.
    records = read_jsonl(sweep_dir / "trials.jsonl")
    assert len(records) == TRIALS
    assert {r["status"] for r in records} == {"complete"}
    assert (sweep_dir / "frontier.csv").is_file()

    # The sweep reads back here, outside the cluster: spec.yaml recorded the nodes' shared mount.
    from demp.results import load_sweep

    outcome = load_sweep(sweep_dir)
    assert outcome.spec.ray.shared_paths == [shared]
    assert outcome.counts["complete"] == TRIALS and outcome.frontier.members

    # Trials ran on both nodes (Ray Tune records the node of every result).
    node_of = {r["trial_id"]: [row["node_ip"] for row in
                               read_jsonl(sweep_dir / "ray" / f"trial_{r['trial_id']}" /
                                          "result.json")]
               for r in records}
    assert {ip for ips in node_of.values() for ip in ips} == {HEAD_IP, WORKER_IP}

    # The lost trial was retried on the head, from the checkpoint it had written on the worker.
    lost = next(r for r in records if r["trial_id"] == victim)
    assert lost["failures"] == 1
    assert node_of[victim][0] == WORKER_IP and node_of[victim][-1] == HEAD_IP
    assert lost["metrics"]["node_ip"] == HEAD_IP
    assert lost["metrics"]["resumed_from_step"] >= 50           # not from scratch
    error = (sweep_dir / "ray" / f"trial_{victim}" / "error.txt").read_text()
    # Ray words the loss one of two ways, by which of its parts notices first: the GCS marks the
    # node dead ("node has died", with its address), or the actor's connection to the dead
    # raylet drops first ("is unavailable: ... Socket closed"; seen once in CI's 2-core run).
    assert (("node has died" in error and WORKER_IP in error)
            or ("is unavailable" in error and "Socket closed" in error)), error
    # Only the lost trial failed; the others never did.
    assert sorted(r["failures"] for r in records) == [0] * (TRIALS - 1) + [1]
    print(f"\nmulti-node sweep: worker killed at {killed_at:.0f} s, job done at "
          f"{time.monotonic() - t0:.0f} s after submission")
