"""The real services behind the window: audio, store and coach, Qt-free.

The window (``fretcoach_desktop.ui``) only knows the small protocols of
``ui/services.py``; this module implements them on top of the live pipeline
(:mod:`.audio.live`), the store (:mod:`.store`) and the coach (:mod:`.coach`). It never
imports Qt, so the same objects can be driven from tests or a headless script.

Threads: the window calls ``open_source``/``start_live``/``stop_live`` on the GUI thread
(they return at once), and the store and plan methods on its worker pool. A session's
database writes (start, checkpoints every 5 s, coach messages, finish) all go through one
:class:`~.store.writer.StoreWriter` thread; the live coach has its own worker. The
pump thread started by ``start_live`` reads the analysis thread's events and hands them
on, so neither the analysis nor the GUI ever waits on the database or a model.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fretcoach_desktop.config import Config

log = logging.getLogger(__name__)

CHECKPOINT_S = 5.0
#: capture block when only the level meter and the tuner run (23 ms at 44.1 kHz; a session
#: uses capture.DEFAULT_BLOCKSIZE, 5.8 ms, so that notes are reported as soon as possible)
MONITOR_BLOCKSIZE = 1024


def _ui():  # the protocol value types live beside the window, but are Qt-free
    from fretcoach_desktop.ui import services

    return services


def _worst_notes(records: Sequence[Any], key: str, scale: str) -> tuple[str, ...]:
    """A stored session's worst notes as the history shows them ("C4 (22 cents sharp)"),
    judged like the end-of-session summary's."""
    from fretcoach_desktop.audio.theory import key_prefers_flats, note_name
    from fretcoach_desktop.audio.types import Note
    from fretcoach_desktop.ui.verdicts import worst_notes

    flats = key_prefers_flats(key, scale)
    notes = [
        Note(
            onset_s=r.onset_s,
            emitted_s=r.onset_s,
            midi=r.midi,
            note=note_name(r.midi, prefer_flats=flats),
            cents=r.cents,
            in_scale=r.in_scale,
            grid_s=r.onset_s - r.timing_offset_ms / 1000.0,
            timing_offset_ms=r.timing_offset_ms,
        )
        for r in records
    ]
    return tuple(f"{w.note} ({w.why})" for w in worst_notes(notes))


# --------------------------------------------------------------------------- audio


class AudioService:
    """Input devices from PortAudio plus the bundled demo take; sources are AnalysisThreads."""

    def __init__(
        self, config: Config, demo_path: Path | None, *, latency_ms: float = 0.0, replay_speed: float = 1.0
    ) -> None:
        self.config = config
        self.demo_path = demo_path
        self.latency_ms = latency_ms
        self.replay_speed = replay_speed  # files and the demo replay at this many times real time

    def list_inputs(self) -> Sequence[Any]:
        ui = _ui()
        inputs: list[Any] = []
        try:
            from fretcoach_desktop.audio.capture import list_input_devices

            for dev in list_input_devices():
                inputs.append(
                    ui.InputDevice(
                        name=dev.name,
                        kind="device",
                        index=dev.index,
                        channels=max(1, dev.max_input_channels),
                        default_samplerate=dev.default_samplerate,
                    )
                )
        except Exception as exc:  # no PortAudio, no devices: the demo still works
            log.info("no audio inputs: %s", exc)
        if self.demo_path is not None:
            inputs.append(ui.InputDevice(name=self.demo_path.name, kind="demo", path=self.demo_path))
        return inputs

    def open_source(self, request: Any) -> Any:
        from fretcoach_desktop.audio.live import AnalysisThread

        ex = request.exercise
        with _as_service_errors():
            if request.device.kind in ("demo", "file"):
                from fretcoach_desktop.audio.demo import FileSource

                source: Any = FileSource(
                    request.device.path, speed=self.replay_speed, loop=request.device.kind == "demo"
                )
            else:
                # the monitor (level, tuner) needs no low latency: bigger blocks, less CPU
                source = _capture(request, MONITOR_BLOCKSIZE if request.monitor_only else None)
            click = player = None
            if not request.monitor_only:
                try:
                    from fretcoach_desktop.audio.player import AudioPlayer

                    player = AudioPlayer.instance()
                    click = player.make_click(ex.bpm, volume=request.click_volume, muted=request.click_muted)
                except Exception as exc:  # no output device: play on without a click
                    log.info("no metronome click: %s", exc)
                    click = player = None
            return AnalysisThread(
                source,
                bpm=ex.bpm,
                key=ex.key,
                scale=ex.scale,
                subdivision=ex.subdivision,
                a4=request.a4_hz,
                latency_ms=request.latency_ms or self.latency_ms,
                count_in_beats=ex.count_in_beats,
                click=click,
                player=player,
            )

    def open_calibration(self, request: Any) -> Any:
        if request.device.kind != "device":
            raise _ui().ServiceError(
                "calibration measures an audio interface's delay: choose your input device (the demo and "
                "files have none)"
            )
        from fretcoach_desktop.audio.calibration import CalibrationRun
        from fretcoach_desktop.audio.player import AudioPlayer

        with _as_service_errors():
            return CalibrationRun(
                _capture(request),
                player=AudioPlayer.instance(),
                bpm=request.bpm,
                beats=request.beats,
                method=request.method,
                click_volume=request.click_volume,
            )


