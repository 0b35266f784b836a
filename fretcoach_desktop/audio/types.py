"""Plain, immutable value types shared by the engine, the CLI, the store and the UI.

They mirror the analysis contract of DESIGN.md (`fretcoach analyze --json`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True, slots=True)
class Note:
    """One played note as the engine heard it (times in stream seconds)."""

    onset_s: float
    emitted_s: float  # stream time at which the engine reported the note
    midi: int
    note: str  # name with octave, e.g. "A3"
    cents: float  # deviation from equal temperament at the configured A4
    in_scale: bool
    grid_s: float  # nearest metronome grid point
    timing_offset_ms: float  # onset_s - grid_s, negative = early
    freq_hz: float = 0.0  # measured fundamental (Hz)
    final_s: float = 0.0  # stream time at which the note's pitch settled (it had ended)

    def to_json(self) -> dict:
        return {
            "onset_s": round(self.onset_s, 4),
            "emitted_s": round(self.emitted_s, 4),
            "midi": self.midi,
            "note": self.note,
            "cents": round(self.cents, 1),
            "in_scale": self.in_scale,
            "grid_s": round(self.grid_s, 4),
            "timing_offset_ms": round(self.timing_offset_ms, 1),
            "final_s": round(self.final_s, 4),
        }


@dataclass(frozen=True, slots=True)
class NoiseEvent:
    """An unpitched broadband burst (scrape, buzz, pick noise) that is not a note."""

    start_s: float
    end_s: float

    def to_json(self) -> dict:
        return {"start_s": round(self.start_s, 4), "end_s": round(self.end_s, 4)}


@dataclass(frozen=True, slots=True)
class Metrics:
    """The four 0-100 metrics of DESIGN.md; None when the window has no notes."""

    pitch_accuracy: float | None
    scale_conformity: float | None
    timing_stability: float | None
    noise_control: float | None
    notes: int = 0
    noise_events: int = 0

    def to_json(self) -> dict:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 1)

        return {
            "pitch_accuracy": r(self.pitch_accuracy),
            "scale_conformity": r(self.scale_conformity),
            "timing_stability": r(self.timing_stability),
            "noise_control": r(self.noise_control),
        }

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    notes: tuple[Note, ...]
    noise_events: tuple[NoiseEvent, ...]
    metrics: Metrics
    duration_s: float
    sample_rate: int
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "notes": [n.to_json() for n in self.notes],
            "noise_events": [e.to_json() for e in self.noise_events],
            "metrics": self.metrics.to_json(),
            "duration_s": round(self.duration_s, 3),
            "sample_rate": self.sample_rate,
        }
