"""Trace conventions of DESIGN.md ("Tracing (Opik)"): tags, metadata and thread ids per feature.

Pure functions, no Opik import: the coach builds a :class:`TraceSpec` and hands it to the
tracer, so tests can check the conventions without a server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "TraceSpec",
    "ai_mode_plan",
    "chat_agent",
    "live_coach_speech",
    "live_coach_text",
    "session_thread_id",
    "user_thread_id",
]

#: Metadata keys that must never reach a trace (secrets).
SECRET_KEYS = frozenset({"api_key", "openai_api_key", "opik_api_key", "authorization", "password", "token"})


@dataclass(frozen=True)
class TraceSpec:
    """What one traced call is labelled with."""

    name: str
    tags: tuple[str, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    thread_id: str | None = None

    def with_metadata(self, **extra: Any) -> TraceSpec:
        merged = {**self.metadata, **{k: v for k, v in extra.items() if v is not None}}
        return TraceSpec(self.name, self.tags, merged, self.thread_id)


def user_thread_id(user_id: object) -> str:
    return f"user-{user_id}"


def session_thread_id(session_id: object) -> str:
    return f"session-{session_id}"


def ai_mode_plan(user_id: object, practice_id: object) -> TraceSpec:
    """AI Mode plan: tags ai-mode, practice-plan; metadata user_id, practice_id; thread user-{user_id}."""
    return TraceSpec(
        name="ai-mode-plan",
        tags=("ai-mode", "practice-plan"),
        metadata={"user_id": str(user_id), "practice_id": str(practice_id)},
        thread_id=user_thread_id(user_id),
    )


def live_coach_text(session_id: object, *, name: str = "live-coach-tip") -> TraceSpec:
    """Live coach text: tags live-coach, live-feedback; metadata session_id; thread session-{id}."""
    return TraceSpec(
        name=name,
        tags=("live-coach", "live-feedback"),
        metadata={"session_id": str(session_id)},
        thread_id=session_thread_id(session_id),
    )


def live_coach_speech(session_id: object) -> TraceSpec:
    """Live coach speech (@track): tags live-coach, tts; metadata session_id; same thread as the text."""
    return TraceSpec(
        name="live-coach-speech",
        tags=("live-coach", "tts"),
        metadata={"session_id": str(session_id)},
        thread_id=session_thread_id(session_id),
    )


def chat_agent(user_id: object, thread_id: str, *, plan_tool_ran: bool = False) -> TraceSpec:
    """Chat agent: tags ai-coach, web-chat (+ practice-plan); metadata thread_id, user_id."""
    tags = ("ai-coach", "web-chat") + (("practice-plan",) if plan_tool_ran else ())
    return TraceSpec(
        name="chat-agent",
        tags=tags,
        metadata={"thread_id": thread_id, "user_id": str(user_id)},
        thread_id=thread_id,
    )


def scrub(metadata: dict[str, Any]) -> dict[str, Any]:
    """Drop secret-looking keys from metadata (defence in depth; callers never pass keys)."""
    return {k: v for k, v in metadata.items() if k.lower() not in SECRET_KEYS}
