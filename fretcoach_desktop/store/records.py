"""Plain, immutable values the store takes and returns (never ORM objects).

Records are frozen dataclasses, safe to hand from the DB writer thread to the GUI thread;
they do not keep a database session alive or load anything lazily.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from fretcoach_desktop.audio.metrics import METRIC_NAMES, compute_metrics
from fretcoach_desktop.audio.types import Metrics, NoiseEvent, Note

__all__ = [
    "HISTORY_FIELDS",
    "WINDOW_S",
    "CalibrationRecord",
    "ChatMessageRecord",
    "ChatThreadInfo",
    "CoachMessageRecord",
    "NoteLike",
    "NoteRecord",
    "PlanRecord",
    "SessionDetail",
    "SessionSummary",
    "UserInfo",
    "Window",
    "WindowRecord",
    "windows_for",
]

#: Length of a metrics window (DESIGN.md: the coach speaks every 30 s; history charts them).
WINDOW_S = 30.0

#: The fields of ``fretcoach history --json`` and ``fretcoach export``, in order.
HISTORY_FIELDS: tuple[str, ...] = (
    "session_id",
    "started_at",
    "duration_s",
    "key",
    "scale",
    "bpm",
    "notes_played",
    *METRIC_NAMES,
    "status",
    "latency_ms",
)


class NoteLike(Protocol):
    """What the store needs of a note (:class:`~fretcoach_desktop.audio.types.Note` fits)."""

    onset_s: float
    midi: int
    cents: float
    in_scale: bool
    timing_offset_ms: float


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True, slots=True)
class Window:
    """Input: the metrics of the window ``[start_s, end_s)`` of a session."""

    start_s: float
    end_s: float
    metrics: Metrics


def windows_for(
    notes: Sequence[Note],
    noise_events: Sequence[NoiseEvent],
    duration_s: float,
    window_s: float = WINDOW_S,
) -> list[Window]:
    """Cut ``[0, duration_s)`` into *window_s* windows and score each with ``compute_metrics``.

    The last window ends at ``duration_s`` (it may be shorter); a window with no notes has
    ``None`` metrics. A note or noise event at or after ``duration_s`` falls in the last
    window.
    """
    if not window_s > 0:
        raise ValueError("window_s must be > 0")
    duration = max(0.0, float(duration_s))
    count = max(1, math.ceil(duration / window_s - 1e-9))
    windows = []
    for i in range(count):
        start = i * window_s
        end = min(duration, (i + 1) * window_s) if i < count - 1 else duration
        open_end = None if i == count - 1 else end
        windows.append(Window(start, end, compute_metrics(notes, noise_events, start, open_end)))
    return windows


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """One row of the history: a session and its whole-session metrics."""

    session_id: int
    user_id: int
    started_at: datetime
    ended_at: datetime | None
    duration_s: float
    key: str
    scale: str
    bpm: float
    subdivision: int
    notes_played: int
    noise_events: int
    pitch_accuracy: float | None
    scale_conformity: float | None
    timing_stability: float | None
    noise_control: float | None
    audio_device: str | None
    source: str
    status: str
    latency_ms: float | None = None  # input latency subtracted from the note times

    @property
    def metrics(self) -> Metrics:
        return Metrics(
            self.pitch_accuracy,
            self.scale_conformity,
            self.timing_stability,
            self.noise_control,
            notes=self.notes_played,
            noise_events=self.noise_events,
        )

    def to_json(self) -> dict[str, Any]:
        """The ``fretcoach history --json`` object (:data:`HISTORY_FIELDS`, ISO 8601 times)."""
        return {
            "session_id": self.session_id,
            "started_at": self.started_at.isoformat(),
            "duration_s": round(self.duration_s, 3),
            "key": self.key,
            "scale": self.scale,
            "bpm": self.bpm,
            "notes_played": self.notes_played,
            "pitch_accuracy": _r(self.pitch_accuracy),
            "scale_conformity": _r(self.scale_conformity),
            "timing_stability": _r(self.timing_stability),
            "noise_control": _r(self.noise_control),
            "status": self.status,
            "latency_ms": _r(self.latency_ms),
        }


@dataclass(frozen=True, slots=True)
class WindowRecord:
    idx: int
    start_s: float
    end_s: float
    pitch_accuracy: float | None
    scale_conformity: float | None
    timing_stability: float | None
    noise_control: float | None
    notes: int
    noise_events: int

    @property
    def metrics(self) -> Metrics:
        return Metrics(
            self.pitch_accuracy,
            self.scale_conformity,
            self.timing_stability,
            self.noise_control,
            notes=self.notes,
            noise_events=self.noise_events,
        )


@dataclass(frozen=True, slots=True)
class NoteRecord:
    seq: int
    onset_s: float
    midi: int
    cents: float
    in_scale: bool
    timing_offset_ms: float


@dataclass(frozen=True, slots=True)
class CoachMessageRecord:
    id: int
    session_id: int
    t_s: float
    text: str
    audio_path: str | None
    llm_ms: float | None
    tts_ms: float | None
    model: str | None
    fell_back: bool
    mode: str
    prompt_version: str | None
    feedback: int | None
    created_at: datetime
    kind: str = "tip"  # or "summary" (the end-of-session one, up to two sentences)


@dataclass(frozen=True, slots=True)
class SessionDetail:
    """A session with its windows, notes (in order) and coach tips (in order)."""

    session: SessionSummary
    windows: tuple[WindowRecord, ...]
    notes: tuple[NoteRecord, ...]
    coach_messages: tuple[CoachMessageRecord, ...]


@dataclass(frozen=True, slots=True)
class CalibrationRecord:
    """A device's input latency for a profile (the newest one is used)."""

    id: int
    user_id: int
    device: str
    latency_ms: float
    spread_ms: float | None
    hits: int | None
    clicks: int | None
    bpm: float | None
    method: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PlanRecord:
    id: int
    user_id: int
    created_at: datetime
    plan: dict[str, Any]
    weakest_metric: str | None
    source_session_ids: tuple[int, ...]
    prompt_version: str | None


@dataclass(frozen=True, slots=True)
class ChatMessageRecord:
    id: int
    user_id: int
    thread_id: str
    role: str
    content: str
    created_at: datetime
    model: str | None
    tool_calls: list[Any] | None
    chart: dict[str, Any] | None = None  # the trend chart the answer showed
    trace_id: str | None = None  # the answer's Opik trace
    feedback: int | None = None  # +1 thumbs up, -1 thumbs down


@dataclass(frozen=True, slots=True)
class ChatThreadInfo:
    thread_id: str
    started_at: datetime
    last_at: datetime
    messages: int


def session_metrics(notes: Iterable[NoteLike], noise_events: int) -> Metrics:
    """Whole-session metrics from stored notes and a noise-event count (DESIGN.md definitions)."""
    as_notes = [
        Note(
            onset_s=n.onset_s,
            emitted_s=n.onset_s,
            midi=n.midi,
            note="",
            cents=n.cents,
            in_scale=n.in_scale,
            grid_s=n.onset_s,
            timing_offset_ms=n.timing_offset_ms,
        )  # fmt: skip
        for n in notes
    ]
    noise = [NoiseEvent(0.0, 0.0)] * max(0, int(noise_events))
    return compute_metrics(as_notes, noise)
