"""Optional Opik tracing (Qt-free). Importing this package never imports Opik.

See :func:`make_tracer` and the conventions in :mod:`fretcoach_desktop.tracing.conventions`.
"""

from fretcoach_desktop.tracing.conventions import (
    TraceSpec,
    ai_mode_plan,
    chat_agent,
    live_coach_speech,
    live_coach_text,
    session_thread_id,
    user_thread_id,
)
from fretcoach_desktop.tracing.tracer import NullTracer, OpikTracing, TraceHandle, Tracer, make_tracer

__all__ = [
    "NullTracer",
    "OpikTracing",
    "TraceHandle",
    "TraceSpec",
    "Tracer",
    "ai_mode_plan",
    "chat_agent",
    "live_coach_speech",
    "live_coach_text",
    "make_tracer",
    "session_thread_id",
    "user_thread_id",
]