def _capture(request: Any, blocksize: int | None = None) -> Any:
    """The Capture of a request's device and channel (the window counts channels from 0,
    interfaces from 1); *blocksize* None: the capture's low-latency default."""
    from fretcoach_desktop.audio.capture import DEFAULT_BLOCKSIZE, Capture

    return Capture(
        request.device.index if request.device.index is not None else request.device.name,
        channel=request.channel + 1,
        sample_rate=request.sample_rate,
        blocksize=blocksize or DEFAULT_BLOCKSIZE,
    )


@contextmanager
def _as_service_errors() -> Iterator[None]:
    """Problems a user can cause (bad settings, no device, bad file) as one-line ServiceErrors."""
    try:
        yield
    except (ValueError, OSError) as exc:
        raise _ui().ServiceError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    except Exception as exc:
        if type(exc).__name__ in ("CaptureError", "AudioFileError"):
            raise _ui().ServiceError(str(exc)) from None
        raise


# --------------------------------------------------------------------------- store


@dataclass
class _Live:
    session_id: int
    user_id: int


class StoreService:
    """The window's session store on the real database, writes through one writer thread.

    ``store`` may be a callable that opens the :class:`~.store.Store`: it is then opened on
    first use, which the window only makes from its worker pool, so the window shows before
    SQLAlchemy and Alembic are even imported.
    """

    def __init__(self, store: Any, writer: Any = None) -> None:
        self._opener = store if callable(store) else None
        self._store = None if callable(store) else store
        self._lock = threading.Lock()
        self._writer = writer
        self._users: dict[str, int] = {}

    @property
    def writer(self) -> Any:
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    from fretcoach_desktop.store.writer import StoreWriter

                    self._writer = StoreWriter()
        return self._writer

    @property
    def store(self) -> Any:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = self._opener()
        return self._store

    def user_id(self, name: str) -> int:
        if name not in self._users:
            self._users[name] = self.store.ensure_user(name).id
        return self._users[name]

    def profiles(self) -> list[str]:
        return [u.name for u in self.store.users()]

    def add_profile(self, name: str) -> None:
        self.user_id(name)

    def start_session(self, user: str, exercise: Any, device: str, latency_ms: float = 0.0) -> int:
        uid = self.user_id(user)
        source = "demo" if device.startswith("Demo:") else "file" if device.startswith("File:") else "live"
        future = self.writer.submit(
            self.store.start_session,
            uid,
            key=exercise.key,
            scale=exercise.scale,
            bpm=exercise.bpm,
            subdivision=exercise.subdivision,
            source=source,
            audio_device=device,
            latency_ms=latency_ms,
        )
        return future.result(timeout=30)

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Queue a write on the writer thread; None (logged) once the app is shutting down."""
        try:
            return self.writer.submit(fn, *args, **kwargs)
        except RuntimeError as exc:  # the writer is closed: the app is quitting
            log.warning("not saved (%s): %s", getattr(fn, "__name__", fn), exc)
            return None

    def checkpoint(self, session_id: int, snapshot: Any) -> None:
        """Queue a checkpoint of a live session (windows and notes so far); never blocks."""
        from fretcoach_desktop.store.records import windows_for

        notes, noise, duration = snapshot.notes, snapshot.noise_events, snapshot.time_s
        self.submit(
            self.store.checkpoint,
            session_id,
            windows=windows_for(notes, noise, duration),
            notes=notes,
            duration_s=duration,
            metrics=snapshot.session_metrics,
        )

    def finish_session(self, session_id: Any, summary: Any) -> None:
        from fretcoach_desktop.store.records import windows_for

        future = self.writer.submit(
            self.store.finish_session,
            session_id,
            notes=summary.notes,
            windows=windows_for(summary.notes, (), summary.duration_s),
            duration_s=summary.duration_s,
            metrics=summary.metrics,
        )
        future.result(timeout=30)

    def device_latency(self, user: str, device: str) -> float | None:
        row = self.store.calibration(self.user_id(user), device)
        return None if row is None else row.latency_ms

    def save_calibration(self, user: str, device: str, result: Any) -> None:
        self.store.save_calibration(
            self.user_id(user),
            device,
            result.latency_ms,
            spread_ms=result.spread_ms,
            hits=result.hits,
            clicks=result.clicks,
            bpm=result.bpm,
            method=result.method,
        )

    def recent_sessions(self, user: str, limit: int = 200) -> list[Any]:
        ui = _ui()
        uid = self.user_id(user)
        sessions = self.store.history(uid, limit=limit)
        problems = self.store.problem_notes(uid, [s.session_id for s in sessions])
        out = []
        for s in sessions:
            out.append(
                ui.SessionRecord(
                    id=s.session_id,
                    started_at=s.started_at,
                    key=s.key,
                    scale=s.scale,
                    bpm=s.bpm,
                    pitch_accuracy=s.pitch_accuracy,
                    scale_conformity=s.scale_conformity,
                    timing_stability=s.timing_stability,
                    noise_control=s.noise_control,
                    notes_played=s.notes_played,
                    duration_s=s.duration_s,
                    device=s.audio_device or "",
                    worst_notes=_worst_notes(problems.get(s.session_id, ()), s.key, s.scale),
                )
            )
        return out

    def recover_unfinished(self, user: str) -> list[Any]:
        return self.store.recover_unfinished(self.user_id(user))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._store is not None:
            self._store.close()


# --------------------------------------------------------------------------- coach


def coach_message_fields(msg: Any) -> dict[str, Any]:
    """The columns of a coach message (``coach.types.CoachMessage``) for ``Store.add_coach_message``."""
    return {
        "t_s": msg.t_s,
        "text": msg.text,
        "audio_path": msg.audio_path,
        "llm_ms": msg.llm_ms,
        "tts_ms": msg.tts_ms,
        "model": msg.model,
        "fell_back": msg.fell_back,
        "mode": msg.mode,
        "prompt_version": msg.prompt_version,
        "kind": msg.kind,
    }


def make_and_save_plan(
    store: Any, user_id: int, config: Config, tracer: Any, *, save: Callable[..., Any] | None = None
) -> tuple[Any, int]:
    """AI Mode: the player's last 5 sessions -> a practice plan, stored; (PlanResult, practice id).

    ``save`` runs ``store.save_plan`` (default: directly; the window passes its writer thread).
    """
    from fretcoach_desktop.coach.plans import make_practice_plan

    sessions = store.recent_sessions(user_id, limit=5)
    run = save or (lambda fn, *a, **kw: fn(*a, **kw))

    def store_plan(result: Any) -> int:
        return run(
            store.save_plan,
            user_id,
            result.plan.model_dump(),
            weakest_metric=result.plan.focus_metric,
            source_session_ids=[int(i) for i in result.source_session_ids if str(i).isdigit()],
            prompt_version=result.prompt_version,
        )

    # stored inside the AI Mode trace, so the trace carries the practice id the player sees
    result = make_practice_plan(sessions, config, user_id, "pending", tracer=tracer, save=store_plan)
    return result, int(result.practice_id)


@dataclass(frozen=True)
class PlanExercise:
    name: str
    description: str
    key: str
    scale: str
    bpm: float
    subdivision: int
    minutes: int


@dataclass(frozen=True)
class PlanView:
    focus_metric: str
    why: str
    exercises: tuple[PlanExercise, ...]
    model: str = ""
    practice_id: int | None = None


class CoachService:
    """The live coach (a tip every 30 s of playing) and AI Mode plans, for the window."""

    def __init__(self, config: Config, store: StoreService, *, tracer: Any = None, user: Callable[[], str]) -> None:
        self.config = config
        self.store = store
        self.tracer = tracer
        self._user = user
        self._coach: Any = None
        self._pump: threading.Thread | None = None
        self._stop = threading.Event()
        self._rated: dict[str, tuple[Any, Any]] = {}
        self._source: Any = None
        self._session_id: Any = None  # tip id -> (trace id, stored message future)

    @property
    def online(self) -> bool:
        return self.config.online_coach

    @property
    def model(self) -> str:
        return self.config.model if self.online else "rule-based"

    def start_live(self, session_id: Any, source: Any, on_tip: Callable[[Any], None]) -> None:
        ui = _ui()
        from fretcoach_desktop.coach.live import LiveCoach

        try:
            from fretcoach_desktop.audio.player import AudioPlayer

            player: Any = AudioPlayer.instance()
        except Exception:
            player = None
        clips = Path(self.config.data_dir) / "clips" / str(session_id)

        def on_text(msg: Any) -> None:
            try:
                on_tip(ui.CoachTip(text=msg.text, id=msg.id, metric=msg.weakest_metric, created_s=msg.t_s))
            except RuntimeError as exc:  # the window closed while the coach was still talking
                if "deleted" not in str(exc):
                    raise
                log.debug("coach tip after the window closed: %s", exc)

        def on_message(msg: Any) -> None:
            stored = self.store.submit(self.store.store.add_coach_message, session_id, **coach_message_fields(msg))
            self._rated[msg.id] = (msg.text_trace_id, stored)

        self._coach = LiveCoach(
            self.config, tracer=self.tracer, player=player, audio_dir=clips, on_text=on_text, on_message=on_message
        ).start()
        self._source, self._session_id = source, session_id
        events = source.subscribe() if hasattr(source, "subscribe") else None
        self._stop.clear()
        if events is not None:
            self._pump = threading.Thread(
                target=self._run_pump, args=(events, session_id, source), name="fretcoach-session-pump", daemon=True
            )
            self._pump.start()

    def _run_pump(self, events: Any, session_id: Any, source: Any) -> None:
        """Window events -> coach; checkpoints -> store. Never touches the GUI."""
        import queue

        from fretcoach_desktop.audio.live import Checkpoint, WindowClosed
        from fretcoach_desktop.coach.types import CoachWindow

        previous: dict[str, float | None] | None = None
        while not self._stop.is_set():
            try:
                event = events.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                if isinstance(event, WindowClosed) and event.complete and self._coach is not None:
                    window = CoachWindow.from_notes(
                        str(session_id),
                        event.notes,
                        event.noise_events,
                        event.start_s,
                        event.end_s,
                        previous=previous,
                        key=getattr(source, "key", None),
                        scale=getattr(source, "scale", None),
                    )
                    previous = window.facts()["metrics"]
                    self._coach.submit(window)
                elif isinstance(event, Checkpoint) and isinstance(session_id, int):
                    self.store.checkpoint(session_id, event.snapshot)
            except Exception:  # a bad window must not end the session
                log.exception("session pump")

    def stop_live(self) -> None:
        """Stop the session's coach at once; it still speaks a short summary of the session."""
        self._stop.set()
        coach, self._coach = self._coach, None
        if coach is None:
            return
        snap = getattr(self._source, "snapshot", None)
        if snap is None or not snap.notes:
            coach.stop()
            return
        from fretcoach_desktop.coach.live import summary_request

        coach.summarize(summary_request(str(self._session_id), snap.time_s, snap.session_metrics.to_json()))

        def finish() -> None:  # never joined: quitting the app does not wait for the summary
            coach.wait_idle(timeout=60)
            coach.stop()

        self._summary = threading.Thread(target=finish, name="fretcoach-coach-summary", daemon=True)
        self._summary.start()

    def warm_up(self) -> None:
        """Import what pressing Start and the first tip need (worker pool, after the window
        shows), so that neither happens while a session plays: LangChain + OpenAI cost
        ~1-2 s of CPU, and an import beside the GUI thread holds the GIL and sets off long
        garbage collections. Failures are left for the session to report."""
        import importlib

        for name in (
            "fretcoach_desktop.audio.live",
            "fretcoach_desktop.audio.demo",
            "fretcoach_desktop.audio.player",
            "fretcoach_desktop.audio.calibration",
            "fretcoach_desktop.coach.live",
        ):
            try:
                importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001
                log.debug("warm-up: %s: %s", name, exc)
        if self.online:
            try:
                from fretcoach_desktop.coach.llm import make_chat_model

                make_chat_model(self.config, purpose="live_coach")  # imports LangChain/OpenAI, builds a client
                importlib.import_module("langchain_core.messages")
            except Exception as exc:  # noqa: BLE001
                log.debug("warm-up: the chat model: %s", exc)
        if self.tracer is not None and hasattr(self.tracer, "warm_up"):
            self.tracer.warm_up()  # Opik, when tracing is on (its own thread)

    def drain(self, timeout: float = 1.0) -> None:
        """On quit: give the session summary up to ``timeout`` s to reach the store."""
        summary = getattr(self, "_summary", None)
        if summary is not None:
            summary.join(timeout)

    def rate_tip(self, tip: Any, positive: bool) -> None:
        """Thumbs up/down: stored with the message, and an Opik feedback score on its trace."""
        trace_id, stored = self._rated.get(getattr(tip, "id", None), (None, None))
        if stored is not None:
            user_id = self.store.user_id(self._user())
            stored.add_done_callback(
                lambda f: (
                    f.exception() is None
                    and self.store.submit(
                        self.store.store.set_coach_feedback, user_id, f.result(), 1 if positive else -1
                    )
                )
            )
        if self.tracer is not None and trace_id:
            try:
                self.tracer.feedback(trace_id, "thumbs_up", 1.0 if positive else 0.0)
            except Exception as exc:  # tracing must never get in the way
                log.info("feedback not sent: %s", exc)

    def make_plan(self, user: str) -> PlanView:
        result, practice_id = make_and_save_plan(
            self.store.store,
            self.store.user_id(user),
            self.config,
            self.tracer,
            save=lambda fn, *a, **kw: self.store.writer.submit(fn, *a, **kw).result(timeout=30),
        )
        plan = result.plan
        return PlanView(
            focus_metric=plan.focus_metric,
            why=plan.why,
            exercises=tuple(
                PlanExercise(
                    name=e.title,
                    description=e.goal,
                    key=e.key,
                    scale=e.scale,
                    bpm=float(e.bpm),
                    subdivision=int(e.subdivision),
                    minutes=int(e.minutes),
                )
                for e in plan.exercises
            ),
            model=result.model,
            practice_id=practice_id,
        )


