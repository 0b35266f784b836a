"""The chat agent's SQL tool against hostile queries: nothing written, nobody else's rows."""

from __future__ import annotations

import hashlib
import time

import pytest
from sqlalchemy import create_engine, text

from fretcoach_desktop.coach.sqlguard import QueryRejected, SafeSQL, scoped_sql
from fretcoach_desktop.store import models


@pytest.fixture()
def db(tmp_path):
    path = tmp_path / "fc.sqlite3"
    rw = create_engine(f"sqlite:///{path}")
    models.Base.metadata.create_all(rw)
    with rw.begin() as c:
        c.execute(
            text("INSERT INTO users (id, name, created_at) VALUES (1, 'ana', '2026-01-01'), (2, 'bo', '2026-01-01')")
        )
        for sid, uid, pitch in [(10, 1, 80.0), (11, 1, 90.0), (20, 2, 55.0)]:
            c.execute(
                text(
                    "INSERT INTO sessions (id, user_id, started_at, key, scale, bpm, subdivision, pitch_accuracy,"
                    " notes_played, noise_events, duration_s, source, status)"
                    " VALUES (:id, :u, '2026-01-02', 'A', 'minor', 100, 1, :p, 2, 0, 60, 'live', 'complete')"
                ),
                {"id": sid, "u": uid, "p": pitch},
            )
            for k in range(2):
                c.execute(
                    text(
                        "INSERT INTO notes (session_id, seq, onset_s, midi, cents, in_scale, timing_offset_ms)"
                        " VALUES (:s, :k, :k, 57, 3.0, 1, 5.0)"
                    ),
                    {"s": sid, "k": k},
                )
    rw.dispose()
    ro = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    yield path, ro
    ro.dispose()


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_plain_select_sees_only_the_players_rows(db):
    _, ro = db
    tool = SafeSQL(ro, user_id=1)
    r = tool.run("SELECT id, pitch_accuracy FROM sessions ORDER BY id")
    assert r.rows == [(10, 80.0), (11, 90.0)]
    r = tool.run("select count(*) from notes")
    assert r.rows == [(4,)]
    # joins and aliases are scoped too
    r = tool.run("SELECT s.user_id, count(*) FROM notes n JOIN sessions s ON s.id = n.session_id GROUP BY s.user_id")
    assert r.rows == [(1, 4)]
    assert "(no rows)" not in r.as_text()


def test_other_players_rows_are_unreachable(db):
    _, ro = db
    tool = SafeSQL(ro, user_id=1)
    # each query's first column says whose row it is: only player 1's may come back
    for q in [
        "SELECT user_id FROM sessions WHERE user_id = 2",
        "SELECT user_id FROM sessions WHERE 1=1 OR user_id = 2",
        "SELECT session_id / 10 FROM notes WHERE session_id = 20",
        "SELECT id FROM users WHERE name = 'bo' OR 1=1",
        "SELECT user_id FROM sessions /* WHERE user_id = 1 */ WHERE user_id <> 1",
        "WITH s AS (SELECT * FROM sessions) SELECT user_id FROM s",
        "SELECT user_id FROM (SELECT * FROM sessions) AS t",
        "SELECT user_id FROM sessions UNION SELECT user_id FROM sessions WHERE user_id = 2",
        "SELECT s.user_id FROM sessions AS s, sessions AS t WHERE t.user_id = 2",
        "SELECT (SELECT max(user_id) FROM sessions) FROM users",
    ]:
        owners = {row[0] for row in tool.run(q).rows}
        assert owners <= {1}, q


@pytest.mark.parametrize(
    "query",
    [
        "INSERT INTO sessions (user_id) VALUES (1)",
        "UPDATE sessions SET pitch_accuracy = 100",
        "DELETE FROM notes",
        "DROP TABLE sessions",
        "ATTACH DATABASE '/tmp/evil.db' AS evil",
        "PRAGMA writable_schema = 1",
        "SELECT load_extension('/tmp/evil.so')",
        "SELECT 1; DROP TABLE sessions",
        "SELECT 1; -- harmless\nDELETE FROM sessions",
        "SELECT * FROM sqlite_master",
        "SELECT * FROM main.sessions",
        "SELECT * FROM alembic_version",
        "CREATE TABLE x (a int)",
        "SELECT * INTO copy FROM sessions",
        "REPLACE INTO users (id, name) VALUES (3, 'x')",
        "VACUUM",
        "",
        "SELEC * FROM sessions",
    ],
)
def test_hostile_queries_are_rejected_and_nothing_changes(db, query):
    path, ro = db
    before = _digest(path)
    with pytest.raises(QueryRejected) as info:
        SafeSQL(ro, user_id=1).run(query)
    message = str(info.value)
    assert "Traceback" not in message and len(message.splitlines()) == 1 and len(message) < 300
    assert _digest(path) == before


def test_a_recursive_cte_that_never_ends_is_stopped_in_time(db):
    _, ro = db
    tool = SafeSQL(ro, user_id=1, timeout_s=0.5)
    start = time.perf_counter()
    with pytest.raises(QueryRejected, match="too long"):
        tool.run("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c")
    assert time.perf_counter() - start < 2.0


def test_a_huge_cross_join_is_capped_or_stopped(db):
    _, ro = db
    tool = SafeSQL(ro, user_id=1, row_cap=50, timeout_s=0.5)
    start = time.perf_counter()
    try:
        r = tool.run("SELECT * FROM notes a, notes b, notes c, notes d, notes e, notes f, notes g, notes h")
        assert len(r.rows) == 50 and r.truncated
    except QueryRejected as exc:
        assert "too long" in str(exc)
    assert time.perf_counter() - start < 2.0


def test_the_rewritten_sql_filters_every_table():
    sql = scoped_sql("SELECT * FROM sessions s JOIN notes n ON n.session_id = s.id", 7)
    assert sql.count("user_id = 7") == 2 and "LIMIT 201" in sql
    with pytest.raises(TypeError):
        scoped_sql("SELECT 1", "7 OR 1=1")  # type: ignore[arg-type]


def test_calibrations_are_scoped_to_the_player(db):
    path, ro = db
    rw = create_engine(f"sqlite:///{path}")
    with rw.begin() as c:
        c.execute(
            text(
                "INSERT INTO calibrations (user_id, device, latency_ms, method, created_at) VALUES"
                " (1, 'Scarlett', 21.5, 'play-along', '2026-01-03'), (2, 'Scarlett', 99.0, 'loopback', '2026-01-03')"
            )
        )
    rw.dispose()
    tool = SafeSQL(ro, user_id=1)
    assert tool.run("SELECT user_id, latency_ms FROM calibrations").rows == [(1, 21.5)]
    assert tool.run("SELECT user_id FROM calibrations WHERE user_id = 2 OR 1 = 1").rows == [(1,)]
