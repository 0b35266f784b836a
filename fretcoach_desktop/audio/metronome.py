"""The metronome grid notes are judged against, and the click sound it plays.

The grid starts at t = 0 s (the first click) and has ``subdivision`` points per beat:
grid point k sits at ``k * 60 / bpm / subdivision`` seconds. Grid index k is a beat
(quarter note) when ``k % subdivision == 0``. Times are stream seconds, as everywhere in
the analysis contract (DESIGN.md).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where it is used: the window imports this module at start
    import numpy as np

__all__ = [
    "BPM_MAX",
    "BPM_MIN",
    "SUBDIVISIONS",
    "Grid",
    "render_click",
]

BPM_MIN = 20.0
BPM_MAX = 400.0
#: 1 = quarter notes, 2 = eighths, 3 = eighth-note triplets, 4 = sixteenths.
SUBDIVISIONS: tuple[int, ...] = (1, 2, 3, 4)


@dataclass(frozen=True, slots=True)
class Grid:
    """A metronome grid: *bpm* beats per minute, *subdivision* grid points per beat.

    Raises:
        ValueError: if *bpm* is not within [20, 400] or *subdivision* is not 1, 2, 3 or 4.
    """

    bpm: float
    subdivision: int = 1

    def __post_init__(self) -> None:
        bpm = self.bpm
        if (
            isinstance(bpm, bool)
            or not isinstance(bpm, numbers.Real)
            or not math.isfinite(bpm)
            or not BPM_MIN <= bpm <= BPM_MAX
        ):
            raise ValueError(f"bpm must be a number from {BPM_MIN:g} to {BPM_MAX:g}, got {bpm!r}")
        sub = self.subdivision
        if isinstance(sub, bool) or not isinstance(sub, numbers.Integral) or sub not in SUBDIVISIONS:
            choices = ", ".join(str(s) for s in SUBDIVISIONS)
            raise ValueError(f"subdivision must be one of {choices} (grid points per beat), got {sub!r}")
        # Store plain Python numbers whatever came in (numpy scalars, ints).
        object.__setattr__(self, "bpm", float(bpm))
        object.__setattr__(self, "subdivision", int(sub))

    @property
    def beat_s(self) -> float:
        """Length of one beat in seconds (``60 / bpm``)."""
        return 60.0 / self.bpm

    @property
    def period_s(self) -> float:
        """Distance between neighbouring grid points in seconds (``60 / bpm / subdivision``)."""
        return 60.0 / self.bpm / self.subdivision

    def beat_index(self, t: float) -> int:
        """Index k of the grid point nearest to time *t* (``grid_s = k * period_s``).

        The grid starts at 0, so times before 0 map to index 0. A time exactly half-way
        between two grid points belongs to the later one.
        """
        return max(0, math.floor(t / self.period_s + 0.5))

    def nearest(self, t: float) -> tuple[float, float]:
        """The grid point nearest to *t* and the signed distance to it.

        Returns:
            ``(grid_s, timing_offset_ms)`` with ``timing_offset_ms = (t - grid_s) * 1000``,
            negative when *t* is early.
        """
        grid_s = self.beat_index(t) * self.period_s
        return grid_s, (t - grid_s) * 1000.0

    def is_beat(self, index: int) -> bool:
        """Whether grid index *index* falls on a beat (rather than between beats)."""
        return index % self.subdivision == 0

    def ticks(self, start_s: float, end_s: float) -> np.ndarray:
        """Times of the grid points in ``[start_s, end_s)`` as a float64 array."""
        import numpy as np

        first = max(0, math.ceil(start_s / self.period_s - 1e-9))
        last = math.ceil(end_s / self.period_s - 1e-9)  # exclusive
        if last <= first:
            return np.empty(0, dtype=np.float64)
        return np.arange(first, last, dtype=np.float64) * self.period_s


def render_click(sample_rate: int, accent: bool) -> np.ndarray:
    """Synthesize one metronome click: a short, exponentially decaying sine blip.

    The accented click (downbeat) is higher (1.6 kHz vs 1 kHz) and louder (amplitude 0.9
    vs 0.5). The click lasts 40 ms, starts with a 1 ms fade-in and ends at exactly zero, so it
    can be mixed into an output buffer at any position without pops.

    Returns:
        A 1-D float32 array of samples in [-1, 1].

    Raises:
        ValueError: if *sample_rate* is not an integer from 8000 to 192000.
    """
    import numpy as np

    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, numbers.Integral)
        or not 8000 <= sample_rate <= 192000
    ):
        raise ValueError(f"sample_rate must be an integer from 8000 to 192000, got {sample_rate!r}")
    freq, amplitude = (1600.0, 0.9) if accent else (1000.0, 0.5)
    duration_s, decay_s, attack_s = 0.040, 0.008, 0.001
    n = int(round(duration_s * sample_rate))
    t = np.arange(n, dtype=np.float64) / sample_rate
    envelope = np.exp(-t / decay_s)
    attack = max(1, int(round(attack_s * sample_rate)))
    envelope[:attack] *= np.linspace(0.0, 1.0, attack, endpoint=False)
    envelope[-attack:] *= np.linspace(1.0, 0.0, attack)
    click = amplitude * envelope * np.sin(2.0 * np.pi * freq * t)
    return click.astype(np.float32)
