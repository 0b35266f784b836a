"""The one LLM factory: LangChain ``ChatOpenAI`` with timeouts, no silent retries, fallbacks.

``make_chat_model(config, purpose=...)`` returns ``None`` without an OpenAI key (callers use
the offline coach). Otherwise a ``RunnableWithFallbacks``: the primary model (``max_retries=0``
when fallbacks exist, so a 429 moves on at once instead of costing ~2 s of SDK back-off) then
each of ``config.fallback_models`` in order, on rate limits, server errors, timeouts and
connection errors. :class:`ModelRecorder` (a LangChain callback) records which model answered.

LangChain and OpenAI are imported inside the functions, never at module import.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from fretcoach_desktop.config import Config

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "LLMAnswer",
    "ModelRecorder",
    "describe_error",
    "invoke_recorded",
    "make_chat_model",
]

log = logging.getLogger(__name__)

#: Per-request timeout (connect + read) of every model call, in seconds.
DEFAULT_TIMEOUT_S = 20.0

#: Sampling per purpose: tips vary a little, plans and chat stay sober.
_TEMPERATURE = {"live_coach": 0.7, "session_summary": 0.5, "ai_mode_plan": 0.3, "chat": 0.2}
_MAX_TOKENS = {"live_coach": 80, "session_summary": 120, "ai_mode_plan": 900, "chat": 800}


def _fallback_errors() -> tuple[type[BaseException], ...]:
    import openai

    return (
        openai.RateLimitError,  # 429
        openai.InternalServerError,  # 5xx
        openai.APITimeoutError,
        openai.APIConnectionError,
    )


def make_chat_model(
    config: Config,
    *,
    purpose: str,
    schema: Any = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    streaming: bool = False,
) -> Any | None:
    """A chat runnable for *purpose*, or ``None`` when no OpenAI key is configured.

    Args:
        config: models from ``model`` and ``fallback_models``, key and ``openai_base_url``.
        purpose: ``live_coach``, ``session_summary``, ``ai_mode_plan`` or ``chat`` (sets
            temperature and max tokens; recorded as LangChain metadata).
        schema: a pydantic model for ``with_structured_output`` (strict json_schema), applied
            to every model before the fallbacks so each one returns the parsed object.
        timeout: per-request timeout in seconds (ChatOpenAI has none by default).
        streaming: stream tokens (usage still reaches traces: ``stream_usage=True``).
    """
    if not config.online_coach:
        return None
    from langchain_openai import ChatOpenAI

    names = [config.model] + [m for m in config.fallback_models if m != config.model]

    def build(name: str, retries: int) -> Any:
        model = ChatOpenAI(
            model=name,
            api_key=config.openai_api_key,
            base_url=config.openai_base_url or None,
            timeout=timeout,
            max_retries=retries,
            temperature=_TEMPERATURE.get(purpose, 0.5),
            max_tokens=_MAX_TOKENS.get(purpose, 400),
            stream_usage=True,
            streaming=streaming,
            metadata={"purpose": purpose, "fretcoach_model": name},
        )
        if schema is not None:
            return model.with_structured_output(schema)
        return model

    # With fallbacks the list is the retry policy; alone, one retry on a transient error.
    primary = build(names[0], 0 if len(names) > 1 else 1)
    fallbacks = [build(name, 0) for name in names[1:]]
    if not fallbacks:
        return primary
    return primary.with_fallbacks(fallbacks, exceptions_to_handle=_fallback_errors())


@dataclass
class LLMAnswer:
    """A model's answer and how it came about."""

    output: Any  # an AIMessage, or the parsed schema object for structured output
    model: str  # the configured name of the model that answered
    fell_back: bool  # True when a fallback model answered
    llm_ms: float
    response_model: str | None = None  # the server's model name (e.g. a dated snapshot)
    errors: tuple[str, ...] = ()  # one line per failed attempt before the answer

    @property
    def text(self) -> str:
        content = getattr(self.output, "content", self.output)
        if isinstance(content, list):  # content blocks
            content = " ".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
        return str(content or "").strip()


def describe_error(exc: BaseException) -> str:
    """One line naming an LLM/TTS failure, without secrets or tracebacks."""
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    if status:
        return f"{name} (HTTP {status})"
    text = str(exc).splitlines()[0] if str(exc) else ""
    if "sk-" in text or "Bearer" in text:  # never echo a key
        text = ""
    return f"{name}: {text[:120]}" if text else name


@functools.lru_cache(maxsize=1)
def _recorder_class() -> type:
    from langchain_core.callbacks import BaseCallbackHandler

    class _ModelRecorder(BaseCallbackHandler):
        raise_error = False

        def __init__(self, primary_model: str) -> None:
            self.primary_model = primary_model
            self._lock = threading.Lock()
            self._runs: dict[Any, str] = {}
            self.tried: list[str] = []
            self.answered: str | None = None
            self.response_model: str | None = None
            self.errors: list[str] = []

        def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: Any, **kwargs: Any) -> None:
            params = kwargs.get("invocation_params") or {}
            meta = kwargs.get("metadata") or {}
            name = meta.get("fretcoach_model") or params.get("model") or params.get("model_name") or "?"
            with self._lock:
                self._runs[run_id] = name
                self.tried.append(name)

        def on_llm_end(self, response: Any, *, run_id: Any, **kwargs: Any) -> None:
            with self._lock:
                self.answered = self._runs.get(run_id, self.answered)
                try:
                    self.response_model = (response.llm_output or {}).get("model_name") or self.response_model
                except AttributeError:
                    pass

        def on_llm_error(self, error: BaseException, *, run_id: Any, **kwargs: Any) -> None:
            with self._lock:
                self.errors.append(f"{self._runs.get(run_id, '?')}: {describe_error(error)}")

    return _ModelRecorder


def ModelRecorder(primary_model: str) -> Any:  # noqa: N802 (a factory that reads like a class)
    """A LangChain callback handler recording which model answered (``.answered``)."""
    return _recorder_class()(primary_model)


def invoke_recorded(
    runnable: Any,
    messages: Any,
    *,
    primary_model: str,
    callbacks: list[Any] | None = None,
    run_name: str | None = None,
    tags: list[str] | None = None,
) -> LLMAnswer:
    """Invoke *runnable* and report which model answered, how long it took, what failed.

    Raises whatever the last model raised when every model failed.
    """
    recorder = ModelRecorder(primary_model)
    config: dict[str, Any] = {"callbacks": [recorder, *(callbacks or [])]}
    if run_name:
        config["run_name"] = run_name
    if tags:
        config["tags"] = tags
    start = time.perf_counter()
    output = runnable.invoke(messages, config=config)
    ms = (time.perf_counter() - start) * 1000.0
    answered = recorder.answered or (recorder.tried[-1] if recorder.tried else primary_model)
    return LLMAnswer(
        output=output,
        model=answered,
        fell_back=answered != primary_model,
        llm_ms=ms,
        response_model=recorder.response_model,
        errors=tuple(recorder.errors),
    )
