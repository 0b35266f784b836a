"""Where a PortAudio stream's sample 0 lies on the monotonic clock.

The metronome click is played by the output stream (the player) and the guitar is recorded
by an input stream (the capture): two streams started at different moments, so "click 0"
and "captured sample 0" are not the same instant, and the gap changes from one session to
the next (whether the output was already open, which block the click started in...). A
per-device latency calibration only means something once that gap is known.

Each stream stamps its callbacks: ``now - frames_so_far / rate`` is the monotonic time its
sample 0 would have had if every block arrived with the same delay. Bursts at start-up
make single stamps unreliable (PulseAudio's ALSA plugin asks for ~2 s of output at once
when a stream opens, so those stamps are up to 2 s off); the estimate is the median of the
recent stamps, and only once they agree (the middle 80% within 10 ms): before that the
stream is not steady and :meth:`StreamClock.origin` says None. Through PulseAudio a loopback
calibration then repeats within a few milliseconds whatever the delay between starting
the two streams. What stays constant (buffer depths, converter delays) is what the latency
calibration measures.

:meth:`StreamClock.tick` is called from the real-time callback: one clock read, one float
store into a preallocated array, no lock, no allocation.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

__all__ = ["StreamClock"]

STAMPS = 256  # callbacks the estimate is the median of (1.5 s of 256-frame blocks at 44.1 kHz, 0.5 s of 95-frame ones)
RECENT = 128  # the estimate uses the newest this many stamps...
MIN_STAMPS = 32  # ...and needs at least this many
STEADY_S = 0.010  # ...whose 10th-90th percentile range is at most this (else: still starting)


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
        """Monotonic time of sample 0 (median of the recent stamps), None until the stream is steady."""
        count = self._count
        n = min(count, RECENT)
        if n < MIN_STAMPS:
            return None
        recent = self._stamps[(np.arange(count - n, count) % STAMPS)]
        low, mid, high = np.percentile(recent, (10, 50, 90))
        if high - low > STEADY_S:
            return None
        return float(mid)

    def time_of(self, frame: int) -> float | None:
        """Monotonic time of stream frame *frame*, None before enough callbacks."""
        origin = self.origin()
        return None if origin is None else origin + frame / self.rate
