"""A throwaway PostgreSQL server for the tests (and ``bench/store.py``).

:class:`PostgresCluster` finds the server binaries (``/usr/lib/postgresql/<version>/bin``,
newest first, or ``initdb``/``pg_ctl`` on ``PATH``), runs ``initdb`` in a fresh temporary
directory and starts the server on 127.0.0.1 with a free port and its Unix socket in that
directory, with trust authentication for a superuser ``fretcoach`` and durability off
(``fsync=off``: a test cluster is thrown away). PostgreSQL refuses to run as root, so when
the tests run as root the directory is handed to the ``postgres`` system user (created by
Debian's ``postgresql`` package; ``nobody`` otherwise) and the binaries run as that user.
``stop()`` shuts the server down (immediate mode: nothing is worth keeping) and deletes the directory.

The session-scoped pytest fixture :func:`postgres_server` yields a started cluster;
:meth:`PostgresCluster.create_database` makes a new empty database and returns its
SQLAlchemy URL (``postgresql+psycopg://...``). When the binaries are missing the fixture
skips the PostgreSQL tests, except in CI (the ``CI`` environment variable is set), where it
fails: CI must test PostgreSQL, and ``scripts/install-system-deps.sh`` installs it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["PostgresCluster", "PostgresUnavailable", "find_pg_bin", "postgres_server"]

SUPERUSER = "fretcoach"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's server binaries are not installed."""


def find_pg_bin() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl`` (newest installed version)."""

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.parent.name
        return tuple(int(p) for p in name.split(".") if p.isdigit()) or (0,)

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True)
    candidates += glob.glob("/usr/local/pgsql/bin/initdb")
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(on_path)
    for initdb in candidates:
        folder = Path(initdb).parent
        if (folder / "pg_ctl").exists():
            return folder
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; install the 'postgresql' package "
        "(scripts/install-system-deps.sh does it)"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as, when we are root (else None)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresUnavailable("running as root and neither a 'postgres' nor a 'nobody' user exists")


class PostgresCluster:
    """One throwaway PostgreSQL server (see the module docstring)."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or find_pg_bin()
        self.account = _run_as()
        self.base = Path(tempfile.mkdtemp(prefix="fretcoach-pg-"))
        self.data = self.base / "data"
        self.sockets = self.base / "sockets"
        self.log = self.base / "server.log"
        self.port = 0
        self.started = False
        self._counter = 0

    # ----------------------------------------------------------------- process helpers

    def _run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        kwargs: dict = {}
        if self.account is not None:
            kwargs = {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        proc = subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            cwd=self.base,
            env=env,
            **kwargs,
        )
        if check and proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}\n{log}")
        return proc

    def _chown(self, path: Path) -> None:
        if self.account is not None:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> PostgresCluster:
        """initdb + pg_ctl start (retrying on another free port if one was taken meanwhile)."""
        self.sockets.mkdir()
        self._chown(self.base)
        self._chown(self.sockets)
        self._run(
            str(self.bin_dir / "initdb"),
            "-D", str(self.data),
            "-U", SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )  # fmt: skip
        last_error: Exception | None = None
        for _ in range(3):
            self.port = _free_port()
            options = (
                f"-h 127.0.0.1 -p {self.port} -k {self.sockets} -F "
                "-c full_page_writes=off -c synchronous_commit=off -c max_connections=50 "
                "-c shared_buffers=32MB"
            )
            proc = self._run(
                str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                "-o", options, "-w", "-t", "60", "start",
                check=False,
            )  # fmt: skip
            if proc.returncode == 0:
                self.started = True
                return self
            last_error = RuntimeError(proc.stderr.strip() or proc.stdout.strip())
        self.stop()
        log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {last_error}\n{log}")

    def stop(self) -> None:
        """Stop the server (immediate shutdown: no final checkpoint) and delete its directory."""
        try:
            if self.started:
                pg_ctl = str(self.bin_dir / "pg_ctl")
                self._run(pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
                self.started = False
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- databases

    def url(self, database: str = "postgres", user: str = SUPERUSER) -> str:
        """The SQLAlchemy URL of *database* on this server (TCP, 127.0.0.1)."""
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def execute(self, *statements: str, database: str = "postgres") -> None:
        """Run SQL statements as the superuser, in autocommit mode."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=database, autocommit=True
        ) as conn:
            for statement in statements:
                conn.execute(statement)

    def create_database(self, name: str | None = None, *, template: str = "template0") -> str:
        """Create a new database (a fresh name unless given), a copy of *template*; its URL."""
        if name is None:
            self._counter += 1
            name = f"test_{os.getpid()}_{self._counter}"
        import psycopg

        try:  # FILE_COPY (PostgreSQL 15+) is faster for a tiny template with fsync off
            self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        except psycopg.errors.SyntaxError:
            self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _started_cluster() -> PostgresCluster:
    cluster = PostgresCluster()
    deadline = time.monotonic() + 5
    cluster.start()
    while time.monotonic() < deadline:
        try:
            cluster.execute("SELECT 1")
            break
        except Exception:  # noqa: BLE001 - the server may take a moment to accept TCP
            time.sleep(0.1)
    return cluster


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresCluster]:
    """A running throwaway PostgreSQL server for the whole test session.

    Skips when PostgreSQL is not installed, but fails when ``CI`` is set.
    """
    try:
        find_pg_bin()
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must test PostgreSQL: {exc}", pytrace=False)
        pytest.skip(str(exc))
    cluster = _started_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()
