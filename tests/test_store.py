"""The repository (fretcoach_desktop.store.Store), run on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from fretcoach_desktop.audio.metrics import compute_metrics
from fretcoach_desktop.audio.types import AnalysisResult, Metrics, NoiseEvent, Note
from fretcoach_desktop.store import (
    HISTORY_FIELDS,
    NotFoundError,
    Store,
    StoreError,
    Window,
    windows_for,
)
from fretcoach_desktop.store.repository import REVISABLE_NOTES


def make_note(i: int, *, cents: float | None = None, onset: float | None = None) -> Note:
    onset_s = 0.5 * i if onset is None else onset
    return Note(
        onset_s=onset_s,
        emitted_s=onset_s + 0.03,
        midi=57 + i % 12,
        note="A3",
        cents=float((i * 7) % 41 - 20) if cents is None else cents,
        in_scale=i % 4 != 0,
        grid_s=onset_s,
        timing_offset_ms=float((i * 13) % 61 - 30),
    )


def notes_upto(n: int) -> list[Note]:
    return [make_note(i) for i in range(n)]


def start(store: Store, user_id: int, **kw) -> int:
    settings = {"key": "A", "scale": "minor_pentatonic", "bpm": 96.0, "subdivision": 2}
    settings.update(kw)
    return store.start_session(user_id, **settings)


# --------------------------------------------------------------------------- profiles


def test_ensure_user_creates_once_and_is_stable(store):
    first = store.ensure_user("ana")
    again = store.ensure_user("  ana ")
    assert first == again
    assert first.created_at.tzinfo is not None
    other = store.ensure_user("Bob")
    assert other.id != first.id
    assert [u.name for u in store.users()] == ["Bob", "ana"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 65])
def test_bad_profile_names_are_refused(store, name):
    with pytest.raises(ValueError):
        store.ensure_user(name)


def test_profiles_only_see_their_own_rows(store):
    ana, bob = store.ensure_user("ana"), store.ensure_user("bob")
    a1 = start(store, ana.id)
    store.finish_session(a1, notes=notes_upto(10), duration_s=5.0)
    b1 = start(store, bob.id)
    store.finish_session(b1, notes=notes_upto(3), duration_s=2.0)
    tip = store.add_coach_message(a1, t_s=30.0, text="Relax the wrist.")
    store.save_plan(ana.id, {"focus": "timing"}, weakest_metric="timing_stability", source_session_ids=[a1])
    store.add_chat_message(ana.id, "t-1", "user", "How was my timing?")

    assert [s.session_id for s in store.history(ana.id)] == [a1]
    assert [s.session_id for s in store.history(bob.id)] == [b1]
    assert [s.session_id for s in store.recent_sessions(bob.id)] == [b1]
    with pytest.raises(NotFoundError):
        store.session_detail(bob.id, a1)
    with pytest.raises(NotFoundError):
        store.set_coach_feedback(bob.id, tip, 1)
    with pytest.raises(NotFoundError):
        store.delete_session(bob.id, a1)
    assert store.latest_plan(bob.id) is None
    assert store.chat_thread(bob.id, "t-1") == []
    assert store.chat_threads(bob.id) == []
    assert store.session_detail(ana.id, a1).session.session_id == a1


def test_writes_for_a_missing_user_or_session_fail_cleanly(store):
    with pytest.raises(NotFoundError):
        start(store, 999)
    with pytest.raises(NotFoundError):
        store.checkpoint(12345, notes=notes_upto(2))
    with pytest.raises(NotFoundError):
        store.add_coach_message(12345, t_s=1.0, text="x")
    with pytest.raises(ValueError):
        start(store, store.ensure_user("ana").id, source="radio")


# --------------------------------------------------------------------------- sessions


def test_live_session_lifecycle(store):
    user = store.ensure_user("ana")
    started = datetime(2025, 3, 1, 18, 30, tzinfo=timezone(timedelta(hours=2)))
    sid = start(store, user.id, started_at=started, audio_device="Scarlett 2i2")

    live = store.history(user.id, include_in_progress=True)
    assert [s.status for s in live] == ["in_progress"]
    assert store.history(user.id) == []  # the history view shows finished sessions only
    assert live[0].started_at == started and live[0].started_at.tzinfo == UTC

    notes = notes_upto(80)
    noise = [NoiseEvent(3.0, 3.05), NoiseEvent(33.0, 33.1)]
    windows = windows_for(notes, noise, 40.0)
    store.checkpoint(sid, windows=windows, notes=notes[:30], duration_s=15.0)
    mid = store.session_detail(user.id, sid)
    assert len(mid.notes) == 30 and mid.session.duration_s == 15.0
    assert mid.session.notes_played == 30

    total = compute_metrics(notes, noise)
    summary = store.finish_session(sid, windows=windows, notes=notes, duration_s=40.0, metrics=total)
    assert summary.status == "complete"
    assert summary.ended_at is not None and summary.ended_at >= summary.started_at
    assert summary.pitch_accuracy == pytest.approx(total.pitch_accuracy)
    assert summary.noise_control == pytest.approx(total.noise_control)
    assert summary.notes_played == 80 and summary.noise_events == 2

    detail = store.session_detail(user.id, sid)
    assert [n.seq for n in detail.notes] == list(range(80))
    assert [(n.onset_s, n.midi, n.cents, n.in_scale, n.timing_offset_ms) for n in detail.notes] == [
        (n.onset_s, n.midi, n.cents, n.in_scale, n.timing_offset_ms) for n in notes
    ]
    assert [(w.start_s, w.end_s) for w in detail.windows] == [(0.0, 30.0), (30.0, 40.0)]
    assert detail.windows[0].metrics == windows[0].metrics
    assert detail.windows[1].noise_events == 1
    assert detail.session.audio_device == "Scarlett 2i2"


def test_checkpoint_is_idempotent_and_rewrites_the_sounding_note(store):
    user = store.ensure_user("ana")
    sid = start(store, user.id)
    notes = notes_upto(20)
    store.checkpoint(sid, notes=notes, duration_s=10.0)
    store.checkpoint(sid, notes=notes, duration_s=10.0)  # same data: nothing changes
    assert len(store.session_detail(user.id, sid).notes) == 20

    # The engine refines the last note's cents when it ends; more notes arrive.
    revised = [*notes[:-1], make_note(19, cents=1.5), *[make_note(i) for i in range(20, 26)]]
    store.checkpoint(sid, notes=revised, duration_s=13.0)
    stored = store.session_detail(user.id, sid).notes
    assert len(stored) == 26
    assert stored[19].cents == 1.5
    assert [n.cents for n in stored] == [n.cents for n in revised]
    assert REVISABLE_NOTES >= 1


def test_checkpoint_without_metrics_computes_them_from_notes(store):
    user = store.ensure_user("ana")
    sid = start(store, user.id)
    notes = notes_upto(12)
    windows = [Window(0.0, 30.0, Metrics(50.0, 50.0, 50.0, 75.0, notes=12, noise_events=4))]
    store.checkpoint(sid, windows=windows, notes=notes, duration_s=6.0)
    (summary,) = store.history(user.id, include_in_progress=True)
    expected = compute_metrics(notes, [NoiseEvent(0, 0)] * 4)
    assert summary.pitch_accuracy == pytest.approx(expected.pitch_accuracy)
    assert summary.timing_stability == pytest.approx(expected.timing_stability)
    assert summary.noise_control == pytest.approx(100 * 12 / 16)
    assert summary.noise_events == 4


def test_a_session_without_notes_has_null_metrics(store):
    user = store.ensure_user("ana")
    sid = start(store, user.id)
    summary = store.finish_session(sid, windows=windows_for([], [], 12.0), notes=[], duration_s=12.0)
    assert summary.notes_played == 0
    assert summary.metrics == Metrics(None, None, None, None)
    detail = store.session_detail(user.id, sid)
    assert detail.windows[0].pitch_accuracy is None
    assert store.recent_sessions(user.id) == []  # nothing to learn from: AI Mode skips it
    assert store.history(user.id)[0].to_json()["pitch_accuracy"] is None


def test_checkpointing_a_finished_session_is_refused(store):
    user = store.ensure_user("ana")
    sid = start(store, user.id)
    store.finish_session(sid, notes=notes_upto(3), duration_s=2.0)
    with pytest.raises(StoreError, match="already finished"):
        store.checkpoint(sid, notes=notes_upto(4))
    assert len(store.session_detail(user.id, sid).notes) == 3


def test_history_is_newest_first_limited_and_json_shaped(store):
    user = store.ensure_user("ana")
    base = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
    ids = []
    for day in (3, 1, 2, 5, 4):
        sid = start(store, user.id, started_at=base + timedelta(days=day))
        store.finish_session(sid, notes=notes_upto(day), duration_s=60.0 * day)
        ids.append((day, sid))
    by_day = dict(ids)
    history = store.history(user.id)
    assert [s.session_id for s in history] == [by_day[d] for d in (5, 4, 3, 2, 1)]
    assert [s.session_id for s in store.history(user.id, limit=2)] == [by_day[5], by_day[4]]
    assert [s.session_id for s in store.recent_sessions(user.id, limit=3)] == [by_day[5], by_day[4], by_day[3]]

    obj = history[0].to_json()
    assert tuple(obj) == HISTORY_FIELDS
    assert obj["started_at"] == "2025-01-06T09:00:00+00:00"
    assert datetime.fromisoformat(obj["started_at"]) == base + timedelta(days=5)
    assert obj["status"] == "complete" and obj["notes_played"] == 5 and obj["duration_s"] == 300.0


def test_naive_datetimes_are_refused(store):
    user = store.ensure_user("ana")
    with pytest.raises(ValueError, match="naive"):
        start(store, user.id, started_at=datetime(2025, 1, 1, 12, 0))


def test_save_analysis_stores_a_file_session_with_30s_windows(store):
    user = store.ensure_user("ana")
    notes = tuple(make_note(i, onset=0.9 * i) for i in range(80))  # 0 .. 71.1 s
    noise = (NoiseEvent(10.0, 10.05), NoiseEvent(65.0, 65.1))
    result = AnalysisResult(notes, noise, compute_metrics(notes, noise), duration_s=72.5, sample_rate=44100)
    sid = store.save_analysis(user.id, result, key="A", scale="minor", bpm=100.0, subdivision=2)
    detail = store.session_detail(user.id, sid)
    assert detail.session.source == "file" and detail.session.status == "complete"
    assert detail.session.duration_s == 72.5
    assert len(detail.notes) == 80
    assert [(w.start_s, w.end_s) for w in detail.windows] == [(0.0, 30.0), (30.0, 60.0), (60.0, 72.5)]
    for window, (start_s, end_s) in zip(detail.windows, [(0, 30), (30, 60), (60, None)]):
        assert window.metrics == compute_metrics(notes, noise, start_s, end_s)
    assert detail.session.pitch_accuracy == pytest.approx(result.metrics.pitch_accuracy)
    ended = detail.session.ended_at
    assert ended - detail.session.started_at == pytest.approx(timedelta(seconds=72.5), abs=timedelta(seconds=1))


def test_windows_for_cuts_whole_windows_and_a_short_last_one():
    notes = [make_note(i, onset=t) for i, t in enumerate([1.0, 29.9, 30.0, 61.0])]
    windows = windows_for(notes, [], 61.5)
    assert [(w.start_s, w.end_s, w.metrics.notes) for w in windows] == [
        (0.0, 30.0, 2),
        (30.0, 60.0, 1),
        (60.0, 61.5, 1),
    ]
    assert [(w.start_s, w.end_s) for w in windows_for([], [], 60.0)] == [(0.0, 30.0), (30.0, 60.0)]
    assert len(windows_for([], [], 0.0)) == 1
    with pytest.raises(ValueError):
        windows_for([], [], 10.0, window_s=0)


def test_delete_session_cascades(store):
    user = store.ensure_user("ana")
    sid = start(store, user.id)
    store.add_coach_message(sid, t_s=30.0, text="tip")
    store.finish_session(sid, windows=windows_for(notes_upto(5), [], 5.0), notes=notes_upto(5), duration_s=5.0)
    store.delete_session(user.id, sid)
    assert store.history(user.id) == []
    with store.engine.connect() as conn:
        for table in ("notes", "session_windows", "coach_messages"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0


# --------------------------------------------------------------------------- crash recovery (in process)


def test_recover_unfinished_closes_crashed_sessions_with_what_was_saved(store):
    user = store.ensure_user("ana")
    other = store.ensure_user("bob")
    old = datetime.now(UTC) - timedelta(hours=1)
    crashed = start(store, user.id, started_at=old)
    store.checkpoint(crashed, notes=notes_upto(40), duration_s=20.0)
    untouched = start(store, user.id, started_at=old)  # never checkpointed
    mine_live = start(store, user.id)
    bobs = start(store, other.id, started_at=old)
    for sid in (crashed, untouched, bobs):  # their recorders died: the locks are let go
        store.live.release(sid, finished=False)

    recovered = store.recover_unfinished(user.id, exclude=[mine_live])
    assert {s.session_id for s in recovered} == {crashed, untouched}
    by_id = {s.session_id: s for s in recovered}
    assert by_id[crashed].status == "recovered"
    assert by_id[crashed].notes_played == 40
    assert by_id[crashed].pitch_accuracy is not None
    assert by_id[untouched].notes_played == 0 and by_id[untouched].ended_at == old

    statuses = {s.session_id: s.status for s in store.history(user.id, include_in_progress=True)}
    assert statuses == {crashed: "recovered", untouched: "recovered", mine_live: "in_progress"}
    assert store.history(other.id, include_in_progress=True)[0].session_id == bobs
    assert store.history(other.id, include_in_progress=True)[0].status == "in_progress"
    assert store.recover_unfinished(user.id, exclude=[mine_live]) == []  # only once
    assert len(store.session_detail(user.id, crashed).notes) == 40


def test_recovery_leaves_recently_checkpointed_unlocked_sessions_alone(store):
    """Without a lock file (recorded on another computer), only the age of the last
    checkpoint tells a crashed session from a live one."""
    user = store.ensure_user("ana")
    sid = start(store, user.id)
    store.checkpoint(sid, notes=notes_upto(5), duration_s=2.5)
    store.live.release(sid)  # no lock file at all
    assert store.live.state(sid) == "unknown"
    assert store.recover_unfinished(user.id, stale_after_s=60.0) == []
    (recovered,) = store.recover_unfinished(user.id, stale_after_s=0.0)
    assert recovered.session_id == sid
    # A session closed by mistake while it was still live comes back with its next checkpoint.
    store.checkpoint(sid, notes=notes_upto(7), duration_s=3.5)
    (live,) = store.history(user.id, include_in_progress=True)
    assert live.status == "in_progress" and live.ended_at is None and live.notes_played == 7


def test_a_session_another_store_records_is_never_recovered_a_dead_one_at_once(db_url):
    """Two stores on one database stand for two processes: one records, one reads."""
    with Store(db_url) as recorder:
        user = recorder.ensure_user("ana")
        sid = recorder.start_session(user.id, key="A", scale="minor", bpm=90)
        recorder.checkpoint(sid, notes=notes_upto(6), duration_s=3.0)
        with Store(db_url) as reader:
            assert reader.recovered == [] and reader.live.state(sid) == "live"
            assert reader.recover_unfinished(user.id, stale_after_s=0.0) == []  # however old
            (row,) = reader.history(user.id, include_in_progress=True)
            assert row.status == "in_progress"
        recorder.live.release(sid, finished=False)  # the recorder dies (the OS drops its lock)
        with Store(db_url) as reader:  # the next store to open recovers it, before any read
            assert [s.session_id for s in reader.recovered] == [sid]
            (row,) = reader.history(user.id)
            assert row.status == "recovered" and row.notes_played == 6
            assert reader.live.state(sid) == "unknown"  # its lock file is gone


def test_finishing_a_session_leaves_no_lock_behind(store):
    user = store.ensure_user("ana")
    sid = store.start_session(user.id, key="A", scale="minor", bpm=90)
    assert store.live.holds(sid)
    store.finish_session(sid, notes=notes_upto(3), duration_s=2.0)
    assert not store.live.holds(sid) and store.live.state(sid) == "unknown"
    assert list(store.live.directory.glob("*.lock")) == []


# --------------------------------------------------------------------------- coach, plans, chat


def test_coach_messages_and_feedback(store):
    user = store.ensure_user("ana")
    sid = start(store, user.id)
    later = store.add_coach_message(
        sid, t_s=60.0, text="Ease up on the upbeats.", audio_path="/clips/2.wav", llm_ms=420.5, tts_ms=300.0,
        model="gpt-4o-mini", prompt_version="live-coach/v3",
    )  # fmt: skip
    first = store.add_coach_message(sid, t_s=30.0, text="Nice and even.", fell_back=True, mode="offline")
    store.set_coach_feedback(user.id, later, -1)
    store.set_coach_feedback(user.id, first, 1)
    store.set_coach_feedback(user.id, first, None)
    with pytest.raises(ValueError):
        store.set_coach_feedback(user.id, first, 5)
    with pytest.raises(ValueError):
        store.add_coach_message(sid, t_s=1.0, text="x", mode="psychic")
    tips = store.session_detail(user.id, sid).coach_messages
    assert [t.id for t in tips] == [first, later]
    assert tips[0].fell_back and tips[0].mode == "offline" and tips[0].feedback is None
    assert tips[1].feedback == -1 and tips[1].llm_ms == 420.5 and tips[1].prompt_version == "live-coach/v3"
    assert tips[1].audio_path == "/clips/2.wav" and tips[1].created_at.tzinfo == UTC


def test_plans_round_trip_and_latest(store):
    user = store.ensure_user("ana")
    assert store.latest_plan(user.id) is None
    base = datetime(2025, 5, 1, tzinfo=UTC)
    plan = {"title": "Timing week", "exercises": [{"key": "E", "scale": "minor", "bpm": 80, "minutes": 5}]}
    older = store.save_plan(user.id, {"title": "old"}, created_at=base)
    newer = store.save_plan(
        user.id, plan, weakest_metric="timing_stability", source_session_ids=[3, 2, 1],
        prompt_version="ai-mode/v2", created_at=base + timedelta(hours=1),
    )  # fmt: skip
    latest = store.latest_plan(user.id)
    assert latest.id == newer and latest.plan == plan
    assert latest.source_session_ids == (3, 2, 1) and latest.weakest_metric == "timing_stability"
    assert latest.prompt_version == "ai-mode/v2" and latest.created_at == base + timedelta(hours=1)
    assert [p.id for p in store.plans(user.id)] == [newer, older]


def test_chat_threads(store):
    user = store.ensure_user("ana")
    base = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    store.add_chat_message(user.id, "a", "user", "What is my weakest metric?", created_at=base)
    calls = [{"name": "execute_sql_query", "args": {"query": "SELECT 1"}}]
    store.add_chat_message(
        user.id, "a", "assistant", "Timing.", model="gpt-4o-mini", tool_calls=calls,
        created_at=base + timedelta(seconds=5),
    )  # fmt: skip
    store.add_chat_message(user.id, "b", "user", "Hello", created_at=base + timedelta(minutes=1))
    with pytest.raises(ValueError):
        store.add_chat_message(user.id, "a", "robot", "x")
    thread = store.chat_thread(user.id, "a")
    assert [(m.role, m.content) for m in thread] == [("user", "What is my weakest metric?"), ("assistant", "Timing.")]
    assert thread[1].tool_calls == calls and thread[1].model == "gpt-4o-mini"
    threads = store.chat_threads(user.id)
    assert [(t.thread_id, t.messages) for t in threads] == [("b", 1), ("a", 2)]
    assert threads[1].started_at == base and threads[1].last_at == base + timedelta(seconds=5)


# --------------------------------------------------------------------------- concurrency, read-only access


def test_concurrent_writers_from_threads_do_not_lose_rows(store):
    user = store.ensure_user("ana")
    sid = start(store, user.id)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(10):
                store.add_coach_message(sid, t_s=float(k * 100 + i), text=f"{k}-{i}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.session_detail(user.id, sid).coach_messages) == 40


def test_readonly_engine_reads_but_cannot_write(store):
    user = store.ensure_user("ana")
    sid = start(store, user.id)
    store.finish_session(sid, notes=notes_upto(4), duration_s=2.0)
    engine = store.readonly_engine()
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM sessions")).scalar() == 1
        for statement in (
            "INSERT INTO users (name, created_at) VALUES ('mallory', '2025-01-01 00:00:00')",
            "DELETE FROM notes",
            "DROP TABLE notes",
        ):
            with engine.connect() as conn, pytest.raises(DBAPIError):
                conn.execute(text(statement))
                conn.commit()
    finally:
        engine.dispose()
    assert len(store.session_detail(user.id, sid).notes) == 4
    assert [u.name for u in store.users()] == ["ana"]


def test_postgres_readonly_role_cannot_write_even_if_read_only_is_switched_off(request, postgres_server):
    url = postgres_server.create_database()
    with Store(url) as store:
        user = store.ensure_user("ana")
        role = store.ensure_readonly_role("fretcoach_reader_test")
        engine = store.readonly_engine(role=role, statement_timeout_ms=300)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT current_user")).scalar() == role
                assert conn.execute(text("SHOW default_transaction_read_only")).scalar() == "on"
                assert conn.execute(text("SELECT name FROM users")).scalars().all() == ["ana"]
            with engine.connect() as conn, pytest.raises(DBAPIError, match="permission denied"):
                conn.execute(text("SET TRANSACTION READ WRITE"))
                conn.execute(text("INSERT INTO users (name, created_at) VALUES ('mallory', now())"))
            with engine.connect() as conn, pytest.raises(DBAPIError, match="statement timeout"):
                conn.execute(text("SELECT pg_sleep(5)"))
        finally:
            engine.dispose()
        assert [u.name for u in store.users()] == ["ana"]
        assert user.id == store.ensure_user("ana").id


def test_sqlite_pragmas(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'x.db'}") as store, store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000


def test_store_opens_from_config_and_creates_the_data_dir(tmp_path):
    from fretcoach_desktop.config import load_config

    data_dir = tmp_path / "deep" / "data"
    config = load_config(env={"FRETCOACH_DATA_DIR": str(data_dir)})
    with Store.open(config) as store:
        assert store.sqlite_path == data_dir / "fretcoach.db"
        store.ensure_user(config.user)
    assert (data_dir / "fretcoach.db").is_file()


def test_checkpoint_with_only_notes_keeps_the_windows(store):
    user = store.ensure_user("ana")
    sid = start(store, user.id)
    store.checkpoint(sid, windows=windows_for(notes_upto(70), [], 35.0), notes=notes_upto(70), duration_s=35.0)
    store.checkpoint(sid, notes=notes_upto(72), duration_s=36.0)
    detail = store.session_detail(user.id, sid)
    assert len(detail.windows) == 2 and len(detail.notes) == 72
    store.checkpoint(sid, duration_s=37.0)
    assert len(store.session_detail(user.id, sid).notes) == 72
