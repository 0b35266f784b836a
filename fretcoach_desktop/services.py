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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fretcoach_desktop.config import Config

log = logging.getLogger(__name__)

CHECKPOINT_S = 5.0


def _ui():  # the protocol value types live beside the window, but are Qt-free
    from fretcoach_desktop.ui import services

    return services


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
        ui = _ui()
        from fretcoach_desktop.audio.live import AnalysisThread

        ex = request.exercise
        try:
            if request.device.kind in ("demo", "file"):
                from fretcoach_desktop.audio.demo import FileSource

                source: Any = FileSource(
                    request.device.path, speed=self.replay_speed, loop=request.device.kind == "demo"
                )
            else:
                from fretcoach_desktop.audio.capture import Capture

                source = Capture(
                    request.device.index if request.device.index is not None else request.device.name,
                    channel=request.channel + 1,  # the window counts from 0, interfaces from 1
                )
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
                latency_ms=self.latency_ms,
                count_in_beats=ex.count_in_beats,
                click=click,
                player=player,
            )
        except (ValueError, OSError) as exc:
            raise ui.ServiceError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
        except Exception as exc:
            if type(exc).__name__ in ("CaptureError", "AudioFileError"):
                raise ui.ServiceError(str(exc)) from None
            raise


# --------------------------------------------------------------------------- store


@dataclass
class _Live:
    session_id: int
    user_id: int


class StoreService:
    """The window's session store on the real database, writes through one writer thread."""

    def __init__(self, store: Any, writer: Any) -> None:
        self.store = store
        self.writer = writer
        self._users: dict[str, int] = {}

    def user_id(self, name: str) -> int:
        if name not in self._users:
            self._users[name] = self.store.ensure_user(name).id
        return self._users[name]

    def profiles(self) -> list[str]:
        return [u.name for u in self.store.users()]

    def add_profile(self, name: str) -> None:
        self.user_id(name)

    def start_session(self, user: str, exercise: Any, device: str) -> int:
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
        )
        return future.result(timeout=30)

    def checkpoint(self, session_id: int, snapshot: Any) -> None:
        """Queue a checkpoint of a live session (windows and notes so far); never blocks."""
        from fretcoach_desktop.store.records import windows_for

        notes, noise, duration = snapshot.notes, snapshot.noise_events, snapshot.time_s
        self.writer.submit(
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

    def recent_sessions(self, user: str, limit: int = 200) -> list[Any]:
        ui = _ui()
        uid = self.user_id(user)
        out = []
        for s in self.store.history(uid, limit=limit):
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
                )
            )
        return out

    def recover_unfinished(self, user: str) -> list[Any]:
        return self.store.recover_unfinished(self.user_id(user))

    def close(self) -> None:
        self.writer.close()
        self.store.close()


# --------------------------------------------------------------------------- coach


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
            on_tip(ui.CoachTip(text=msg.text, id=msg.id, metric=msg.weakest_metric, created_s=msg.t_s))

        def on_message(msg: Any) -> None:
            self.store.writer.submit(
                self.store.store.add_coach_message,
                session_id,
                t_s=msg.t_s,
                text=msg.text,
                audio_path=msg.audio_path,
                llm_ms=msg.llm_ms,
                tts_ms=msg.tts_ms,
                model=msg.model,
                fell_back=msg.fell_back,
                mode=msg.mode,
                prompt_version=msg.prompt_version,
            )

        self._coach = LiveCoach(
            self.config, tracer=self.tracer, player=player, audio_dir=clips, on_text=on_text, on_message=on_message
        ).start()
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
        self._stop.set()
        if self._coach is not None:
            self._coach.stop()
            self._coach = None

    def rate_tip(self, tip: Any, positive: bool) -> None:
        if self.tracer is not None and getattr(tip, "id", None):
            try:
                self.tracer.feedback(tip.id, "thumbs_up", 1.0 if positive else 0.0)
            except Exception as exc:
                log.info("feedback not sent: %s", exc)

    def make_plan(self, user: str) -> PlanView:
        from fretcoach_desktop.coach.plans import make_practice_plan

        uid = self.store.user_id(user)
        sessions = self.store.store.recent_sessions(uid, limit=5)
        stamp = datetime.now().strftime("%Y%m%d%H%M%S")
        result = make_practice_plan(sessions, self.config, uid, f"plan-{stamp}", tracer=self.tracer)
        plan = result.plan
        ids = [int(i) for i in result.source_session_ids if str(i).isdigit()]
        practice_id = self.store.writer.submit(
            self.store.store.save_plan,
            uid,
            plan.model_dump(),
            weakest_metric=plan.focus_metric,
            source_session_ids=ids,
            prompt_version=result.prompt_version,
        ).result(timeout=30)
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
