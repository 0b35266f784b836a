"""In-memory stand-ins for the services, for tests and for running the window on its own.

* :class:`ReplaySource` replays an audio file (the bundled demo take) or a synthetic guitar
  signal at real time through the real :class:`~fretcoach_desktop.audio.analyzer.StreamingAnalyzer`
  on its own thread and publishes immutable :class:`UiSnapshot` objects, exactly like the
  analysis thread will, so the window shows real data.
* :class:`ScriptedSource` publishes whatever a test hands it.
* :class:`InMemoryStore` and :class:`FakeCoach` (an offline, rule-based coach) complete the set.

Heavy imports (scipy through the analyzer, soundfile) happen on the replay thread, never on
the GUI thread.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np

from fretcoach_desktop.audio.theory import freq_to_midi_cents, note_name, scale_pitch_classes
from fretcoach_desktop.audio.types import Metrics, Note

from .services import (
    METRIC_LABELS,
    CoachTip,
    ExerciseSettings,
    InputDevice,
    ServiceError,
    SessionRecord,
    SessionSummary,
    SourceRequest,
)

__all__ = [
    "EMPTY_METRICS",
    "FakeAudioService",
    "FakeCoach",
    "FakePlan",
    "FakePlanExercise",
    "InMemoryStore",
    "ReplaySource",
    "ScriptedSource",
    "TunerReading",
    "UiSnapshot",
    "synthetic_take",
]

log = logging.getLogger(__name__)

EMPTY_METRICS = Metrics(None, None, None, None)
WINDOW_S = 30.0


@dataclass(frozen=True, slots=True)
class TunerReading:
    note: str
    cents: float
    freq_hz: float


@dataclass(frozen=True, slots=True)
class UiSnapshot:
    """Satisfies :class:`~fretcoach_desktop.ui.services.LiveSnapshotLike`."""

    notes: tuple[Note, ...] = ()
    session_metrics: Metrics = EMPTY_METRICS
    window_metrics: Metrics = EMPTY_METRICS
    level_rms_dbfs: float = -120.0
    level_peak_dbfs: float = -120.0
    clipping: bool = False
    tuner: TunerReading | None = None
    time_s: float = 0.0
    overflows: int = 0
    error: str | None = None
    running: bool = True


# --------------------------------------------------------------------------- sources


class ScriptedSource:
    """A source whose snapshots a test publishes by hand."""

    def __init__(self, sample_rate: int = 44100, buffer_ms: float = 5.8) -> None:
        self.sample_rate = sample_rate
        self.buffer_ms = buffer_ms
        self.snapshot: UiSnapshot | None = None
        self.started = 0
        self.stopped = 0
        self.click: tuple[float, bool] | None = None

    def publish(self, snapshot: UiSnapshot) -> None:
        self.snapshot = snapshot

    def start(self) -> None:
        self.started += 1
        if self.snapshot is None:
            self.snapshot = UiSnapshot()

    def stop(self) -> None:
        self.stopped += 1

    def set_click(self, volume: float, muted: bool) -> None:
        self.click = (volume, muted)


def _dbfs(x: float) -> float:
    return 20.0 * math.log10(x) if x > 1e-6 else -120.0


class ReplaySource:
    """Replays samples at real time through the streaming analyzer, on its own thread.

    ``load`` returns ``(samples, sample_rate)``; it runs on the replay thread (file I/O).
    """

    def __init__(
        self,
        load: Callable[[], tuple[np.ndarray, int]],
        request: SourceRequest,
        block_size: int = 256,
        speed: float = 1.0,
        sample_rate: int = 44100,
    ) -> None:
        self._load = load
        self.request = request
        self.block_size = block_size
        self.speed = speed
        self.sample_rate = sample_rate
        self.buffer_ms = 1000.0 * block_size / sample_rate
        self.snapshot: UiSnapshot | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def set_click(self, volume: float, muted: bool) -> None:  # no output device in the fake
        pass

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fretcoach-replay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=0.5)

    def _run(self) -> None:
        try:
            self._replay()
        except Exception as exc:  # shown in the window, never lost
            log.exception("replay failed")
            msg = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self.snapshot = replace(self.snapshot or UiSnapshot(), error=msg, running=False)

    def _replay(self) -> None:
        from fretcoach_desktop.audio.analyzer import StreamingAnalyzer

        samples, sr = self._load()
        ex = self.request.exercise
        self.sample_rate = sr
        self.buffer_ms = 1000.0 * self.block_size / sr
        engine = StreamingAnalyzer(
            sr, bpm=ex.bpm, key=ex.key, scale=ex.scale, subdivision=ex.subdivision, a4=self.request.a4_hz
        )
        block = self.block_size
        t0 = time.perf_counter()
        last_pub = -1.0
        for start in range(0, samples.size, block):
            if self._stop.is_set():
                break
            engine.process(samples[start : start + block])
            now_stream = engine.time_s
            if now_stream - last_pub >= 0.03:
                last_pub = now_stream
                self.snapshot = self._make(engine, running=True)
            ahead = now_stream / self.speed - (time.perf_counter() - t0)
            if ahead > 0:
                self._stop.wait(ahead)
        engine.finish()
        self.snapshot = self._make(engine, running=False)

    def _make(self, engine, running: bool) -> UiSnapshot:
        t = engine.time_s
        reading = None
        tuned = engine.tuner()
        if tuned is not None:
            midi, cents = freq_to_midi_cents(tuned[0], engine.a4)
            reading = TunerReading(note_name(midi), cents, tuned[0])
        return UiSnapshot(
            notes=tuple(engine.notes),
            session_metrics=engine.metrics(),
            window_metrics=engine.metrics(max(0.0, t - WINDOW_S), None),
            level_rms_dbfs=_dbfs(engine.level_rms),
            level_peak_dbfs=_dbfs(engine.level_peak),
            clipping=engine.level_peak >= 0.999,
            tuner=reading,
            time_s=t,
            running=running,
        )


def _plucked_tone(f0: float, tt: np.ndarray, *, gain: float, decay: float, partials: int) -> np.ndarray:
    """A guitar-like tone at times *tt*: harmonics k with amplitude gain/k, each decaying at
    ``decay + 2k`` per second, after a 2 ms attack."""
    harmonics = range(1, partials + 1)
    tone = sum((gain / k) * np.sin(2 * np.pi * f0 * k * tt) * np.exp(-tt * (decay + 2.0 * k)) for k in harmonics)
    return tone * np.minimum(1.0, tt / 0.002)


def synthetic_take(exercise: ExerciseSettings, seconds: float = 90.0, sample_rate: int = 44100, seed: int = 7):
    """A guitar-like take in the exercise's scale: plucked tones on the grid with human
    timing and pitch errors, a few wrong notes. numpy only (fast), returns (samples, sr)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    out = rng.normal(0.0, 0.0008, n).astype(np.float32)
    pcs = sorted(scale_pitch_classes(exercise.key, exercise.scale))
    pool = [m for m in range(45, 77) if m % 12 in pcs]
    period = 60.0 / exercise.bpm / exercise.subdivision
    step = max(period, 0.25)
    t = exercise.count_in_beats * 60.0 / exercise.bpm
    idx = len(pool) // 2
    dur = int(0.6 * sample_rate)
    tt = np.arange(dur) / sample_rate
    while t < seconds - 1.0:
        idx = int(np.clip(idx + rng.choice([-2, -1, 1, 1, 2]), 0, len(pool) - 1))
        midi = pool[idx] + (1 if rng.random() < 0.06 else 0)  # an occasional wrong note
        cents = rng.normal(0.0, 8.0) + (rng.choice([-25.0, 25.0]) if rng.random() < 0.08 else 0.0)
        onset = t + rng.normal(0.0, 0.012) + (0.045 if rng.random() < 0.08 else 0.0)
        f0 = 440.0 * 2.0 ** ((midi - 69 + cents / 100.0) / 12.0)
        tone = _plucked_tone(f0, tt, gain=0.6, decay=3.0, partials=5)
        start = int(onset * sample_rate)
        seg = (0.45 * tone).astype(np.float32)
        end = min(n, start + dur)
        out[start:end] += seg[: end - start]
        t += step * (2 if rng.random() < 0.25 else 1)
    return out, sample_rate


