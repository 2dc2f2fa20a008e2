"""Optuna on a database server (``storage: postgresql://user@host/db``): checked, then opened.

Two moments can fail, and each gets a line that says what to do instead of a traceback:

- validation (``storage_problems``, no connection made): the URL must parse as an SQLAlchemy
  URL whose driver is installed (``postgresql://`` is psycopg 3 under SQLAlchemy 2.1, a
  dependency of demp); an in-memory SQLite database would vanish with the driver,
  so resume could never find it; ``PGPASSFILE``, when set, must name a file libpq will read
  (it ignores one that others can read);
- connection (``open_rdb_storage``): a server that is down, an unknown role, a missing password.

The password never appears in the spec (the URL rule in ``demp.spec.schema``): Ray pickles the
storage into its experiment state, and spec.yaml records the URL. libpq reads it from the file
``PGPASSFILE`` names (default ``~/.pgpass``, lines ``host:port:db:user:password``, mode 0600)
or from ``PGPASSWORD``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from demp.errors import StorageError

# pip extras that install a missing driver, by SQLAlchemy dialect name
_DRIVER_HINTS = {"postgresql": 'pip install -c constraints.txt "psycopg[binary]" (a '
                               "dependency of demp; the install is incomplete)",
                 "mysql": "pip install pymysql and use mysql+pymysql://"}


def storage_problems(url: str | None, local: bool = True,
                     environ: dict[str, str] | None = None) -> list[str]:
    """Problems with an Optuna storage URL that show before connecting ("storage: ..." lines).

    ``local``: the driver runs here, so its database driver and password file must be here too;
    a sweep that joins a cluster is driven from the cluster's image and environment, of which
    only the URL's syntax can be checked here."""
    if url is None:
        return []
    try:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    except ImportError as exc:  # pragma: no cover - optuna depends on SQLAlchemy
        return [f"storage: needs SQLAlchemy ({exc})"]
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError) as exc:
        return [f"storage: is not a valid database URL ({_one_line(exc)})"]
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        return [f"storage: names an unknown database driver {parsed.drivername!r}"]
    except Exception as exc:  # noqa: BLE001 - a dialect that fails to load for other reasons
        return [f"storage: its driver {parsed.drivername!r} cannot be loaded ({_one_line(exc)})"]
    if not local:
        return []
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        hint = _DRIVER_HINTS.get(parsed.get_backend_name(), "install the driver")
        return [f"storage: needs the {parsed.drivername} driver, which is not installed "
                f"({exc.name or exc}); {hint}"]
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        return ["storage: an in-memory SQLite database disappears with the driver, and resume "
                "needs the study; name a file (sqlite:///path/study.db) or leave storage out"]
    if backend == "postgresql":
        problem = passfile_problem(environ)
        if problem:
            return [problem]
    return []


def passfile_problem(environ: dict[str, str] | None = None) -> str | None:
    """Why libpq would not read the password file ``PGPASSFILE`` names (None: it would, or the
    variable is not set)."""
    env = os.environ if environ is None else environ
    name = env.get("PGPASSFILE")
    if not name:
        return None
    path = Path(name)
    try:
        st = path.stat()
    except OSError as exc:
        return f"PGPASSFILE: {name} cannot be read ({exc.strerror or exc}); point it at the " \
               f"password file (lines host:port:database:user:password, mode 0600)"
    if not stat.S_ISREG(st.st_mode):
        return f"PGPASSFILE: {name} is not a regular file; libpq ignores it"
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"PGPASSFILE: {name} can be read by other users, so libpq ignores it; " \
               f"chmod 600 {name}"
    return None


def open_rdb_storage(url: str) -> Any:
    """``optuna.storages.RDBStorage(url)``; a server that cannot be reached or refuses the login
    is a ConfigError that says what to check."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return optuna.storages.RDBStorage(url)
    except SQLAlchemyError as exc:
        reason = _one_line(getattr(exc, "orig", None) or exc)
        hint = ("check that the server is running and accepts this user, and that the password "
                "is in the file PGPASSFILE names (or ~/.pgpass, mode 0600)"
                if url.startswith("postgresql") else "check that the server is running and "
                "accepts this user")
        raise StorageError(f"cannot open the Optuna study database {url}: {reason}; "
                          f"{hint}") from None


def _one_line(exc: object) -> str:
    return " ".join(str(exc).split())[:300]


__all__ = ["open_rdb_storage", "passfile_problem", "storage_problems"]
