"""The chat agent against the loopback fake OpenAI (scripted tool calls) and fake Opik servers."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import time
from pathlib import Path

import pytest

from fretcoach_desktop.coach.chat import ChatAgent
from fretcoach_desktop.config import load_config
from tests.fakes.openai_server import DEFAULT_TIP, Error, FakeOpenAI, Reply
from tests.fakes.opik_server import FakeOpik
from tests.test_chat_offline import BO_METRICS, seed_store

PRIMARY, FALLBACK = "gpt-4o-mini", "gpt-4.1-mini"


def _digest(db: Path) -> str:
    """The database files' bytes (the main file and its WAL): any write changes it."""
    h = hashlib.sha256()
    for path in (db, db.with_name(db.name + "-wal")):
        h.update(path.read_bytes() if path.exists() else b"-")
    return h.hexdigest()


class HashingOpenAI(FakeOpenAI):
    """Records the database digest when each model request arrives (i.e. after each tool round)."""

    def __init__(self, db: Path) -> None:
        super().__init__()
        self.db = db
        self.digests: list[str] = []

    def _handle(self, handler, method, path, body):
        self.digests.append(_digest(self.db))
        super()._handle(handler, method, path, body)


@pytest.fixture()
def db(tmp_path):
    path = tmp_path / "fc.db"
    store, ana, bo = seed_store(f"sqlite:///{path}")
    yield path, store, ana, bo
    store.close()


def _config(api, db_path, **extra):
    values = {
        "openai_api_key": "sk-test",
        "openai_base_url": api.base_url,
        "model": PRIMARY,
        "fallback_models": [FALLBACK],
        "db_url": f"sqlite:///{db_path}",
        "data_dir": str(db_path.parent),
    }
    values.update(extra)
    return load_config(values, env={})


def _tool_messages(request) -> list[str]:
    return [m["content"] for m in request["body"]["messages"] if m["role"] == "tool"]


def _sql(query: str) -> dict:
    return {"name": "execute_sql_query", "arguments": {"query": query}}


def test_answers_use_the_players_own_data(db):
    path, store, ana, bo = db
    with FakeOpenAI() as api:
        api.script(
            PRIMARY,
            Reply(tool_calls=[{"name": "get_database_schema"}]),
            Reply(tool_calls=[_sql("SELECT started_at, timing_stability, pitch_accuracy FROM sessions ORDER BY 1")]),
            Reply("Your timing rose from 60 to 80 over 6 sessions."),
        )
        agent = ChatAgent(_config(api, path), store, ana)
        answer = agent.ask("How did my timing improve?")
        requests = api.chat_requests()
    assert answer.answer == "Your timing rose from 60 to 80 over 6 sessions."
    assert answer.model == PRIMARY and not answer.fell_back and answer.error is None
    assert answer.thread_id.startswith("hub-aicoach-chat-")
    assert [(c["name"], c["ok"]) for c in answer.tool_calls] == [
        ("get_database_schema", True),
        ("execute_sql_query", True),
    ]
    # the system prompt knows the schema and the metric definitions
    system = requests[0]["body"]["messages"][0]
    assert system["role"] == "system"
    assert "timing_stability" in system["content"] and "falling linearly to 0 at 100 ms" in system["content"]
    assert {t["function"]["name"] for t in requests[0]["body"]["tools"]} == {
        "execute_sql_query",
        "get_database_schema",
        "generate_practice_plan",
    }
    schema = _tool_messages(requests[1])[0]
    assert "notes(" in schema and "session_windows(" in schema and "pitch_accuracy:" in schema
    rows = _tool_messages(requests[2])[-1]
    assert [line.split(" | ")[1] for line in rows.splitlines()[1:]] == [
        "60.00",
        "64.00",
        "68.00",
        "72.00",
        "76.00",
        "80.00",
    ]
    for value in BO_METRICS:
        assert f"{value:.2f}" not in rows
    # the conversation is kept, tool calls included
    thread = store.chat_thread(ana, answer.thread_id)
    assert [(m.role, m.model) for m in thread] == [("user", None), ("assistant", PRIMARY)]
    assert [c["name"] for c in thread[1].tool_calls] == ["get_database_schema", "execute_sql_query"]


