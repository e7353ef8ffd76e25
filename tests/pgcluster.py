"""Start and stop a throwaway PostgreSQL cluster for tests.

Usage::

    with PgCluster() as pg:
        url = pg.create_database("screening_test")  # SQLAlchemy URL (postgresql+psycopg://...)

The cluster lives in a fresh temporary directory under /tmp, listens on a free TCP port on
127.0.0.1 (and on a unix socket inside the temporary directory), trusts every local
connection, runs with fsync off, and is stopped with ``pg_ctl -m immediate`` before the
directory is removed. PostgreSQL refuses to run as root, so when this process is root the
server programs run as the ``postgres`` system user (created if missing).

Environment variables:

``SCREENING_PG_BIN``
    Directory holding ``initdb`` and ``pg_ctl``. Default: the newest
    ``/usr/lib/postgresql/*/bin``, else the directory of ``pg_ctl`` on ``PATH``.
``SCREENING_TEST_POSTGRES_URL``
    Use this existing server instead of starting one, e.g.
    ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``. The user must be allowed to
    create databases; the databases made through ``create_database`` are dropped on ``stop``.

Run ``python tests/pgcluster.py`` to start a cluster, print its URL and version, and stop it.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

PG_BIN_ENV = "SCREENING_PG_BIN"
EXISTING_URL_ENV = "SCREENING_TEST_POSTGRES_URL"
PG_BIN_GLOB_ROOT = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"
DEFAULT_SETTINGS: Mapping[str, str] = {
    "max_connections": "100",
    "shared_buffers": "128MB",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
_PORT_ATTEMPTS = 3


def find_pg_bin() -> Path | None:
    """Return the newest PostgreSQL server bin directory, or None when none is installed."""
    override = os.environ.get(PG_BIN_ENV)
    if override:
        return Path(override) if (Path(override) / "pg_ctl").exists() else None
    candidates = [p.parent for p in PG_BIN_GLOB_ROOT.glob("*/bin/pg_ctl")]
    if candidates:
        return max(candidates, key=lambda p: _version_key(p.parent.name))
    on_path = shutil.which("pg_ctl")
    return Path(on_path).resolve().parent if on_path else None


def _version_key(name: str) -> tuple[int, ...]:
    """Turn a version directory name such as '15' or '9.6' into a sortable tuple."""
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (-1,)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _is_root() -> bool:
    """Tell whether this process runs as root."""
    return os.geteuid() == 0


def _ensure_server_user() -> pwd.struct_passwd:
    """Return the postgres system user, creating it when missing (root only)."""
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/bin/false", SERVER_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVER_USER)


def _tail(path: Path, lines: int = 30) -> str:
    """Return the last lines of a text file, or a note when it cannot be read."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no server log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _libpq_conninfo(url: str) -> str:
    """Turn a SQLAlchemy PostgreSQL URL into a libpq connection URI for psycopg."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


class PgCluster:
    """A throwaway PostgreSQL cluster (or an existing server named by the environment)."""

    def __init__(
        self,
        *,
        superuser: str = "postgres",
        dbname: str = "postgres",
        pg_bin: Path | None = None,
        settings: Mapping[str, str] | None = None,
        use_existing: bool = True,
    ) -> None:
        """Configure the cluster; nothing runs until start()."""
        self.superuser = superuser
        self.dbname = dbname
        self.pg_bin = pg_bin
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.existing_url = (os.environ.get(EXISTING_URL_ENV) or None) if use_existing else None
        self.port: int | None = None
        self.tmpdir: Path | None = None
        self.start_seconds: float | None = None
        self._created: list[str] = []
        self._running = False

    # -- paths -------------------------------------------------------------------------------

    @property
    def datadir(self) -> Path:
        """Directory of the cluster's data files."""
        return self._tmp() / "data"

    @property
    def socketdir(self) -> Path:
        """Directory of the server's unix socket."""
        return self._tmp() / "sock"

    @property
    def logfile(self) -> Path:
        """The server's log file."""
        return self._tmp() / "server.log"

    def _tmp(self) -> Path:
        """Return the temporary directory, failing when the cluster was never started."""
        if self.tmpdir is None:
            raise RuntimeError("PgCluster is not started")
        return self.tmpdir

    # -- public API --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the cluster's default database."""
        if self.existing_url is not None:
            return self.existing_url
        if not self._running or self.port is None:
            raise RuntimeError("PgCluster is not running")
        return f"postgresql+psycopg://{self.superuser}@127.0.0.1:{self.port}/{self.dbname}"

    @property
    def conninfo(self) -> str:
        """libpq connection URI of the default database, for psycopg.connect()."""
        return _libpq_conninfo(self.url)

    def start(self) -> PgCluster:
        """Create and start the cluster (no-op for an existing server); return self."""
        if self._running or self.existing_url is not None:
            self._running = True
            return self
        began = time.monotonic()
        bindir = self._bindir()
        self._make_tmpdir()
        try:
            self._initdb(bindir)
            self._start_server(bindir)
        except BaseException:
            self._cleanup()
            raise
        self._running = True
        atexit.register(self.stop)
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop the cluster and remove its directory (drop created databases if existing)."""
        if self.existing_url is not None:
            self._drop_created()
            self._running = False
            return
        atexit.unregister(self.stop)
        if self._running:
            pg_ctl = str(self._bindir() / "pg_ctl")
            self._run(
                [pg_ctl, "-D", str(self.datadir), "-m", "immediate", "-w", "stop"], check=False
            )
        self._running = False
        self._cleanup()

    def create_database(self, name: str) -> str:
        """Create a database owned by the superuser and return its SQLAlchemy URL."""
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._created.append(name)
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def __enter__(self) -> PgCluster:
        """Start the cluster on entering a with block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the cluster on leaving a with block."""
        self.stop()

    # -- internals ---------------------------------------------------------------------------

    def _bindir(self) -> Path:
        """Return the PostgreSQL bin directory or raise a RuntimeError saying how to get one."""
        bindir = self.pg_bin or find_pg_bin()
        if bindir is None or not (bindir / "pg_ctl").exists():
            where = bindir or os.environ.get(PG_BIN_ENV) or f"{PG_BIN_GLOB_ROOT}/*/bin, PATH"
            raise RuntimeError(
                f"No PostgreSQL server binaries found (looked in {where}). Install them "
                "(apt-get install postgresql, as scripts/test does), or set "
                f"{PG_BIN_ENV} to their directory, or {EXISTING_URL_ENV} to an existing server."
            )
        return bindir

    def _make_tmpdir(self) -> None:
        """Create the temporary directory, owned by the user that runs the server."""
        self.tmpdir = Path(tempfile.mkdtemp(prefix="screening-pg-", dir="/tmp"))
        self.socketdir.mkdir()
        if _is_root():
            user = _ensure_server_user()
            for path in (self.tmpdir, self.socketdir):
                os.chown(path, user.pw_uid, user.pw_gid)

    def _cleanup(self) -> None:
        """Remove the temporary directory if there is one."""
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def _run(self, cmd: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a server program, as the postgres user when root; raise on failure if check."""
        full = self._as_server_user(cmd)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        proc = subprocess.run(
            full, cwd=self._tmp(), env=env, capture_output=True, text=True, timeout=120
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{shlex.join(cmd)} failed (exit {proc.returncode}):\n"
                f"{proc.stdout}{proc.stderr}\n--- server log tail ---\n{_tail(self.logfile)}"
            )
        return proc

    @staticmethod
    def _as_server_user(cmd: Sequence[str]) -> list[str]:
        """Wrap a command so that it runs as the postgres user when this process is root."""
        if not _is_root():
            return list(cmd)
        if shutil.which("runuser"):
            return ["runuser", "-u", SERVER_USER, "--", *cmd]
        return ["su", "-s", "/bin/sh", SERVER_USER, "-c", shlex.join(cmd)]

    def _initdb(self, bindir: Path) -> None:
        """Run initdb with the C.UTF-8 locale, or with no locale when that one is missing."""
        base = [str(bindir / "initdb"), "-D", str(self.datadir), "-A", "trust"]
        base += ["-U", self.superuser, "--encoding=UTF8", "--no-sync", "--no-instructions"]
        first = self._run([*base, "--locale=C.UTF-8"], check=False)
        if first.returncode != 0:
            shutil.rmtree(self.datadir, ignore_errors=True)
            self._run([*base, "--no-locale"])

    def _server_options(self, port: int) -> str:
        """Return the postgres command line options passed through pg_ctl -o."""
        opts = ["-F", "-c", "listen_addresses=127.0.0.1", "-p", str(port)]
        opts += ["-k", str(self.socketdir)]
        for key, value in self.settings.items():
            opts += ["-c", f"{key}={value}"]
        return shlex.join(opts)

    def _start_server(self, bindir: Path) -> None:
        """Start the server on a free port, trying another port if the chosen one was taken."""
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            port = free_port()
            cmd = [str(bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile)]
            cmd += ["-w", "-t", "30", "-o", self._server_options(port), "start"]
            proc = self._run(cmd, check=False)
            if proc.returncode == 0:
                self.port = port
                return
            if attempt == _PORT_ATTEMPTS or not self._port_clash():
                raise RuntimeError(
                    f"PostgreSQL failed to start on port {port} (pg_ctl exit {proc.returncode}):"
                    f"\n{proc.stdout}{proc.stderr}\n--- server log tail ({self.logfile}) ---\n"
                    f"{_tail(self.logfile)}"
                )

    def _port_clash(self) -> bool:
        """Tell whether the last start failed because its port was already in use."""
        return "Address already in use" in _tail(self.logfile, 10)

    def _drop_created(self) -> None:
        """Drop the databases made by create_database on an existing server."""
        if not self._created:
            return
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            for name in reversed(self._created):
                query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                conn.execute(query.format(sql.Identifier(name)))
        self._created.clear()


def main() -> int:
    """Start a cluster, print its URL and server version, and stop it."""
    cluster = PgCluster().start()
    try:
        print(f"url: {cluster.url}")
        print(f"started in {cluster.start_seconds or 0.0:.2f}s")
        with psycopg.connect(cluster.conninfo) as conn:
            row = conn.execute("select version()").fetchone()
        print(f"version: {row[0] if row else '?'}")
    finally:
        began = time.monotonic()
        cluster.stop()
        print(f"stopped in {time.monotonic() - began:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
