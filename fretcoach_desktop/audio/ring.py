"""A single-producer / single-consumer ring buffer of float32 samples.

The producer is the PortAudio callback (or a file source's writer thread), the consumer
the analysis thread. ``write`` follows python-sounddevice's rules for callbacks: it
allocates no sample memory (everything goes into a buffer preallocated in ``__init__``),
takes no lock, logs nothing and does no I/O. When a block does not fit, the part that fits
is written, the rest is dropped and counted (:attr:`RingBuffer.overflows`,
:attr:`RingBuffer.dropped_samples`): a dropped block is a bug report, not a silent event.

Why this is safe without a lock (CPython, GIL):

* Positions are absolute sample counts (Python ints that only grow), not indices modulo
  the capacity, so "empty" (``write_pos == read_pos``) and "full"
  (``write_pos - read_pos == capacity``) are never ambiguous.
* Each position has a single writer: ``_write_pos`` is only assigned by the producer,
  ``_read_pos`` only by the consumer. Rebinding an attribute is one atomic store under
  the GIL, and a thread reads either the old or the new int, never a torn value.
* Publication order: the producer copies the samples into the buffer *first* and
  advances ``_write_pos`` *after* the copy has returned; the consumer reads
  ``_write_pos`` once, copies up to it, and only then advances ``_read_pos``. So the
  consumer never sees a position whose samples are not there yet, and the producer
  never overwrites samples the consumer has not finished copying. (The GIL hand-off
  between threads is a full memory barrier, so this also holds on weakly ordered CPUs,
  even though numpy may release the GIL during a large copy.)
* The counters (``overflows``, ``dropped_samples``) are written by the producer only;
  the consumer just reads them.

The only objects ``write`` creates are a few small fixed-size temporaries (array views,
ints) that Python's small-object allocator serves from its free pools and that are freed
before ``write`` returns: nothing that grows with the block size, no system call.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RingBuffer"]


class RingBuffer:
    """Preallocated SPSC ring of float32 samples (one producer thread, one consumer thread).

    Args:
        capacity: number of samples the ring holds (e.g. a few seconds of audio).
    """

    __slots__ = ("_buf", "_scratch", "_capacity", "_write_pos", "_read_pos", "overflows", "dropped_samples")

    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int | np.integer) or capacity < 1:
            raise ValueError(f"capacity must be a positive number of samples, got {capacity!r}")
        self._capacity = int(capacity)
        self._buf = np.zeros(self._capacity, dtype=np.float32)
        self._scratch = np.zeros(self._capacity, dtype=np.float32)  # read() without ``out``
        self._write_pos = 0  # samples ever written (producer only)
        self._read_pos = 0  # samples ever read (consumer only)
        #: writes that did not fit entirely (producer only)
        self.overflows = 0
        #: samples those writes had to drop (producer only)
        self.dropped_samples = 0

    # ------------------------------------------------------------------ both sides
    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def available(self) -> int:
        """Samples written and not read yet."""
        return self._write_pos - self._read_pos

    @property
    def free(self) -> int:
        """Samples that can be written without dropping."""
        return self._capacity - (self._write_pos - self._read_pos)

    @property
    def total_written(self) -> int:
        """Samples written since creation (dropped ones not included)."""
        return self._write_pos

    # ------------------------------------------------------------------ producer
    def write(self, block: np.ndarray, channel: int = 0) -> int:
        """Copy *block* into the ring; return the number of samples written.

        *block* is 1-D (mono samples) or 2-D ``(frames, channels)`` as PortAudio delivers
        it, in which case column *channel* (0-based) is copied: the guitar on input 1 or
        2 of a stereo interface. Samples that do not fit are dropped and counted.
        Real-time safe (see the module docstring); call it from one thread only.
        """
        src = block[:, channel] if block.ndim == 2 else block
        n = src.shape[0]
        w = self._write_pos
        free = self._capacity - (w - self._read_pos)
        if n > free:
            self.overflows += 1
            self.dropped_samples += n - free
            n = free
        if n <= 0:
            return 0
        start = w % self._capacity
        first = self._capacity - start
        buf = self._buf
        if n <= first:
            buf[start : start + n] = src[:n]
        else:
            buf[start:] = src[:first]
            buf[: n - first] = src[first:n]
        self._write_pos = w + n  # publish only after the samples are in place
        return n

    # ------------------------------------------------------------------ consumer
    def read(self, out: np.ndarray | None = None) -> np.ndarray:
        """Drain the samples that are there; return them as a 1-D float32 array.

        With *out* (a 1-D float32 array), at most ``len(out)`` samples are read into it and
        the returned array is a view of its first part. Without it, everything available is
        read into an internal buffer and a view of that is returned: it stays valid only
        until the next ``read``, so use (or copy) it before reading again. Call it from one
        thread only.
        """
        dest = self._scratch if out is None else out
        r = self._read_pos
        n = min(self._write_pos - r, dest.shape[0])
        if n <= 0:
            return dest[:0]
        start = r % self._capacity
        first = self._capacity - start
        buf = self._buf
        if n <= first:
            dest[:n] = buf[start : start + n]
        else:
            dest[:first] = buf[start:]
            dest[first:n] = buf[: n - first]
        self._read_pos = r + n  # free the space only after the samples are copied out
        return dest[:n]

    def clear(self) -> int:
        """Consumer side: discard everything available; return how many samples that was."""
        w = self._write_pos
        n = w - self._read_pos
        self._read_pos = w
        return n

    def __repr__(self) -> str:
        return (
            f"RingBuffer(capacity={self._capacity}, available={self.available}, "
            f"overflows={self.overflows}, dropped_samples={self.dropped_samples})"
        )
