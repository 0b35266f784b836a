"""AI Mode: the last sessions -> the weakest metric and its trend -> a structured practice plan.

``make_practice_plan(sessions, config, user_id, practice_id)`` asks the model for a
:class:`~fretcoach_desktop.coach.plan_schema.PracticePlan` through
``with_structured_output`` (strict json_schema), traced per DESIGN.md (tags ai-mode,
practice-plan; metadata user_id, practice_id; thread user-{user_id}). No key, a failure
or an unusable answer ends in the offline plan; no sessions gives a starter plan.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from fretcoach_desktop.audio.metrics import METRIC_NAMES
from fretcoach_desktop.coach.llm import describe_error, invoke_recorded, make_chat_model
from fretcoach_desktop.coach.offline import OFFLINE_MODEL, offline_plan
from fretcoach_desktop.coach.plan_schema import Exercise, PracticePlan, TargetMetrics
from fretcoach_desktop.coach.prompts import load_prompt
from fretcoach_desktop.coach.types import metric_label, weakest_of
from fretcoach_desktop.tracing.conventions import ai_mode_plan
from fretcoach_desktop.tracing.tracer import NullTracer, Tracer

if TYPE_CHECKING:  # pragma: no cover
    from fretcoach_desktop.config import Config

__all__ = [
    "MAX_SESSIONS",
    "Exercise",
    "PlanResult",
    "PracticePlan",
    "TargetMetrics",
    "analyze_sessions",
    "make_practice_plan",
]

log = logging.getLogger(__name__)

MAX_SESSIONS = 5
OFFLINE_PLAN_VERSION = "offline.plan.v1"


@dataclass(frozen=True)
class PlanResult:
    """A plan and how it was made; the store keeps ``plan.model_dump()`` as the plan JSON."""

    plan: PracticePlan
    user_id: str
    practice_id: str
    weakest_metric: str
    trend: str  # "improving", "declining", "steady" or "unknown"
    model: str  # model that answered, or "offline"
    fell_back: bool
    mode: str  # online / offline
    prompt_version: str
    llm_ms: float | None = None
    trace_id: str | None = None
    error: str | None = None
    source_session_ids: tuple[str, ...] = ()
    starter: bool = False
    created_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {
            "practice_id": self.practice_id,
            "user_id": self.user_id,
            "plan": self.plan.model_dump(),
            "weakest_metric": self.weakest_metric,
            "trend": self.trend,
            "model": self.model,
            "fell_back": self.fell_back,
            "mode": self.mode,
            "prompt_version": self.prompt_version,
            "llm_ms": None if self.llm_ms is None else round(self.llm_ms, 1),
            "trace_id": self.trace_id,
            "error": self.error,
            "source_session_ids": list(self.source_session_ids),
            "starter": self.starter,
        }


def _get(session: Any, name: str) -> Any:
    if isinstance(session, Mapping):
        return session.get(name)
    return getattr(session, name, None)


def _sorted_recent(sessions: Sequence[Any]) -> list[Any]:
    """The last MAX_SESSIONS sessions, oldest first (by started_at when given)."""
    items = list(sessions)
    if items and all(_get(s, "started_at") is not None for s in items):
        items.sort(key=lambda s: str(_get(s, "started_at")))
    return items[-MAX_SESSIONS:]


def analyze_sessions(sessions: Sequence[Any]) -> tuple[str | None, str, dict[str, float]]:
    """(weakest metric over the sessions, its trend, the metrics' averages)."""
    averages: dict[str, float] = {}
    for name in METRIC_NAMES:
        values = [float(v) for s in sessions if (v := _get(s, name)) is not None]
        if values:
            averages[name] = round(sum(values) / len(values), 1)
    weakest = weakest_of(averages)
    if weakest is None:
        return None, "unknown", averages
    series = [float(v) for s in sessions if (v := _get(s, weakest)) is not None]
    if len(series) < 2:
        trend = "unknown"
    else:
        half = len(series) // 2
        first = sum(series[:half]) / half
        last = sum(series[half:]) / (len(series) - half)
        trend = "improving" if last - first >= 3 else "declining" if first - last >= 3 else "steady"
    return weakest, trend, averages


def _session_facts(sessions: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for s in sessions:
        item = {name: _get(s, name) for name in ("started_at", "key", "scale", "bpm")}
        item["started_at"] = str(item["started_at"]) if item["started_at"] is not None else None
        for name in METRIC_NAMES:
            v = _get(s, name)
            item[name] = None if v is None else round(float(v), 1)
        out.append(item)
    return out


def make_practice_plan(
    sessions: Sequence[Any],
    config: Config,
    user_id: object,
    practice_id: object,
    *,
    tracer: Tracer | None = None,
    llm: Any = None,
    prompt_version: str | None = None,
    save: Callable[[PlanResult], object] | None = None,
) -> PlanResult:
    """Make the AI Mode plan from the player's sessions (dicts or objects with the four
    metrics, key, scale, bpm, started_at; any order; the last 5 are used). Blocks for the
    model call (bounded by its timeout): run it on the LLM pool, not the GUI thread.

    ``save(result)``, when given, stores the plan and returns its id, which becomes the
    result's ``practice_id`` (*practice_id* is then only a placeholder); it runs inside the
    AI Mode trace, so the trace carries the id the player sees.
    """
    tracer = tracer or NullTracer()
    recent = _sorted_recent(sessions)
    weakest, trend, averages = analyze_sessions(recent)
    source_ids = tuple(str(i) for s in recent if (i := _get(s, "id") or _get(s, "session_id")) is not None)
    prompt = load_prompt("ai_mode_plan", prompt_version)
    tracer.register_prompt(prompt.name, prompt.version, prompt.text)
    starter = not recent or weakest is None

    def offline(error: str | None, fell_back: bool, llm_ms: float | None = None, trace_id: str | None = None):
        plan = offline_plan(recent if not starter else [], focus=weakest)
        return PlanResult(
            plan=plan,
            user_id=str(user_id),
            practice_id=str(practice_id),
            weakest_metric=plan.focus_metric,
            trend=trend,
            model=OFFLINE_MODEL,
            fell_back=fell_back,
            mode="offline",
            prompt_version=OFFLINE_PLAN_VERSION,
            llm_ms=llm_ms,
            trace_id=trace_id,
            error=error,
            source_session_ids=source_ids,
            starter=starter,
        )

    def saved(result: PlanResult) -> PlanResult:
        return result if save is None else replace(result, practice_id=str(save(result)))

    runnable = llm
    if runnable is None:
        try:
            runnable = make_chat_model(config, purpose="ai_mode_plan", schema=PracticePlan)
        except Exception as exc:
            return saved(offline(describe_error(exc), True))
    if runnable is None:
        return saved(offline(None, False))

    from langchain_core.messages import HumanMessage, SystemMessage

    system = prompt.render(
        weakest_metric=metric_label(weakest) if weakest else "unknown (no sessions yet: write a starter plan)",
        trend=trend,
    )
    facts = {
        "sessions_oldest_first": _session_facts(recent),
        "averages": averages,
        "weakest_metric": weakest,
        "trend": trend,
    }
    tracer.ensure_prompt(prompt.name, prompt.version, prompt.text)  # before the trace that links it
    link = tracer.prompt_link(prompt.name, prompt.version)
    spec = ai_mode_plan(user_id, practice_id).with_metadata(
        prompt_version=prompt.id, opik_prompts=[link] if link else None
    )
    # One AI Mode trace around the model call (its LLM spans nest in it), which ends saying
    # what became of the answer: the model's plan, or the offline plan and why.
    with tracer.track_spec(spec, input=facts) as handle:
        callback = tracer.callback_for(spec)
        start = time.perf_counter()
        error: str | None = None
        try:
            answer = invoke_recorded(
                runnable,
                [SystemMessage(system), HumanMessage(json.dumps(facts, sort_keys=True))],
                primary_model=config.model,
                callbacks=[callback] if callback is not None else None,
                run_name=spec.name,
            )
        except Exception as exc:
            log.info("AI Mode plan: every model failed (%s); using the offline plan", describe_error(exc))
            answer, error, llm_ms = None, describe_error(exc), (time.perf_counter() - start) * 1000.0
        else:
            llm_ms, plan = answer.llm_ms, answer.output
            if isinstance(plan, Mapping):
                try:
                    plan = PracticePlan.model_validate(plan)
                except Exception as exc:
                    error = f"unusable plan: {describe_error(exc)}"
            if error is None and (not isinstance(plan, PracticePlan) or len(plan.exercises) < 2):
                error = "the model's plan had fewer than 2 exercises"
        trace_id = handle.trace_id or (next(iter(tracer.trace_ids(callback)), None) if callback else None)
        if answer is None or error is not None:
            result = offline(error, True, llm_ms, trace_id)
        else:
            result = PlanResult(
                plan=plan,
                user_id=str(user_id),
                practice_id=str(practice_id),
                weakest_metric=weakest or plan.focus_metric,
                trend=trend,
                model=answer.model,
                fell_back=answer.fell_back,
                mode="online",
                prompt_version=prompt.id,
                llm_ms=answer.llm_ms,
                trace_id=trace_id,
                source_session_ids=source_ids,
                starter=starter,
            )
        result = saved(result)
        handle.set_output({"plan": result.plan.model_dump()})
        handle.add_metadata(
            practice_id=result.practice_id,
            mode=result.mode,
            fell_back=result.fell_back,
            model=result.model,
            error=result.error,
        )
    return result
