"""The live coach: a background worker turning each 30 s window into one spoken sentence.

``LiveCoach.submit(window)`` returns at once. The worker thread (a daemon) asks the LLM for
at most one sentence (cut to one if the model says more), falls back to the offline coach
when there is no key or every model fails, hands the text to ``on_text`` at once, then makes
the speech (OpenAI TTS or espeak-ng), plays it through the player and hands the complete
:class:`~fretcoach_desktop.coach.types.CoachMessage` to ``on_message``.

``stop()`` is immediate even with a request in flight: the hung HTTP call is abandoned in
its daemon thread (bounded by the client timeout) and its result is dropped.
Callbacks run on the worker thread; the UI turns them into Qt signals.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fretcoach_desktop.audio.metrics import METRIC_NAMES
from fretcoach_desktop.coach.llm import describe_error, invoke_recorded, make_chat_model
from fretcoach_desktop.coach.offline import OFFLINE_MODEL, OfflineCoach, offline_summary
from fretcoach_desktop.coach.prompts import load_prompt
from fretcoach_desktop.coach.text import limit_sentences, one_sentence
from fretcoach_desktop.coach.tts import SpeechResult, synthesize
from fretcoach_desktop.coach.types import CoachMessage, CoachWindow, metric_label, weakest_of
from fretcoach_desktop.tracing.conventions import live_coach_speech, live_coach_text
from fretcoach_desktop.tracing.tracer import NullTracer, Tracer

if TYPE_CHECKING:  # pragma: no cover
    from fretcoach_desktop.config import Config

__all__ = ["CoachWorker", "LiveCoach", "Player", "SessionSummaryRequest"]

log = logging.getLogger(__name__)


class Player(Protocol):
    def play_file(self, path: str) -> Any: ...


@dataclass(frozen=True)
class SessionSummaryRequest:
    session_id: str
    t_s: float
    metrics: dict[str, float | None]
    windows: tuple[dict[str, float | None], ...] = ()
    key: str | None = None
    scale: str | None = None
    bpm: float | None = None

    def facts(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(float(v), 1)

        facts: dict[str, Any] = {
            "session_metrics": {n: r(self.metrics.get(n)) for n in METRIC_NAMES},
            "weakest_metric": weakest_of(self.metrics),
        }
        if self.windows:
            facts["windows"] = [{n: r(w.get(n)) for n in METRIC_NAMES} for w in self.windows]
        for name in ("key", "scale", "bpm"):
            if getattr(self, name) is not None:
                facts[name] = getattr(self, name)
        return facts


_STOP = object()


class LiveCoach:
    """Background live coach. Thread-safe; every public method returns immediately.

    Args:
        config: models, keys, TTS model and voice.
        tracer: from :func:`fretcoach_desktop.tracing.make_tracer` (default: no tracing).
        player: any object with ``play_file(path)`` (the process-wide AudioPlayer); None = silent.
        audio_dir: where speech clips are written; None = no speech at all.
        on_text: called with the message as soon as its text exists (before speech).
        on_message: called with the complete message (audio path, TTS latency) at the end.
        drop_stale: when a newer window arrives while an older one still waits, drop the
            older one (live use). The CLI replay sets False to get a tip for every window.
        llm: override the chat runnable (tests); default ``make_chat_model(config, ...)``.
        speak: make and play speech (False: text only).
    """

    def __init__(
        self,
        config: Config,
        *,
        tracer: Tracer | None = None,
        player: Player | None = None,
        audio_dir: str | Path | None = None,
        on_text: Callable[[CoachMessage], Any] | None = None,
        on_message: Callable[[CoachMessage], Any] | None = None,
        drop_stale: bool = True,
        llm: Any = None,
        speak: bool = True,
        prompt_version: str | None = None,
        summary_prompt_version: str | None = None,
        tts: Callable[[str, Path, Config], SpeechResult] = synthesize,
        offline_seed: int | None = None,
    ) -> None:
        self.config = config
        self.tracer = tracer or NullTracer()
        self.player = player
        self.audio_dir = Path(audio_dir) if audio_dir is not None else None
        self.on_text = on_text
        self.on_message = on_message
        self.drop_stale = drop_stale
        self.speak = speak and self.audio_dir is not None
        self._llm_override = llm
        self._llm: Any = None
        self._llm_built = False
        self._tts = tts
        self._tip_prompt = load_prompt("live_coach", prompt_version)
        self._summary_prompt = load_prompt("session_summary", summary_prompt_version)
        self._offline = OfflineCoach(offline_seed)
        self._cond = threading.Condition()
        self._jobs: collections.deque[Any] = collections.deque()
        self._busy = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.messages: list[CoachMessage] = []

    # -- public API -----------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """``online`` when an OpenAI key is configured, else ``offline``."""
        return "online" if (self._llm_override is not None or self.config.online_coach) else "offline"

    @property
    def prompt_version(self) -> str:
        return self._tip_prompt.id

    def start(self) -> LiveCoach:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="coach-worker", daemon=True)
                self._thread.start()
        for prompt in (self._tip_prompt, self._summary_prompt):
            self.tracer.register_prompt(prompt.name, prompt.version, prompt.text)
        return self

    def submit(self, window: CoachWindow) -> None:
        """Queue a window for a tip. Never blocks."""
        self._put(window)

    def summarize(self, request: SessionSummaryRequest) -> None:
        """Queue the session-end spoken summary. Never blocks."""
        self._put(request)

    def stop(self) -> None:
        """Stop now: pending jobs are dropped, an in-flight request is abandoned."""
        with self._cond:
            self._stopped = True
            self._jobs.clear()
            self._jobs.append(_STOP)
            self._cond.notify_all()

    @property
    def stopped(self) -> bool:
        return self._stopped

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every queued job is done (CLI replay). True when idle in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while (self._jobs or self._busy) and not self._stopped:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def __enter__(self) -> LiveCoach:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- worker -------------------------------------------------------------------------------
    def _put(self, job: Any) -> None:
        with self._cond:
            if self._stopped:
                return
            if self.drop_stale and isinstance(job, CoachWindow):
                stale = [j for j in self._jobs if isinstance(j, CoachWindow)]
                for old in stale:
                    self._jobs.remove(old)
            self._jobs.append(job)
            self._cond.notify_all()
        if self._thread is None:
            self.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs:
                    self._cond.wait()
                job = self._jobs.popleft()
                if job is _STOP:
                    return
                self._busy = True
            try:
                if isinstance(job, CoachWindow):
                    self._tip(job)
                else:
                    self._summary(job)
            except Exception:  # never let one window kill the worker
                log.exception("the coach failed on a window")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _chat_model(self, purpose: str) -> Any:
        if self._llm_override is not None:
            return self._llm_override
        if not self._llm_built:
            self._llm_built = True
            try:
                self._llm = make_chat_model(self.config, purpose=purpose)
            except Exception as exc:
                log.warning("cannot build the chat model (%s); using the offline coach", describe_error(exc))
                self._llm = None
        return self._llm

    def _ask(self, prompt: Any, facts: dict[str, Any], spec: Any, sentences: int, purpose: str) -> dict[str, Any]:
        """Ask the LLM; returns text, model, fell_back, mode, llm_ms, trace id, error."""
        llm = self._chat_model(purpose)
        if llm is None:
            return {"text": "", "mode": "offline", "model": OFFLINE_MODEL, "fell_back": False, "llm_ms": None}
        from langchain_core.messages import HumanMessage, SystemMessage

        system = prompt.render(
            key=facts.get("key"),
            scale=str(facts.get("scale") or "unknown").replace("_", " "),
            bpm=facts.get("bpm"),
            weakest_metric=metric_label(facts["weakest_metric"]) if facts.get("weakest_metric") else None,
        )
        messages = [SystemMessage(system), HumanMessage(json.dumps(facts, sort_keys=True))]
        # registered before the first trace that uses it (waits a moment, once), so it links
        self.tracer.ensure_prompt(prompt.name, prompt.version, prompt.text)
        link = self.tracer.prompt_link(prompt.name, prompt.version)
        spec = spec.with_metadata(prompt_version=prompt.id, opik_prompts=[link] if link else None)
        callback = self.tracer.callback_for(spec)
        start = time.perf_counter()
        try:
            answer = invoke_recorded(
                llm,
                messages,
                primary_model=self.config.model,
                callbacks=[callback] if callback is not None else None,
                run_name=spec.name,
            )
        except Exception as exc:
            return {
                "text": "",
                "mode": "offline",
                "model": OFFLINE_MODEL,
                "fell_back": True,
                "llm_ms": (time.perf_counter() - start) * 1000.0,
                "error": describe_error(exc),
                "trace_id": next(iter(self.tracer.trace_ids(callback)), None) if callback else None,
            }
        text = limit_sentences(answer.text, sentences, 30 if sentences == 1 else 45)
        trace_id = next(iter(self.tracer.trace_ids(callback)), None) if callback else None
        if not text:
            return {
                "text": "",
                "mode": "offline",
                "model": OFFLINE_MODEL,
                "fell_back": True,
                "llm_ms": answer.llm_ms,
                "error": "the model returned an empty answer",
                "trace_id": trace_id,
            }
        return {
            "text": text,
            "mode": "online",
            "model": answer.model,
            "fell_back": answer.fell_back,
            "llm_ms": answer.llm_ms,
            "trace_id": trace_id,
        }

    def _tip(self, window: CoachWindow) -> None:
        got = self._ask(self._tip_prompt, window.facts(), live_coach_text(window.session_id), 1, "live_coach")
        text = got["text"] or one_sentence(self._offline.tip(window))
        self._deliver(
            _message(got, self._tip_prompt, window.session_id, window.t_s, text, "tip", window.weakest_metric)
        )

    def _summary(self, request: SessionSummaryRequest) -> None:
        spec = live_coach_text(request.session_id, name="session-summary")
        got = self._ask(self._summary_prompt, request.facts(), spec, 2, "session_summary")
        text = got["text"] or offline_summary(request.metrics)
        weakest = weakest_of(request.metrics)
        self._deliver(_message(got, self._summary_prompt, request.session_id, request.t_s, text, "summary", weakest))

    def _deliver(self, message: CoachMessage) -> None:
        if self._stopped:
            return
        self._call(self.on_text, message)
        if self.speak and self.audio_dir is not None:
            message = self._speak(message)
            if self._stopped:
                return
            if message.audio_path and self.player is not None:
                try:
                    self.player.play_file(message.audio_path)
                except Exception as exc:
                    log.warning("cannot play the coach clip: %s", describe_error(exc))
        if self._stopped:
            return
        self.messages.append(message)
        self._call(self.on_message, message)

    def _speak(self, message: CoachMessage) -> CoachMessage:
        assert self.audio_dir is not None
        kind = "summary" if message.kind == "summary" else "tip"
        path = self.audio_dir / f"coach-{_safe(message.session_id)}-{kind}-{int(round(message.t_s * 1000)):09d}.wav"
        spec = live_coach_speech(message.session_id)
        engine_hint = "openai" if self.config.online_coach else "espeak-ng"
        with self.tracer.track_spec(
            spec, input={"text": message.text, "tts_model": self.config.tts_model, "voice": self.config.tts_voice}
        ) as handle:
            try:
                result = self._tts(message.text, path, self.config)
            except Exception as exc:  # a custom tts must not lose the text either
                result = SpeechResult(None, None, 0.0, describe_error(exc))
            handle.set_output(
                {
                    "engine": result.engine or engine_hint,
                    "audio_file": Path(result.path).name if result.path else None,
                    "error": result.error,
                    "tts_ms": round(result.tts_ms, 1),
                }
            )
        return replace(
            message,
            audio_path=result.path,
            tts_ms=result.tts_ms,
            tts_engine=result.engine,
            tts_error=result.error,
            speech_trace_id=handle.trace_id,
        )

    @staticmethod
    def _call(callback: Callable[[CoachMessage], Any] | None, message: CoachMessage) -> None:
        if callback is None:
            return
        try:
            callback(message)
        except Exception:
            log.exception("a coach callback failed")


#: The name used in DESIGN.md's thread diagram.
CoachWorker = LiveCoach


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(text))[:64]


def summary_request(
    session_id: str,
    t_s: float,
    metrics: Mapping[str, float | None],
    windows: Sequence[Mapping[str, float | None]] = (),
    **setup: Any,
) -> SessionSummaryRequest:
    """Convenience constructor for :class:`SessionSummaryRequest`."""
    return SessionSummaryRequest(
        session_id=str(session_id),
        t_s=float(t_s),
        metrics=dict(metrics),
        windows=tuple(dict(w) for w in windows),
        **setup,
    )


def _message(
    got: dict[str, Any], prompt: Any, session_id: Any, t_s: float, text: str, kind: str, weakest: str | None
) -> CoachMessage:
    """A tip or summary as delivered: the text plus how it was made (*got* from ``_ask``)."""
    return CoachMessage(
        session_id=session_id,
        t_s=t_s,
        text=text,
        model=got["model"],
        fell_back=got["fell_back"],
        mode=got["mode"],
        prompt_version=prompt.id if got["mode"] == "online" else "offline.rules.v1",
        kind=kind,
        weakest_metric=weakest,
        llm_ms=got["llm_ms"],
        text_trace_id=got.get("trace_id"),
        error=got.get("error"),
    )
