"""The store's errors: each one a :class:`StoreError` with a one-line message for the user.

The repository never lets a driver exception (``sqlite3.OperationalError``,
``psycopg.errors.*``, SQLAlchemy's wrappers) escape: :func:`translate` maps it to one of
the classes below, whose ``str()`` is a single line the CLI prints as it is and the GUI
shows in a message box. Every failed write is rolled back as a whole, so a failure never
damages what was stored before it.
"""

from __future__ import annotations

import errno
from pathlib import Path

__all__ = [
    "DatabaseCorruptError",
    "DatabaseLockedError",
    "DatabaseReadOnlyError",
    "DatabaseUnavailableError",
    "DiskFullError",
    "MigrationError",
    "NotFoundError",
    "SchemaTooNewError",
    "StoreError",
    "translate",
]


class StoreError(Exception):
    """Base class: something went wrong with the practice database. ``str()`` is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)


class DatabaseLockedError(StoreError):
    """Another program holds the database (SQLite busy/locked, PostgreSQL lock or timeout)."""


class DatabaseReadOnlyError(StoreError):
    """The database file, its directory or the database role cannot be written."""


class DiskFullError(StoreError):
    """The disk (or the database's size limit) is full."""


class DatabaseCorruptError(StoreError):
    """The file is not a SQLite database, or it is damaged."""


class DatabaseUnavailableError(StoreError):
    """The database cannot be reached or opened (server down, bad URL, missing driver)."""


class MigrationError(StoreError):
    """The schema could not be brought up to date (nothing was changed)."""


class SchemaTooNewError(MigrationError):
    """The database was written by a newer FretCoach; this version will not touch it."""


class NotFoundError(StoreError):
    """A row asked for does not exist, or belongs to another profile."""


# SQLite primary result codes (https://sqlite.org/rescode.html).
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26


def _where(location: str | Path | None) -> str:
    return f" ({location})" if location else ""


def translate(exc: BaseException, location: str | Path | None = None) -> StoreError:
    """The :class:`StoreError` for a driver/SQLAlchemy/OS exception (``exc`` itself if it is one).

    ``location`` (the SQLite file, or a redacted server URL) is named in the message.
    """
    if isinstance(exc, StoreError):
        return exc
    orig = getattr(exc, "orig", None) or exc  # SQLAlchemy DBAPIError wraps the driver's error
    where = _where(location)

    if isinstance(orig, OSError) and not hasattr(orig, "sqlite_errorcode"):
        if orig.errno in (errno.ENOSPC, errno.EDQUOT):
            return DiskFullError(f"the disk is full; nothing was written to the practice database{where}")
        if orig.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return DatabaseReadOnlyError(f"the practice database cannot be written: {orig.strerror or orig}{where}")
        return StoreError(f"cannot use the practice database: {orig.strerror or orig}{where}")

    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return _translate_sqlite(code & 0xFF, str(orig), where)

    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None or type(orig).__module__.startswith("psycopg"):
        return _translate_postgres(sqlstate or "", orig, where)

    text = " ".join(str(orig).split()) or type(orig).__name__
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.NoSuchModuleError | sa_exc.ArgumentError | ModuleNotFoundError):
        return DatabaseUnavailableError(f"unsupported database URL: {text}")
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return DatabaseUnavailableError(f"cannot use the practice database: {text}{where}")
    return StoreError(f"database error: {text}{where}")


def _translate_sqlite(code: int, text: str, where: str) -> StoreError:
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return DatabaseLockedError(
            f"the practice database is busy (locked by another program); try again in a moment{where}"
        )
    if code == _SQLITE_READONLY:
        return DatabaseReadOnlyError(
            f"the practice database is read-only; check the permissions of the file and its folder{where}"
        )
    if code == _SQLITE_FULL:
        return DiskFullError(f"the disk is full; the last change was not saved, earlier data is intact{where}")
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return DatabaseCorruptError(
            f"the practice database is damaged or not a FretCoach database{where}; it was left untouched, "
            "restore a backup (fretcoach.db.bak-*) or move it away to start fresh"
        )
    if code == _SQLITE_CANTOPEN:
        return DatabaseReadOnlyError(
            f"cannot open the practice database; check that its folder exists and is writable{where}"
        )
    if code == _SQLITE_IOERR:
        return StoreError(f"input/output error on the practice database: {text}{where}")
    return StoreError(f"database error: {text}{where}")


def _translate_postgres(sqlstate: str, orig: BaseException, where: str) -> StoreError:
    text = " ".join(str(orig).split()) or type(orig).__name__
    text = text.splitlines()[0] if text else text
    if sqlstate in ("55P03", "40P01", "40001", "57014"):  # lock n/a, deadlock, serialization, timeout
        return DatabaseLockedError(f"the practice database is busy; try again in a moment{where}")
    if sqlstate in ("25006", "42501"):  # read-only transaction, insufficient privilege
        return DatabaseReadOnlyError(f"the practice database cannot be written: {text}{where}")
    if sqlstate in ("53100", "53200", "53300"):  # disk full, out of memory, too many connections
        if sqlstate == "53100":
            return DiskFullError(f"the database server's disk is full; nothing was written{where}")
        return DatabaseUnavailableError(f"the database server is out of resources: {text}{where}")
    if sqlstate.startswith("08") or sqlstate.startswith("57P") or not sqlstate:
        return DatabaseUnavailableError(f"cannot reach the database server: {text}{where}")
    if sqlstate.startswith("XX"):
        return DatabaseCorruptError(f"the database server reports an internal error: {text}{where}")
    return StoreError(f"database error: {text}{where}")
