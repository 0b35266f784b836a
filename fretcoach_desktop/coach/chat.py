"""The chat panel's coach: a LangGraph agent that answers from the player's own history.

``ChatAgent(config, store, user_id, tracer).ask(question, thread_id=None)`` returns a
:class:`ChatAnswer`. Online (an OpenAI key is configured) it runs a LangChain 1.x agent
(``langchain.agents.create_agent``) with three tools:

* ``execute_sql_query(query)``: one read-only SELECT over the player's own rows, through
  :class:`~fretcoach_desktop.coach.sqlguard.SafeSQL` (parsed, scoped, capped, time-limited,
  on a read-only connection); a rejected query comes back to the model as one short line;
* ``get_database_schema()``: the allowed tables and columns (from the SQLAlchemy models) and
  the metric definitions;
* ``generate_practice_plan()``: the AI Mode plan generator on the last sessions; the plan is
  stored like an AI Mode plan.

Model calls go through the shared LLM factory's models (explicit timeout, no silent retries)
with :class:`~langchain.agents.middleware.ModelFallbackMiddleware` moving to the fallback
models on rate limits, server errors, timeouts and connection errors. A small recursion limit
and a tool-call limit stop a confused model within seconds. Each thread's earlier messages are
loaded from the store (``chat_messages``) and every new message is saved there.

Tracing: the tracer's LangChain callback (OpikTracer with ``graph=agent.get_graph(xray=True)``),
tags ai-coach and web-chat (+ practice-plan when the plan tool ran), metadata thread_id and
user_id, thread ``hub-aicoach-chat-{timestamp}`` per conversation.

No key, or every model failing: the offline intent matcher
(:mod:`fretcoach_desktop.coach.chat_offline`) answers the common questions from the data.

LangChain, LangGraph and OpenAI are imported when the agent is first built, never at import.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fretcoach_desktop.coach.llm import describe_error

if TYPE_CHECKING:  # pragma: no cover
    from fretcoach_desktop.config import Config
    from fretcoach_desktop.store import Store
    from fretcoach_desktop.tracing.tracer import Tracer

__all__ = [
    "HISTORY_MESSAGES",
    "MAX_QUESTION_CHARS",
    "MAX_TOOL_CALLS",
    "METRIC_DEFINITIONS",
    "RECURSION_LIMIT",
    "THREAD_PREFIX",
    "TOOL_NAMES",
    "ChatAgent",
    "ChatAnswer",
    "database_schema_text",
    "new_thread_id",
]

log = logging.getLogger(__name__)

THREAD_PREFIX = "hub-aicoach-chat-"
TOOL_NAMES = ("execute_sql_query", "get_database_schema", "generate_practice_plan")

#: LangGraph steps per question. One tool round is 3 steps (model, tool-limit check, tools),
#: the final answer 2: 14 allows four tool rounds and the answer. LangGraph's default is in
#: the thousands, so a model that keeps calling tools would loop for minutes.
RECURSION_LIMIT = 14
#: Tool calls per question; further calls are refused with a message to the model.
MAX_TOOL_CALLS = 8
#: Earlier messages of the thread given to the model (user and assistant turns).
HISTORY_MESSAGES = 20
MAX_QUESTION_CHARS = 2000
#: Characters of a query result given to the model.
RESULT_CHARS = 4000

#: DESIGN.md, "The analysis contract": the metric definitions the model must know.
METRIC_DEFINITIONS = """\
Metrics (0-100, higher is better; NULL when a window or session had no notes):
- pitch_accuracy: mean over notes of a per-note score: 1 when abs(cents) <= 10, falling linearly to 0 at 50 cents.
- scale_conformity: share of notes whose pitch class is in the selected key and scale.
- timing_stability: mean over notes of a per-note score: 1 when abs(timing_offset_ms) <= 15, falling linearly \
to 0 at 100 ms (negative offsets are early, positive late).
- noise_control: 100 * notes / (notes + noise_events); a noise event is an unpitched burst (string scrape, fret \
buzz, pick noise) that is not a note.
The weakest metric is the lowest one."""

_TABLE_NOTES = {
    "users": "the player's profile (only the current player's row)",
    "sessions": "one row per practice session; started_at/ended_at are UTC ISO times; key/scale/bpm are the "
    "session settings; the four metrics are whole-session values; status complete/recovered/in_progress",
    "session_windows": "per-30-second windows of a session (idx from 0) with the four metrics",
    "notes": "every played note of a session: midi number, cents off equal temperament, in_scale (1/0), "
    "timing_offset_ms against the metronome grid",
    "practice_plans": "AI Mode plans: plan (JSON), weakest_metric, source_session_ids",
    "coach_messages": "the live coach's tips per session (t_s seconds into the session)",
    "chat_messages": "this chat's stored messages",
    "calibrations": "measured input latency per audio device (newest row per device is in use)",
}


def database_schema_text() -> str:
    """The allowed tables and their columns (from the SQLAlchemy models) plus the metric definitions."""
    from fretcoach_desktop.coach.sqlguard import SCOPES
    from fretcoach_desktop.store.models import Base

    lines = [
        "SQLite/PostgreSQL tables you may query (only the current player's rows are visible; one SELECT per call):"
    ]
    for name in SCOPES:
        table = Base.metadata.tables.get(name)
        if table is None:
            continue
        cols = []
        for col in table.columns:
            try:
                kind = str(col.type.compile()).lower()
            except Exception:  # a custom type without a plain compile
                kind = type(col.type).__name__.lower()
            if "datetime" in kind or "timestamp" in kind or type(col.type).__name__ == "UTCDateTime":
                kind = "datetime"
            fk = next(iter(col.foreign_keys), None)
            ref = f" -> {fk.target_fullname}" if fk is not None else ""
            cols.append(f"{col.name} {kind}{ref}")
        note = _TABLE_NOTES.get(name)
        lines.append(f"- {name}({', '.join(cols)})" + (f": {note}" if note else ""))
    lines.append("Note names: midi 60 = C4, 57 = A3; pitch class = midi % 12 (0 = C ... 9 = A).")
    lines.append(METRIC_DEFINITIONS)
    return "\n".join(lines)


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class ChatAnswer:
    """One answer of the coach, online or offline."""

    answer: str  # markdown (short paragraphs, tables)
    thread_id: str
    model: str  # the model that answered, or "offline"
    fell_back: bool  # a fallback model (or the offline matcher after a failure) answered
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # {name, args, ok, error}
    error: str | None = None  # what went wrong with the online coach (one line), if anything
    intent: str | None = None  # the offline matcher's intent
    chart: dict[str, Any] | None = None  # {"title", "metric"/"series": {name: [[iso, value], ...]}} for trends
    plan_id: int | None = None  # a plan stored during this answer
    trace_id: str | None = None
    elapsed_ms: float | None = None
    message_id: int | None = None  # the stored answer (thumbs up/down rate it)

    @property
    def offline(self) -> bool:
        return self.model == "offline"

    def to_json(self) -> dict[str, Any]:
        """The ``fretcoach ask --json`` object."""
        return {
            "answer": self.answer,
            "thread_id": self.thread_id,
            "model": self.model,
            "fell_back": self.fell_back,
            "tool_calls": [dict(c) for c in self.tool_calls],
            "error": self.error,
            "plan_id": self.plan_id,
            "trace_id": self.trace_id,
            "message_id": self.message_id,
        }


_thread_lock = threading.Lock()
_last_thread_ms = 0


def new_thread_id() -> str:
    """A new conversation id, ``hub-aicoach-chat-{unix milliseconds}`` (unique in this process)."""
    global _last_thread_ms
    with _thread_lock:
        ms = max(int(time.time() * 1000), _last_thread_ms + 1)
        _last_thread_ms = ms
    return f"{THREAD_PREFIX}{ms}"


def _check_thread_id(thread_id: str) -> str:
    text = str(thread_id).strip()
    if not text or len(text) > 100 or not text.isprintable():
        raise ValueError("a conversation id must be 1 to 100 printable characters")
    return text


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        content = "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content or "").strip()


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --------------------------------------------------------------------------- the agent


@dataclass
class _Turn:
    """Per-question state the tools can reach (``ToolRuntime.context``)."""

    user_id: int
    plan_ran: bool = False
    plan_id: int | None = None
    tracing: bool = False


class ChatAgent:
    """The chat coach of one player. Thread-safe: questions may run on a worker pool.

    Args:
        config: models, key, base URL (``make_chat_model``'s configuration).
        store: the practice database (history, chat messages, plans, read-only engine).
        user_id: the player's profile id; the SQL tool sees only this player's rows.
        tracer: ``make_tracer(config)``; ``None`` means no tracing.
        models: chat models to use instead of the configured ones (primary first; tests).
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        user_id: int,
        tracer: Tracer | None = None,
        *,
        models: list[Any] | None = None,
        recursion_limit: int = RECURSION_LIMIT,
        tool_call_limit: int = MAX_TOOL_CALLS,
        row_cap: int = 200,
        sql_timeout_s: float = 2.0,
        history_messages: int = HISTORY_MESSAGES,
    ) -> None:
        from fretcoach_desktop.tracing.tracer import NullTracer

        self.config = config
        self.store = store
        self.user_id = int(user_id)
        self.tracer = tracer or NullTracer()
        self.recursion_limit = int(recursion_limit)
        self.tool_call_limit = int(tool_call_limit)
        self.row_cap = int(row_cap)
        self.sql_timeout_s = float(sql_timeout_s)
        self.history_messages = int(history_messages)
        self._models_override = models
        self._lock = threading.Lock()
        self._agent: Any = None
        self._graph: Any = None
        self._sql: Any = None
        self._ro_engine: Any = None
        self._primary_name: str = config.model

    # ------------------------------------------------------------------ set-up

    @property
    def online(self) -> bool:
        """Whether questions go to a model (an OpenAI key is configured)."""
        return bool(self._models_override) or self.config.online_coach

    def _chat_models(self) -> list[Any]:
        """The primary then the fallback models (ChatOpenAI from the shared LLM factory)."""
        if self._models_override:
            return list(self._models_override)
        from fretcoach_desktop.coach.llm import make_chat_model

        # streaming=True: the panel shows the answer as it arrives (on_token); usage is still
        # reported (stream_usage) and a 429 still fails before the first token, so falls back.
        runnable = make_chat_model(self.config, purpose="chat", streaming=True)
        if runnable is None:
            return []
        # make_chat_model returns the primary ChatOpenAI, or a RunnableWithFallbacks over
        # the configured models (each with its timeout and max_retries=0): the agent needs
        # the models themselves (tools are bound per model by the fallback middleware).
        inner = getattr(runnable, "runnable", None)
        if inner is not None and hasattr(runnable, "fallbacks"):
            return [inner, *runnable.fallbacks]
        return [runnable]

    def _system_prompt(self) -> tuple[str, str]:
        from fretcoach_desktop.coach.prompts import load_prompt

        prompt = load_prompt("chat_system")
        self.tracer.register_prompt(prompt.name, prompt.version, prompt.text)
        schema = database_schema_text()
        today = datetime.now(UTC).strftime("%Y-%m-%d (%A)")
        text = prompt.render(user_id=self.user_id, schema=schema, metric_definitions=METRIC_DEFINITIONS, today=today)
        extra = []
        if "schema" not in prompt.variables:
            extra.append(schema)
        elif "metric_definitions" not in prompt.variables and METRIC_DEFINITIONS not in text:
            extra.append(METRIC_DEFINITIONS)
        if "today" not in prompt.variables:
            extra.append(f"Today is {today} (UTC). 'This week' means the last 7 days.")
        extra.append(
            "When a tool returns an error, fix the query or answer from what you have; never invent numbers. "
            "Use markdown; a small table is welcome for trends."
        )
        return text + "\n\n" + "\n\n".join(extra), prompt.id

    def _tools(self) -> list[Any]:
        from langchain.tools import ToolRuntime, tool
        from langchain_core.tools import ToolException

        agent = self

        def execute_sql_query(query: str, runtime: ToolRuntime) -> str:
            """Run ONE read-only SQL SELECT over the player's own practice data and return the rows.

            Only SELECT (WITH ... SELECT, UNION) over the tables of get_database_schema is allowed;
            rows are limited to the current player automatically; at most 200 rows, 2 seconds.
            """
            from fretcoach_desktop.coach.sqlguard import QueryRejected

            try:
                result = agent._safe_sql().run(query)
            except QueryRejected as exc:
                raise ToolException(f"Error: {_one_line(str(exc))}") from None
            except Exception as exc:  # never a traceback to the model
                raise ToolException(f"Error: the query could not run ({describe_error(exc)})") from None
            return result.as_text(max_chars=RESULT_CHARS)

        def get_database_schema() -> str:
            """The tables and columns you may query, and how the four practice metrics are defined."""
            return database_schema_text()

        def generate_practice_plan(runtime: ToolRuntime) -> str:
            """Make (and save) a practice plan from the player's last 5 sessions, aimed at the weakest metric.

            Use it when the player asks what to practise next or for a plan.
            """
            turn = runtime.context if isinstance(runtime.context, _Turn) else None
            try:
                text, plan_id = agent._make_plan()
            except Exception as exc:
                raise ToolException(f"Error: no plan could be made ({describe_error(exc)})") from None
            if turn is not None:
                turn.plan_ran = True
                turn.plan_id = plan_id
                if turn.tracing:
                    _tag_current_trace("practice-plan")
            return text

        # This module postpones annotations (strings): give LangChain the real types.
        execute_sql_query.__annotations__ = {"query": str, "runtime": ToolRuntime[Any, Any], "return": str}
        get_database_schema.__annotations__ = {"return": str}
        generate_practice_plan.__annotations__ = {"runtime": ToolRuntime[Any, Any], "return": str}
        tools = [tool(f) for f in (execute_sql_query, get_database_schema, generate_practice_plan)]
        for t in tools:
            t.handle_tool_error = True  # ToolException -> ToolMessage(status="error") with its one line
        return tools

    def _build(self, models: list[Any]) -> Any:
        from langchain.agents import create_agent
        from langchain.agents.middleware import ToolCallLimitMiddleware

        system, _ = self._system_prompt()
        middleware: list[Any] = [ToolCallLimitMiddleware(run_limit=self.tool_call_limit, exit_behavior="continue")]
        if len(models) > 1:
            middleware.append(_transient_fallback(models[1:]))
        return create_agent(
            models[0],
            self._tools(),
            system_prompt=system,
            middleware=middleware,
            context_schema=_Turn,
            name="fretcoach-chat",
        )

    @property
    def agent(self) -> Any:
        """The compiled LangGraph agent, or ``None`` offline (no key)."""
        with self._lock:
            if self._agent is None:
                models = self._chat_models()
                if not models:
                    return None
                self._primary_name = _model_name(models[0]) or self.config.model
                self._agent = self._build(models)
            return self._agent

    def graph_agent(self) -> Any:
        """An agent to draw ("How the coach thinks"): the real one, or offline the same graph
        built on a stand-in model (nothing is called)."""
        agent = self.agent
        if agent is not None:
            return agent
        with self._lock:
            if self._graph is None:
                from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

                class _Drawing(GenericFakeChatModel):
                    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
                        return self

                stand_in = _Drawing(messages=iter(()))
                self._graph = self._build([stand_in, stand_in] if self.config.fallback_models else [stand_in])
            return self._graph

    def _safe_sql(self) -> Any:
        with self._lock:
            if self._sql is None:
                from fretcoach_desktop.coach.sqlguard import SafeSQL

                self._ro_engine = self.store.readonly_engine(role=self._reader_role())
                self._sql = SafeSQL(self._ro_engine, self.user_id, row_cap=self.row_cap, timeout_s=self.sql_timeout_s)
            return self._sql

    def _reader_role(self) -> str | None:
        """PostgreSQL: a role that may only SELECT FretCoach's tables, which the SQL tool's
        connection switches to, so the server itself refuses what the checker might miss
        (server files, large objects, other schemas); None on SQLite, or when the account
        may not create roles (the read-only transaction and the checker remain)."""
        if getattr(self.store, "dialect", "sqlite") != "postgresql":
            return None
        try:
            return self.store.ensure_readonly_role()
        except Exception as exc:  # noqa: BLE001 - StoreError: no CREATEROLE, ...
            log.warning("chat SQL runs without a read-only role: %s", " ".join(str(exc).split())[:200])
            return None

    def _make_plan(self) -> tuple[str, int | None]:
        """Run the AI Mode plan generator, store the plan; (text for the model, plan id)."""
        from fretcoach_desktop.coach.plans import make_practice_plan

        sessions = self.store.recent_sessions(self.user_id, limit=5)
        result = make_practice_plan(sessions, self.config, self.user_id, uuid.uuid4().hex)
        plan = result.plan.model_dump()
        ids = [int(i) for i in result.source_session_ids if str(i).isdigit()]
        plan_id = self.store.save_plan(
            self.user_id,
            plan,
            weakest_metric=result.weakest_metric,
            source_session_ids=ids,
            prompt_version=result.prompt_version,
        )
        facts = {
            "plan_id": plan_id,
            "weakest_metric": result.weakest_metric,
            "trend": result.trend,
            "made_by": result.model,
            "starter_plan": result.starter,
            "plan": plan,
        }
        return json.dumps(facts, ensure_ascii=False), plan_id

    def close(self) -> None:
        """Release the read-only database engine."""
        with self._lock:
            if self._ro_engine is not None:
                self._ro_engine.dispose()
                self._ro_engine = None
                self._sql = None

    # ------------------------------------------------------------------ history

    def _history(self, thread_id: str) -> list[Any]:
        from langchain_core.messages import AIMessage, HumanMessage

        records = self.store.chat_thread(self.user_id, thread_id)
        messages: list[Any] = []
        for rec in records[-self.history_messages :] if self.history_messages > 0 else []:
            if rec.role == "user":
                messages.append(HumanMessage(rec.content))
            elif rec.role == "assistant" and rec.content:
                messages.append(AIMessage(rec.content))
        return messages

    def _save(self, thread_id: str, role: str, content: str, **fields: Any) -> int | None:
        """Store one message (model, tool_calls, chart, trace_id); its id, None if it failed."""
        try:
            return self.store.add_chat_message(self.user_id, thread_id, role, content, **fields)
        except Exception as exc:  # the answer still reaches the player
            log.warning("chat: could not save a %s message: %s", role, _one_line(str(exc), 200))
            return None

    # ------------------------------------------------------------------ asking

    def ask(
        self,
        question: str,
        thread_id: str | None = None,
        *,
        on_token: Callable[[str], None] | None = None,
    ) -> ChatAnswer:
        """Answer *question* in conversation *thread_id* (``None``: a new conversation).

        Blocks for the model calls (bounded by their timeouts and the step limits): call it
        from a worker, not the GUI thread. *on_token* receives the answer's text as it streams.

        Raises:
            ValueError: an empty or too long question, or a bad thread id.
        """
        text = str(question or "").strip()
        if not text:
            raise ValueError("the question is empty")
        if len(text) > MAX_QUESTION_CHARS:
            raise ValueError(f"the question is too long ({MAX_QUESTION_CHARS} characters at most)")
        thread_id = _check_thread_id(thread_id) if thread_id else new_thread_id()
        start = time.perf_counter()
        history = self._history(thread_id) if self.online else []
        self._save(thread_id, "user", text)

        agent = self.agent if self.online else None
        if agent is None:
            answer = self._offline(text, thread_id, error=None, fell_back=False)
        else:
            answer = self._online(agent, text, thread_id, history, on_token)
        answer = _with_elapsed(answer, (time.perf_counter() - start) * 1000.0)
        message_id = self._save(
            thread_id,
            "assistant",
            answer.answer,
            model=answer.model,
            tool_calls=answer.tool_calls or None,
            chart=answer.chart,
            trace_id=answer.trace_id,
        )
        return _replace(answer, message_id=message_id)

    def _offline(
        self, question: str, thread_id: str, *, error: str | None, fell_back: bool, tool_calls=()
    ) -> ChatAnswer:
        from fretcoach_desktop.coach.chat_offline import OfflineChat

        answer = OfflineChat(self.store, self.user_id).answer(question, thread_id)
        text = answer.answer
        if error:
            note = f"_The online coach is unavailable ({error}); here is what I can tell from your data offline._"
            text = f"{note}\n\n{text}"
        return ChatAnswer(
            answer=text,
            thread_id=thread_id,
            model=answer.model,
            fell_back=fell_back,
            tool_calls=list(tool_calls),
            error=error,
            intent=answer.intent,
            chart=answer.chart,
            plan_id=answer.plan_id,
        )

    def _online(
        self, agent: Any, question: str, thread_id: str, history: list[Any], on_token: Callable[[str], None] | None
    ) -> ChatAnswer:
        from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
        from langgraph.errors import GraphRecursionError

        from fretcoach_desktop.coach.llm import ModelRecorder
        from fretcoach_desktop.tracing.conventions import chat_agent

        recorder = ModelRecorder(self._primary_name)
        spec = chat_agent(self.user_id, thread_id)
        callback = None
        if self.tracer.enabled:
            try:
                graph = agent.get_graph(xray=True)
            except Exception:
                graph = None
            callback = self.tracer.callback_for(spec, graph=graph)
        turn = _Turn(user_id=self.user_id, tracing=callback is not None)
        run_config: dict[str, Any] = {
            "recursion_limit": self.recursion_limit,
            "callbacks": [recorder] + ([callback] if callback is not None else []),
            "run_name": spec.name,
            "tags": list(spec.tags),
            "metadata": {"thread_id": thread_id, "user_id": str(self.user_id)},
        }
        inputs = {"messages": [*history, HumanMessage(question)]}
        n_before = len(inputs["messages"])
        state: dict[str, Any] | None = None
        error: str | None = None
        failure: BaseException | None = None
        modes = ["values", "messages"] if on_token is not None else ["values"]
        try:
            for mode, chunk in agent.stream(inputs, run_config, context=turn, stream_mode=modes):
                if mode == "values":
                    state = chunk
                elif on_token is not None:
                    message, meta = chunk
                    if isinstance(message, AIMessageChunk) and (meta or {}).get("langgraph_node") == "model":
                        piece = _text_of(message.content) if not isinstance(message.content, str) else message.content
                        if piece:
                            try:
                                on_token(piece)
                            except Exception:
                                log.debug("chat: on_token failed", exc_info=True)
        except GraphRecursionError:
            error = f"the coach needed more than {self.recursion_limit} steps and was stopped"
        except Exception as exc:  # every model failed (rate limits, server down, bad key...)
            failure = exc
        trace_id = next(iter(self.tracer.trace_ids(callback)), None) if callback is not None else None
        if turn.plan_ran and callback is not None:
            self._ensure_plan_tag(callback)

        messages = list((state or {}).get("messages", []))[n_before:]
        calls = _tool_calls(messages)
        if failure is not None:
            note = _failure_note(failure, recorder)
            log.info("chat: the online coach failed (%s); answering offline", note)
            answer = self._offline(question, thread_id, error=note, fell_back=True, tool_calls=calls)
            return _replace(answer, trace_id=trace_id, plan_id=turn.plan_id or answer.plan_id)

        final = next((m for m in reversed(messages) if isinstance(m, AIMessage) and not m.tool_calls), None)
        text = _text_of(final.content) if final is not None else ""
        if error is not None or not text:
            error = error or "the coach gave no answer"
            text = (
                "I could not finish this answer: I took too many steps looking through your data. "
                "Try a more specific question, e.g. 'How did my timing change over my last 5 sessions?'"
            )
        model = recorder.answered or self._primary_name
        return ChatAnswer(
            answer=text,
            thread_id=thread_id,
            model=model,
            fell_back=model != self._primary_name,
            tool_calls=calls,
            error=error,
            plan_id=turn.plan_id,
            trace_id=trace_id,
        )

    def _ensure_plan_tag(self, callback: Any) -> None:
        """Belt and braces: when tagging from inside the tool did not reach the trace, add the
        practice-plan tag to the finished trace."""
        try:
            traces = list(callback.created_traces())
        except Exception:
            return
        for trace in traces:
            tags = list(getattr(trace, "tags", None) or [])
            if "practice-plan" in tags:
                continue
            try:
                import opik

                opik.get_global_client().update_trace(
                    trace.id, project_name=self.tracer.project_name, tags=[*tags, "practice-plan"]
                )
            except Exception:
                log.debug("chat: cannot tag the trace", exc_info=True)


