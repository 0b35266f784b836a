"""The chat coach without a model: the offline intent matcher and the agent's graph drawing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fretcoach_desktop.audio.types import Metrics
from fretcoach_desktop.coach.chat_offline import OfflineChat, match_intent, parse_key_scale
from fretcoach_desktop.store import Store
from fretcoach_desktop.store.records import NoteRecord

NOW = datetime(2026, 3, 20, 18, 0, tzinfo=UTC)

#: ana's notes in every session: A (good), C (+35 cents: out of tune), F (out of A minor
#: pentatonic), D and E (good).
_NOTE_CYCLE = [(57, 2.0, True), (60, 35.0, True), (65, 0.0, False), (62, 1.0, True), (64, -4.0, True)]

#: bo's values: distinctive numbers that must never appear in ana's answers.
BO_METRICS = (11.1, 22.2, 33.3, 44.4)


def seed_store(url: str, now: datetime = NOW) -> tuple[Store, int, int]:
    """Two players through the store's public API.

    ana: 6 sessions in A minor pentatonic, one every 2 days ending ~1 day before *now*;
    timing 60, 64, ... 80 (improving, the weakest), pitch 90 .. 92.5, scale 80, noise 85;
    10 notes each. bo: one E minor session with :data:`BO_METRICS`.
    """
    store = Store(url)
    ana = store.ensure_user("ana")
    bo = store.ensure_user("bo")
    for i in range(6):
        started = now - timedelta(days=11 - 2 * i)
        sid = store.start_session(ana.id, key="A", scale="minor_pentatonic", bpm=90 + i, started_at=started)
        notes = [NoteRecord(k, 0.5 * k, *_NOTE_CYCLE[k % 5][:2], _NOTE_CYCLE[k % 5][2], 5.0) for k in range(10)]
        store.finish_session(
            sid,
            notes=notes,
            duration_s=600.0 + 60 * i,
            metrics=Metrics(90.0 + 0.5 * i, 80.0, 60.0 + 4 * i, 85.0, notes=10, noise_events=2),
            ended_at=started + timedelta(minutes=12),
        )
    started = now - timedelta(days=1)
    sid = store.start_session(bo.id, key="E", scale="minor", bpm=120, started_at=started)
    store.finish_session(
        sid,
        notes=[NoteRecord(0, 0.1, 40, 0.0, True, 1.0), NoteRecord(1, 0.6, 41, 44.0, False, 1.0)],
        duration_s=60.0,
        metrics=Metrics(*BO_METRICS, notes=2, noise_events=0),
        ended_at=started + timedelta(minutes=1),
    )
    return store, ana.id, bo.id


@pytest.fixture()
def seeded(tmp_path):
    store, ana, bo = seed_store(f"sqlite:///{tmp_path / 'fc.db'}")
    yield store, ana, bo
    store.close()


def _no_bo(text: str) -> None:
    for value in BO_METRICS:
        assert f"{value:.1f}" not in text


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("What should I practice next?", "plan"),
        ("What should I practise next?", "plan"),
        ("Show me my progress trends", "progress"),
        ("How did my timing improve this week?", "progress"),
        ("Which notes do I miss most in A minor pentatonic?", "missed_notes"),
        ("What's my weakest metric?", "weakest"),
        ("How was my last session?", "last_session"),
        ("How much did I practice this month?", "practice_time"),
        ("help", "help"),
        ("Write me a song about cats", None),
    ],
)
def test_the_common_questions_are_recognised(question, intent):
    assert match_intent(question) == intent


def test_keys_and_scales_are_read_from_the_question():
    assert parse_key_scale("Which notes do I miss most in A minor pentatonic?") == ("A", "minor_pentatonic")
    assert parse_key_scale("misses in Bb major") == ("Bb", "major")
    assert parse_key_scale("wrong notes in F# dorian?") == ("F#", "dorian")
    assert parse_key_scale("missed notes in the key of E") == ("E", None)
    assert parse_key_scale("which notes do I miss most?") == (None, None)


def test_progress_per_metric_from_the_data(seeded):
    store, ana, _ = seeded
    answer = OfflineChat(store, ana, now=NOW).answer("Show me my progress trends")
    assert answer.model == "offline" and answer.intent == "progress"
    assert answer.thread_id.startswith("hub-aicoach-chat-")
    assert "| timing | 60.0 | 80.0 | +20.0 | 70.0 |" in answer.answer
    assert "most progress in timing (+20.0)" in answer.answer
    assert set(answer.chart["series"]) == {"pitch_accuracy", "scale_conformity", "timing_stability", "noise_control"}
    assert [v for _, v in answer.chart["series"]["timing_stability"]] == [60.0, 64.0, 68.0, 72.0, 76.0, 80.0]
    _no_bo(answer.answer)


def test_timing_this_week_compares_with_the_week_before(seeded):
    store, ana, _ = seeded
    answer = OfflineChat(store, ana, now=NOW).answer("How did my timing improve this week?")
    # sessions 7, 5, 3 and 1 days ago are this week: 68 .. 80; the week before: 60, 64
    assert "Your timing improved by 12.0 points in the last 7 days (4 sessions" in answer.answer
    assert "| timing | 68.0 | 80.0 | +12.0 | 74.0 | 62.0 |" in answer.answer
    assert "pitch" not in answer.answer


def test_weakest_metric_last_session_and_practice_time(seeded):
    store, ana, _ = seeded
    chat = OfflineChat(store, ana, now=NOW)
    weakest = chat.answer("What is my weakest metric?").answer
    assert "**timing** (average 72.0)" in weakest and "improving" in weakest
    last = chat.answer("How was my last session?").answer
    assert "A minor pentatonic at 95 bpm" in last and "| timing | 80.0 | +4.0 |" in last
    time = chat.answer("How much did I practice this week?").answer
    assert "4 sessions, 54 minutes" in time
    for text in (weakest, last, time):
        _no_bo(text)


def test_what_to_practice_next_is_the_offline_plan_and_is_stored(seeded):
    store, ana, _ = seeded
    answer = OfflineChat(store, ana, now=NOW).answer("What should I practice next?")
    assert answer.intent == "plan" and answer.plan_id is not None
    assert "work on timing" in answer.answer and "A minor pentatonic" in answer.answer
    plan = store.latest_plan(ana)
    assert plan is not None and plan.id == answer.plan_id and plan.weakest_metric == "timing_stability"
    assert plan.prompt_version == "offline.plan.v1"


def test_most_missed_notes_in_a_key_and_scale(seeded):
    store, ana, _ = seeded
    chat = OfflineChat(store, ana, now=NOW)
    answer = chat.answer("Which notes do I miss most in A minor pentatonic?").answer
    assert "6 sessions in A minor pentatonic (60 notes" in answer
    assert "| F | 12 | 12 | 0 | 100% |" in answer  # out of the scale
    assert "| C | 12 | 0 | 12 | 100% |" in answer  # 35 cents sharp
    assert "| A |" not in answer and "| E |" not in answer
    # bo's E minor session is not ana's
    assert "no finished sessions in E minor" in chat.answer("Which notes do I miss most in E minor?").answer


def test_it_says_what_it_cannot_do(seeded):
    store, ana, _ = seeded
    answer = OfflineChat(store, ana, now=NOW).answer("Compose a song about my cat")
    assert answer.intent == "unknown"
    assert "can't answer that offline" in answer.answer and "OPENAI_API_KEY" in answer.answer
    assert "weakest metric" in answer.answer


def test_a_player_without_sessions_gets_a_clear_answer(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'empty.db'}") as store:
        user = store.ensure_user("new")
        chat = OfflineChat(store, user.id, now=NOW)
        for question in ("Show me my progress", "What's my weakest metric?", "How was my last session?"):
            assert "no finished sessions" in chat.answer(question).answer
        plan = chat.answer("What should I practice next?")
        assert "starter plan" in plan.answer


def test_the_graph_is_drawn_offline_without_a_key(seeded, monkeypatch):
    from fretcoach_desktop.coach.agent_graph import graph_layout, graph_mermaid
    from fretcoach_desktop.coach.chat import ChatAgent
    from fretcoach_desktop.config import load_config

    def no_network(*args, **kwargs):
        raise AssertionError("drawing the graph must not use the network")

    monkeypatch.setattr("socket.create_connection", no_network)
    store, ana, _ = seeded
    config = load_config({"db_url": str(store.engine.url)}, env={})
    agent = ChatAgent(config, store, ana)
    assert not agent.online and agent.agent is None
    text = graph_mermaid(agent)
    assert text.startswith("---") and "graph TD;" in text and "execute_sql_query" in text
    nodes, edges = graph_layout(agent)
    by_id = {n.id: n for n in nodes}
    assert {"__start__", "model", "tools", "__end__"} <= set(by_id)
    assert by_id["tools"].tools == ("execute_sql_query", "get_database_schema", "generate_practice_plan")
    assert by_id["__start__"].rank == 0 and by_id["model"].rank == 1
    assert by_id["__end__"].rank == max(n.rank for n in nodes)
    assert ("__start__", "model", False) in {(e.source, e.target, e.conditional) for e in edges}
    assert all(e.source in by_id and e.target in by_id for e in edges)


def test_asking_without_a_key_answers_offline_and_keeps_the_conversation(seeded):
    from fretcoach_desktop.coach.chat import ChatAgent
    from fretcoach_desktop.config import load_config

    store, ana, _ = seeded
    config = load_config({"db_url": str(store.engine.url)}, env={})
    agent = ChatAgent(config, store, ana)
    first = agent.ask("What's my weakest metric?")
    assert first.model == "offline" and not first.fell_back and first.error is None
    second = agent.ask("And what should I practice next?", first.thread_id)
    assert second.thread_id == first.thread_id
    other = agent.ask("Show me my progress")
    assert other.thread_id != first.thread_id
    thread = store.chat_thread(ana, first.thread_id)
    assert [(m.role, m.model) for m in thread] == [
        ("user", None),
        ("assistant", "offline"),
        ("user", None),
        ("assistant", "offline"),
    ]
    assert thread[1].content == first.answer
    with pytest.raises(ValueError):
        agent.ask("   ")
