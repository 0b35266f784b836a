"""Engines for the practice database: the read-write one the store uses, and read-only ones.

SQLite (the default, one file in the data directory) is set up on every connection with
``journal_mode=WAL`` (readers never wait for the writer, and a crash never loses a committed
transaction), ``foreign_keys=ON``, ``synchronous=NORMAL`` (safe in WAL mode: a process crash
or kill -9 loses nothing committed) and a busy timeout (a write waits that long for another
program's write before it fails with :class:`~.errors.DatabaseLockedError`). Write
transactions start with ``BEGIN IMMEDIATE``, so two writers queue up on the busy timeout
instead of failing half-way through a transaction.

Any other SQLAlchemy URL works through its own driver; PostgreSQL with psycopg 3:
``postgresql+psycopg://user:password@host/dbname``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, pool
from sqlalchemy.engine import URL, make_url

from fretcoach_desktop.store.errors import DatabaseUnavailableError, translate

__all__ = [
    "IMMEDIATE",
    "make_engine",
    "make_readonly_engine",
    "redacted",
    "sqlite_path",
]

#: Execution option that makes a SQLite transaction start with BEGIN IMMEDIATE (write lock).
IMMEDIATE = "fretcoach_immediate"


def redacted(url: str | URL) -> str:
    """The URL as it may be shown to the user or logged (password hidden)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as nothing rather than leaked
        return "<invalid database URL>"


def parse_url(url: str | URL) -> URL:
    try:
        return make_url(url)
    except Exception as exc:  # noqa: BLE001 - ArgumentError, ValueError...
        raise DatabaseUnavailableError(f"invalid database URL: {' '.join(str(exc).split())}") from None


def check_driver(url: str | URL) -> None:
    """Refuse a PostgreSQL URL whose driver is not installed with one line that names the
    ``[postgres]`` extra, before SQLAlchemy's ImportError.

    Raises:
        DatabaseUnavailableError: psycopg 3 is missing, or the URL asks for psycopg2 (the
            dialect's default for a bare ``postgresql://``), which FretCoach does not ship.
    """
    parsed = parse_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    from fretcoach_desktop import extras

    driver = parsed.get_driver_name()
    if driver == "psycopg" and not extras.installed("postgres"):
        raise DatabaseUnavailableError(extras.message("postgres"))
    if driver == "psycopg2":
        import importlib.util

        if importlib.util.find_spec("psycopg2") is None:
            hint = ""
            if not extras.installed("postgres"):
                hint = f", with the [postgres] extra ({extras.install_hint('postgres')})"
            raise DatabaseUnavailableError(
                "FretCoach reaches PostgreSQL through psycopg 3: write the URL as "
                f"postgresql+psycopg://user:password@host/dbname{hint}"
            )


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite URL; ``None`` for in-memory SQLite and other databases."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or parsed.query.get("mode") == "memory":
        return None
    return Path(database).expanduser().absolute()


def _sqlite_setup(dbapi_conn: sqlite3.Connection, busy_timeout_ms: int, readonly: bool) -> None:
    # Let SQLAlchemy's "begin" hook emit BEGIN itself (pysqlite's own handling defers it
    # past SELECTs, which breaks BEGIN IMMEDIATE and transactional DDL).
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if readonly:
            cursor.execute("PRAGMA query_only = ON")
        else:
            # Reading the journal mode also checks that the file is a database at all.
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _install_sqlite_hooks(engine: Engine, busy_timeout_ms: int, readonly: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        _sqlite_setup(dbapi_conn, busy_timeout_ms, readonly)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate and not readonly else "BEGIN")