# --------------------------------------------------------------------------- helpers


def _tag_current_trace(tag: str) -> None:
    """Add *tag* to the Opik trace being recorded (the OpikTracer keeps it in Opik's context)."""
    try:
        from opik import opik_context

        opik_context.update_current_trace(tags=[tag])
    except Exception:
        log.debug("chat: cannot tag the current trace", exc_info=True)


def _model_name(model: Any) -> str | None:
    meta = getattr(model, "metadata", None) or {}
    return meta.get("fretcoach_model") or getattr(model, "model_name", None) or getattr(model, "model", None)


def _transient_fallback(models: list[Any]) -> Any:
    """ModelFallbackMiddleware that moves on only for rate limits, server errors, timeouts and
    connection errors (a bad key or a bad request fails at once: the fallbacks would too)."""
    from langchain.agents.middleware import ModelFallbackMiddleware

    from fretcoach_desktop.coach.llm import _fallback_errors

    transient = _fallback_errors()

    class TransientFallback(ModelFallbackMiddleware):
        def wrap_model_call(self, request: Any, handler: Any) -> Any:
            try:
                return handler(request)
            except transient:
                pass
            last: BaseException | None = None
            for model in self.models:
                try:
                    return handler(request.override(model=model))
                except transient as exc:
                    last = exc
            assert last is not None
            raise last

    return TransientFallback(*models)


