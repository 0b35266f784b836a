"""The analysis thread: drains the ring buffer, runs the streaming engine, publishes snapshots.

Thread shape (DESIGN.md, "Threads")::

    PortAudio callback / file writer --(RingBuffer)--> AnalysisThread --> snapshot (GUI, ~30 Hz)
                                                                    \\--> events  (coach, DB writer)

* The analysis thread wakes every ~10 ms, drains what the source wrote, feeds it to one
  :class:`~fretcoach_desktop.audio.analyzer.StreamingAnalyzer` and publishes a new
  immutable :class:`LiveSnapshot` by rebinding one attribute. Readers (the GUI timer) just
  read :attr:`AnalysisThread.snapshot`: no lock is ever held while the engine computes.
* Consumers that must never slow the analysis down get events through their own queue
  (:meth:`AnalysisThread.subscribe`): a :class:`WindowClosed` every 30 s of stream time
  with that window's metrics (the live coach, the DB writer), a :class:`Checkpoint` every
  ~5 s, and a final :class:`StreamEnded`. Optional hooks (``on_window``...) are called on the
  analysis thread and must return at once (put the work on your own queue).
* Stream time is the engine's clock: t = 0 is the first captured sample. The metronome
  grid starts at the first click (count-in included): when the click plays on a device
  while a device records, the gap between the two streams' starts is measured from their
  callback clocks (:mod:`.clock`; re-estimated until the count-in ends, at least 1 s and
  at most 5 s into the stream, then fixed) and reported as ``click_offset_ms``. That gap
  plus the per-device input latency (``latency_ms``, from calibration) is subtracted from
  every note and noise-event time the snapshot reports, and the grid offsets are
  recomputed from the shifted onsets; the engine itself is not touched. File sources and
  sessions without a click have no gap (0).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .analyzer import StreamingAnalyzer
from .metrics import compute_metrics
from .metronome import Grid
from .theory import freq_to_midi_cents, key_prefers_flats, normalize_key, normalize_scale, note_name
from .types import AnalysisResult, Metrics, NoiseEvent, Note

if TYPE_CHECKING:  # pragma: no cover
    from .player import AudioPlayer, ClickTrack
    from .ring import RingBuffer

__all__ = [
    "CLIP_DBFS",
    "SILENCE_DBFS",
    "WINDOW_S",
    "AnalysisThread",
    "AudioSource",
    "Checkpoint",
    "LiveEvent",
    "LiveSnapshot",
    "StreamEnded",
    "TunerReading",
    "WindowClosed",
    "to_dbfs",
]

log = logging.getLogger(__name__)

WINDOW_S = 30.0  # coach / DB window length, seconds of stream time
CHECKPOINT_S = 5.0  # checkpoint period, seconds of stream time
POLL_S = 0.010  # the analysis thread wakes this often
TUNER_INTERVAL_S = 1.0 / 30.0  # the tuner is measured at most this often (stream time)
CHUNK_S = 0.05  # audio handed to the engine per process() call, at most
MIN_BLOCK_S = 0.02  # ...and at least: the engine's per-call cost dominates below (CPU 11% at 10 ms, 5% at 20 ms)
MAX_BATCH_S = 0.5  # audio processed between two snapshots when catching up
WINDOW_SETTLE_S = 0.35  # a window closes this long after its end (notes are reported ~0.16 s late)
ALIGN_UNTIL_S = 1.0  # the click/capture gap is re-estimated until this stream time (or the count-in's end)...
ALIGN_LATEST_S = 5.0  # ...but never after this: from then on the grid never moves
ALIGN_MAX_S = 2.0  # a measured gap larger than this is a clock problem, not a gap: ignored
ALIGN_MIN_ESTIMATES = 10  # the gap is fixed once this many steady estimates were made (after ALIGN_UNTIL_S)
CLIP_DBFS = -0.5  # a peak at or above this is clipping
SILENCE_DBFS = -120.0  # level reported for digital silence

_EMPTY = Metrics(None, None, None, None)


def to_dbfs(value: float) -> float:
    """Amplitude (full scale 1.0) in dBFS, floored at :data:`SILENCE_DBFS`."""
    if not value > 0.0 or not math.isfinite(value):
        return SILENCE_DBFS
    return max(SILENCE_DBFS, 20.0 * math.log10(value))


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class TunerReading:
    """What the tuner shows: the nearest note, the deviation and the frequency."""

    note: str  # e.g. "A2"
    midi: int
    cents: float  # -50..+50 from the nearest note (at the configured A4)
    freq_hz: float
    aperiodicity: float = 0.0  # YIN's confidence measure: lower is cleaner


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    """One immutable picture of the live analysis. The GUI reads it; nobody mutates it.

    Times are stream seconds (t = 0 is the first captured sample), already shifted by the
    input latency compensation.
    """

    seq: int = 0  # increases with every published snapshot
    running: bool = False  # False once the stream has ended (stopped, file finished, device lost)
    time_s: float = 0.0  # stream time of the newest analyzed sample
    sample_rate: int = 0
    notes: tuple[Note, ...] = ()  # every note so far, oldest first (the GUI diffs by count)
    noise_events: tuple[NoiseEvent, ...] = ()
    session_metrics: Metrics = _EMPTY  # whole stream
    window_metrics: Metrics = _EMPTY  # the last ``window_s`` seconds
    window_s: float = WINDOW_S
    level_rms_dbfs: float = SILENCE_DBFS  # of the audio analyzed since the previous snapshot
    level_peak_dbfs: float = SILENCE_DBFS
    clipping: bool = False  # peak >= -0.5 dBFS in that audio
    clip_count: int = 0  # snapshots that saw clipping since the start
    tuner: TunerReading | None = None  # None when the input is not a clear pitch
    input_overflows: int = 0  # blocks PortAudio dropped
    ring_overflows: int = 0  # writes the ring buffer could not take (the analysis fell behind)
    dropped_samples: int = 0  # samples lost to ring overflows (replaced by silence where they were lost)
    error: str | None = None  # why the stream ended, when it was not asked to
    latency_ms: float = 0.0  # input latency subtracted from the reported times
    count_in_s: float = 0.0  # the count-in lasts until this stream time
    click_offset_ms: float | None = None  # measured gap from capture start to the first click

    @property
    def overflows(self) -> int:
        """Every overflow, input and ring: shown to the user (any non-zero value is a bug report)."""
        return self.input_overflows + self.ring_overflows

    @property
    def metrics(self) -> Metrics:
        return self.session_metrics

    @property
    def counting_in(self) -> bool:
        return self.time_s < self.count_in_s

    def result(self) -> AnalysisResult:
        """The snapshot as an analysis result (``fretcoach analyze --json`` format)."""
        return AnalysisResult(
            notes=self.notes,
            noise_events=self.noise_events,
            metrics=self.session_metrics,
            duration_s=self.time_s,
            sample_rate=self.sample_rate,
        )


@dataclass(frozen=True, slots=True)
class WindowClosed:
    """A 30 s window of stream time ended: its notes and metrics (for the coach and the DB)."""

    index: int  # window k covers [k * window_s, (k + 1) * window_s)
    start_s: float
    end_s: float
    metrics: Metrics
    notes: tuple[Note, ...]  # as known when the window closed (a note ringing on may still settle)
    noise_events: tuple[NoiseEvent, ...]
    complete: bool = True  # False for the last, shorter window of a stream


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Every ~5 s of stream time: the current snapshot (the DB writer saves progress)."""

    snapshot: LiveSnapshot


