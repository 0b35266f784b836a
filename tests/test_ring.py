"""The SPSC ring buffer between the PortAudio callback and the analysis thread."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from fretcoach_desktop.audio.ring import RingBuffer


def ramp(start: int, n: int) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.float32)


def test_write_then_read_returns_the_samples_in_order():
    ring = RingBuffer(16)
    assert ring.write(ramp(0, 5)) == 5
    assert ring.available == 5 and ring.free == 11
    np.testing.assert_array_equal(ring.read(), ramp(0, 5))
    assert ring.available == 0
    assert ring.read().size == 0


def test_wraparound_keeps_order_across_the_end_of_the_buffer():
    ring = RingBuffer(10)
    got = []
    written = 0
    for size in (7, 6, 9, 3, 10, 1, 8):
        assert ring.write(ramp(written, size)) == size
        written += size
        got.append(ring.read().copy())
    np.testing.assert_array_equal(np.concatenate(got), ramp(0, written))
    assert ring.overflows == 0 and ring.dropped_samples == 0


def test_read_into_a_caller_buffer_reads_at_most_its_length():
    ring = RingBuffer(32)
    ring.write(ramp(0, 20))
    out = np.full(8, -1.0, dtype=np.float32)
    first = ring.read(out)
    assert first.base is out or first.base is out.base or np.shares_memory(first, out)
    np.testing.assert_array_equal(first, ramp(0, 8))
    np.testing.assert_array_equal(ring.read(out), ramp(8, 8))
    np.testing.assert_array_equal(ring.read(out), ramp(16, 4))
    assert ring.available == 0


def test_a_write_that_does_not_fit_is_cut_and_counted():
    ring = RingBuffer(10)
    assert ring.write(ramp(0, 8)) == 8
    assert ring.write(ramp(8, 5)) == 2  # only two fit
    assert ring.overflows == 1 and ring.dropped_samples == 3
    assert ring.write(ramp(13, 4)) == 0  # full: all dropped
    assert ring.overflows == 2 and ring.dropped_samples == 7
    np.testing.assert_array_equal(ring.read(), ramp(0, 10))
    assert ring.write(ramp(100, 3)) == 3  # room again
    np.testing.assert_array_equal(ring.read(), ramp(100, 3))


def test_channel_selection_copies_one_column():
    ring = RingBuffer(64)
    block = np.stack([ramp(0, 6), ramp(100, 6)], axis=1)  # (frames, channels) like PortAudio
    ring.write(block, 1)
    np.testing.assert_array_equal(ring.read(), ramp(100, 6))
    ring.write(block, 0)
    np.testing.assert_array_equal(ring.read(), ramp(0, 6))


def test_clear_discards_what_is_there():
    ring = RingBuffer(8)
    ring.write(ramp(0, 5))
    assert ring.clear() == 5
    assert ring.available == 0 and ring.total_written == 5


def test_bad_capacity_is_rejected():
    for bad in (0, -1, 2.5, True, "8"):
        with pytest.raises(ValueError):
            RingBuffer(bad)  # type: ignore[arg-type]


_ALLOCATION_PROBE = """
import json, sys, tracemalloc
import numpy as np
from fretcoach_desktop.audio.ring import RingBuffer

results = {}
for frames in (256, 1 << 16):
    ring = RingBuffer(1 << 18)
    block = np.random.default_rng(0).standard_normal((frames, 2)).astype(np.float32)
    out = np.zeros(1 << 18, dtype=np.float32)
    tracemalloc.start()
    for _ in range(10):  # warm up: first-call caches, position ints tracemalloc sees
        ring.write(block, 1)
        ring.read(out)
    before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    for _ in range(2000):
        ring.write(block, 1)  # wraps around many times
        ring.write(block, 0)
        ring.read(out)
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    results[frames] = (peak - before, after - before, ring.overflows)
json.dump(results, sys.stdout)
"""


def test_write_allocates_no_sample_memory():
    """The callback's write: no buffer grows, nothing accumulates, the temporaries are tiny.

    A Python call cannot be entirely allocation-free (an array view, the new position
    int), but none of its allocations may depend on the block size or pile up: a 64 k-sample
    stereo block (512 KB) must not cost more than a few hundred bytes at peak, and after
    thousands of writes at most the two position ints may differ. Measured in a fresh
    interpreter: tracemalloc counts every thread's allocations, and other tests leave
    threads behind.
    """
    proc = subprocess.run(
        [sys.executable, "-c", _ALLOCATION_PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    for frames, (peak, kept, overflows) in json.loads(proc.stdout).items():
        assert peak < 1024, f"{frames}-frame writes allocated up to {peak} bytes"
        assert kept <= 64, f"{kept} bytes stayed allocated after {frames}-frame writes"
        assert overflows == 0


def test_a_producer_and_a_consumer_thread_lose_nothing():
    """SPSC under the GIL: every sample arrives once, in order, with no lock."""
    ring = RingBuffer(1000)
    total = 100_000
    got = np.zeros(total, dtype=np.float32)
    received = 0
    done = threading.Event()

    def produce() -> None:
        sent = 0
        rng = np.random.default_rng(1)
        while sent < total:
            n = min(int(rng.integers(1, 300)), total - sent)
            if ring.free >= n:
                ring.write(ramp(sent, n))
                sent += n
            else:
                time.sleep(0)  # let the consumer run
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    out = np.zeros(257, dtype=np.float32)
    while received < total:
        chunk = ring.read(out)
        got[received : received + chunk.size] = chunk
        received += chunk.size
        if not chunk.size:
            if done.is_set() and ring.available == 0:
                break
            time.sleep(0)
    producer.join()
    assert received == total
    np.testing.assert_array_equal(got, ramp(0, total))
    assert ring.overflows == 0
