"""The repository: every read and write of the practice database goes through :class:`Store`.

No SQL lives anywhere else in FretCoach. Reads are always scoped to one profile (a
``user_id`` argument): a session, plan or chat thread of another profile is "not found".
Each method is one transaction, so a failure (busy, read-only, full disk...) leaves the
database as it was before the call; every failure is a :class:`~.errors.StoreError` with a
one-line message.

A ``Store`` is safe to share between threads: each call uses its own connection from the
pool. In the app, writes go through the single :class:`~.writer.StoreWriter` thread so the
GUI never waits on the database; reads (history, session detail) may run anywhere.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from sqlalchemy import Engine, delete, func, insert, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession

from fretcoach_desktop.audio.metrics import METRIC_NAMES, PITCH_FULL_CENTS, TIMING_FULL_MS
from fretcoach_desktop.audio.types import Metrics
from fretcoach_desktop.store import models as m
from fretcoach_desktop.store.engine import IMMEDIATE, make_engine, make_readonly_engine, redacted, sqlite_path
from fretcoach_desktop.store.errors import NotFoundError, StoreError, translate
from fretcoach_desktop.store.liveness import LiveLocks, live_dir_for
from fretcoach_desktop.store.migrate import MigrationReport
from fretcoach_desktop.store.migrate import upgrade as run_migrations
from fretcoach_desktop.store.records import (
    WINDOW_S,
    CalibrationRecord,
    ChatMessageRecord,
    ChatThreadInfo,
    CoachMessageRecord,
    NoteLike,
    NoteRecord,
    PlanRecord,
    SessionDetail,
    SessionSummary,
    UserInfo,
    Window,
    WindowRecord,
    session_metrics,
    windows_for,
)

if TYPE_CHECKING:
    from fretcoach_desktop.audio.types import AnalysisResult
    from fretcoach_desktop.config import Config

__all__ = ["REVISABLE_NOTES", "Store"]

P = ParamSpec("P")
T = TypeVar("T")

#: How many of the last stored notes a checkpoint rewrites: the engine may still refine
#: the note that is sounding (its cents settle when it ends), earlier notes are final.
REVISABLE_NOTES = 4
#: a session nobody holds a lock for (recorded on another computer, or by an older version)
#: counts as crashed when its recorder has not checkpointed (every 5 s) for this long
STALE_UNLOCKED_S = 120.0

# Bulk rows go through the tables (Core executemany), not the ORM's unit of work.
_NOTES = m.NoteRow.__table__
_WINDOWS = m.SessionWindow.__table__


def _guarded(method: Callable[P, T]) -> Callable[P, T]:
    """Turn any driver/SQLAlchemy exception of a Store method into a StoreError."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except (StoreError, ValueError, TypeError):
            raise
        except Exception as exc:  # noqa: BLE001 - sqlite3/psycopg/SQLAlchemy/OSError
            store = args[0]
            raise translate(exc, getattr(store, "location", None)) from exc

    return wrapper


def _check_finite(name: str, value: float | None, *, minimum: float | None = None) -> None:
    if value is None:
        return
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        raise ValueError(f"{name} must be a finite number{f' >= {minimum:g}' if minimum is not None else ''}")


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return m.utcnow()
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: pass a timezone-aware time")
    return value


def _metric_values(metrics: Metrics) -> dict[str, float | None]:
    values = {}
    for name in METRIC_NAMES:
        value = getattr(metrics, name)
        values[name] = None if value is None or not math.isfinite(value) else float(value)
    return values


