"""What the window needs from the rest of the app, as small Protocols and plain values.

The window never imports the audio engine, the store or the coach directly: the
composition root (``fretcoach_desktop.app``) builds a :class:`Services` and passes it in.
Everything in this module is Qt-free; the fakes that implement these Protocols for tests and
for running the window on its own live in :mod:`fretcoach_desktop.ui.fakes`.

Threading rules the implementations must follow (DESIGN.md, "Threads"):

* ``SnapshotSource.snapshot`` is read ~30 times a second on the GUI thread: it must be a
  plain attribute read of an immutable object (no locks, no I/O, no computation).
* ``SnapshotSource.start``/``stop`` and ``CoachService.start_live``/``stop_live`` are called
  on the GUI thread and must return within a few milliseconds (``stop`` may join a thread
  for at most ~0.2 s).
* ``SessionStore`` methods and ``CoachService.make_plan`` may block (database, network): the
  window always calls them on its worker pool, never on the GUI thread.
* Callbacks given to a service (``on_tip``) may be called from any thread; the window
  re-posts them to the GUI thread itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from fretcoach_desktop.audio.types import Metrics, Note

if TYPE_CHECKING:  # pragma: no cover
    from fretcoach_desktop.config import Config

__all__ = [
    "METRIC_LABELS",
    "AudioService",
    "CalibrationRequest",
    "ChatService",
    "CoachService",
    "CoachTip",
    "ExerciseSettings",
    "InputDevice",
    "LiveSnapshotLike",
    "PlanExerciseLike",
    "PracticePlanLike",
    "SecretStore",
    "ServiceError",
    "SessionRecord",
    "SessionStore",
    "SessionSummary",
    "Services",
    "SnapshotSource",
    "SourceRequest",
    "TunerReadingLike",
    "WorstNote",
]

#: Metric field name -> short label shown in the UI, in display order.
METRIC_LABELS: dict[str, str] = {
    "pitch_accuracy": "Pitch",
    "scale_conformity": "Scale",
    "timing_stability": "Timing",
    "noise_control": "Noise",
}


class ServiceError(Exception):
    """A failure a user can cause or fix (no device, DB locked, no API key...).

    The message is one line, shown as is in the UI.
    """


# --------------------------------------------------------------------------- plain values


@dataclass(frozen=True, slots=True)
class ExerciseSettings:
    """What the exercise bar holds: the scale to play and the metronome grid."""

    key: str = "A"
    scale: str = "minor_pentatonic"
    bpm: float = 96.0
    subdivision: int = 2  # grid points per beat: 1 = quarters, 2 = eighths
    count_in_beats: int = 4  # clicks before the first scored beat (0 = none)


@dataclass(frozen=True, slots=True)
class InputDevice:
    """One entry of the input picker.

    ``kind`` is ``"device"`` (a capture device), ``"demo"`` (the bundled take replayed
    through the live pipeline) or ``"file"`` (any audio file replayed the same way).
    """

    name: str
    kind: str = "device"
    index: int | None = None  # PortAudio device index for kind == "device"
    channels: int = 1  # input channels the device offers
    default_samplerate: float | None = None
    path: Path | None = None  # for kind == "file" / "demo"

    @property
    def label(self) -> str:
        if self.kind == "demo":
            return f"Demo: {self.name}"
        if self.kind == "file":
            return f"File: {self.name}"
        return self.name


@dataclass(frozen=True, slots=True)
class SourceRequest:
    """Everything needed to open a live source (capture or file replay)."""

    device: InputDevice
    channel: int  # 0-based input channel to analyze (guitar on input 1 -> 0)
    exercise: ExerciseSettings
    a4_hz: float = 440.0
    click_volume: float = 0.6  # 0..1, metronome click through the output device
    click_muted: bool = False
    monitor_only: bool = False  # True: tuner/level only, no session is being recorded
    latency_ms: float = 0.0  # the device's calibrated input latency, subtracted from note times
    sample_rate: int | None = None  # capture rate; None: the device's default


@dataclass(frozen=True, slots=True)
class CalibrationRequest:
    """A latency calibration on one input: play along with the click (or loop it back)."""

    device: InputDevice
    channel: int  # 0-based, as in SourceRequest
    method: str = "play-along"  # or "loopback"
    bpm: float = 80.0
    beats: int = 16
    click_volume: float = 0.9
    sample_rate: int | None = None


@dataclass(frozen=True, slots=True)
class CoachTip:
    """One live coach message as the window shows it."""

    text: str
    id: str | int | None = None  # lets a thumbs up/down be attached to the message
    metric: str | None = None  # the metric the tip is about, if any
    created_s: float | None = None  # stream time when the tip was made


@dataclass(frozen=True, slots=True)
class WorstNote:
    """A note worth looking at again, with the reason in words."""

    note: str
    onset_s: float
    cents: float
    timing_offset_ms: float
    in_scale: bool
    why: str


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """What the window hands to the store (and shows) when a session stops."""

    exercise: ExerciseSettings
    device: str
    duration_s: float
    metrics: Metrics
    notes_played: int
    weakest: str | None  # metric field name, None when there were no notes
    worst_notes: tuple[WorstNote, ...] = ()
    overflows: int = 0
    notes: tuple[Note, ...] = ()  # every note (the store may keep them per session)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One row of the history: a finished session as the store returns it."""

    id: Any
    started_at: datetime
    key: str
    scale: str
    bpm: float
    pitch_accuracy: float | None
    scale_conformity: float | None
    timing_stability: float | None
    noise_control: float | None
    notes_played: int = 0
    duration_s: float = 0.0
    device: str = ""
    worst_notes: tuple[str, ...] = ()  # short descriptions ("C4 +31c sharp")


# --------------------------------------------------------------------------- duck types read by the window