@dataclass(frozen=True, slots=True)
class StreamEnded:
    """The last event of a stream: the final snapshot and why it ended."""

    snapshot: LiveSnapshot
    reason: str  # "stopped" | "finished" | "error"


LiveEvent = WindowClosed | Checkpoint | StreamEnded


class AudioSource(Protocol):
    """What the analysis thread reads from: :class:`~.capture.Capture` or :class:`~.demo.FileSource`."""

    sample_rate: int
    blocksize: int

    @property
    def ring(self) -> RingBuffer | None: ...

    @property
    def finished(self) -> bool:
        """True once no more samples will be written (the end of a file)."""
        ...

    @property
    def input_overflows(self) -> int: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def poll_error(self) -> str | None: ...


# --------------------------------------------------------------------------- the thread


class AnalysisThread:
    """Runs the streaming analyzer on a live source and publishes :class:`LiveSnapshot`.

    Args:
        source: a :class:`~.capture.Capture` or :class:`~.demo.FileSource` (not started:
            :meth:`start` starts it, :meth:`stop` stops it).
        bpm, key, scale, subdivision, a4: the exercise (as for ``fretcoach analyze``).
        latency_ms: input latency of the device (calibration), subtracted from note times.
        count_in_beats: beats of count-in, reported as ``snapshot.count_in_s`` (notes in
            it are analyzed like any other).
        click, player: a metronome :class:`~.player.ClickTrack` started on ``player`` when
            the source starts, so the click's grid and the engine's grid both start at t=0.
        on_window, on_checkpoint, on_end: hooks called on the analysis thread with the
            event; they must return at once (exceptions are logged and ignored).
        window_s, checkpoint_s, poll_s: window length, checkpoint period (stream seconds)
            and wake-up period (wall seconds).
        tap: called on the analysis thread with every block the engine is fed, in stream
            order (silence for dropped samples included), e.g. to record exactly what was
            analyzed (``listen --record``). The array is only valid during the call.

    Raises:
        ValueError: bad bpm, subdivision, key, scale or A4 (checked before anything starts).
    """

    def __init__(
        self,
        source: AudioSource,
        *,
        bpm: float,
        key: str,
        scale: str,
        subdivision: int = 1,
        a4: float = 440.0,
        latency_ms: float = 0.0,
        count_in_beats: float = 0,
        click: ClickTrack | None = None,
        player: AudioPlayer | None = None,
        on_window: Callable[[WindowClosed], Any] | None = None,
        on_checkpoint: Callable[[Checkpoint], Any] | None = None,
        on_end: Callable[[StreamEnded], Any] | None = None,
        window_s: float = WINDOW_S,
        checkpoint_s: float = CHECKPOINT_S,
        poll_s: float = POLL_S,
        name: str = "fretcoach-analysis",
        tap: Callable[[np.ndarray], Any] | None = None,
    ) -> None:
        self.grid = Grid(bpm, subdivision)
        self.key = normalize_key(key)
        self.scale = normalize_scale(scale)
        if not (isinstance(a4, int | float) and 400.0 <= a4 <= 480.0):
            raise ValueError(f"A4 reference must be from 400 to 480 Hz, got {a4!r}")
        if not (isinstance(latency_ms, int | float) and math.isfinite(latency_ms) and abs(latency_ms) <= 1000):
            raise ValueError(f"latency_ms must be from -1000 to 1000, got {latency_ms!r}")
        if not (math.isfinite(count_in_beats) and count_in_beats >= 0):
            raise ValueError(f"count_in_beats must be >= 0, got {count_in_beats!r}")
        if not (window_s > 0 and checkpoint_s > 0 and poll_s > 0):
            raise ValueError("window_s, checkpoint_s and poll_s must be positive")
        self.a4 = float(a4)
        self.latency_ms = float(latency_ms)
        self.count_in_s = float(count_in_beats) * self.grid.beat_s
        self.window_s, self.checkpoint_s, self.poll_s = float(window_s), float(checkpoint_s), float(poll_s)
        self._flats = key_prefers_flats(self.key, self.scale)
        self._source = source
        self._click, self._player = click, player
        self._tap = tap
        self._hooks = {WindowClosed: on_window, Checkpoint: on_checkpoint, StreamEnded: on_end}
        self._subscribers: list[queue.SimpleQueue[LiveEvent]] = []
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._snapshot = LiveSnapshot(latency_ms=self.latency_ms, count_in_s=self.count_in_s)
        self._started = False
        self.analyzer: StreamingAnalyzer | None = None
        self.end_reason: str | None = None

    # ------------------------------------------------------------------ public API
    @property
    def snapshot(self) -> LiveSnapshot:
        """The newest snapshot: a plain attribute read, safe from any thread."""
        return self._snapshot

    @property
    def sample_rate(self) -> int:
        return int(self._source.sample_rate or 0)

    @property
    def buffer_ms(self) -> float:
        """Length of one capture block in milliseconds (status bar)."""
        rate = self.sample_rate
        return 1000.0 * self._source.blocksize / rate if rate else 0.0

    @property
    def source(self) -> AudioSource:
        return self._source

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._ended.is_set()

    def subscribe(self) -> queue.SimpleQueue[LiveEvent]:
        """A new queue that receives every event from now on (one queue per consumer).

        Subscribe before :meth:`start` not to miss any. ``put`` never blocks the analysis.
        """
        q: queue.SimpleQueue[LiveEvent] = queue.SimpleQueue()
        self._subscribers.append(q)
        return q

    def start(self) -> None:
        """Start the source (and the click), then the analysis thread.

        Raises whatever the source raises when it cannot start (e.g. CaptureError).
        """
        if self._started:
            raise RuntimeError("an AnalysisThread can only be started once; make a new one")
        self._started = True
        self._source.start()
        try:
            rate = int(self._source.sample_rate)
            self.analyzer = StreamingAnalyzer(
                rate, bpm=self.grid.bpm, key=self.key, scale=self.scale, subdivision=self.grid.subdivision, a4=self.a4
            )
            if self._click is not None and self._player is not None:
                self._player.start_click(self._click)
        except BaseException:
            self._source.stop()
            raise
        self._snapshot = replace(self._snapshot, running=True, sample_rate=rate)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop the source and the thread; the final snapshot has ``running=False``.

        Returns True when the thread has ended within *timeout* seconds.
        """
        self._stop.set()
        if self._click is not None and self._player is not None:
            self._player.stop_click()
        try:
            self._source.stop()
        except Exception as exc:  # noqa: BLE001 - stopping a lost device may fail: already stopped
            log.debug("stopping the source failed: %s", exc)
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the stream has ended (file finished, device lost, stopped)."""
        return self._ended.wait(timeout)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def set_click(self, volume: float, muted: bool) -> None:
        """Metronome volume (0..1) and mute, applied from the next audio block."""
        if self._click is not None:
            self._click.volume = volume
            self._click.muted = muted

    def result(self) -> AnalysisResult:
        """The analysis so far as an :class:`AnalysisResult` (the final one after the end)."""
        return self._snapshot.result()

    # ------------------------------------------------------------------ the loop
    def _run(self) -> None:
        state = _State(self)
        reason, error = "stopped", None
        try:
            while True:
                stopping = self._stop.is_set()
                finished = self._source.finished  # read before draining: the last samples are in
                more = state.drain(MAX_BATCH_S)
                error = self._source.poll_error()
                if error is not None:
                    state.drain_end()
                    reason = "error"
                    break
                if stopping:
                    state.drain_end()
                    break
                if finished and not more:
                    state.drain_end()
                    reason = "finished"
                    break
                state.publish()
                if not more:
                    self._stop.wait(self.poll_s)
        except Exception as exc:  # noqa: BLE001 - report it on the snapshot, never die silently
            log.exception("the analysis thread failed")
            reason, error = "error", f"the analysis failed: {type(exc).__name__}: {exc}"
        try:
            state.finish(error)
        except Exception:  # noqa: BLE001
            log.exception("finishing the analysis failed")
            self._snapshot = replace(self._snapshot, running=False, error=error or "the analysis failed")
        self.end_reason = reason
        if reason != "stopped":
            try:
                self._source.stop()
            except Exception as exc:  # noqa: BLE001
                log.debug("stopping the source failed: %s", exc)
            if self._click is not None and self._player is not None:
                self._player.stop_click()
        self._ended.set()
        self._emit(StreamEnded(self._snapshot, reason))

    def _emit(self, event: LiveEvent) -> None:
        for q in self._subscribers:
            q.put(event)
        hook = self._hooks.get(type(event))
        if hook is not None:
            try:
                hook(event)
            except Exception:  # noqa: BLE001 - a consumer's bug must not stop the analysis
                log.exception("live event hook failed")


