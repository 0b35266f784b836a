"""Words for notes and sessions: why a note was wrong, and the summary of a session.

Qt-free so it can be tested (and reused) without a display. Thresholds are the metric
definitions of DESIGN.md: a note is in tune within +-10 cents (full pitch score) and on
time within +-15 ms (full timing score).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fretcoach_desktop.audio.metrics import (
    IN_TUNE,
    ON_TIME,
    compute_metrics,
    pitch_score,
    timing_label,
    timing_score,
    tuning_label,
    weakest_metric,
)
from fretcoach_desktop.audio.types import Metrics, Note

from .services import METRIC_LABELS, ExerciseSettings, SessionSummary, WorstNote

__all__ = [
    "NoteVerdict",
    "build_summary",
    "describe_note",
    "format_metric",
    "timing_label",
    "tuning_label",
    "worst_notes",
]


@dataclass(frozen=True, slots=True)
class NoteVerdict:
    name: str
    cents_text: str  # "+22c"
    timing_text: str  # "40 ms late", "on time"
    timing: str  # early / on time / late
    tuning: str  # flat / in tune / sharp
    in_scale: bool
    problems: tuple[str, ...]  # the reasons in words; empty when the note was good

    @property
    def good(self) -> bool:
        return not self.problems

    @property
    def why(self) -> str:
        return "; ".join(self.problems) if self.problems else "good note"


def describe_note(note: Note) -> NoteVerdict:
    timing = timing_label(note.timing_offset_ms)
    tuning = tuning_label(note.cents)
    offset = abs(note.timing_offset_ms)
    timing_text = ON_TIME if timing == ON_TIME else f"{offset:.0f} ms {timing}"
    problems: list[str] = []
    if not note.in_scale:
        problems.append("out of scale")
    if tuning != IN_TUNE:
        problems.append(f"{abs(note.cents):.0f} cents {tuning}")
    if timing != ON_TIME:
        problems.append(f"{offset:.0f} ms {timing}")
    return NoteVerdict(
        name=note.note,
        cents_text=f"{note.cents:+.0f}c",
        timing_text=timing_text,
        timing=timing,
        tuning=tuning,
        in_scale=note.in_scale,
        problems=tuple(problems),
    )


def format_metric(value: float | None) -> str:
    """A metric for display: ``'93'``, or ``'—'`` when there is no value (no notes)."""
    return "—" if value is None else f"{value:.0f}"


def _badness(note: Note) -> float:
    """How far a note is from perfect, 0 (perfect) .. 3 (out of scale, off pitch, off time)."""
    return (
        (0.0 if note.in_scale else 1.0) + (1.0 - pitch_score(note.cents)) + (1.0 - timing_score(note.timing_offset_ms))
    )


def worst_notes(notes: Sequence[Note], count: int = 5) -> tuple[WorstNote, ...]:
    """The *count* notes furthest from perfect, worst first: only notes with a problem the
    player can read (a note 15 ms late is on time, not among them)."""
    bad = [n for n in notes if describe_note(n).problems]
    bad.sort(key=lambda n: (-_badness(n), n.onset_s))
    return tuple(
        WorstNote(
            note=n.note,
            onset_s=n.onset_s,
            cents=n.cents,
            timing_offset_ms=n.timing_offset_ms,
            in_scale=n.in_scale,
            why=describe_note(n).why,
        )
        for n in bad[:count]
    )


def build_summary(
    exercise: ExerciseSettings,
    device: str,
    notes: Sequence[Note],
    duration_s: float,
    metrics: Metrics | None = None,
    overflows: int = 0,
) -> SessionSummary:
    """The end-of-session summary from everything the engine reported."""
    if metrics is None:
        metrics = compute_metrics(notes, ())
    return SessionSummary(
        exercise=exercise,
        device=device,
        duration_s=duration_s,
        metrics=metrics,
        notes_played=len(notes),
        weakest=weakest_metric(metrics),
        worst_notes=worst_notes(notes),
        overflows=overflows,
        notes=tuple(notes),
    )


def metric_label(name: str | None) -> str:
    return METRIC_LABELS.get(name or "", name or "—")
