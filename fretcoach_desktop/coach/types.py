"""Plain value types of the coach: what it gets (a window) and what it returns (a message).

No LangChain, no Qt: the store persists these and the UI shows them.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from fretcoach_desktop.audio.metrics import METRIC_NAMES

__all__ = ["CoachMessage", "CoachWindow", "metric_label", "weakest_of"]

_LABELS = {
    "pitch_accuracy": "pitch accuracy",
    "scale_conformity": "scale conformity",
    "timing_stability": "timing",
    "noise_control": "noise control",
}


def metric_label(name: str) -> str:
    """Human name of a metric (``timing_stability`` -> ``timing``)."""
    return _LABELS.get(name, name.replace("_", " "))


def weakest_of(metrics: Mapping[str, float | None]) -> str | None:
    """Lowest present metric (ties: first in METRIC_NAMES), or None when none has a value."""
    present = [(metrics[n], i, n) for i, n in enumerate(METRIC_NAMES) if metrics.get(n) is not None]
    return min(present)[2] if present else None


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


@dataclass(frozen=True)
class CoachWindow:
    """One window of playing, exactly what the live coach (and its evaluation) receives."""

    session_id: str
    t_s: float  # end of the window, in session (playing) time
    metrics: dict[str, float | None]  # the four metrics, None when the window had no notes
    previous: dict[str, float | None] | None = None  # previous window's metrics, for the trend
    missed_notes: tuple[str, ...] = ()  # most missed notes (pitch classes), worst first
    timing_bias_ms: float | None = None  # mean signed timing offset (negative = early)
    pitch_bias_cents: float | None = None  # mean signed cents (negative = flat)
    notes: int = 0
    noise_events: int = 0
    key: str | None = None
    scale: str | None = None
    bpm: float | None = None

    @property
    def weakest_metric(self) -> str | None:
        return weakest_of(self.metrics)

    @property
    def trend(self) -> dict[str, float]:
        """Per-metric change versus the previous window (only metrics present in both)."""
        if not self.previous:
            return {}
        out = {}
        for name in METRIC_NAMES:
            now, before = self.metrics.get(name), self.previous.get(name)
            if now is not None and before is not None:
                out[name] = round(float(now) - float(before), 1)
        return out

    def facts(self) -> dict[str, Any]:
        """The JSON-able input given to the model (and used to check numbers in answers)."""
        facts: dict[str, Any] = {
            "metrics": {n: _r(self.metrics.get(n)) for n in METRIC_NAMES},
            "weakest_metric": self.weakest_metric,
            "notes_played": self.notes,
            "noise_events": self.noise_events,
        }
        if self.trend:
            facts["trend_vs_previous_window"] = self.trend
        if self.missed_notes:
            facts["most_missed_notes"] = list(self.missed_notes)
        if self.timing_bias_ms is not None:
            facts["mean_timing_offset_ms"] = _r(self.timing_bias_ms)
        if self.pitch_bias_cents is not None:
            facts["mean_pitch_offset_cents"] = _r(self.pitch_bias_cents)
        for name in ("key", "scale", "bpm"):
            if getattr(self, name) is not None:
                facts[name] = getattr(self, name)
        return facts

    @classmethod
    def from_notes(
        cls,
        session_id: str,
        notes: Iterable[Any],
        noise_events: Iterable[Any],
        start_s: float,
        end_s: float,
        *,
        previous: Mapping[str, float | None] | None = None,
        key: str | None = None,
        scale: str | None = None,
        bpm: float | None = None,
        t_s: float | None = None,
    ) -> CoachWindow:
        """Build a window from the engine's notes (``audio.types.Note``) and noise events."""
        from fretcoach_desktop.audio.metrics import compute_metrics

        notes = list(notes)
        noise_events = list(noise_events)
        m = compute_metrics(notes, noise_events, start_s, end_s)
        inside = [n for n in notes if start_s <= n.onset_s < end_s]
        missed: Counter[str] = Counter()
        for n in inside:
            if not n.in_scale or abs(n.cents) > 25:
                missed[_pitch_class(n.note)] += 1
        return cls(
            session_id=str(session_id),
            t_s=float(end_s if t_s is None else t_s),
            metrics={name: getattr(m, name) for name in METRIC_NAMES},
            previous=dict(previous) if previous else None,
            missed_notes=tuple(name for name, _ in missed.most_common(3)),
            timing_bias_ms=(sum(n.timing_offset_ms for n in inside) / len(inside)) if inside else None,
            pitch_bias_cents=(sum(n.cents for n in inside) / len(inside)) if inside else None,
            notes=m.notes,
            noise_events=m.noise_events,
            key=key,
            scale=scale,
            bpm=bpm,
        )


def _pitch_class(note_name: str) -> str:
    return note_name.rstrip("-0123456789")


Mode = Literal["online", "offline"]


@dataclass(frozen=True)
class CoachMessage:
    """One coach tip or session summary, delivered first as text, then with its speech."""

    session_id: str
    t_s: float
    text: str
    model: str  # the model that answered, or "offline"
    fell_back: bool  # a fallback model (or the offline coach after a failure) answered
    mode: Mode
    prompt_version: str
    kind: Literal["tip", "summary"] = "tip"
    weakest_metric: str | None = None
    llm_ms: float | None = None
    audio_path: str | None = None
    tts_ms: float | None = None
    tts_engine: str | None = None  # "openai", "espeak-ng" or None (no speech)
    tts_error: str | None = None
    text_trace_id: str | None = None
    speech_trace_id: str | None = None
    error: str | None = None  # why the online coach did not answer (one line, no secrets)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_json(self) -> dict[str, Any]:
        """The CLI's ``coach_messages`` item (DESIGN: t_s, text, model, fell_back, ...)."""
        data = asdict(self)
        data["t_s"] = round(self.t_s, 3)
        for key in ("llm_ms", "tts_ms"):
            if data[key] is not None:
                data[key] = round(data[key], 1)
        return data
