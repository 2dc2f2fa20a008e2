"""Cluster rules: what a sweep needs before its trials may leave the driver's machine.

On one machine every process sees the same disk, so the sweep directory can be anywhere. On a
Ray cluster, trials run on other nodes and write into the sweep directory themselves: Ray Tune
persists each reported checkpoint from the node the trial runs on (it refuses, at the first
checkpoint, a ``storage_path`` that node cannot see), and each trial's W&B run files go to
``<sweep dir>/wandb/``. The driver itself may be restarted on another node (a Ray job's driver
runs on the head; a replaced head pod is a new machine), and ``demp sweep resume`` must then find
the Optuna study. Hence two rules, checked when the spec is validated, before anything runs:

1. **Results on shared storage.** ``output_root`` must be an absolute path under a directory that
   every node mounts at the same path (NFS, EFS, Filestore, a ReadWriteMany volume), declared in
   ``ray.shared_paths`` or in ``DEMP_SHARED_PATHS`` (``os.pathsep``-separated; the cluster configs
   in ``cluster/`` set it). Object-store URLs (``s3://``, ``gs://``) are rejected everywhere, not
   only on clusters: Ray Tune could write checkpoints there through pyarrow, but the sweep
   directory also holds the Optuna journal, ``trials.jsonl``, the frontier files and the W&B run
   files, which are written through the file system (``demp.spec.layout``). Mounting the bucket
   is not a way around it either: the journal is appended to under a file lock, which object
   storage mounts (mountpoint-s3, gcsfuse) do not provide.
2. **A shared Optuna storage.** ``storage`` must be a server database (``postgresql://``, or
   ``mysql://``), or left out: the default journal lives in the sweep directory, which rule 1
   already puts on shared storage. SQLite is a file database for one machine and is not safe on
   network file systems.

What counts as a cluster: the address the driver will join, ``ray.address`` or else
``RAY_ADDRESS`` (which ``ray job submit`` sets for its entrypoint), unless it is on this
machine's loopback. ``auto`` counts as a cluster: it names the Ray instance this machine belongs
to, whose other nodes can be anywhere.

Each rule returns one ``"field.path: problem"`` line per problem, like the rest of the spec
checks; ``check_cluster`` runs them all and is called by ``demp.spec.check_spec``.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Protocol
from urllib.parse import urlsplit

SHARED_PATHS_ENV = "DEMP_SHARED_PATHS"
RAY_ADDRESS_ENV = "RAY_ADDRESS"
SERVER_DATABASES = ("postgresql", "mysql")

# "s3://bucket/x" as a pathlib.Path prints as "s3:/bucket/x"; one-letter schemes would be
# Windows drives, so a scheme here has at least two characters.
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/")


class _RaySection(Protocol):
    address: str | None
    shared_paths: list[Path]


class SweepLocation(Protocol):
    """What the rules read of a sweep spec (``demp.spec.SweepSpec`` has it all)."""

    output_root: Path
    storage: str | None
    ray: _RaySection


# ------------------------------------------------------------------------------ where Ray runs

_HOST = r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?)"
_ADDRESS = re.compile(rf"^(?:(ray)://{_HOST}(?::(\d+))?|{_HOST}:(\d+))$")


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a Ray address ``ray.init`` accepts, or None: ``auto``,
    ``host:port`` (the head's GCS) or ``ray://host[:port]`` (Ray Client)."""
    if address == "auto":
        return None
    match = _ADDRESS.match(address.strip())
    if match is None:
        return (f"{address!r} is not a Ray address; use auto, host:port (the head's GCS "
                f"address, e.g. 10.0.0.5:6379) or ray://host:port (Ray Client)")
    port = match.group(3) or match.group(5)
    if port is not None and not 1 <= int(port) <= 65535:
        return f"{address!r}: port {port} is not in 1-65535"
    return None



