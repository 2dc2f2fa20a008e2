"""``demp sweep dashboard DIR``: optuna-dashboard on a sweep's study, on 127.0.0.1 by default.

The study lives in the sweep's Optuna storage (the journal file in the sweep directory unless the
spec names a database; ``demp.spec.layout``), which the driver writes as trials are asked and
told, so the dashboard shows a running sweep live. optuna-dashboard has no authentication and can
edit studies (notes, deletion), so it listens on the loopback interface unless ``--host`` says
otherwise; reach a remote sweep through an SSH tunnel rather than a public address.

The app is optuna-dashboard's own WSGI application (``optuna_dashboard.wsgi``), served by a small
threaded ``wsgiref`` server that this module owns, so a caller (the CLI, a test) knows the port
it bound (``port=0`` picks a free one) and can shut it down.
"""

from __future__ import annotations

import ipaddress
import socket
import socketserver
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from demp.errors import ConfigError, PortError, StorageError
from demp.results.outcome import load_sweep
from demp.spec.layout import open_storage, storage_label, study_exists

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    """The dashboard's page fetches several API routes at once; serve them concurrently."""

    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    """No access log: the dashboard polls its API every few seconds."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_dashboard_server(directory: str | Path, host: str = DEFAULT_HOST,
                          port: int = DEFAULT_PORT) -> tuple[WSGIServer, str, str]:
    """A bound (not yet serving) optuna-dashboard server for the sweep in ``directory``.

    Returns the server, the study name and the storage label. Call ``serve_forever()`` on the
    server (``shutdown()`` from another thread stops it).
    """
    try:
        import optuna_dashboard
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ConfigError(f"dashboard: optuna-dashboard is not installed ({exc})") from None

    outcome = load_sweep(directory)
    spec, paths = outcome.spec, outcome.paths
    storage = open_storage(spec.storage, paths)
    if not study_exists(storage, spec.resolved_study_name):
        raise StorageError(f"no study {spec.resolved_study_name!r} in "
                           f"{storage_label(spec.storage, paths)} (the spec's study_name)")
    app = optuna_dashboard.wsgi(storage)
    try:
        server_class = _ThreadingServer
        if ":" in host:  # an IPv6 address
            server_class = type("_ThreadingServer6", (_ThreadingServer,),
                                {"address_family": socket.AF_INET6})
        server = make_server(host, port, app, server_class=server_class,
                             handler_class=_QuietHandler)
    except OSError as exc:
        hint = "; pass --port 0 for any free port" if port else ""
        raise PortError(f"cannot listen on {host}:{port} ({exc.strerror or exc}){hint}") \
            from None
    return server, spec.resolved_study_name, storage_label(spec.storage, paths)


def url_of(server: WSGIServer) -> str:
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in str(host) else host
    return f"http://{shown}:{port}/dashboard/"