class FakeAudioService:
    """Demo and file inputs only (no capture devices)."""

    def __init__(
        self,
        demo_path: Path | None = None,
        speed: float = 1.0,
        calibration_latency_ms: float = 23.0,
        calibration_jump: tuple[int, float] | None = None,
    ) -> None:
        self.demo_path = demo_path if demo_path is not None and Path(demo_path).is_file() else None
        self.speed = speed
        self.calibration_latency_ms = calibration_latency_ms
        #: (scored click, latency ms): from that click on, the simulated device is this late
        self.calibration_jump = calibration_jump
        self.opened: list[SourceRequest] = []

    def list_inputs(self) -> Sequence[InputDevice]:
        if self.demo_path is not None:
            return [InputDevice(name=self.demo_path.name, kind="demo", path=self.demo_path)]
        return [InputDevice(name="synthetic guitar", kind="demo")]

    def open_source(self, request: SourceRequest) -> ReplaySource:
        self.opened.append(request)
        device = request.device
        if device.kind == "device":
            raise ServiceError(f"cannot open {device.name}: live capture is not available in this build")
        path = device.path
        if path is not None:

            def load() -> tuple[np.ndarray, int]:
                from fretcoach_desktop.audio.sources import read_audio

                return read_audio(path)
        else:

            def load() -> tuple[np.ndarray, int]:
                return synthetic_take(request.exercise)

        return ReplaySource(load, request, speed=self.speed)

    def open_calibration(self, request: Any) -> Any:
        """A simulated play-along: plucks *calibration_latency_ms* behind the clicks, with
        human jitter, through the real calibration pipeline (no click is played)."""
        from fretcoach_desktop.audio.calibration import COUNT_IN_BEATS, CalibrationRun
        from fretcoach_desktop.audio.demo import FileSource

        rate, period = 44100, 60.0 / request.bpm
        rng = np.random.default_rng(11)
        beats = COUNT_IN_BEATS + request.beats
        out = rng.normal(0.0, 0.0008, int((beats * period + 1.5) * rate)).astype(np.float32)
        tt = np.arange(int(0.3 * rate)) / rate
        tone = _plucked_tone(220.0, tt, gain=0.5, decay=6.0, partials=4).astype(np.float32)
        for k in range(beats):
            latency = self.calibration_latency_ms
            if self.calibration_jump is not None and k - COUNT_IN_BEATS >= self.calibration_jump[0]:
                latency = self.calibration_jump[1]
            start = int((k * period + latency / 1000.0 + rng.normal(0.0, 0.002)) * rate)
            out[start : start + tone.size] += tone[: max(0, out.size - start)]
        source = FileSource(out, rate, speed=self.speed if self.speed > 0 else None, lossless=self.speed <= 0)
        return CalibrationRun(source, player=None, bpm=request.bpm, beats=request.beats, method=request.method)