class _State:
    """The analysis thread's private state (only that thread touches it)."""

    def __init__(self, owner: AnalysisThread) -> None:
        self.o = owner
        assert owner.analyzer is not None
        self.engine = owner.analyzer
        self.ring = owner.source.ring
        self.sr = self.engine.sample_rate
        self.chunk = np.zeros(max(64, int(CHUNK_S * self.sr)), dtype=np.float32)
        self.zeros = np.zeros_like(self.chunk)
        self.min_block = int(MIN_BLOCK_S * self.sr)
        self.latency_s = owner.latency_ms / 1000.0
        self.shift_s = self.latency_s
        self.settle_s = WINDOW_SETTLE_S + max(0.0, self.shift_s)
        self.align_s: float | None = None  # stream time of the first click, once measured
        self.gaps: list[float] = []
        self.align_until = min(ALIGN_LATEST_S, max(ALIGN_UNTIL_S, owner.count_in_s))
        clocked = owner._click is not None and owner._player is not None
        self.aligning = clocked and callable(getattr(owner.source, "clock_origin", None))
        # notes as reported (shifted), kept in step with engine.notes
        self.raw: list[Note] = []
        self.notes: list[Note] = []
        self.noise: list[NoiseEvent] = []
        self.notes_tuple: tuple[Note, ...] = ()
        self.noise_tuple: tuple[NoiseEvent, ...] = ()
        self.session = _EMPTY
        self.window = _EMPTY
        self.window_at = -math.inf  # stream time the sliding window metrics were computed at
        self.dirty = False
        self.seq = 0
        self.peak = 0.0
        self.sum_sq = 0.0
        self.count = 0
        self.level = (SILENCE_DBFS, SILENCE_DBFS)
        self.clip_count = 0
        self.tail_silence = 0  # zeros fed for samples dropped at the very end
        self.tuner: TunerReading | None = None
        self.tuner_at = -math.inf
        self.next_window = 0  # index of the next window to close
        self.next_checkpoint = owner.checkpoint_s
        self.published: tuple[float, int, int] | None = None

    # ------------------------------------------------------------------ input
    def drain(self, budget_s: float) -> bool:
        """Feed the engine what the ring holds (at most *budget_s* of audio); True if more is left.

        The ring gives the stream as the device delivered it: samples it had to drop come
        out as silence at their place (:meth:`~.ring.RingBuffer.read_stream`), so stream
        time keeps matching the device's clock (and the metronome grid) after an overflow.
        """
        ring = self.ring
        if ring is None:
            return False
        if math.isinf(budget_s):
            budget = math.inf
        elif ring.available + ring.silence_pending < self.min_block:
            return False  # wait for a bit more audio: at most MIN_BLOCK_S of extra delay
        else:
            budget = int(budget_s * self.sr)
        done = 0
        while done < budget:
            block = ring.read_stream(self.chunk)
            if block.size == 0:
                break
            self._feed(block)
            done += block.size
        if self.aligning:
            self._align()
        return ring.available + ring.silence_pending >= self.min_block

    def drain_end(self) -> None:
        """The source has stopped: everything left, then the samples dropped at the very end
        (known only by count) as silence, so the stream lasts as long as the device ran."""
        self.drain(math.inf)
        ring = self.ring
        if ring is None:
            return
        lost = ring.unplaced - self.tail_silence
        while lost > 0:
            n = min(lost, self.zeros.size)
            self._feed(self.zeros[:n])
            self.tail_silence += n
            lost -= n

    def _align(self) -> None:
        """Measure where the first click lies in stream time; re-shift what was reported."""
        o = self.o
        t = self.engine.time_s
        if t >= ALIGN_LATEST_S or (t >= self.align_until and len(self.gaps) >= ALIGN_MIN_ESTIMATES):
            self.aligning = False  # from now on the grid stays where it is
            if not self.gaps:
                log.warning("the click and capture streams never ran steadily: their start gap is not corrected")
        capture_t0 = o.source.clock_origin()  # type: ignore[attr-defined]
        click_t0 = o._player.click_origin(o._click) if o._player is not None and o._click is not None else None
        if capture_t0 is None or click_t0 is None:
            return
        gap = click_t0 - capture_t0
        if not abs(gap) <= ALIGN_MAX_S:
            log.warning("click and capture clocks disagree by %.2f s: the click/capture gap is not corrected", gap)
            self.aligning = False
            return
        # each estimate is already a median over ~0.5-1.5 s of callbacks; the median of the
        # estimates made while aligning smooths what a burst of late callbacks leaves
        self.gaps.append(gap)
        gap = float(np.median(self.gaps[-200:]))
        if self.align_s is not None and abs(gap - self.align_s) < 0.0002:
            return
        self.align_s = gap
        self.shift_s = self.latency_s + gap
        self.settle_s = WINDOW_SETTLE_S + max(0.0, self.shift_s)
        self.notes = [self._shift_note(n) for n in self.raw]
        self.noise = [self._shift_noise(e) for e in self.engine.noise_events[: len(self.noise)]]
        self.dirty = True

    def _feed(self, block: np.ndarray) -> None:
        engine = self.engine
        engine.process(block)
        if self.o._tap is not None:
            self.o._tap(block)
        self.count += block.size
        self.sum_sq += engine.level_rms**2 * block.size
        self.peak = max(self.peak, engine.level_peak)
        self._sync_notes(full=False)
        self._close_windows()

    # ------------------------------------------------------------------ notes
    def _shift_note(self, note: Note) -> Note:
        if not self.shift_s:
            return note
        onset = note.onset_s - self.shift_s
        grid_s, offset_ms = self.o.grid.nearest(onset)
        return replace(note, onset_s=onset, grid_s=grid_s, timing_offset_ms=offset_ms)

    def _shift_noise(self, event: NoiseEvent) -> NoiseEvent:
        if not self.shift_s:
            return event
        return NoiseEvent(event.start_s - self.shift_s, event.end_s - self.shift_s)

    def _sync_notes(self, full: bool) -> None:
        """Bring the shifted copies in step with the engine's lists.

        The engine appends notes and only ever replaces the newest ones (the sounding note's
        pitch settles when it ends), so only the tail is compared, unless *full*.
        """
        engine_notes = self.engine.notes
        raw, notes = self.raw, self.notes
        start = 0 if full else max(0, len(raw) - 8)
        changed = False
        for i in range(start, min(len(raw), len(engine_notes))):
            n = engine_notes[i]
            if n is not raw[i]:
                raw[i], notes[i] = n, self._shift_note(n)
                changed = True
        if len(engine_notes) < len(raw):  # never happens with this engine; stay consistent anyway
            del raw[len(engine_notes) :], notes[len(engine_notes) :]
            changed = True
        for n in engine_notes[len(raw) :]:
            raw.append(n)
            notes.append(self._shift_note(n))
            changed = True
        events = self.engine.noise_events
        if len(events) != len(self.noise):
            self.noise.extend(self._shift_noise(e) for e in events[len(self.noise) :])
            changed = True
        if changed:
            self.dirty = True

    # ------------------------------------------------------------------ events
    def _window_of(self, start_s: float, end_s: float | None) -> tuple[tuple[Note, ...], tuple[NoiseEvent, ...]]:
        def inside(t: float) -> bool:
            return t >= start_s and (end_s is None or t < end_s)

        # notes are (nearly) in onset order: scan back from the newest with a margin
        i = len(self.notes)
        while i > 0 and self.notes[i - 1].onset_s >= start_s - 1.0:
            i -= 1
        j = len(self.noise)
        while j > 0 and self.noise[j - 1].start_s >= start_s - 1.0:
            j -= 1
        notes = tuple(n for n in self.notes[i:] if inside(n.onset_s))
        noise = tuple(e for e in self.noise[j:] if inside(e.start_s))
        return notes, noise

    def _close_windows(self, final: bool = False) -> None:
        """Emit :class:`WindowClosed` for every window that has ended (all of them when *final*)."""
        o, t = self.o, self.engine.time_s
        heard = t - self.shift_s  # the end of the audio heard so far, in reported time
        while True:
            k = self.next_window
            start, end = k * o.window_s, (k + 1) * o.window_s
            if not final and t < end + self.settle_s:
                return  # notes near the end of the window may still be reported
            if final and start >= heard:
                return  # nothing of this window was heard
            self._sync_notes(full=final)
            notes, noise = self._window_of(start, end)
            complete = heard >= end
            self.next_window += 1
            if not complete and not notes and not noise:
                return  # the stream's last moments, empty: nothing to report
            o._emit(WindowClosed(k, start, end, compute_metrics(notes, noise), notes, noise, complete))

    # ------------------------------------------------------------------ snapshots
    def _tuner(self) -> TunerReading | None:
        reading = self.engine.tuner()
        if reading is None:
            return None
        freq, aper = reading
        if not (freq > 0 and math.isfinite(freq)):
            return None
        midi, cents = freq_to_midi_cents(freq, self.o.a4)
        return TunerReading(note_name(midi, self.o._flats), midi, cents, freq, aper)

    def publish(self, running: bool = True, error: str | None = None) -> LiveSnapshot:
        o, engine = self.o, self.engine
        t = engine.time_s
        source, ring = o.source, self.ring
        counters = (t, int(source.input_overflows), ring.overflows if ring is not None else 0)
        if running and not self.dirty and not self.count and counters == self.published:
            return o._snapshot  # nothing new since the last snapshot: keep it (idle CPU)
        self.published = counters
        if self.dirty:
            self.notes_tuple = tuple(self.notes)
            self.noise_tuple = tuple(self.noise)
            self.session = compute_metrics(self.notes_tuple, self.noise_tuple)
        if self.dirty or t - self.window_at >= 0.25:
            now = t - self.shift_s
            notes, noise = self._window_of(now - o.window_s, None)
            self.window = compute_metrics(notes, noise)
            self.window_at = t
        self.dirty = False
        if running and t - self.tuner_at >= TUNER_INTERVAL_S:
            self.tuner = self._tuner()
            self.tuner_at = t
        elif not running:
            self.tuner = None
        if self.count:  # fresh audio since the previous snapshot: a new level reading
            rms, peak = math.sqrt(self.sum_sq / self.count), self.peak
            self.level = (to_dbfs(rms), to_dbfs(peak))
            self.peak = self.sum_sq = 0.0
            self.count = 0
            if self.level[1] >= CLIP_DBFS:
                self.clip_count += 1
        rms_db, peak_db = self.level
        clipping = peak_db >= CLIP_DBFS
        self.seq += 1
        snap = LiveSnapshot(
            seq=self.seq,
            running=running,
            time_s=t,
            sample_rate=self.sr,
            notes=self.notes_tuple,
            noise_events=self.noise_tuple,
            session_metrics=self.session,
            window_metrics=self.window,
            window_s=o.window_s,
            level_rms_dbfs=rms_db,
            level_peak_dbfs=peak_db,
            clipping=clipping,
            clip_count=self.clip_count,
            tuner=self.tuner,
            input_overflows=int(source.input_overflows),
            ring_overflows=ring.overflows if ring is not None else 0,
            dropped_samples=ring.dropped_samples if ring is not None else 0,
            error=error,
            latency_ms=o.latency_ms,
            count_in_s=o.count_in_s,
            click_offset_ms=None if self.align_s is None else round(self.align_s * 1000.0, 2),
        )
        o._snapshot = snap  # the atomic swap readers see
        if running and t >= self.next_checkpoint:
            self.next_checkpoint = (math.floor(t / o.checkpoint_s) + 1) * o.checkpoint_s
            o._emit(Checkpoint(snap))
        return snap

    def finish(self, error: str | None) -> None:
        self.engine.finish()
        self._sync_notes(full=True)
        self._close_windows(final=True)
        self.publish(running=False, error=error)
