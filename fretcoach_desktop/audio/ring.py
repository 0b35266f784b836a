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

Where samples were lost. A dropped block is not only counted, its place in the stream is
kept: the producer remembers the samples it had to drop (``_open_gap``) and, at its next
write that fits, records a gap *(position, length)* in a small preallocated table before it
advances ``_write_pos`` past that position. :meth:`RingBuffer.read_stream` then hands the
consumer the stream as the device delivered it: silence of the gap's length exactly where
the samples went missing, so that every later sample keeps its stream time (the metronome
grid, the note times). Before, the silence was appended after whatever had been read by
then, which moved every note between the drop and that read earlier by the length of the
gap. (Samples dropped at the very end, with no later write, are known only by count:
:attr:`RingBuffer.unplaced` after the producer has stopped.) The table has
:data:`GAP_SLOTS` entries; if the consumer lets more gaps than that pile up, the excess is
counted in ``_spilled`` and given out as silence at the consumer's position: the count
stays right, only those gaps' places are approximate.

The only objects ``write`` creates are a few small fixed-size temporaries (array views,
ints) that Python's small-object allocator serves from its free pools and that are freed
before ``write`` returns: nothing that grows with the block size, no system call.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GAP_SLOTS", "RingBuffer"]

GAP_SLOTS = 64  # gaps the producer can record before the consumer has read up to them