HOSTILE = [
    "INSERT INTO sessions (user_id, started_at, key, scale, bpm) VALUES (1, '2026-01-01', 'A', 'minor', 90)",
    "UPDATE sessions SET timing_stability = 100",
    "DELETE FROM notes",
    "DROP TABLE sessions",
    "ATTACH DATABASE '{evil}' AS evil",
    "PRAGMA writable_schema = 1",
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT 1; DROP TABLE sessions",
    "SELECT 1; -- just a comment\nDELETE FROM sessions",
    "SELECT * FROM sessions /* harmless */; UPDATE users SET name = 'x'",
    "SELECT * FROM sqlite_master",
    "SELECT * FROM main.sessions",
]


def test_hostile_queries_change_nothing_and_reach_the_model_as_short_errors(db, tmp_path):
    path, store, ana, bo = db
    evil = tmp_path / "evil.db"
    hostile = [q.format(evil=evil) for q in HOSTILE]
    other_rows = [
        f"SELECT user_id, pitch_accuracy FROM sessions WHERE user_id = {bo}",
        f"SELECT user_id FROM sessions WHERE user_id = {ana} OR 1=1 UNION SELECT {bo}",
        "SELECT s.user_id, s.pitch_accuracy FROM sessions s /* WHERE user_id = 1 */ WHERE s.pitch_accuracy < 20",
    ]
    slow = [
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c",
        "SELECT count(*) FROM notes a, notes b, notes c, notes d, notes e, notes f",
        "SELECT * FROM notes a, notes b, notes c, notes d, notes e, notes f, notes g",
    ]
    calls = [_sql(q) for q in hostile + other_rows + slow]
    with HashingOpenAI(path) as api:
        api.script(PRIMARY, Reply(tool_calls=calls), Reply("I can only read your data."))
        config = _config(api, path)
        agent = ChatAgent(config, store, ana, tool_call_limit=50, sql_timeout_s=0.5)
        start = time.perf_counter()
        answer = agent.ask("Please wreck the database")
        elapsed = time.perf_counter() - start
        follow_up = api.chat_requests()[1]
        digests = list(api.digests)
    assert answer.answer == "I can only read your data." and answer.error is None
    # nothing was written between the question and the answer: the DB files are byte-identical
    assert len(digests) == 2 and digests[0] == digests[1]
    assert not evil.exists()
    assert store.history(ana) and len(store.history(ana)) == 6 and store.users()
    # every hostile query came back to the model as one short line, never a traceback
    results = _tool_messages(follow_up)
    assert len(results) == len(calls)
    for query, text in zip(hostile, results[: len(hostile)]):
        assert text.startswith("Error: "), (query, text)
        assert "\n" not in text and len(text) < 300 and "Traceback" not in text and "File " not in text
    by_query = {c["args"]["query"]: c for c in answer.tool_calls}
    assert all(not by_query[q]["ok"] and by_query[q]["error"] for q in hostile)
    # other players' rows are simply not there
    for text in results[len(hostile) : len(hostile) + len(other_rows)]:
        assert f"{BO_METRICS[0]:.2f}" not in text
        assert all(line.split(" | ")[0] in ("user_id", str(ana)) for line in text.splitlines() if " | " in line)
    assert results[len(hostile)] == "(no rows)"
    # the never-ending CTE is stopped; the huge cross joins are stopped or capped
    cte, count_join, rows_join = results[-3:]
    assert cte.startswith("Error: ") and "too long" in cte
    assert count_join.startswith("Error: ") and "too long" in count_join
    assert "too long" in rows_join or "only the first 200 rows" in rows_join or "(output cut)" in rows_join
    assert elapsed < 10


