"""The practice database (Qt-free): SQLAlchemy models, the :class:`Store` repository,
Alembic migrations applied at start, and the :class:`StoreWriter` thread.

SQLite in the data directory by default (WAL mode, foreign keys on, a busy timeout);
``FRETCOACH_DB_URL`` selects any SQLAlchemy URL, e.g. ``postgresql+psycopg://...`` for a
shared hub. Typical use::

    from fretcoach_desktop.store import Store, StoreWriter

    store = Store.open(config)              # connects, backs up, migrates
    user = store.ensure_user(config.user)   # the profile, created on first use
    for s in store.recover_unfinished(user.id):
        ...                                 # tell the player: session s was recovered
    writer = StoreWriter()                  # the app's one DB writer thread
    writer.submit(store.add_coach_message, session_id, t_s=30.0, text="...")

Every failure is a :class:`StoreError` (a subclass per cause) with a one-line message.
"""

from fretcoach_desktop.store.errors import (
    DatabaseCorruptError,
    DatabaseLockedError,
    DatabaseReadOnlyError,
    DatabaseUnavailableError,
    DiskFullError,
    MigrationError,
    NotFoundError,
    SchemaTooNewError,
    StoreError,
)
from fretcoach_desktop.store.migrate import MigrationReport
from fretcoach_desktop.store.records import (
    HISTORY_FIELDS,
    WINDOW_S,
    CalibrationRecord,
    ChatMessageRecord,
    ChatThreadInfo,
    CoachMessageRecord,
    NoteRecord,
    PlanRecord,
    SessionDetail,
    SessionSummary,
    UserInfo,
    Window,
    WindowRecord,
    windows_for,
)
from fretcoach_desktop.store.repository import Store
from fretcoach_desktop.store.writer import CHECKPOINT_INTERVAL_S, SessionRecorder, SessionSnapshot, StoreWriter

__all__ = [
    "CalibrationRecord",
    "CHECKPOINT_INTERVAL_S",
    "HISTORY_FIELDS",
    "WINDOW_S",
    "ChatMessageRecord",
    "ChatThreadInfo",
    "CoachMessageRecord",
    "DatabaseCorruptError",
    "DatabaseLockedError",
    "DatabaseReadOnlyError",
    "DatabaseUnavailableError",
    "DiskFullError",
    "MigrationError",
    "MigrationReport",
    "NotFoundError",
    "NoteRecord",
    "PlanRecord",
    "SchemaTooNewError",
    "SessionDetail",
    "SessionRecorder",
    "SessionSnapshot",
    "SessionSummary",
    "Store",
    "StoreError",
    "StoreWriter",
    "UserInfo",
    "Window",
    "WindowRecord",
    "windows_for",
]