# --------------------------------------------------------------------------- store


class InMemoryStore:
    def __init__(self, sessions: Sequence[SessionRecord] = (), profiles: Sequence[str] = ("default",), delay_s=0.0):
        self._profiles = list(profiles)
        self._sessions: dict[str, list[SessionRecord]] = {}
        for s in sessions:
            self._sessions.setdefault(self._profiles[0], []).append(s)
        self._open: dict[int, tuple[str, ExerciseSettings, str, datetime]] = {}
        self._ids = count(1 + len(sessions))
        self.delay_s = delay_s
        self.finished: list[SessionSummary] = []
        self.latencies: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()

    def profiles(self) -> list[str]:
        time.sleep(self.delay_s)
        return list(self._profiles)

    def add_profile(self, name: str) -> None:
        if name not in self._profiles:
            self._profiles.append(name)

    def start_session(self, user: str, exercise: ExerciseSettings, device: str, latency_ms: float = 0.0) -> int:
        time.sleep(self.delay_s)
        with self.lock:
            sid = next(self._ids)
            self._open[sid] = (user, exercise, device, datetime.now())
            if user not in self._profiles:
                self._profiles.append(user)
        return sid

    def finish_session(self, session_id: Any, summary: SessionSummary) -> None:
        time.sleep(self.delay_s)
        with self.lock:
            user, ex, device, started = self._open.pop(session_id)
            m = summary.metrics
            self._sessions.setdefault(user, []).append(
                SessionRecord(
                    id=session_id,
                    started_at=started,
                    key=ex.key,
                    scale=ex.scale,
                    bpm=ex.bpm,
                    pitch_accuracy=m.pitch_accuracy,
                    scale_conformity=m.scale_conformity,
                    timing_stability=m.timing_stability,
                    noise_control=m.noise_control,
                    notes_played=summary.notes_played,
                    duration_s=summary.duration_s,
                    device=device,
                    worst_notes=tuple(f"{w.note} ({w.why})" for w in summary.worst_notes),
                )
            )
            self.finished.append(summary)

    def device_latency(self, user: str, device: str) -> float | None:
        time.sleep(self.delay_s)
        return self.latencies.get((user, device))

    def save_calibration(self, user: str, device: str, result: Any) -> None:
        time.sleep(self.delay_s)
        self.latencies[(user, device)] = float(result.latency_ms)

    def recent_sessions(self, user: str, limit: int = 200) -> list[SessionRecord]:
        time.sleep(self.delay_s)
        with self.lock:
            rows = sorted(self._sessions.get(user, []), key=lambda r: r.started_at, reverse=True)
        return rows[:limit]