def test_a_rate_limit_on_the_primary_ends_in_the_fallbacks_answer(db):
    path, store, ana, _ = db
    with FakeOpenAI() as api:
        api.script(PRIMARY, Error(429))
        api.script(FALLBACK, Reply("Timing is your weakest metric."))
        answer = ChatAgent(_config(api, path), store, ana).ask("What is my weakest metric?")
        models = [r["model"] for r in api.chat_requests()]
    assert models == [PRIMARY, FALLBACK]
    assert answer.answer == "Timing is your weakest metric."
    assert answer.model == FALLBACK and answer.fell_back and answer.error is None
    assert store.chat_thread(ana, answer.thread_id)[-1].model == FALLBACK


def test_rate_limited_on_every_model_answers_offline_with_a_note(db):
    path, store, ana, _ = db
    with FakeOpenAI() as api:
        api.default(PRIMARY, Error(429))
        api.default(FALLBACK, Error(429))
        answer = ChatAgent(_config(api, path), store, ana).ask("What is my weakest metric?")
    assert answer.model == "offline" and answer.fell_back
    assert answer.error == f"rate limited on every model ({PRIMARY}, {FALLBACK})"
    assert "**timing** (average 72.0)" in answer.answer and "online coach is unavailable" in answer.answer
    assert "Traceback" not in answer.answer and "sk-test" not in answer.answer


def test_a_looping_model_is_stopped_quickly(db):
    path, store, ana, _ = db
    with FakeOpenAI() as api:
        api.default(PRIMARY, Reply(tool_calls=[{"name": "get_database_schema"}]))
        agent = ChatAgent(_config(api, path, fallback_models=[]), store, ana)
        assert agent.agent is not None  # build (and import LangChain) before timing
        start = time.perf_counter()
        answer = agent.ask("Tell me everything")
        elapsed = time.perf_counter() - start
        calls = len(api.chat_requests())
    assert elapsed < 5
    assert calls <= 5
    assert "more than 14 steps" in answer.error
    assert answer.answer.startswith("I could not finish this answer")
    assert answer.tool_calls and all(c["name"] == "get_database_schema" for c in answer.tool_calls)


def test_the_tool_call_limit_refuses_extra_calls(db):
    path, store, ana, _ = db
    with FakeOpenAI() as api:
        api.script(PRIMARY, Reply(tool_calls=[{"name": "get_database_schema"}] * 3), Reply("Done."))
        answer = ChatAgent(_config(api, path), store, ana, tool_call_limit=2).ask("Schema please")
        results = _tool_messages(api.chat_requests()[1])
    assert answer.answer == "Done."
    assert sorted(c["ok"] for c in answer.tool_calls) == [False, True, True]
    assert sum("limit" in text.lower() for text in results) == 1


def test_history_is_sent_and_new_messages_saved(db):
    path, store, ana, _ = db
    with FakeOpenAI() as api:
        api.script(PRIMARY, Reply("First answer."), Reply("Second answer."))
        agent = ChatAgent(_config(api, path), store, ana)
        first = agent.ask("First question?")
        second = agent.ask("Second question?", first.thread_id)
        sent = [(m["role"], m["content"]) for m in api.chat_requests()[1]["body"]["messages"][1:]]
    assert second.thread_id == first.thread_id
    assert sent == [
        ("user", "First question?"),
        ("assistant", "First answer."),
        ("user", "Second question?"),
    ]
    assert [m.content for m in store.chat_thread(ana, first.thread_id)] == [
        "First question?",
        "First answer.",
        "Second question?",
        "Second answer.",
    ]


def test_the_plan_tool_makes_and_stores_the_ai_mode_plan(db):
    path, store, ana, _ = db
    with FakeOpenAI() as api:
        # the plan generator's structured call gets the fake's schema-shaped default reply
        api.script(PRIMARY, Reply(tool_calls=[{"name": "generate_practice_plan"}]))
        answer = ChatAgent(_config(api, path), store, ana).ask("What should I practice next?")
        plan_request = [r for r in api.chat_requests() if r["body"].get("response_format")]
    assert answer.answer == DEFAULT_TIP
    assert answer.tool_calls == [{"name": "generate_practice_plan", "args": {}, "ok": True, "error": None}]
    assert len(plan_request) == 1  # the same generator as AI Mode (structured output)
    plan = store.latest_plan(ana)
    assert plan is not None and plan.id == answer.plan_id and plan.weakest_metric == "timing_stability"