# --------------------------------------------------------------------------- chat


@dataclass(frozen=True)
class ChatThreadView:
    """One past conversation as the chat panel lists it."""

    thread_id: str
    started_at: datetime
    last_at: datetime
    messages: int
    title: str  # the first question, shortened


class ChatService:
    """The chat coach for the window: one :class:`~.coach.chat.ChatAgent` per player.

    Agents are created lazily on the first call that needs one (importing LangChain takes
    seconds), so every method but ``online`` must run on the worker pool. ``config`` may be a
    callable returning the current config (the window's settings can change the key); an
    agent keeps the config it was created with.
    """

    def __init__(self, config: Config | Callable[[], Config], store: StoreService, tracer: Any = None) -> None:
        self._config = config
        self.store = store
        self.tracer = tracer
        self._agents: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def config(self) -> Config:
        return self._config() if callable(self._config) else self._config

    @property
    def online(self) -> bool:
        return bool(self.config.online_coach)

    def agent(self, user: str) -> Any:
        """The player's agent, created on first use (blocking: LangChain imports)."""
        with self._lock:
            agent = self._agents.get(user)
            if agent is None:
                from fretcoach_desktop.coach.chat import ChatAgent

                agent = ChatAgent(self.config, self.store.store, self.store.user_id(user), tracer=self.tracer)
                self._agents[user] = agent
            return agent

    def ask(
        self, user: str, question: str, thread_id: str | None = None, on_token: Callable[[str], None] | None = None
    ) -> Any:
        return self.agent(user).ask(question, thread_id, on_token=on_token)

    def threads(self, user: str, limit: int = 30) -> list[ChatThreadView]:
        uid = self.store.user_id(user)
        out = []
        for info in self.store.store.chat_threads(uid, limit=limit):
            first = next((m.content for m in self.store.store.chat_thread(uid, info.thread_id) if m.role == "user"), "")
            title = " ".join(first.split())
            out.append(
                ChatThreadView(
                    thread_id=info.thread_id,
                    started_at=info.started_at,
                    last_at=info.last_at,
                    messages=info.messages,
                    title=title if len(title) <= 60 else title[:59] + "…",
                )
            )
        return out

    def thread(self, user: str, thread_id: str) -> list[Any]:
        return self.store.store.chat_thread(self.store.user_id(user), thread_id)

    def rate_answer(self, user: str, message_id: int, positive: bool) -> None:
        """Thumbs up/down on a stored chat answer: saved with it (the writer thread), and an
        Opik feedback score on its trace, as for coach tips. Blocks for the write."""
        uid = self.store.user_id(user)
        saving = self.store.submit(self.store.store.set_chat_feedback, uid, int(message_id), 1 if positive else -1)
        if saving is None:
            return  # the app is quitting
        trace_id = saving.result(timeout=30)
        if self.tracer is not None and trace_id:
            try:
                self.tracer.feedback(trace_id, "thumbs_up", 1.0 if positive else 0.0)
            except Exception as exc:  # tracing must never get in the way
                log.info("feedback not sent: %s", exc)

    def graph(self, user: str) -> tuple[list[Any], list[Any]]:
        from fretcoach_desktop.coach.agent_graph import graph_layout

        return graph_layout(self.agent(user))

    def close(self) -> None:
        with self._lock:
            agents, self._agents = list(self._agents.values()), {}
        for agent in agents:
            try:
                agent.close()
            except Exception as exc:  # closing must not stop the exit
                log.info("chat agent close: %s", exc)