def sample_sessions(count_: int = 8, now: datetime | None = None) -> list[SessionRecord]:
    """Plausible past sessions (for demos and tests)."""
    now = now or datetime.now()
    rng = np.random.default_rng(3)
    out = []
    for i in range(count_):
        out.append(
            SessionRecord(
                id=i + 1,
                started_at=now - timedelta(days=count_ - i),
                key="A",
                scale="minor_pentatonic",
                bpm=90 + 2 * i,
                pitch_accuracy=float(80 + i + rng.normal(0, 2)),
                scale_conformity=float(90 + rng.normal(0, 2)),
                timing_stability=float(62 + 2.5 * i + rng.normal(0, 3)),
                noise_control=float(85 + rng.normal(0, 3)),
                notes_played=int(150 + 10 * i),
                duration_s=300.0 + 20 * i,
                worst_notes=("C4 (22 cents sharp)", "F4 (out of scale)"),
            )
        )
    return out


# --------------------------------------------------------------------------- coach


@dataclass
class FakePlanExercise:
    name: str
    description: str
    key: str
    scale: str
    bpm: float
    subdivision: int
    minutes: float = 5.0


@dataclass
class FakePlan:
    focus_metric: str
    why: str
    exercises: list[FakePlanExercise] = field(default_factory=list)


_TIPS = {
    "pitch_accuracy": "Pitch is wandering: fret right behind the fret wire and ease off the grip.",
    "scale_conformity": "A few notes fell outside the scale: keep the marked dots in view.",
    "timing_stability": "Timing is drifting: lock your picking to the click before adding speed.",
    "noise_control": "Some string noise: mute the strings you are not playing with your fretting hand.",
}


class FakeCoach:
    """Offline, rule-based coach: a tip about the weakest metric every ``interval_s``."""

    online = False
    model = "rule-based"

    def __init__(self, store: InMemoryStore | None = None, interval_s: float = 30.0, plan_delay_s: float = 0.0):
        self.store = store
        self.interval_s = interval_s
        self.plan_delay_s = plan_delay_s
        self.ratings: list[tuple[CoachTip, bool]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ids = count(1)

    def start_live(self, session_id: Any, source, on_tip: Callable[[CoachTip], None]) -> None:
        self.stop_live()
        self._stop = stop = threading.Event()

        def loop() -> None:
            from fretcoach_desktop.audio.metrics import weakest_metric

            while not stop.wait(self.interval_s):
                snap = source.snapshot
                if snap is None or snap.window_metrics.notes == 0:
                    continue
                weakest = weakest_metric(snap.window_metrics)
                value = getattr(snap.window_metrics, weakest) if weakest else None
                if weakest is None or value is None:
                    continue
                text = _TIPS[weakest] if value < 90 else "Sounding clean: try five bpm faster."
                on_tip(CoachTip(text=text, id=next(self._ids), metric=weakest, created_s=snap.time_s))

        self._thread = threading.Thread(target=loop, name="fretcoach-fake-coach", daemon=True)
        self._thread.start()

    def stop_live(self) -> None:
        self._stop.set()

    def rate_tip(self, tip: CoachTip, positive: bool) -> None:
        self.ratings.append((tip, positive))

    def make_plan(self, user: str) -> FakePlan:
        time.sleep(self.plan_delay_s)
        sessions = self.store.recent_sessions(user, 5) if self.store is not None else []
        if not sessions:
            raise ServiceError("play at least one session first: the plan is built from your last sessions")
        means = {}
        for name in METRIC_LABELS:
            vals = [getattr(s, name) for s in sessions if getattr(s, name) is not None]
            if vals:
                means[name] = sum(vals) / len(vals)
        focus = min(means, key=means.get) if means else "timing_stability"
        last = sessions[0]
        slow = max(40.0, round(last.bpm * 0.8))
        return FakePlan(
            focus_metric=focus,
            why=f"Your {METRIC_LABELS[focus].lower()} averaged {means.get(focus, 0):.0f} over your last "
            f"{len(sessions)} sessions, the lowest of the four.",
            exercises=[
                FakePlanExercise(
                    "Slow and even",
                    "Eighth notes at a relaxed tempo; every note on the click.",
                    last.key,
                    last.scale,
                    slow,
                    2,
                ),
                FakePlanExercise(
                    "Quarter-note targets",
                    "Land on the root on every downbeat.",
                    last.key,
                    last.scale,
                    last.bpm,
                    1,
                ),
                FakePlanExercise(
                    "Relative major", "Same notes, new centre.", "C", "major_pentatonic", last.bpm, 2, 4.0
                ),
            ],
        )