class TunerReadingLike(Protocol):
    note: str  # e.g. "A2"
    cents: float
    freq_hz: float


class LiveSnapshotLike(Protocol):
    """The immutable snapshot the analysis thread publishes (``audio.live.LiveSnapshot``)."""

    notes: tuple[Note, ...]  # every note of the stream so far, oldest first
    session_metrics: Metrics  # over the whole stream
    window_metrics: Metrics  # over the last 30 s
    level_rms_dbfs: float
    level_peak_dbfs: float
    clipping: bool
    tuner: TunerReadingLike | None
    time_s: float  # stream time of the newest analyzed sample
    overflows: int  # input overflows (dropped blocks) since the start
    error: str | None  # e.g. "input device disconnected"; the window stops the session
    running: bool  # False once the stream has ended (file finished, device lost, stopped)


@runtime_checkable
class SnapshotSource(Protocol):
    """A running capture/replay + analysis thread (``audio.live.AnalysisThread``)."""

    sample_rate: int
    buffer_ms: float  # capture block length in milliseconds

    @property
    def snapshot(self) -> LiveSnapshotLike | None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def set_click(self, volume: float, muted: bool) -> None: ...


class PlanExerciseLike(Protocol):
    name: str
    description: str
    key: str
    scale: str
    bpm: float
    subdivision: int
    minutes: float


class PracticePlanLike(Protocol):
    """An AI Mode plan (``coach`` PracticePlan); only these attributes are read."""

    focus_metric: str  # one of METRIC_LABELS
    why: str
    exercises: Sequence[PlanExerciseLike]


# --------------------------------------------------------------------------- services


class AudioService(Protocol):
    def list_inputs(self) -> Sequence[InputDevice]:
        """Capture devices plus the Demo entry. Called on the GUI thread: must be fast."""
        ...

    def open_source(self, request: SourceRequest) -> SnapshotSource:
        """A not yet started source. Raises ServiceError (no device, bad file...)."""
        ...

    def open_calibration(self, request: CalibrationRequest) -> Any:
        """A not yet started latency calibration (``audio.calibration.CalibrationRun``:
        ``start``, ``poll`` ~30 times a second on the GUI thread, ``result``, ``cancel``).
        Raises ServiceError (a demo or file input has no latency, no device...)."""
        ...


class SessionStore(Protocol):
    """Session repository facade. Every method may block: called on the worker pool."""

    def profiles(self) -> list[str]: ...

    def start_session(self, user: str, exercise: ExerciseSettings, device: str, latency_ms: float = 0.0) -> Any:
        """Create the session row (with the input latency its note times have subtracted); return its id."""
        ...

    def finish_session(self, session_id: Any, summary: SessionSummary) -> None: ...

    def recent_sessions(self, user: str, limit: int = 200) -> list[SessionRecord]:
        """Finished sessions, newest first."""
        ...

    def device_latency(self, user: str, device: str) -> float | None:
        """The profile's calibrated input latency of *device* (ms), None if never calibrated."""
        ...

    def save_calibration(self, user: str, device: str, result: Any) -> None:
        """Store a calibration (``audio.calibration.CalibrationResult``) for the profile and device."""
        ...


class CoachService(Protocol):
    online: bool  # True: LLM coach; False: offline rule-based coach
    model: str  # model name shown in the status bar

    def start_live(self, session_id: Any, source: SnapshotSource, on_tip: Callable[[CoachTip], None]) -> None:
        """Start the 30 s coach loop for a session; ``on_tip`` may be called from any thread."""
        ...

    def stop_live(self) -> None: ...

    def rate_tip(self, tip: CoachTip, positive: bool) -> None:
        """Thumbs up/down (an Opik feedback score when tracing is on). Must not block."""
        ...

    def make_plan(self, user: str) -> PracticePlanLike:
        """AI Mode: blocking; called on the worker pool. Raises ServiceError."""
        ...


class ChatService(Protocol):
    """The chat coach (``coach.chat.ChatAgent`` per player). Every method but ``online`` may
    block (model calls, LangChain imports, the database): the window calls them on its worker
    pool, never on the GUI thread."""

    @property
    def online(self) -> bool:
        """True when questions go to a model (an OpenAI key is set); False: offline matcher."""
        ...

    def ask(self, user: str, question: str, thread_id: str | None, on_token: Callable[[str], None] | None) -> Any:
        """A ``ChatAnswer`` (answer markdown, thread_id, model, error, chart...). ``on_token``
        gets streamed text from the worker thread. Raises ValueError for a bad question."""
        ...

    def threads(self, user: str) -> list[Any]:
        """Past conversations, newest first: objects with ``thread_id``, ``last_at``,
        ``messages`` and ``title`` (the first question)."""
        ...

    def thread(self, user: str, thread_id: str) -> list[Any]:
        """The messages of one conversation, oldest first: objects with ``role`` and ``content``."""
        ...

    def graph(self, user: str) -> tuple[list[Any], list[Any]]:
        """``coach.agent_graph.graph_layout`` of the player's agent: (nodes, edges)."""
        ...

    def close(self) -> None: ...


class SecretStore(Protocol):
    """Where API keys live (the OS keyring); never a plain-text file."""

    available: bool

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str | None) -> None:
        """Store *value*, or delete the secret when it is None/empty."""
        ...


@dataclass
class Services:
    """Everything the main window is given. Built by ``fretcoach_desktop.app``."""

    config: Config
    audio: AudioService
    store: SessionStore
    coach: CoachService
    secrets: SecretStore
    #: exercise the bar starts with (e.g. the demo take's key, scale and tempo)
    initial_exercise: ExerciseSettings = field(default_factory=ExerciseSettings)
    #: the chat coach; None shows the chat panel's "not available" notice
    chat: ChatService | None = None