class Store:
    """The practice database: profiles, sessions (windows, notes), coach tips, plans, chat.

    ``Store(url)`` connects and, unless ``migrate=False``, brings the schema up to date
    (:func:`~.migrate.upgrade`, backing up a SQLite file first). ``Store.open(config)``
    does the same for ``config.db_url``.

    Raises:
        StoreError: (a subclass) when the database cannot be opened or migrated.
    """

    def __init__(
        self,
        url: str,
        *,
        migrate: bool = True,
        backup: bool = True,
        busy_timeout_s: float = 5.0,
        echo: bool = False,
    ) -> None:
        self._url = url
        self.busy_timeout_s = busy_timeout_s
        self.sqlite_path: Path | None = sqlite_path(url)
        self.location: str = str(self.sqlite_path) if self.sqlite_path else redacted(url)
        self.engine: Engine = make_engine(url, busy_timeout_s=busy_timeout_s, echo=echo)
        self._write_engine = self.engine.execution_options(**{IMMEDIATE: True})
        self.migration: MigrationReport | None = None
        #: the locks that tell a live session from a crashed one (see store.liveness)
        self.live = LiveLocks(live_dir_for(self.sqlite_path, self.location))
        #: sessions whose recorder had died, closed as ``recovered`` when this store opened
        self.recovered: list[SessionSummary] = []
        try:
            if migrate:
                self.migration = run_migrations(self.engine, backup=backup)
                try:
                    self.recovered = self._recover_crashed()
                except StoreError:
                    pass  # busy or read-only right now: the next open (or command) tries again
        except BaseException:
            self.engine.dispose()
            raise

    @classmethod
    def open(cls, config: Config, **kwargs: Any) -> Store:
        """The store of a :class:`~fretcoach_desktop.config.Config` (its ``db_url``)."""
        return cls(config.db_url, **kwargs)

    @property
    def dialect(self) -> str:
        """``"sqlite"``, ``"postgresql"``, ..."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Release every connection (a SQLite WAL file is checkpointed by the last one).

        Sessions this store was still recording are let go unfinished: the next store to
        open recovers them.
        """
        self.live.release_all()
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.location!r})"

    # ----------------------------------------------------------------- transactions

    @contextmanager
    def _write(self) -> Iterator[OrmSession]:
        with OrmSession(self._write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[OrmSession]:
        with OrmSession(self.engine) as session:
            try:
                yield session
            finally:
                session.rollback()

    # ----------------------------------------------------------------- profiles

    @_guarded
    def ensure_user(self, name: str) -> UserInfo:
        """The profile called *name* (surrounding spaces ignored), created on first use."""
        clean = " ".join(str(name).split()) if name is not None else ""
        if not clean or len(clean) > 64:
            raise ValueError("a profile name must be 1 to 64 characters")
        with self._read() as session:
            user = session.scalars(select(m.User).where(m.User.name == clean)).one_or_none()
            if user is not None:
                return _user(user)
        try:
            with self._write() as session:
                # Re-check under the write lock: another program may have created it meanwhile.
                user = session.scalars(select(m.User).where(m.User.name == clean)).one_or_none()
                if user is None:
                    user = m.User(name=clean, created_at=m.utcnow())
                    session.add(user)
                    session.flush()
                return _user(user)
        except IntegrityError:
            # PostgreSQL: a concurrent transaction inserted the same name first; use theirs.
            with self._read() as session:
                return _user(session.scalars(select(m.User).where(m.User.name == clean)).one())

    @_guarded
    def users(self) -> list[UserInfo]:
        """Every profile, by name (for the profile switcher)."""
        with self._read() as session:
            return [_user(u) for u in session.scalars(select(m.User).order_by(m.User.name))]

    # ----------------------------------------------------------------- sessions: writes

    @_guarded
    def start_session(
        self,
        user_id: int,
        *,
        key: str,
        scale: str,
        bpm: float,
        subdivision: int = 1,
        source: str = "live",
        audio_device: str | None = None,
        started_at: datetime | None = None,
        latency_ms: float | None = None,
    ) -> int:
        """Create an ``in_progress`` session and return its id."""
        started = _aware(started_at)
        row = _new_session(user_id, key, scale, bpm, subdivision, source, audio_device, started, started, latency_ms)
        with self._write() as session:
            self._require_user(session, user_id)
            session.add(row)
            session.flush()
            sid = row.id
        self.live.hold(sid)  # this process records it: no other may recover it meanwhile
        return sid

    @_guarded
    def checkpoint(
        self,
        session_id: int,
        *,
        windows: Sequence[Window] | None = None,
        notes: Sequence[NoteLike] | None = None,
        duration_s: float | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """Save a live session's progress: its windows and notes *so far*.

        ``windows`` and ``notes`` are the complete lists so far (not increments): the
        stored windows become ``windows``, the stored notes become ``notes`` (the last
        :data:`REVISABLE_NOTES` stored ones are rewritten, earlier ones are assumed final
        and only the new ones are inserted); ``None`` leaves what is stored. Calling it again
        with the same data changes nothing, so a checkpoint that failed (e.g. busy) is simply
        retried by the next.

        ``metrics`` are the whole session's metrics so far; without them they are
        computed from ``notes`` (and the windows' noise-event counts).
        """
        with self._write() as session:
            row = self._session_row(session, session_id)
            if row.status == "complete":
                raise StoreError(f"session {session_id} is already finished")
            self._save_progress(session, row, windows, notes, duration_s, metrics)
            if row.status == "recovered":
                # Closed by a recovery while it was still live (e.g. the computer slept):
                # the player is still playing, so it is live again.
                row.status = "in_progress"
                row.ended_at = None
        self.live.hold(session_id)

    @_guarded
    def finish_session(
        self,
        session_id: int,
        *,
        windows: Sequence[Window] | None = None,
        notes: Sequence[NoteLike] | None = None,
        duration_s: float | None = None,
        metrics: Metrics | None = None,
        ended_at: datetime | None = None,
    ) -> SessionSummary:
        """Close a session as ``complete`` (with a last checkpoint of what is given)."""
        ended = _aware(ended_at)
        with self._write() as session:
            row = self._session_row(session, session_id)
            if windows is not None or notes is not None or duration_s is not None or metrics is not None:
                self._save_progress(session, row, windows, notes, duration_s, metrics)
            if metrics is None and notes is None and row.notes_played and row.pitch_accuracy is None:
                self._fill_metrics_from_notes(session, row)
            row.status = "complete"
            row.ended_at = ended
            summary = _summary(row)
        self.live.release(session_id)
        return summary

    @_guarded
    def save_analysis(
        self,
        user_id: int,
        result: AnalysisResult,
        *,
        key: str,
        scale: str,
        bpm: float,
        subdivision: int = 1,
        source: str = "file",
        audio_device: str | None = None,
        started_at: datetime | None = None,
        window_s: float = WINDOW_S,
        latency_ms: float | None = None,
    ) -> int:
        """Store an analyzed take as one complete session (30 s windows, every note); its id."""
        ended = m.utcnow()
        started = _aware(started_at) if started_at else ended - timedelta(seconds=max(0.0, result.duration_s))
        row = _new_session(user_id, key, scale, bpm, subdivision, source, audio_device, started, ended, latency_ms)
        windows = windows_for(result.notes, result.noise_events, result.duration_s, window_s)
        with self._write() as session:
            self._require_user(session, user_id)
            session.add(row)
            session.flush()
            self._save_progress(session, row, windows, result.notes, result.duration_s, result.metrics, fresh=True)
            row.status = "complete"
            row.ended_at = ended
            return row.id

    @_guarded
    def recover_unfinished(
        self,
        user_id: int,
        *,
        stale_after_s: float = 0.0,
        exclude: Iterable[int] = (),
    ) -> list[SessionSummary]:
        """Close the profile's sessions left ``in_progress`` by a crash; return them.

        Each keeps what its last checkpoint saved and becomes ``recovered``; its end is the
        last checkpoint (or its start plus the saved duration). A session another process
        is recording (it holds the session's lock, :mod:`.liveness`) is never touched, nor
        are this store's own live sessions and the ids in *exclude*. One whose recorder
        died is recovered at once; one without a lock file (recorded elsewhere, or by an
        older version) only when its last checkpoint is older than *stale_after_s* seconds.
        """
        return self._recover(user_id, stale_after_s=max(0.0, stale_after_s), exclude=set(exclude))

    @_guarded
    def _recover_crashed(self) -> list[SessionSummary]:
        """At open: every profile's sessions whose recorder has died (or, without a lock,
        has not checkpointed for STALE_UNLOCKED_S), so that whatever reads sessions next
        (history, export, AI Mode, the chat agent, the window) sees them as recovered."""
        return self._recover(None, stale_after_s=STALE_UNLOCKED_S, exclude=set())

    def _recover(self, user_id: int | None, *, stale_after_s: float, exclude: set[int]) -> list[SessionSummary]:
        cutoff = m.utcnow() - timedelta(seconds=stale_after_s)
        with self._write() as session:
            query = select(m.Session).where(m.Session.status == "in_progress")
            if user_id is not None:
                query = query.where(m.Session.user_id == user_id)
            rows = session.scalars(query.order_by(m.Session.started_at, m.Session.id)).all()
            recovered = []
            for row in rows:
                if row.id in exclude:
                    continue
                state = self.live.state(row.id)
                last = row.checkpointed_at or row.started_at
                if state == "live" or (state == "unknown" and last > cutoff):
                    continue
                if row.notes_played and row.pitch_accuracy is None:
                    self._fill_metrics_from_notes(session, row)
                row.status = "recovered"
                row.ended_at = max(last, row.started_at + timedelta(seconds=row.duration_s or 0.0))
                recovered.append(_summary(row))
        for summary in recovered:
            self.live.forget(summary.session_id)
        return recovered

    @_guarded
    def delete_session(self, user_id: int, session_id: int) -> None:
        """Delete one of the profile's sessions with its windows, notes and coach tips."""
        with self._write() as session:
            row = self._owned_session(session, user_id, session_id)
            session.delete(row)
        self.live.release(session_id)  # if this process was recording it

    # ----------------------------------------------------------------- sessions: reads

    @_guarded
    def history(
        self, user_id: int, limit: int | None = None, *, include_in_progress: bool = False
    ) -> list[SessionSummary]:
        """The profile's sessions, newest first (finished and recovered ones by default)."""
        query = select(m.Session).where(m.Session.user_id == user_id)
        if not include_in_progress:
            query = query.where(m.Session.status != "in_progress")
        query = query.order_by(m.Session.started_at.desc(), m.Session.id.desc())
        if limit is not None:
            query = query.limit(max(0, int(limit)))
        with self._read() as session:
            return [_summary(row) for row in session.scalars(query)]

    @_guarded
    def recent_sessions(self, user_id: int, limit: int = 5) -> list[SessionSummary]:
        """The profile's last *limit* finished sessions that have notes, newest first (AI Mode)."""
        query = (
            select(m.Session)
            .where(
                m.Session.user_id == user_id,
                m.Session.status.in_(("complete", "recovered")),
                m.Session.notes_played > 0,
            )
            .order_by(m.Session.started_at.desc(), m.Session.id.desc())
            .limit(max(0, int(limit)))
        )
        with self._read() as session:
            return [_summary(row) for row in session.scalars(query)]

    @_guarded
    def problem_notes(self, user_id: int, session_ids: Sequence[int]) -> dict[int, list[NoteRecord]]:
        """The notes of these sessions of the profile that may have a problem (out of scale,
        or more than about PITCH_FULL_CENTS / TIMING_FULL_MS off: the caller judges them),
        in order, by session: what a history needs for each session's worst notes without
        reading every note."""
        ids = [int(i) for i in session_ids]
        out: dict[int, list[NoteRecord]] = {i: [] for i in ids}
        if not ids:
            return out
        n = m.NoteRow
        query = (
            select(n.session_id, n.seq, n.onset_s, n.midi, n.cents, n.in_scale, n.timing_offset_ms)
            .join(m.Session, m.Session.id == n.session_id)
            .where(
                m.Session.user_id == user_id,
                n.session_id.in_(ids),
                or_(
                    n.in_scale.is_(False),
                    func.abs(n.cents) > PITCH_FULL_CENTS - 0.5,
                    func.abs(n.timing_offset_ms) > TIMING_FULL_MS - 0.5,
                ),
            )
            .order_by(n.session_id, n.seq)
        )
        with self._read() as session:
            for sid, *fields in session.execute(query):
                out[sid].append(NoteRecord(*fields))
        return out

    @_guarded
    def session_detail(self, user_id: int, session_id: int) -> SessionDetail:
        """One of the profile's sessions with its windows, notes and coach tips.

        Raises:
            NotFoundError: no such session for this profile.
        """
        with self._read() as session:
            row = self._owned_session(session, user_id, session_id)
            windows = session.scalars(
                select(m.SessionWindow).where(m.SessionWindow.session_id == session_id).order_by(m.SessionWindow.idx)
            ).all()
            notes = session.execute(
                select(
                    m.NoteRow.seq,
                    m.NoteRow.onset_s,
                    m.NoteRow.midi,
                    m.NoteRow.cents,
                    m.NoteRow.in_scale,
                    m.NoteRow.timing_offset_ms,
                )
                .where(m.NoteRow.session_id == session_id)
                .order_by(m.NoteRow.seq)
            ).all()
            tips = session.scalars(
                select(m.CoachMessage)
                .where(m.CoachMessage.session_id == session_id)
                .order_by(m.CoachMessage.t_s, m.CoachMessage.id)
            ).all()
            return SessionDetail(
                session=_summary(row),
                windows=tuple(_window(w) for w in windows),
                notes=tuple(NoteRecord(*n) for n in notes),
                coach_messages=tuple(_coach(t) for t in tips),
            )

    # ----------------------------------------------------------------- coach tips

    @_guarded
    def add_coach_message(
        self,
        session_id: int,
        *,
        t_s: float,
        text: str,
        audio_path: str | None = None,
        llm_ms: float | None = None,
        tts_ms: float | None = None,
        model: str | None = None,
        fell_back: bool = False,
        mode: str = "online",
        prompt_version: str | None = None,
        kind: str = "tip",
        created_at: datetime | None = None,
    ) -> int:
        """Store one live-coach tip (or the end-of-session summary) of a session; its id."""
        if mode not in m.COACH_MODES:
            raise ValueError(f"mode must be one of {', '.join(m.COACH_MODES)}")
        if kind not in m.COACH_KINDS:
            raise ValueError(f"kind must be one of {', '.join(m.COACH_KINDS)}")
        _check_finite("t_s", t_s)
        with self._write() as session:
            self._session_row(session, session_id)
            row = m.CoachMessage(
                session_id=session_id,
                t_s=float(t_s),
                text=str(text),
                audio_path=None if audio_path is None else str(audio_path),
                llm_ms=llm_ms,
                tts_ms=tts_ms,
                model=model,
                fell_back=bool(fell_back),
                mode=mode,
                prompt_version=prompt_version,
                kind=kind,
                created_at=_aware(created_at),
            )
            session.add(row)
            session.flush()
            return row.id

    @_guarded
    def set_coach_feedback(self, user_id: int, message_id: int, feedback: int | None) -> None:
        """Thumbs up (+1), down (-1) or cleared (``None``) on one of the profile's coach tips."""
        if feedback not in (1, -1, None):
            raise ValueError("feedback must be +1, -1 or None")
        with self._write() as session:
            row = session.execute(
                select(m.CoachMessage)
                .join(m.Session, m.Session.id == m.CoachMessage.session_id)
                .where(m.CoachMessage.id == message_id, m.Session.user_id == user_id)
            ).scalar_one_or_none()
            if row is None:
                raise NotFoundError(f"no coach message {message_id} for this profile")
            row.feedback = feedback

    @_guarded
    def set_chat_feedback(self, user_id: int, message_id: int, feedback: int | None) -> str | None:
        """Thumbs up (+1), down (-1) or cleared (``None``) on one of the profile's chat
        answers; the answer's trace id (for the Opik feedback score), if it has one."""
        if feedback not in (1, -1, None):
            raise ValueError("feedback must be +1, -1 or None")
        with self._write() as session:
            row = session.execute(
                select(m.ChatMessage).where(
                    m.ChatMessage.id == message_id, m.ChatMessage.user_id == user_id, m.ChatMessage.role == "assistant"
                )
            ).scalar_one_or_none()
            if row is None:
                raise NotFoundError(f"no chat answer {message_id} for this profile")
            row.feedback = feedback
            return row.trace_id

    # ----------------------------------------------------------------- plans

    @_guarded
    def save_plan(
        self,
        user_id: int,
        plan: Mapping[str, Any],
        *,
        weakest_metric: str | None = None,
        source_session_ids: Sequence[int] = (),
        prompt_version: str | None = None,
        created_at: datetime | None = None,
    ) -> int:
        """Store an AI Mode plan (any JSON object); its id."""
        with self._write() as session:
            self._require_user(session, user_id)
            row = m.PracticePlan(
                user_id=user_id,
                created_at=_aware(created_at),
                plan=dict(plan),
                weakest_metric=weakest_metric,
                source_session_ids=[int(i) for i in source_session_ids],
                prompt_version=prompt_version,
            )
            session.add(row)
            session.flush()
            return row.id

    @_guarded
    def latest_plan(self, user_id: int) -> PlanRecord | None:
        """The profile's newest plan, if any."""
        plans = self.plans(user_id, limit=1)
        return plans[0] if plans else None

    @_guarded
    def plans(self, user_id: int, limit: int = 20) -> list[PlanRecord]:
        """The profile's plans, newest first."""
        with self._read() as session:
            rows = session.scalars(
                select(m.PracticePlan)
                .where(m.PracticePlan.user_id == user_id)
                .order_by(m.PracticePlan.created_at.desc(), m.PracticePlan.id.desc())
                .limit(max(0, int(limit)))
            )
            return [_plan(row) for row in rows]

    # ----------------------------------------------------------------- calibrations

    @_guarded
    def save_calibration(
        self,
        user_id: int,
        device: str,
        latency_ms: float,
        *,
        spread_ms: float | None = None,
        hits: int | None = None,
        clicks: int | None = None,
        bpm: float | None = None,
        method: str = "play-along",
        created_at: datetime | None = None,
    ) -> int:
        """Store a device's input latency for the profile (the newest one is used); its id."""
        device = _device_name(device)
        if not device or len(device) > 200:
            raise ValueError("the device name must be 1 to 200 characters")
        _check_finite("latency_ms", latency_ms)
        if abs(latency_ms) > 1000:
            raise ValueError(f"latency_ms must be from -1000 to 1000, got {latency_ms:g}")
        _check_finite("spread_ms", spread_ms, minimum=0.0)
        if method not in m.CALIBRATION_METHODS:
            raise ValueError(f"method must be one of {', '.join(m.CALIBRATION_METHODS)}")
        with self._write() as session:
            self._require_user(session, user_id)
            row = m.Calibration(
                user_id=user_id,
                device=device,
                latency_ms=float(latency_ms),
                spread_ms=None if spread_ms is None else float(spread_ms),
                hits=hits,
                clicks=clicks,
                bpm=bpm,
                method=method,
                created_at=_aware(created_at),
            )
            session.add(row)
            session.flush()
            return row.id

    @_guarded
    def calibration(self, user_id: int, device: str) -> CalibrationRecord | None:
        """The profile's newest latency for *device*, or None if it was never calibrated."""
        rows = self.calibrations(user_id, limit=1, device=device)
        return rows[0] if rows else None

    @_guarded
    def calibrations(self, user_id: int, limit: int = 50, *, device: str | None = None) -> list[CalibrationRecord]:
        """The profile's calibrations (of every device, or of *device*), newest first."""
        query = select(m.Calibration).where(m.Calibration.user_id == user_id)
        if device is not None:
            query = query.where(m.Calibration.device == _device_name(device))
        query = query.order_by(m.Calibration.created_at.desc(), m.Calibration.id.desc()).limit(max(0, int(limit)))
        with self._read() as session:
            return [_calibration(row) for row in session.scalars(query)]

    # ----------------------------------------------------------------- chat

    @_guarded
    def add_chat_message(
        self,
        user_id: int,
        thread_id: str,
        role: str,
        content: str,
        *,
        model: str | None = None,
        tool_calls: list[Any] | None = None,
        chart: Mapping[str, Any] | None = None,
        trace_id: str | None = None,
        created_at: datetime | None = None,
    ) -> int:
        """Append a message to one of the profile's chat threads; its id. An answer keeps
        the chart it showed and its Opik trace id."""
        if role not in m.CHAT_ROLES:
            raise ValueError(f"role must be one of {', '.join(m.CHAT_ROLES)}")
        if not thread_id:
            raise ValueError("thread_id must not be empty")
        with self._write() as session:
            self._require_user(session, user_id)
            row = m.ChatMessage(
                user_id=user_id,
                thread_id=str(thread_id),
                role=role,
                content=str(content),
                created_at=_aware(created_at),
                model=model,
                tool_calls=None if tool_calls is None else list(tool_calls),
                chart=None if chart is None else dict(chart),
                trace_id=trace_id,
            )
            session.add(row)
            session.flush()
            return row.id

    @_guarded
    def chat_thread(self, user_id: int, thread_id: str) -> list[ChatMessageRecord]:
        """The messages of one of the profile's threads, oldest first (empty if none)."""
        with self._read() as session:
            rows = session.scalars(
                select(m.ChatMessage)
                .where(m.ChatMessage.user_id == user_id, m.ChatMessage.thread_id == thread_id)
                .order_by(m.ChatMessage.created_at, m.ChatMessage.id)
            )
            return [_chat(row) for row in rows]

    @_guarded
    def chat_threads(self, user_id: int, limit: int = 50) -> list[ChatThreadInfo]:
        """The profile's chat threads, most recently active first."""
        last = func.max(m.ChatMessage.created_at)
        with self._read() as session:
            rows = session.execute(
                select(m.ChatMessage.thread_id, func.min(m.ChatMessage.created_at), last, func.count())
                .where(m.ChatMessage.user_id == user_id)
                .group_by(m.ChatMessage.thread_id)
                .order_by(last.desc())
                .limit(max(0, int(limit)))
            ).all()
            return [ChatThreadInfo(tid, first, latest, count) for tid, first, latest, count in rows]

    # ----------------------------------------------------------------- read-only access

    def readonly_engine(self, *, role: str | None = None, statement_timeout_ms: int | None = None) -> Engine:
        """A separate engine whose connections cannot write (for the chat agent's SQL tool).

        SQLite: the file opened with ``mode=ro`` and ``PRAGMA query_only``. PostgreSQL:
        ``default_transaction_read_only = on`` on every connection, and ``SET ROLE role``
        when *role* is given (see :meth:`ensure_readonly_role`). The caller disposes of it.
        It sees all profiles: restricting queries to one player is the SQL tool's job.
        """
        return make_readonly_engine(
            self._url, role=role, statement_timeout_ms=statement_timeout_ms, busy_timeout_s=self.busy_timeout_s
        )

    @_guarded
    def ensure_readonly_role(self, role: str = "fretcoach_reader") -> str:
        """PostgreSQL: create *role* (NOLOGIN, SELECT on FretCoach's tables only) if missing,
        and let the current user ``SET ROLE`` to it. Needs CREATEROLE; returns *role*."""
        if self.dialect != "postgresql":
            raise StoreError("read-only roles exist on PostgreSQL only")
        quoted = '"' + role.replace('"', '""') + '"'
        tables = ", ".join(t.name for t in m.Base.metadata.sorted_tables)
        with self.engine.begin() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
            if not exists:
                conn.execute(text(f"CREATE ROLE {quoted} NOLOGIN"))
            conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {quoted}"))
            conn.execute(text(f"GRANT SELECT ON {tables} TO {quoted}"))
            conn.execute(text(f"GRANT {quoted} TO CURRENT_USER"))
        return role

    # ----------------------------------------------------------------- internals

    @staticmethod
    def _require_user(session: OrmSession, user_id: int) -> None:
        if session.get(m.User, user_id) is None:
            raise NotFoundError(f"no profile with id {user_id}")

    @staticmethod
    def _session_row(session: OrmSession, session_id: int) -> m.Session:
        row = session.get(m.Session, session_id)
        if row is None:
            raise NotFoundError(f"no session {session_id}")
        return row

    @staticmethod
    def _owned_session(session: OrmSession, user_id: int, session_id: int) -> m.Session:
        row = session.get(m.Session, session_id)
        if row is None or row.user_id != user_id:
            raise NotFoundError(f"no session {session_id} for this profile")
        return row

    def _save_progress(
        self,
        session: OrmSession,
        row: m.Session,
        windows: Sequence[Window] | None,
        notes: Sequence[NoteLike] | None,
        duration_s: float | None,
        metrics: Metrics | None,
        *,
        fresh: bool = False,
    ) -> None:
        """Write windows/notes/metrics of *row* (``fresh``: a new session, nothing stored yet)."""
        sid = row.id
        if duration_s is not None:
            _check_finite("duration_s", duration_s, minimum=0)
            row.duration_s = float(duration_s)
        if windows is not None:
            if not fresh:
                session.execute(delete(_WINDOWS).where(_WINDOWS.c.session_id == sid))
            if windows:
                session.execute(
                    insert(_WINDOWS),
                    [
                        {
                            "session_id": sid,
                            "idx": i,
                            "start_s": float(w.start_s),
                            "end_s": float(w.end_s),
                            **_metric_values(w.metrics),
                            "notes": int(w.metrics.notes),
                            "noise_events": int(w.metrics.noise_events),
                        }
                        for i, w in enumerate(windows)
                    ],
                )
        if notes is not None:
            keep = 0
            if not fresh:
                stored = session.scalar(select(func.count()).where(_NOTES.c.session_id == sid)) or 0
                keep = max(0, min(stored, len(notes)) - REVISABLE_NOTES)
                session.execute(delete(_NOTES).where(_NOTES.c.session_id == sid, _NOTES.c.seq >= keep))
            new_notes = notes[keep:]
            if new_notes:
                session.execute(
                    insert(_NOTES),
                    [
                        {
                            "session_id": sid,
                            "seq": keep + i,
                            "onset_s": float(n.onset_s),
                            "midi": int(n.midi),
                            "cents": float(n.cents),
                            "in_scale": bool(n.in_scale),
                            "timing_offset_ms": float(n.timing_offset_ms),
                        }
                        for i, n in enumerate(new_notes)
                    ],
                )
        if metrics is not None:
            for name, value in _metric_values(metrics).items():
                setattr(row, name, value)
            row.notes_played = int(metrics.notes) if metrics.notes or notes is None else len(notes)
            row.noise_events = int(metrics.noise_events)
        elif notes is not None:
            noise = sum(int(w.metrics.noise_events) for w in windows) if windows else row.noise_events
            computed = session_metrics(notes, noise)
            for name, value in _metric_values(computed).items():
                setattr(row, name, value)
            row.notes_played = len(notes)
            row.noise_events = noise
        row.checkpointed_at = m.utcnow()

    @staticmethod
    def _fill_metrics_from_notes(session: OrmSession, row: m.Session) -> None:
        notes = session.execute(
            select(m.NoteRow.onset_s, m.NoteRow.midi, m.NoteRow.cents, m.NoteRow.in_scale, m.NoteRow.timing_offset_ms)
            .where(m.NoteRow.session_id == row.id)
            .order_by(m.NoteRow.seq)
        ).all()
        records = [NoteRecord(0, *n) for n in notes]
        computed = session_metrics(records, row.noise_events)
        for name, value in _metric_values(computed).items():
            setattr(row, name, value)
        row.notes_played = len(records)


# --------------------------------------------------------------------------- row -> record


def _user(row: m.User) -> UserInfo:
    return UserInfo(row.id, row.name, row.created_at)


def _device_name(device: str) -> str:
    """An audio device's name as stored: whitespace runs folded, ends trimmed."""
    return " ".join(str(device).split())


def _new_session(
    user_id: int,
    key: str,
    scale: str,
    bpm: float,
    subdivision: int,
    source: str,
    audio_device: str | None,
    started: datetime,
    checkpointed: datetime,
    latency_ms: float | None,
) -> m.Session:
    """A new ``in_progress`` session row (live sessions and analyzed takes alike)."""
    if source not in m.SESSION_SOURCES:
        raise ValueError(f"source must be one of {', '.join(m.SESSION_SOURCES)}")
    _check_finite("bpm", bpm, minimum=0)
    _check_finite("latency_ms", latency_ms)
    return m.Session(
        user_id=user_id,
        started_at=started,
        checkpointed_at=checkpointed,
        key=key,
        scale=scale,
        bpm=float(bpm),
        subdivision=int(subdivision),
        notes_played=0,
        noise_events=0,
        duration_s=0.0,
        audio_device=audio_device,
        source=source,
        status="in_progress",
        latency_ms=None if latency_ms is None else float(latency_ms),
    )


def _summary(row: m.Session) -> SessionSummary:
    return SessionSummary(
        session_id=row.id,
        user_id=row.user_id,
        started_at=row.started_at,
        ended_at=row.ended_at,
        duration_s=row.duration_s,
        key=row.key,
        scale=row.scale,
        bpm=row.bpm,
        subdivision=row.subdivision,
        notes_played=row.notes_played,
        noise_events=row.noise_events,
        pitch_accuracy=row.pitch_accuracy,
        scale_conformity=row.scale_conformity,
        timing_stability=row.timing_stability,
        noise_control=row.noise_control,
        audio_device=row.audio_device,
        source=row.source,
        status=row.status,
        latency_ms=row.latency_ms,
    )


def _window(row: m.SessionWindow) -> WindowRecord:
    return WindowRecord(
        row.idx,
        row.start_s,
        row.end_s,
        row.pitch_accuracy,
        row.scale_conformity,
        row.timing_stability,
        row.noise_control,
        row.notes,
        row.noise_events,
    )


def _coach(row: m.CoachMessage) -> CoachMessageRecord:
    return CoachMessageRecord(
        row.id,
        row.session_id,
        row.t_s,
        row.text,
        row.audio_path,
        row.llm_ms,
        row.tts_ms,
        row.model,
        row.fell_back,
        row.mode,
        row.prompt_version,
        row.feedback,
        row.created_at,
        row.kind,
    )


def _plan(row: m.PracticePlan) -> PlanRecord:
    return PlanRecord(
        row.id,
        row.user_id,
        row.created_at,
        dict(row.plan),
        row.weakest_metric,
        tuple(int(i) for i in row.source_session_ids or ()),
        row.prompt_version,
    )


def _calibration(row: m.Calibration) -> CalibrationRecord:
    return CalibrationRecord(
        row.id,
        row.user_id,
        row.device,
        row.latency_ms,
        row.spread_ms,
        row.hits,
        row.clicks,
        row.bpm,
        row.method,
        row.created_at,
    )


def _chat(row: m.ChatMessage) -> ChatMessageRecord:
    return ChatMessageRecord(
        row.id,
        row.user_id,
        row.thread_id,
        row.role,
        row.content,
        row.created_at,
        row.model,
        None if row.tool_calls is None else list(row.tool_calls),
        None if row.chart is None else dict(row.chart),
        row.trace_id,
        row.feedback,
    )