def test_streaming_tokens_reach_the_callback(db):
    path, store, ana, _ = db
    tokens: list[str] = []
    with FakeOpenAI() as api:
        api.script(PRIMARY, Reply(tool_calls=[{"name": "get_database_schema"}]), Reply("Keep the click steady."))
        answer = ChatAgent(_config(api, path), store, ana).ask("Tip?", on_token=tokens.append)
    assert answer.answer == "Keep the click steady."
    assert "".join(tokens) == "Keep the click steady." and len(tokens) > 1


# --------------------------------------------------------------------------- tracing


def _trace_for(opik: FakeOpik, thread_id: str) -> dict | None:
    return next((t for t in opik.traces() if t.get("thread_id") == thread_id and t.get("end_time")), None)


def test_traces_carry_tags_metadata_and_thread(db):
    from fretcoach_desktop.tracing import make_tracer

    path, store, ana, _ = db
    with FakeOpenAI() as api, FakeOpik() as opik:
        config = _config(api, path, opik_url_override=opik.url)
        tracer = make_tracer(config)
        assert tracer.enabled
        agent = ChatAgent(config, store, ana, tracer)
        api.script(PRIMARY, Reply(tool_calls=[{"name": "generate_practice_plan"}]))
        with_plan = agent.ask("What should I practice next?")
        api.script(PRIMARY, Reply("Timing."))
        plain = agent.ask("Weakest metric?")
        tracer.flush(5.0)
        assert opik.wait_for(lambda o: _trace_for(o, with_plan.thread_id) and _trace_for(o, plain.thread_id))
        traced_plan = _trace_for(opik, with_plan.thread_id)
        traced_plain = _trace_for(opik, plain.thread_id)
        spans = opik.spans()
    assert with_plan.thread_id.startswith("hub-aicoach-chat-") and plain.thread_id != with_plan.thread_id
    assert set(traced_plan["tags"]) == {"ai-coach", "web-chat", "practice-plan"}
    assert set(traced_plain["tags"]) == {"ai-coach", "web-chat"}
    for trace, answer in ((traced_plan, with_plan), (traced_plain, plain)):
        assert trace["metadata"]["thread_id"] == answer.thread_id
        assert trace["metadata"]["user_id"] == str(ana)
        assert "_opik_graph_definition" in trace["metadata"]  # the agent's graph, for Opik's UI
        assert answer.trace_id == trace["id"]
    assert any(s.get("name") == "generate_practice_plan" for s in spans)
    assert "sk-test" not in json.dumps(opik.requests)


def test_nothing_reaches_opik_when_it_is_not_configured(db):
    from fretcoach_desktop.tracing import NullTracer, make_tracer

    path, store, ana, _ = db
    with FakeOpenAI() as api, FakeOpik() as opik:
        config = _config(api, path)
        tracer = make_tracer(config)
        assert isinstance(tracer, NullTracer)
        api.script(PRIMARY, Reply(tool_calls=[{"name": "generate_practice_plan"}]))
        answer = ChatAgent(config, store, ana, tracer).ask("What should I practice next?")
        tracer.flush(1.0)
        time.sleep(0.3)
        assert opik.requests == []
    assert answer.trace_id is None and answer.plan_id is not None


# --------------------------------------------------------------------------- the CLI


def _ask(argv: list[str]) -> tuple[int, str, str]:
    from fretcoach_desktop.cli import CliError
    from fretcoach_desktop.commands import ask

    parser = argparse.ArgumentParser(prog="fretcoach")
    parser.add_argument("--user")
    ask.add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    try:
        status = args.handler(args, out=out, err=err)
    except CliError as exc:
        return exc.status, out.getvalue(), str(exc)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture()