def _tool_calls(messages: list[Any]) -> list[dict[str, Any]]:
    """``[{name, args, ok, error}]`` of the tool calls among *messages*, in order."""
    from langchain_core.messages import AIMessage, ToolMessage

    results = {m.tool_call_id: m for m in messages if isinstance(m, ToolMessage)}
    calls = []
    for m in messages:
        if not isinstance(m, AIMessage):
            continue
        for call in m.tool_calls or ():
            reply = results.get(call.get("id"))
            ok = reply is not None and getattr(reply, "status", "success") != "error"
            error = None
            if reply is None:
                error = "not run (the coach was stopped)"
            elif not ok:
                error = _one_line(_text_of(reply.content).removeprefix("Error: "), 300)
            calls.append({"name": call.get("name"), "args": dict(call.get("args") or {}), "ok": ok, "error": error})
    return calls


def _failure_note(exc: BaseException, recorder: Any) -> str:
    """One line saying why the online coach did not answer (no secrets, no traceback)."""
    import openai

    status = getattr(exc, "status_code", None)
    tried = list(dict.fromkeys(getattr(recorder, "tried", []) or []))
    models = f" ({', '.join(tried)})" if tried else ""
    if status == 429:
        return f"rate limited on every model{models}"
    if status in (401, 403):
        return "the OpenAI key was refused"
    if isinstance(exc, openai.APIError):
        return f"every model failed{models}: {describe_error(exc)}"
    return f"the online coach failed: {describe_error(exc)}"


def _replace(answer: ChatAnswer, **changes: Any) -> ChatAnswer:
    from dataclasses import replace

    return replace(answer, **changes)


def _with_elapsed(answer: ChatAnswer, ms: float) -> ChatAnswer:
    return _replace(answer, elapsed_ms=round(ms, 1))
