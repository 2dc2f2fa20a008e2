"""A sweep's local Ray instance starts lean (``demp.sweep.lean_ray``): no API server, autoscaler
monitor or log monitor, unless the spec asks for the dashboard (issue #17). Each case starts a
real local instance on 127.0.0.1 in a fresh interpreter and looks at the processes it has."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from demp.errors import ConfigError
from demp.spec import validate_spec

PROBE = textwrap.dedent("""
    import json, os, sys, time
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray
    from ray._private.node import Node
    from demp.spec import validate_spec
    from demp.sweep import lean_ray
    from demp.sweep.ray_setup import init_ray

    spec = validate_spec({"name": "lean", "trials": 1, "ray": json.loads(sys.argv[1]),
                          "space": {"optimizer.lr": {"low": 1e-3, "high": 1e-1}}})
    assert init_ray(spec)
    node = ray._private.worker._global_node
    session = node.get_session_dir_path()

    def scan():
        scripts, idle = [], 0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmd = open(f"/proc/{pid}/cmdline").read().split("\\0")
            except OSError:
                continue
            if any(session in part for part in cmd):
                scripts += [os.path.basename(p) for p in cmd if p.endswith(".py")]
            if cmd[0].startswith("ray::"):  # Ray's Python processes retitle themselves
                scripts.append(cmd[0].strip())
                idle += cmd[0].strip() == "ray::IDLE"
        return scripts, idle

    # Idle workers Ray prestarts for the driver appear within moments: look for them (before
    # any task, which would leave an idle worker of its own) for up to float(argv[2]) s.
    deadline = time.monotonic() + float(sys.argv[2])
    scripts, idle = scan()
    while not idle and time.monotonic() < deadline:
        time.sleep(0.2)
        scripts, idle = scan()

    @ray.remote
    def double(x):
        return 2 * x

    print(json.dumps({
        "processes": sorted(node.all_processes), "scripts": sorted(set(scripts)),
        "idle_workers": idle, "prestart_env": os.environ.get(lean_ray.PRESTART_ENV),
        "webui": node.webui_url, "ip": ray.util.get_node_ip_address(),
        "task": ray.get(double.remote(21)),
        "restored": all(getattr(Node, n) is not lean_ray._skip for n in lean_ray.SKIPPED)}))
    ray.shutdown()
""")


def probe(ray_section: dict, idle_wait_s: float) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(ray_section), str(idle_wait_s)],
                         capture_output=True, text=True, timeout=240,
                         cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_local_instance_starts_without_the_processes_a_sweep_never_uses():
    got = probe({"num_cpus": 2}, idle_wait_s=5.0)
    assert got["processes"] == ["gcs_server", "raylet"]
    # nor idle workers for the driver (Tune's actors get workers of their own), after 5 s of
    # looking; the full start below shows them within that time
    assert got["idle_workers"] == 0
    assert got["prestart_env"] is None, "the variable is Ray's start-up's only"
    for script in ("dashboard.py", "monitor.py", "log_monitor.py"):
        assert script not in got["scripts"]
    # the raylet's own agents still run: Ray needs them
    assert {"ray::DashboardAgent", "ray::RuntimeEnvAgent"} <= set(got["scripts"])
    assert got["webui"] is None
    assert got["ip"] == "127.0.0.1"
    assert got["task"] == 42
    assert got["restored"], "Ray's Node methods must be put back after ray.init"


def test_asking_for_the_dashboard_gets_rays_full_start_on_loopback():
    got = probe({"num_cpus": 2, "dashboard": True}, idle_wait_s=60.0)
    assert {"dashboard", "monitor", "log_monitor"} <= set(got["processes"])
    assert got["idle_workers"] >= 1  # Ray's prestart, which the lean start leaves out
    # the scan that finds none of them in a lean start finds all three here
    assert {"dashboard.py", "monitor.py", "log_monitor.py"} <= set(got["scripts"])
    assert got["webui"].startswith("127.0.0.1:")
    assert got["task"] == 42


def test_the_dashboard_without_rays_optional_packages_is_a_config_error(monkeypatch):
    import ray._private.utils

    from demp.sweep.ray_setup import _init_with_dashboard

    monkeypatch.setattr(ray._private.utils, "get_dashboard_dependency_error",
                        lambda: ImportError("no aiohttp"))
    with pytest.raises(ConfigError, match=r"ray\.dashboard: .*ray\[default\]"):
        _init_with_dashboard({"num_cpus": 1}, {})


def test_the_spec_field_defaults_to_lean():
    spec = validate_spec({"name": "x", "trials": 1,
                          "space": {"optimizer.lr": {"low": 1e-3, "high": 1e-1}}})
    assert spec.ray.dashboard is False


def test_the_dashboard_of_a_cluster_is_not_the_specs_to_ask_for():
    with pytest.raises(ConfigError, match=r"ray\.dashboard: only for a local instance"):
        validate_spec({"name": "x", "trials": 1, "ray": {"address": "auto", "dashboard": True},
                       "space": {"optimizer.lr": {"low": 1e-3, "high": 1e-1}}})
