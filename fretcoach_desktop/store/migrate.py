"""Schema migrations, applied automatically when the store opens (Alembic, programmatic API).

:func:`upgrade` brings a database to the newest revision:

1. in one transaction that holds the write lock (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL
   advisory lock), so two programs starting at once do not both migrate;
2. a database written by a *newer* FretCoach is refused (:class:`~.errors.SchemaTooNewError`),
   never downgraded; a database that has FretCoach tables but no revision is refused too;
3. a SQLite file that holds data is first copied beside itself as
   ``fretcoach.db.bak-YYYYmmddTHHMMSSZ`` (SQLite's online backup, so the copy is consistent
   even with a WAL file); the newest :data:`KEEP_BACKUPS` copies are kept;
4. the pending revisions run; any error rolls the whole upgrade back.

The scripts live in this package (``store/migrations``), found through the package's own
path, so no ``alembic.ini`` is needed and an installed wheel migrates like a checkout.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Connection, Engine, inspect, text

from fretcoach_desktop.store.engine import IMMEDIATE, redacted, sqlite_path
from fretcoach_desktop.store.errors import MigrationError, SchemaTooNewError, StoreError, translate

__all__ = [
    "KEEP_BACKUPS",
    "HEAD_REVISION",
    "MIGRATIONS_DIR",
    "MigrationReport",
    "alembic_config",
    "backup_sqlite",
    "current_revision",
    "head_revision",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: The newest revision in ``migrations/versions`` (a test checks they agree). Knowing it
#: lets an up-to-date database open without importing Alembic at all (~0.5 s per start).
HEAD_REVISION = "0005"
KEEP_BACKUPS = 5
_OUR_TABLES = ("users", "sessions", "session_windows", "notes")
_PG_LOCK_KEY = 0x46726574  # "Fret": advisory lock held while migrating


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What :func:`upgrade` did: revisions before and after, and the backup it made."""

    from_revision: str | None
    to_revision: str
    backup_path: Path | None = None

    @property
    def changed(self) -> bool:
        return self.from_revision != self.to_revision


def alembic_config(connection: Connection | None = None):
    """An Alembic :class:`~alembic.config.Config` for our scripts (no ini file)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _script():
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision this version of FretCoach knows."""
    head = _script().get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (``None`` for a database never migrated)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _peek_revision(connection: Connection) -> str | None:
    """The stored revision, read with plain SQL (``None`` when there is none)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return versions[0] if len(versions) == 1 else None


def upgrade(engine: Engine, *, backup: bool = True, target: str = "head") -> MigrationReport:
    """Migrate the database of *engine* to *target* (default: the newest revision).

    Raises:
        SchemaTooNewError: the database is at a revision this version does not know.
        MigrationError: the database has FretCoach tables but no revision, or a migration
            failed (the transaction is rolled back: nothing changed).
        StoreError: the database cannot be used at all (locked, read-only, corrupt...).
    """
    location = sqlite_path(engine.url) or redacted(engine.url)
    try:
        with engine.connect() as probe:
            # Cheap check first, without the write lock or Alembic: most starts are up to date.
            start = _peek_revision(probe)
            probe.rollback()
        if start == (HEAD_REVISION if target == "head" else target):
            return MigrationReport(start, start)

        from alembic import command

        script = _script()
        head = script.get_current_head() if target == "head" else target

        with engine.execution_options(**{IMMEDIATE: True}).connect() as conn:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
                current = current_revision(conn)
                if current == head:
                    return MigrationReport(current, current)
                if current is not None and current not in {rev.revision for rev in script.walk_revisions()}:
                    raise SchemaTooNewError(
                        f"the practice database ({location}) was written by a newer FretCoach "
                        f"(schema {current}); update FretCoach to use it"
                    )
                if current is None:
                    existing = set(inspect(conn).get_table_names())
                    if existing & set(_OUR_TABLES):
                        raise MigrationError(
                            f"the database ({location}) has FretCoach tables but no schema version; "
                            "it was not made by FretCoach's migrations and was left untouched"
                        )
                backup_path = None
                path = sqlite_path(engine.url)
                if backup and path is not None and current is not None:
                    backup_path = backup_sqlite(path)
                try:
                    command.upgrade(alembic_config(conn), target)
                except StoreError:
                    raise
                except Exception as exc:  # noqa: BLE001 - alembic/SQL errors: rolled back
                    translated = translate(exc, location)
                    if type(translated) is StoreError:
                        raise MigrationError(
                            f"could not update the practice database schema to {head}: {translated}; "
                            "nothing was changed"
                        ) from exc
                    raise translated from exc
                return MigrationReport(current, head or target, backup_path)
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - driver errors while connecting or probing
        raise translate(exc, location) from exc


def backup_sqlite(path: Path, *, keep: int = KEEP_BACKUPS) -> Path:
    """Copy the SQLite database *path* to ``<name>.bak-<UTC timestamp>`` beside it.

    Uses SQLite's online backup (consistent, includes what is still in the WAL file). The
    copy is written under a temporary name and renamed, so a half-written backup never
    looks like a good one. Keeps the newest *keep* backups.

    Raises:
        StoreError: the copy could not be made (full disk, read-only folder...); the
            database itself is untouched and no migration runs.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.name}.bak-{stamp}")
    partial = target.with_name(target.name + ".partial")
    try:
        source = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
        try:
            dest = sqlite3.connect(partial)
            try:
                source.backup(dest)
                dest.execute("PRAGMA journal_mode = DELETE")
            finally:
                dest.close()
        finally:
            source.close()
        partial.replace(target)
    except (OSError, sqlite3.Error) as exc:
        partial.unlink(missing_ok=True)
        err = translate(exc, path)
        raise type(err)(f"could not back up the database before updating it: {err}; nothing was changed") from exc
    backups = sorted(path.parent.glob(f"{path.name}.bak-*[0-9]Z"))
    for old in backups[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return target