class RingBuffer:
    """Preallocated SPSC ring of float32 samples (one producer thread, one consumer thread).

    Args:
        capacity: number of samples the ring holds (e.g. a few seconds of audio).
    """

    __slots__ = (
        "_buf",
        "_scratch",
        "_capacity",
        "_write_pos",
        "_read_pos",
        "overflows",
        "dropped_samples",
        "_gap_pos",
        "_gap_len",
        "_gaps_written",
        "_gaps_read",
        "_gap_done",
        "_open_gap",
        "_spilled",
        "_spilled_done",
        "_silence_given",
        "_gap_out",
    )

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
        # where they were dropped: gap k is _gap_len[k % GAP_SLOTS] samples lost just before
        # stream sample _gap_pos[k % GAP_SLOTS] (a _write_pos); written by the producer,
        # published by _gaps_written (advanced after the entry is in place)
        self._gap_pos = np.zeros(GAP_SLOTS, dtype=np.int64)
        self._gap_len = np.zeros(GAP_SLOTS, dtype=np.int64)
        self._gaps_written = 0  # producer only
        self._open_gap = 0  # producer only: dropped at _write_pos, not recorded yet
        self._spilled = 0  # producer only: dropped when the gap table was full
        self._gaps_read = 0  # consumer only
        self._gap_done = 0  # consumer only: silence already given out for gap _gaps_read
        self._spilled_done = 0  # consumer only
        self._silence_given = 0  # consumer only: samples of silence read_stream gave out
        self._gap_out = 0  # consumer only: gap samples passed (given out as silence or skipped)

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
        dropped = 0
        if n > free:
            dropped = n - free
            self.overflows += 1
            self.dropped_samples += dropped
            n = free
        if n <= 0:
            self._open_gap += dropped
            return 0
        if self._open_gap:
            # the samples dropped earlier belong between what was written then and this block
            self._record_gap(w, self._open_gap)
            self._open_gap = 0
        self._open_gap = dropped  # dropped from the end of this block: before the next write
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

    def mark_lost(self, n: int) -> None:
        """Producer side: *n* samples were lost before they reached the ring (e.g. an input
        overflow the driver reported, with its size): they become silence at this point
        of the stream, like a dropped write. Counted in :attr:`dropped_samples`."""
        if n > 0:
            self.dropped_samples += int(n)
            self._open_gap += int(n)

    def _record_gap(self, pos: int, length: int) -> None:
        k = self._gaps_written
        if k - self._gaps_read >= GAP_SLOTS:
            self._spilled += length  # table full: the consumer gives it out where it is
            return
        i = k % GAP_SLOTS
        self._gap_pos[i] = pos
        self._gap_len[i] = length
        self._gaps_written = k + 1  # publish after the entry is in place

    # ------------------------------------------------------------------ consumer
    def read(self, out: np.ndarray | None = None) -> np.ndarray:
        """Drain the samples that are there; return them as a 1-D float32 array.

        With *out* (a 1-D float32 array), at most ``len(out)`` samples are read into it and
        the returned array is a view of its first part. Without it, everything available is
        read into an internal buffer and a view of that is returned: it stays valid only
        until the next ``read``, so use (or copy) it before reading again. Call it from one
        thread only. Samples that were dropped are skipped (see :meth:`read_stream`).
        """
        return self._read(out, fill=False)

    def read_stream(self, out: np.ndarray | None = None) -> np.ndarray:
        """Like :meth:`read`, but every gap of dropped samples comes out as that many zeros,
        at its place in the stream: sample *k* of everything read is stream sample *k*."""
        return self._read(out, fill=True)

    @property
    def silence_pending(self) -> int:
        """Consumer side: zeros :meth:`read_stream` will give out for gaps recorded so far."""
        pending = self._spilled - self._spilled_done - self._gap_done
        for k in range(self._gaps_read, self._gaps_written):
            pending += int(self._gap_len[k % GAP_SLOTS])
        return pending

    @property
    def silence_given(self) -> int:
        """Consumer side: zeros :meth:`read_stream` has given out so far."""
        return self._silence_given

    @property
    def unplaced(self) -> int:
        """Samples dropped that no read has accounted for yet (given out as silence or, by
        :meth:`read`, skipped). Once the producer has stopped and the ring is drained, these
        were dropped at the very end of the stream."""
        return self.dropped_samples - self._gap_out - self.silence_pending

    def _read(self, out: np.ndarray | None, fill: bool) -> np.ndarray:
        dest = self._scratch if out is None else out
        w = self._write_pos  # read before the gap count: every gap before w is published
        gaps = self._gaps_written
        r = self._read_pos
        room = dest.shape[0]
        filled = 0
        buf, cap = self._buf, self._capacity
        while filled < room:
            if self._spilled_done < self._spilled:  # lost when the gap table was full: here
                z = self._spilled - self._spilled_done
                if fill:
                    z = min(z, room - filled)
                filled = self._pass_gap(dest, filled, z, fill)
                self._spilled_done += z
                continue
            limit = w
            if self._gaps_read < gaps:
                i = self._gaps_read % GAP_SLOTS
                pos = int(self._gap_pos[i])
                if pos <= r:  # a gap right here
                    left = int(self._gap_len[i]) - self._gap_done
                    z = min(left, room - filled) if fill else left
                    filled = self._pass_gap(dest, filled, z, fill)
                    self._gap_done += z
                    if self._gap_done >= int(self._gap_len[i]):
                        self._gaps_read += 1
                        self._gap_done = 0
                    continue
                limit = min(limit, pos)
            n = min(limit - r, room - filled)
            if n <= 0:
                break
            start = r % cap
            first = cap - start
            if n <= first:
                dest[filled : filled + n] = buf[start : start + n]
            else:
                dest[filled : filled + first] = buf[start:]
                dest[filled + first : filled + n] = buf[: n - first]
            filled += n
            r += n
            self._read_pos = r  # free the space only after the samples are copied out
        return dest[:filled]

    def _pass_gap(self, dest: np.ndarray, filled: int, z: int, fill: bool) -> int:
        """Pass *z* dropped samples: as zeros at ``dest[filled:]`` when filling (read_stream),
        skipped otherwise (read). Returns the new fill."""
        if fill:
            dest[filled : filled + z] = 0.0
            self._silence_given += z
            filled += z
        self._gap_out += z
        return filled

    def clear(self) -> int:
        """Consumer side: discard everything available; return how many samples that was."""
        w = self._write_pos
        gaps = self._gaps_written
        n = w - self._read_pos
        self._read_pos = w
        while self._gaps_read < gaps and int(self._gap_pos[self._gaps_read % GAP_SLOTS]) <= w:
            self._gap_out += int(self._gap_len[self._gaps_read % GAP_SLOTS]) - self._gap_done
            self._gaps_read, self._gap_done = self._gaps_read + 1, 0  # the gaps before w go too
        spilled = self._spilled
        self._gap_out += spilled - self._spilled_done
        self._spilled_done = spilled
        return n

    def __repr__(self) -> str:
        return (
            f"RingBuffer(capacity={self._capacity}, available={self.available}, "
            f"overflows={self.overflows}, dropped_samples={self.dropped_samples})"
        )