def effective_address(address: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The Ray address the driver joins: the spec's, else ``RAY_ADDRESS``, else None (a local
    instance). Ray itself gives ``RAY_ADDRESS`` precedence over ``auto``; so does this."""
    env = os.environ if environ is None else environ
    from_env = env.get(RAY_ADDRESS_ENV) or None
    if address is None or (address == "auto" and from_env):
        return from_env or address
    return address


def is_loopback_address(address: str) -> bool:
    """Whether a Ray address (``host:port``, ``ray://host:port``, ``auto``) is this machine's
    loopback, where no other node can be."""
    host = urlsplit(address if "://" in address else f"ray://{address}").hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def cluster_address(address: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The address of the cluster the sweep joins, or None when its trials stay on this
    machine (a local instance, or one on loopback)."""
    resolved = effective_address(address, environ)
    if resolved is None or is_loopback_address(resolved):
        return None
    return resolved


# ------------------------------------------------------------------------------ shared storage


def url_scheme(path: str | Path) -> str | None:
    """The scheme of a path that is really a URL (``s3://bucket/x``, also after pathlib turned
    it into ``s3:/bucket/x``), else None."""
    match = _URL.match(str(path))
    return match.group(1).lower() if match else None


def declared_shared_paths(spec_paths: Iterable[Path | str],
                          environ: Mapping[str, str] | None = None) -> list[PurePosixPath]:
    """The shared mounts declared by the spec and by ``DEMP_SHARED_PATHS``, normalized
    lexically: they name paths on the cluster's nodes, which need not exist here."""
    env = os.environ if environ is None else environ
    entries = [str(p) for p in spec_paths]
    entries += [p for p in env.get(SHARED_PATHS_ENV, "").split(os.pathsep) if p.strip()]
    return [PurePosixPath(posixpath.normpath(p.strip())) for p in entries
            if posixpath.isabs(p.strip())]


def shared_root_of(path: str | Path, shared: Iterable[PurePosixPath]) -> PurePosixPath | None:
    """The declared shared mount that contains ``path`` (absolute), or None."""
    target = PurePosixPath(posixpath.normpath(str(path)))
    for root in shared:
        if target == root or root in target.parents:
            return root
    return None


def recorded_shared_paths(spec: SweepLocation, environ: Mapping[str, str] | None = None) -> list[str]:
    """``ray.shared_paths`` as the sweep directory's ``spec.yaml`` records it: the spec's own,
    plus the ``DEMP_SHARED_PATHS`` mount that holds ``output_root``. The cluster's declaration
    then travels with the sweep, so ``status`` / ``frontier`` / ``report`` read it back where the
    variable is not set (a laptop after ``ray rsync-down``, another pod)."""
    recorded = [str(p) for p in spec.ray.shared_paths]
    root = spec.output_root
    if not root.is_absolute() or shared_root_of(root, declared_shared_paths(recorded, {})):
        return recorded          # relative (or a URL), or the spec declares its mount itself
    mount = shared_root_of(root, declared_shared_paths([], environ))
    return recorded if mount is None else [*recorded, str(mount)]


# ------------------------------------------------------------------------------ the rules


def check_shared_paths(spec_paths: list[Path], environ: Mapping[str, str] | None = None
                       ) -> list[str]:
    """A shared mount is a path on every node: a relative one means nothing there."""
    env = os.environ if environ is None else environ
    errors = [f"ray.shared_paths.{i}: {p} is relative; a shared mount is an absolute path, the "
              f"same on every node" for i, p in enumerate(spec_paths) if not Path(p).is_absolute()]
    errors += [f"{SHARED_PATHS_ENV}: {p!r} is relative; list absolute paths separated by "
               f"{os.pathsep!r}" for p in env.get(SHARED_PATHS_ENV, "").split(os.pathsep)
               if p.strip() and not posixpath.isabs(p.strip())]
    return errors


def check_results_location(output_root: Path, spec_paths: list[Path], address: str | None,
                           environ: Mapping[str, str] | None = None) -> list[str]:
    """Rule 1: object-store URLs never; on a cluster, an absolute path on declared shared
    storage."""
    scheme = url_scheme(output_root)
    if scheme is not None:
        return [f"output_root: {scheme}:// is not supported as a sweep directory: the Optuna "
                f"journal, trials.jsonl, the frontier files and W&B run files are written "
                f"through the file system; use a shared file system (NFS, EFS, Filestore, a "
                f"ReadWriteMany volume) mounted at the same path on every node, e.g. "
                f"output_root /mnt/demp/sweeps with /mnt/demp listed in ray.shared_paths"]
    cluster = cluster_address(address, environ)
    if cluster is None:
        return []
    where = f"the sweep joins the Ray cluster at {cluster!r}, whose trials write checkpoints " \
            f"and W&B files into the sweep directory from their own nodes"
    if not output_root.is_absolute():
        return [f"output_root: {output_root} is relative to the driver's working directory; "
                f"{where}: use an absolute path on shared storage declared in ray.shared_paths "
                f"or {SHARED_PATHS_ENV} (e.g. output_root /mnt/demp/sweeps with /mnt/demp "
                f"listed in ray.shared_paths)"]
    shared = declared_shared_paths(spec_paths, environ)
    if shared_root_of(output_root, shared) is None:
        declared = ", ".join(map(str, shared)) or "none"
        return [f"output_root: {output_root} is not on declared shared storage (declared: "
                f"{declared}); {where}: put it under a mount every node has at the same path and "
                f"declare that mount in ray.shared_paths or {SHARED_PATHS_ENV}"]
    return []


def check_optuna_storage(storage: str | None, address: str | None,
                         environ: Mapping[str, str] | None = None) -> list[str]:
    """Rule 2: on a cluster, a server database or the journal in the (shared) sweep directory."""
    cluster = cluster_address(address, environ)
    if cluster is None or storage is None:
        return []
    scheme = urlsplit(storage).scheme.split("+")[0]
    if scheme in SERVER_DATABASES:
        return []
    return [f"storage: {scheme} is a file database for one machine (and unsafe on network file "
            f"systems); the sweep joins the Ray cluster at {cluster!r}, where a resumed driver may "
            f"run on another node: use a server database (postgresql://user@host/db, password "
            f"in the file PGPASSFILE names or ~/.pgpass) or leave storage out for the Optuna "
            f"journal in the shared sweep directory"]


def check_cluster(spec: SweepLocation, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every cluster rule for ``spec``, one "field.path: problem" line per problem."""
    env = os.environ if environ is None else environ
    from_env = env.get(RAY_ADDRESS_ENV)
    if from_env and spec.ray.address in (None, "auto"):
        problem = address_problem(from_env)
        if problem:  # the rules below would judge a cluster that cannot be joined
            return [f"{RAY_ADDRESS_ENV}: {problem} (set by the environment; unset it or fix it)"]
    paths = list(spec.ray.shared_paths)
    return (check_shared_paths(paths, environ)
            + check_results_location(spec.output_root, paths, spec.ray.address, environ)
            + check_optuna_storage(spec.storage, spec.ray.address, environ))


__all__ = [
    "RAY_ADDRESS_ENV", "SERVER_DATABASES", "SHARED_PATHS_ENV", "SweepLocation", "address_problem",
    "check_cluster",
    "check_optuna_storage", "check_results_location", "check_shared_paths", "cluster_address",
    "declared_shared_paths", "effective_address", "is_loopback_address", "recorded_shared_paths",
    "shared_root_of", "url_scheme",
]
