"""A local Ray instance with only what trials need: no API server, autoscaler monitor or log
monitor, and no prestarted idle workers.

``ray.init`` on one machine starts, beside the GCS server, the raylet and its two agents, three
Python processes that a sweep never uses:

- the API server (``dashboard.py``), started even with ``include_dashboard=False`` (then with
  only Ray's usage-stats module), and ``ray.init`` polls until it has written its address: 1.3 s
  on the 2-core machine, 0.9 s of CPU;
- the autoscaler monitor (``monitor.py``), for a cluster that cannot grow: 0.55 s of CPU at the
  start, and ``ray.shutdown`` waits 1.0 s for it to exit;
- the log monitor, which forwards worker output to drivers; demp's drivers run with
  ``log_to_driver=False`` and trial output stays in the session's log files: 0.4 s of CPU.

and, once the driver has connected, the raylet prestarts one idle worker per CPU for it (Ray's
``prestart_worker_first_driver``), each importing ray: 0.5 s of CPU apiece. Tune never uses
them: an actor gets a worker process of its own, and every trial runs in an actor (measured:
the trials' PIDs are never the prestarted workers'). Without them ``ray.init`` took 2.9 s
instead of 3.7, and a first trial reported 0.3–0.5 s sooner.

On two cores that CPU is taken from the workers importing torch for the first trials (issue
#17, measured in docs/BENCHMARKS.md). Ray's ``RayParams`` has switches for the two monitors
(``no_monitor``, ``include_log_monitor``) but ``ray.init`` passes neither and always starts the
API server, so while ``ray.init`` runs, ``lean_local_start`` makes the three ``Node`` methods that
start them do nothing, and puts them back afterwards; it also sets
``RAY_prestart_worker_first_driver=0`` for the processes ``ray.init`` starts, unless the user
has set it. The node then has no dashboard URL, which
Ray handles (a node that joins a cluster has none either). ``ray status`` and Ray's state API,
which read what these processes publish, show nothing for such an instance: a spec that wants
them sets ``ray: {dashboard: true}`` and gets Ray's full start, dashboard on 127.0.0.1.
Where a Ray release renames a method, that process is simply started as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SKIPPED = ("start_api_server", "start_monitor", "start_log_monitor")
# Ray's config variable (read by the raylet at its start) for the idle workers it prestarts.
PRESTART_ENV = "RAY_prestart_worker_first_driver"


def _skip(self: Any, *args: Any, **kwargs: Any) -> None:
    """Stands in for a ``Node.start_*`` method while ``ray.init`` runs; starts nothing."""


@contextmanager
def lean_local_start() -> Iterator[None]:
    """Around ``ray.init`` of a local instance (and nothing else: the patch is class-wide)."""
    from ray._private.node import Node

    saved = {name: Node.__dict__[name] for name in SKIPPED if name in Node.__dict__}
    for name in saved:
        setattr(Node, name, _skip)
    ours = PRESTART_ENV not in os.environ  # a user's own setting stays as it is
    if ours:
        os.environ[PRESTART_ENV] = "0"
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(Node, name, method)
        if ours:
            os.environ.pop(PRESTART_ENV, None)


__all__ = ["PRESTART_ENV", "SKIPPED", "lean_local_start"]
