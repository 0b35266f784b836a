"""SQLAlchemy 2 models of the practice database (the schema at the newest migration).

Every table hangs off ``users``: a session, a plan or a chat message belongs to exactly one
local profile, and rows of the tables below ``sessions`` (windows, notes, coach messages)
reach their profile through their session. Deleting a user or a session deletes what hangs
off it (``ON DELETE CASCADE``).

Times are timezone-aware UTC :class:`datetime.datetime` values (:class:`UTCDateTime`):
PostgreSQL stores ``timestamptz``; SQLite, which has no time type, stores the UTC wall time
as ISO text, so that text order is time order. Session-relative times (``onset_s``,
``t_s``, ``start_s``) are seconds from the session's start.

Changing a model means writing a migration in ``store/migrations/versions`` (see
``store/migrations/README``); a test checks that the migrations and the models agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "SESSION_SOURCES",
    "SESSION_STATUSES",
    "Base",
    "Calibration",
    "ChatMessage",
    "CoachMessage",
    "NoteRow",
    "PracticePlan",
    "Session",
    "SessionWindow",
    "UTCDateTime",
    "User",
    "utcnow",
]

SESSION_SOURCES = ("live", "file", "demo")
SESSION_STATUSES = ("in_progress", "complete", "recovered")
CHAT_ROLES = ("user", "assistant", "system", "tool")
COACH_MODES = ("online", "offline")
COACH_KINDS = ("tip", "summary")  # a one-sentence live tip, or the end-of-session summary
CALIBRATION_METHODS = ("play-along", "loopback", "manual")

# Deterministic constraint names, so migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    Naive datetimes are refused (a time without a zone is ambiguous); aware ones are
    converted to UTC. Values read back are aware UTC datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: pass a timezone-aware time (e.g. datetime.now(UTC))")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class User(Base):
    """A local player profile (``--user NAME`` / ``FRETCOACH_USER`` / the profile switcher)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Session(Base):
    """One practice session: a live take, an analyzed file or the demo."""

    __tablename__ = "sessions"
    __table_args__ = (
        CheckConstraint(_in("source", SESSION_SOURCES), name="source"),
        CheckConstraint(_in("status", SESSION_STATUSES), name="status"),
        # The history view, AI Mode's "last 5 sessions" and the chat agent's queries all
        # read one user's sessions by time.
        Index("ix_sessions_user_id_started_at", "user_id", "started_at"),
        Index("ix_sessions_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    checkpointed_at: Mapped[datetime | None]
    key: Mapped[str] = mapped_column(String(4))
    scale: Mapped[str] = mapped_column(String(32))
    bpm: Mapped[float] = mapped_column(Float)
    subdivision: Mapped[int] = mapped_column(Integer, default=1)
    pitch_accuracy: Mapped[float | None] = mapped_column(Float)
    scale_conformity: Mapped[float | None] = mapped_column(Float)
    timing_stability: Mapped[float | None] = mapped_column(Float)
    noise_control: Mapped[float | None] = mapped_column(Float)
    notes_played: Mapped[int] = mapped_column(Integer, default=0)
    noise_events: Mapped[int] = mapped_column(Integer, default=0)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    audio_device: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(8), default="live")
    status: Mapped[str] = mapped_column(String(12), default="in_progress")
    #: input latency (ms) subtracted from the note times (calibration); since revision 0003
    latency_ms: Mapped[float | None] = mapped_column(Float)


class SessionWindow(Base):
    """The four metrics of one (30 s) window of a session; ``None`` metrics = no notes."""

    __tablename__ = "session_windows"
    __table_args__ = (UniqueConstraint("session_id", "idx"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    idx: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    pitch_accuracy: Mapped[float | None] = mapped_column(Float)
    scale_conformity: Mapped[float | None] = mapped_column(Float)
    timing_stability: Mapped[float | None] = mapped_column(Float)
    noise_control: Mapped[float | None] = mapped_column(Float)
    notes: Mapped[int] = mapped_column(Integer, default=0)
    noise_events: Mapped[int] = mapped_column(Integer, default=0)


class NoteRow(Base):
    """One played note of a session, in the order the engine reported it (``seq``)."""

    __tablename__ = "notes"
    __table_args__ = (UniqueConstraint("session_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    onset_s: Mapped[float] = mapped_column(Float)
    midi: Mapped[int] = mapped_column(Integer)
    cents: Mapped[float] = mapped_column(Float)
    in_scale: Mapped[bool] = mapped_column(Boolean)
    timing_offset_ms: Mapped[float] = mapped_column(Float)


class PracticePlan(Base):
    """An AI Mode plan (the structured plan as JSON) and what it was made from."""

    __tablename__ = "practice_plans"
    __table_args__ = (Index("ix_practice_plans_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    plan: Mapped[dict[str, Any]]
    weakest_metric: Mapped[str | None] = mapped_column(String(32))
    source_session_ids: Mapped[list[Any]] = mapped_column(default=list)
    prompt_version: Mapped[str | None] = mapped_column(String(64))  # since revision 0002


class CoachMessage(Base):
    """One live-coach tip or end-of-session summary: its text, speech clip, latencies and how it was made."""

    __tablename__ = "coach_messages"
    __table_args__ = (
        CheckConstraint(_in("mode", COACH_MODES), name="mode"),
        CheckConstraint(_in("kind", COACH_KINDS), name="kind"),  # since revision 0004
        CheckConstraint("feedback IS NULL OR feedback IN (-1, 1)", name="feedback"),
        Index("ix_coach_messages_session_id_t_s", "session_id", "t_s"),  # since revision 0002
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    t_s: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    audio_path: Mapped[str | None] = mapped_column(Text)
    llm_ms: Mapped[float | None] = mapped_column(Float)
    tts_ms: Mapped[float | None] = mapped_column(Float)
    model: Mapped[str | None] = mapped_column(String(100))
    fell_back: Mapped[bool] = mapped_column(Boolean, default=False)
    mode: Mapped[str] = mapped_column(String(8), default="online")
    prompt_version: Mapped[str | None] = mapped_column(String(64))  # since revision 0002
    kind: Mapped[str] = mapped_column(String(8), default="tip", server_default="tip")  # since revision 0004
    feedback: Mapped[int | None] = mapped_column(Integer)  # +1 thumbs up, -1 thumbs down
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatMessage(Base):
    """One message of a chat thread (the chat panel's conversation with the agent)."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        CheckConstraint(_in("role", CHAT_ROLES), name="role"),
        CheckConstraint("feedback IS NULL OR feedback IN (-1, 1)", name="feedback"),  # since revision 0005
        Index("ix_chat_messages_user_id_thread_id_created_at", "user_id", "thread_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    thread_id: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(10))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    model: Mapped[str | None] = mapped_column(String(100))
    tool_calls: Mapped[list[Any] | None] = mapped_column(JSON)
    chart: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # since revision 0005
    trace_id: Mapped[str | None] = mapped_column(String(64))  # since revision 0005
    feedback: Mapped[int | None] = mapped_column(Integer)  # +1 thumbs up, -1 thumbs down (0005)


class Calibration(Base):
    """A measured (or typed-in) input latency of one audio device for one profile.

    Every measurement is kept; the newest per (profile, device) is the one sessions use.
    ``device`` is the device's name as the audio system reports it (indexes change when an
    interface is re-plugged, names do not). Since revision 0003.
    """

    __tablename__ = "calibrations"
    __table_args__ = (
        CheckConstraint(_in("method", CALIBRATION_METHODS), name="method"),
        CheckConstraint("latency_ms >= -1000 AND latency_ms <= 1000", name="latency_range"),
        Index("ix_calibrations_user_id_device_created_at", "user_id", "device", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    device: Mapped[str] = mapped_column(String(200))
    latency_ms: Mapped[float] = mapped_column(Float)
    spread_ms: Mapped[float | None] = mapped_column(Float)
    hits: Mapped[int | None] = mapped_column(Integer)
    clicks: Mapped[int | None] = mapped_column(Integer)
    bpm: Mapped[float | None] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(16), default="play-along")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
