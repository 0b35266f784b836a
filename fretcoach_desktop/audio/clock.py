"""Where a PortAudio stream's sample 0 lies on the monotonic clock.

The metronome click is played by the output stream (the player) and the guitar is recorded
by an input stream (the capture): two streams started at different moments, so "click 0"
and "captured sample 0" are not the same instant, and the gap changes from one session to
the next (whether the output was already open, which block the click started in...). A
per-device latency calibration only means something once that gap is known.

Each stream stamps its callbacks: ``now - frames_so_far / rate`` is the monotonic time its
sample 0 would have had if every block arrived with the same delay. Bursts at start-up
(PulseAudio pre-fills, the first blocks of a capture come in a batch) make single stamps
unreliable; the median of the recent ones is steady to a fraction of a millisecond once the
stream runs (measured through PulseAudio: the click lands at the same grid offset, within
0.1 ms, whatever the delay between starting the two streams). What stays constant (buffer
depths, converter delays) is what the latency calibration measures.

:meth:`StreamClock.tick` is called from the real-time callback: one clock read, one float
store into a preallocated array, no lock, no allocation.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

__all__ = ["StreamClock"]

STAMPS = 64  # callbacks the estimate is the median of (~0.37 s of 256-frame blocks at 44.1 kHz)
MIN_STAMPS = 16  # fewer callbacks than this: no estimate yet


class StreamClock:
    """Callback stamps of one stream and the estimate of its sample 0's monotonic time.

    Args:
        sample_rate: the stream's rate.
        clock: monotonic seconds (tests pass a fake).
    """

    def __init__(self, sample_rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not sample_rate > 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate!r}")
        self.rate = float(sample_rate)
        self._clock = clock
        self._stamps = np.zeros(STAMPS, dtype=np.float64)
        self._count = 0
        self.frames = 0  # frames through the stream so far

    def tick(self, frames: int) -> None:
        """A callback just handled *frames* frames (real-time safe)."""
        self.frames += frames
        self._stamps[self._count % STAMPS] = self._clock() - self.frames / self.rate
        self._count += 1

    @property
    def callbacks(self) -> int:
        return self._count

    def origin(self) -> float | None:
        """Monotonic time of sample 0 (median of the recent stamps), None before enough callbacks."""
        n = min(self._count, STAMPS)
        if n < MIN_STAMPS:
            return None
        return float(np.median(self._stamps[:n]))

    def time_of(self, frame: int) -> float | None:
        """Monotonic time of stream frame *frame*, None before enough callbacks."""
        origin = self.origin()
        return None if origin is None else origin + frame / self.rate