def make_engine(url: str | URL, *, busy_timeout_s: float = 5.0, echo: bool = False) -> Engine:
    """The read-write engine for *url* (creating a SQLite file's folder if needed).

    Raises:
        DatabaseUnavailableError: a bad URL or a driver that is not installed.
        DatabaseReadOnlyError: the SQLite file's folder cannot be created.
    """
    parsed = parse_url(url)
    check_driver(parsed)
    backend = parsed.get_backend_name()
    timeout_ms = max(0, int(busy_timeout_s * 1000))
    try:
        if backend == "sqlite":
            path = sqlite_path(parsed)
            kwargs: dict[str, Any] = {"connect_args": {"timeout": busy_timeout_s, "check_same_thread": False}}
            if path is None:
                # One shared in-memory database for every thread (tests, throwaway use).
                kwargs["poolclass"] = pool.StaticPool
            else:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise translate(exc, path.parent) from None
            engine = create_engine(parsed, echo=echo, **kwargs)
            _install_sqlite_hooks(engine, timeout_ms, readonly=False)
            return engine
        kwargs = {"pool_pre_ping": True}
        if backend == "postgresql" and parsed.get_driver_name() in ("psycopg", "psycopg2"):
            kwargs["connect_args"] = {
                "connect_timeout": max(1, int(round(busy_timeout_s))),
                # Waiting on another transaction's lock fails after the busy timeout.
                "options": f"-c lock_timeout={timeout_ms}",
            }
        return create_engine(parsed, echo=echo, **kwargs)
    except Exception as exc:  # noqa: BLE001 - NoSuchModuleError, ImportError (driver), ...
        raise translate(exc, redacted(parsed)) from None


def make_readonly_engine(
    url: str | URL,
    *,
    role: str | None = None,
    statement_timeout_ms: int | None = None,
    busy_timeout_s: float = 5.0,
) -> Engine:
    """An engine whose connections cannot write, for the chat agent's SQL tool.

    * SQLite: the file is opened with the URI ``file:PATH?mode=ro`` (the OS-level open is
      read-only) and ``PRAGMA query_only = ON``; any write fails with "attempt to write a
      readonly database".
    * PostgreSQL: every connection starts with ``default_transaction_read_only = on`` (and
      ``statement_timeout`` when given); with *role*, it also runs ``SET ROLE role`` so the
      server's privileges apply: a role that only has SELECT (see
      :meth:`Store.ensure_readonly_role`) cannot write even if a statement turns the
      read-only default off.
    * Other backends: the read-only session setting where the dialect has one.

    The engine sees every profile's rows: scoping a query to the player is the caller's job
    (the chat agent's SQL checker).
    """
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    timeout_ms = max(0, int(busy_timeout_s * 1000))
    if backend == "sqlite":
        path = sqlite_path(parsed)
        if path is None:
            raise DatabaseUnavailableError("a read-only connection needs a SQLite file, not an in-memory database")
        from urllib.parse import quote

        uri = f"file:{quote(str(path))}?mode=ro"

        def _connect() -> sqlite3.Connection:
            return sqlite3.connect(uri, uri=True, timeout=busy_timeout_s, check_same_thread=False)

        engine = create_engine("sqlite://", creator=_connect, poolclass=pool.QueuePool)
        _install_sqlite_hooks(engine, timeout_ms, readonly=True)
        if statement_timeout_ms:
            _install_sqlite_timeout(engine, statement_timeout_ms)
        return engine

    check_driver(parsed)
    options = ["-c default_transaction_read_only=on"]
    if statement_timeout_ms:
        options.append(f"-c statement_timeout={int(statement_timeout_ms)}")
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if backend == "postgresql" and parsed.get_driver_name() in ("psycopg", "psycopg2"):
        kwargs["connect_args"] = {"connect_timeout": max(1, int(round(busy_timeout_s))), "options": " ".join(options)}
    try:
        engine = create_engine(parsed, **kwargs)
    except Exception as exc:  # noqa: BLE001
        raise translate(exc, redacted(parsed)) from None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        statements = []
        if backend != "postgresql":
            statements.append("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        if role:
            quoted = '"' + role.replace('"', '""') + '"'
            statements.append(f"SET ROLE {quoted}")
        if not statements:
            return
        cursor = dbapi_conn.cursor()
        try:
            for statement in statements:
                cursor.execute(statement)
        finally:
            cursor.close()
        dbapi_conn.commit()

    return engine


def _install_sqlite_timeout(engine: Engine, timeout_ms: int) -> None:
    """Abort SQLite statements that run longer than *timeout_ms* (progress handler)."""
    import time

    @event.listens_for(engine, "before_cursor_execute")
    def _arm(conn: Any, cursor: Any, statement: Any, params: Any, context: Any, executemany: bool) -> None:
        deadline = time.monotonic() + timeout_ms / 1000.0
        conn.connection.dbapi_connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