def cli_db(isolated_env):
    store, ana, bo = seed_store(f"sqlite:///{isolated_env / 'fretcoach.db'}")
    store.close()
    return isolated_env


def test_cli_offline_json(cli_db):
    status, out, err = _ask(["--user", "ana", "ask", "What's my weakest metric?", "--json"])
    assert status == 0 and err == ""
    data = json.loads(out)
    assert data["model"] == "offline" and data["tool_calls"] == [] and data["thread_id"].startswith("hub-aicoach")
    assert "timing" in data["answer"]
    status, out, _ = _ask(["--user", "ana", "ask", "And my last session?", "--thread", data["thread_id"]])
    assert status == 0 and f"thread: {data['thread_id']} (offline answer)" in out


def test_cli_user_errors(cli_db):
    assert _ask(["--user", "ana", "ask", "  "])[0] == 2
    status, _, message = _ask(["--user", "ana", "ask", "Hi", "--thread", "hub-aicoach-chat-1"])
    assert status == 2 and "no conversation" in message


def test_cli_online_tool_calls_and_service_failure(cli_db, monkeypatch):
    with FakeOpenAI() as api:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", api.base_url)
        monkeypatch.setenv("FRETCOACH_FALLBACK_MODELS", FALLBACK)
        api.script(PRIMARY, Reply(tool_calls=[_sql("SELECT count(*) FROM sessions"), _sql("DELETE FROM notes")]))
        api.script(PRIMARY, Reply("You played 6 sessions."))
        status, out, err = _ask(["--user", "ana", "ask", "How many sessions?", "--json"])
        assert status == 0, err
        data = json.loads(out)
        assert data["answer"] == "You played 6 sessions." and data["model"] == PRIMARY
        assert data["tool_calls"][0] == {
            "name": "execute_sql_query",
            "arguments": {"query": "SELECT count(*) FROM sessions"},
            "ok": True,
        }
        assert data["tool_calls"][1] == {**data["tool_calls"][1], "name": "execute_sql_query", "ok": False}
        assert data["tool_calls"][1]["error"] == "only SELECT queries are allowed"

        api.default(PRIMARY, Error(429))
        api.default(FALLBACK, Error(429))
        status, out, err = _ask(["--user", "ana", "ask", "What's my weakest metric?"])
    assert status == 1
    assert "timing" in out and "thread: hub-aicoach-chat-" in out
    assert err.strip() == f"fretcoach: note: rate limited on every model ({PRIMARY}, {FALLBACK})"


# --------------------------------------------------------------------------- the same, on PostgreSQL

PG_HOSTILE = [
    "SELECT * FROM pg_catalog.pg_user",
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM pg_shadow",
    "SELECT * FROM pg_stat_activity",
    "SELECT * FROM public.sessions",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT pg_catalog.pg_read_file('/etc/passwd')",
    "SELECT \"pg_read_file\"('/etc/passwd')",
    "SELECT lo_import('/etc/passwd')",
    "SELECT lo_from_bytea(0, 'x'::bytea)",  # a large object: a write even in a read-only transaction
    "SELECT pg_notify('fretcoach', 'x')",
    "SELECT * FROM dblink('dbname=postgres', 'DELETE FROM sessions') AS t(x int)",
    "SELECT set_config('default_transaction_read_only', 'off', false)",
    "SELECT current_setting('data_directory')",
    "SELECT pg_sleep(30)",
    "SELECT nextval('sessions_id_seq')",
    "SELECT setval('sessions_id_seq', 1)",
    "COPY sessions TO '/tmp/fretcoach-evil.csv'",
    "COPY (SELECT 1) TO PROGRAM 'touch /tmp/fretcoach-evil'",
    "SELECT * INTO stolen FROM sessions",
    "SELECT query_to_xml('DELETE FROM sessions', true, true, '')",
    "SET default_transaction_read_only = off",
    "SELECT 1; DELETE FROM sessions",
]


