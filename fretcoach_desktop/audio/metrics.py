"""The four practice metrics, exactly as defined in DESIGN.md ("The analysis contract").

| metric           | definition (0-100, higher is better, over the notes of the window)      |
|------------------|--------------------------------------------------------------------------|
| pitch_accuracy   | mean per-note score: 1 when abs(cents) <= 10, linearly down to 0 at 50   |
| scale_conformity | share of notes whose pitch class is in the selected key and scale        |
| timing_stability | mean per-note score: 1 when abs(offset) <= 15 ms, linearly down to 0 at 100 |
| noise_control    | 100 * notes / (notes + noise_events)                                     |

A window with no notes reports ``None`` for all four metrics, never zeros.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from fretcoach_desktop.audio.types import Metrics, NoiseEvent, Note

__all__ = [
    "METRIC_NAMES",
    "PITCH_FULL_CENTS",
    "PITCH_ZERO_CENTS",
    "TIMING_FULL_MS",
    "TIMING_ZERO_MS",
    "compute_metrics",
    "pitch_score",
    "timing_label",
    "timing_score",
    "tuning_label",
    "weakest_metric",
]

#: The metric fields of :class:`~fretcoach_desktop.audio.types.Metrics`, in display order.
METRIC_NAMES: tuple[str, ...] = (
    "pitch_accuracy",
    "scale_conformity",
    "timing_stability",
    "noise_control",
)

PITCH_FULL_CENTS = 10.0  # at or below: full pitch score
PITCH_ZERO_CENTS = 50.0  # at or above: zero pitch score
TIMING_FULL_MS = 15.0  # at or below: full timing score
TIMING_ZERO_MS = 100.0  # at or above: zero timing score
EARLY, ON_TIME, LATE = "early", "on time", "late"
FLAT, IN_TUNE, SHARP = "flat", "in tune", "sharp"


def _ramp(deviation: float, full: float, zero: float) -> float:
    """1 when ``abs(deviation) <= full``, 0 when ``>= zero``, linear in between.

    A non-finite deviation (NaN, inf) scores 0: it cannot be credited.
    """
    magnitude = abs(float(deviation))
    if not math.isfinite(magnitude):
        return 0.0
    if magnitude <= full:
        return 1.0
    if magnitude >= zero:
        return 0.0
    return (zero - magnitude) / (zero - full)


def tuning_label(cents: float, decimals: int = 0) -> str:
    """``flat`` / ``in tune`` / ``sharp`` for a deviation in cents, judged on the value as
    shown with ``decimals`` (the pitch score is full up to PITCH_FULL_CENTS, so "+10c" is
    in tune, never sharp)."""
    shown = round(cents, decimals)
    if shown < -PITCH_FULL_CENTS:
        return FLAT
    return SHARP if shown > PITCH_FULL_CENTS else IN_TUNE


def timing_label(offset_ms: float, decimals: int = 0) -> str:
    """``early`` / ``on time`` / ``late`` for a signed offset from the grid (negative =
    early), judged on the value as shown with ``decimals`` ("15 ms" is on time, as the
    timing score says, never late)."""
    shown = round(offset_ms, decimals)
    if shown < -TIMING_FULL_MS:
        return EARLY
    return LATE if shown > TIMING_FULL_MS else ON_TIME


def pitch_score(cents: float) -> float:
    """Per-note pitch score in [0, 1]: 1 up to 10 cents off, falling linearly to 0 at 50."""
    return _ramp(cents, PITCH_FULL_CENTS, PITCH_ZERO_CENTS)


def timing_score(offset_ms: float) -> float:
    """Per-note timing score in [0, 1]: 1 up to 15 ms off, falling linearly to 0 at 100 ms."""
    return _ramp(offset_ms, TIMING_FULL_MS, TIMING_ZERO_MS)


def _in_window(t: float, start_s: float | None, end_s: float | None) -> bool:
    return (start_s is None or t >= start_s) and (end_s is None or t < end_s)


def compute_metrics(
    notes: Iterable[Note],
    noise_events: Iterable[NoiseEvent],
    start_s: float | None = None,
    end_s: float | None = None,
) -> Metrics:
    """Score the notes and noise events of the window ``[start_s, end_s)``.

    A note belongs to the window when its ``onset_s`` is in it, a noise event when its
    ``start_s`` is; ``None`` leaves that side of the window open. The returned
    :class:`Metrics` holds the four 0-100 metrics (``None`` when the window has no notes)
    and the counts of notes and noise events in the window.
    """
    window_notes = [n for n in notes if _in_window(n.onset_s, start_s, end_s)]
    noise_count = sum(1 for e in noise_events if _in_window(e.start_s, start_s, end_s))
    count = len(window_notes)
    if count == 0:
        return Metrics(None, None, None, None, notes=0, noise_events=noise_count)
    return Metrics(
        pitch_accuracy=100.0 * sum(pitch_score(n.cents) for n in window_notes) / count,
        scale_conformity=100.0 * sum(1 for n in window_notes if n.in_scale) / count,
        timing_stability=100.0 * sum(timing_score(n.timing_offset_ms) for n in window_notes) / count,
        noise_control=100.0 * count / (count + noise_count),
        notes=count,
        noise_events=noise_count,
    )


def weakest_metric(metrics: Metrics) -> str | None:
    """Name of the lowest of the four metrics, or ``None`` when none has a value.

    Ties go to the metric listed first in :data:`METRIC_NAMES`.
    """
    scored = [(getattr(metrics, name), name) for name in METRIC_NAMES]
    present = [(value, i, name) for i, (value, name) in enumerate(scored) if value is not None]
    if not present:
        return None
    return min(present)[2]
