"""Shared fixtures. Kept small: one loopback-only Ray instance for the whole test session."""

from __future__ import annotations

import os
from collections.abc import Iterator

# Must be set before the first `import ray` anywhere in the session: Ray then binds 127.0.0.1.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """GCS address of a session-scoped local Ray (2 CPUs, no dashboard, 127.0.0.1 only)."""
    import ray

    info = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    assert ray.util.get_node_ip_address() == "127.0.0.1"
    yield info.address_info["gcs_address"]
    ray.shutdown()
