"""A throwaway PostgreSQL server, for the tests (``conftest.postgres``) and bench_storage.py.

Debian's ``postgresql`` binaries (``.ci/run`` installs the package when it runs as root), a data
directory in a fresh temporary directory, and no network at all: ``listen_addresses=''``, so the
server only listens on a Unix socket inside that directory. Authentication is by password
(scram-sha-256) for every connection, so a client that connects has really read its password
from the file ``PGPASSFILE`` names (``passfile``, mode 0600): nothing else provides one.

PostgreSQL refuses to run as root; as root the server runs as the ``postgres`` user the package
creates, and the temporary directory is handed to it. ``durable=False`` (the tests) turns off
fsync and synchronous commit for speed; the benchmark keeps PostgreSQL's defaults.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PORT = 5432          # only names the socket file (.s.PGSQL.5432) in a private directory
ROLE = "demp"
DATABASE = "demp_sweeps"


class Unavailable(RuntimeError):
    """No PostgreSQL server can run here; the message says why (a test skip reason)."""


@dataclass
class PgServer:
    root: Path
    bindir: Path
    password: str
    run_as: str | None

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def passfile(self) -> Path:
        return self.root / "pgpass"

    def url(self, database: str = DATABASE, user: str = ROLE) -> str:
        """An SQLAlchemy URL without a password (libpq finds it in PGPASSFILE)."""
        return f"postgresql://{user}@/{database}?host={self.socket_dir}&port={PORT}"

    def stop(self) -> None:
        _run([str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w",
              "stop"], self.run_as, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def find_bindir() -> Path:
    """The directory of ``initdb`` / ``pg_ctl`` / ``postgres`` (newest Debian version first)."""
    candidates = [os.environ.get("DEMP_PG_BINDIR", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                         else 0, reverse=True)
    found = shutil.which("initdb")
    if found:
        candidates.append(str(Path(found).resolve().parent))
    for c in candidates:
        if c and all((Path(c) / b).is_file() for b in ("initdb", "pg_ctl", "postgres")):
            return Path(c)
    raise Unavailable("PostgreSQL server binaries not found (Debian's postgresql package: "
                      "apt-get install -y postgresql, which .ci/run does as root; or set "
                      "DEMP_PG_BINDIR)")


def start(durable: bool = False) -> PgServer:
    """Start a server with role ROLE (password in ``passfile``) owning database DATABASE."""
    try:
        import psycopg
    except ImportError as exc:
        raise Unavailable(f"the PostgreSQL driver psycopg is not installed ({exc}); "
                          f"pip install -e '.[test]'") from None
    bindir = find_bindir()
    run_as = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise Unavailable("running as root, and there is no postgres user to run the "
                              "server as (PostgreSQL refuses root)") from None
        run_as = "postgres"
    root = Path(tempfile.mkdtemp(prefix="demp-pg-"))
    admin_password = secrets.token_hex(16)
    server = PgServer(root, bindir, secrets.token_hex(16), run_as)
    try:
        (root / "socket").mkdir()
        (root / "admin-pw").write_text(admin_password + "\n")
        if run_as:
            for p in (root, root / "socket", root / "admin-pw"):
                shutil.chown(p, run_as, run_as)
        init = _run([str(bindir / "initdb"), "-D", str(root / "data"), "-U", "admin",
                     "--auth=scram-sha-256", f"--pwfile={root / 'admin-pw'}", "-E", "UTF8",
                     "--no-instructions", *([] if durable else ["--no-sync"])], run_as)
        if init.returncode != 0:
            raise Unavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
        options = f"-c listen_addresses='' -k {root / 'socket'} -p {PORT}"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        started = _run([str(bindir / "pg_ctl"), "-D", str(root / "data"), "-l",
                        str(root / "server.log"), "-w", "-t", "60", "-o", options, "start"], run_as)
        if started.returncode != 0:
            log = (root / "server.log").read_text()[-500:] if (root / "server.log").exists() \
                else started.stderr
            raise Unavailable(f"the PostgreSQL server did not start: {log.strip()}")
        with psycopg.connect(host=str(root / "socket"), port=PORT, user="admin",
                             password=admin_password, dbname="postgres", autocommit=True) as db:
            db.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{server.password}'")
            db.execute(f"CREATE DATABASE {DATABASE} OWNER {ROLE}")
        server.passfile.write_text(f"*:*:*:{ROLE}:{server.password}\n")
        os.chmod(server.passfile, 0o600)
    except BaseException:
        server.stop()
        raise
    return server


def _run(argv: list[str], run_as: str | None, check: bool = False) -> subprocess.CompletedProcess:
    kwargs = {"user": run_as, "group": run_as} if run_as else {}
    return subprocess.run(argv, capture_output=True, text=True, check=check, cwd="/",
                          timeout=180, **kwargs)


__all__ = ["DATABASE", "PORT", "ROLE", "PgServer", "Unavailable", "find_bindir", "start"]