def _pg_fingerprint(url: str) -> str:
    """Every row of every table, every sequence and large object: any write changes it.
    The conversation itself (chat_messages), which the agent stores by design, is left out."""
    from sqlalchemy import create_engine, text

    from fretcoach_desktop.store import models

    engine = create_engine(url)
    h = hashlib.sha256()
    try:
        with engine.connect() as conn:
            for table in models.Base.metadata.sorted_tables:
                if table.name != "chat_messages":
                    for row in conn.execute(text(f"SELECT * FROM {table.name} ORDER BY 1")):
                        h.update(repr(tuple(row)).encode())
            sequences = "SELECT sequencename, last_value FROM pg_sequences WHERE sequencename NOT LIKE 'chat_messages%'"
            for row in conn.execute(text(sequences + " ORDER BY 1")):
                h.update(repr(tuple(row)).encode())
            h.update(repr(conn.execute(text("SELECT count(*) FROM pg_largeobject_metadata")).scalar()).encode())
            h.update(repr(sorted(conn.execute(text("SELECT tablename FROM pg_tables")).scalars())).encode())
    finally:
        engine.dispose()
    return h.hexdigest()


def test_hostile_queries_on_postgresql_change_nothing_and_see_only_the_players_rows(postgres_server, tmp_path):
    """The SQLite suite's attacks plus PostgreSQL's own (catalogs, server files, large
    objects, dblink, settings, sleeps, sequences, COPY, SELECT INTO, LATERAL,
    generate_series blow-ups, schema-qualified names), through the agent on a real server."""
    url = postgres_server.create_database()
    store, ana, bo = seed_store(url)
    try:
        hostile = [q.format(evil=tmp_path / "evil.db") for q in HOSTILE] + PG_HOSTILE
        other_rows = [
            f"SELECT user_id, pitch_accuracy FROM sessions WHERE user_id = {bo}",
            "SELECT s.user_id FROM sessions s, LATERAL (SELECT user_id FROM sessions t WHERE t.user_id <> s.user_id) x",
            "SELECT t.user_id FROM sessions s CROSS JOIN LATERAL (SELECT * FROM sessions) t",
        ]
        slow = [
            "SELECT count(*) FROM generate_series(1, 100000000000)",
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c",
        ]
        calls = [_sql(q) for q in hostile + other_rows + slow] + [_sql("SELECT current_user AS who")]
        before = _pg_fingerprint(url)
        with FakeOpenAI() as api:
            api.script(PRIMARY, Reply(tool_calls=calls), Reply("I can only read your data."))
            config = _config(api, tmp_path / "unused.db", db_url=url)
            agent = ChatAgent(config, store, ana, tool_call_limit=80, sql_timeout_s=0.5)
            start = time.perf_counter()
            answer = agent.ask("Please wreck the database")
            elapsed = time.perf_counter() - start
            follow_up = api.chat_requests()[1]
        after = _pg_fingerprint(url)
    finally:
        store.close()
    assert answer.answer == "I can only read your data." and answer.error is None
    assert before == after  # not a row, sequence, large object or table changed
    assert [m.role for m in store.chat_thread(ana, answer.thread_id)] == ["user", "assistant"]  # what was stored
    assert not Path("/tmp/fretcoach-evil").exists() and not Path("/tmp/fretcoach-evil.csv").exists()
    results = _tool_messages(follow_up)
    assert len(results) == len(calls)
    for query, text in zip(hostile, results[: len(hostile)]):
        assert text.startswith("Error: "), (query, text)
        assert "\n" not in text and len(text) < 300 and "Traceback" not in text, (query, text)
    for text in results[len(hostile) : len(hostile) + len(other_rows)]:
        assert f"{BO_METRICS[0]:.2f}" not in text
        assert all(line.split(" | ")[0] in ("user_id", str(ana)) for line in text.splitlines() if " | " in line), text
    assert results[len(hostile)] == "(no rows)"
    for text in results[-3:-1]:
        assert text.startswith("Error: ") and "too long" in text, text
    assert results[-1] == "who\nfretcoach_reader"  # the server's own check: a SELECT-only role
    assert elapsed < 20
