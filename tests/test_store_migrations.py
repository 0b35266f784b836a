"""Alembic migrations: automatic at start, lossless from revision 0001, backed up, guarded."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from fretcoach_desktop.store import DiskFullError, MigrationError, SchemaTooNewError, Store
from fretcoach_desktop.store import migrate as mig
from fretcoach_desktop.store.engine import make_engine
from fretcoach_desktop.store.models import Base


def test_a_new_database_is_created_at_the_newest_revision(db_url):
    with Store(db_url) as store:
        assert store.migration.from_revision is None
        assert store.migration.to_revision == mig.head_revision() == "0005"
        assert store.migration.backup_path is None  # nothing to back up in a new database
        with store.engine.connect() as conn:
            assert mig.current_revision(conn) == "0005"
    with Store(db_url) as again:  # second start: nothing to do
        assert not again.migration.changed


def test_migrations_and_models_agree(db_url):
    """The schema the migrations build is exactly what the models describe."""
    with Store(db_url) as store, store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def _seed_revision_1(engine) -> dict:
    """Rows written with the revision-0001 schema (no prompt_version columns)."""
    t0 = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    as_db = t0.replace(tzinfo=None) if engine.dialect.name == "sqlite" else t0
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, name, created_at) VALUES (1, 'ana', :t)"), {"t": as_db})
        conn.execute(
            text(
                "INSERT INTO sessions (id, user_id, started_at, ended_at, checkpointed_at, key, scale, bpm, "
                "subdivision, pitch_accuracy, scale_conformity, timing_stability, noise_control, notes_played, "
                "noise_events, duration_s, audio_device, source, status) VALUES (7, 1, :t, :t, :t, 'A', "
                "'minor_pentatonic', 96, 2, 93.5, 96.7, 88.1, 91.2, 2, 1, 61.5, 'Scarlett', 'live', 'complete')"
            ),
            {"t": as_db},
        )
        conn.execute(
            text(
                "INSERT INTO session_windows (session_id, idx, start_s, end_s, pitch_accuracy, scale_conformity, "
                "timing_stability, noise_control, notes, noise_events) VALUES (7, 0, 0, 30, 93.5, 96.7, 88.1, "
                "91.2, 2, 1)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO notes (session_id, seq, onset_s, midi, cents, in_scale, timing_offset_ms) VALUES "
                "(7, 0, 2.0, 57, -3.1, :yes, 1.2), (7, 1, 2.5, 60, 22.0, :no, 40.0)"
            ),
            {"yes": True, "no": False},
        )
        conn.execute(
            text(
                "INSERT INTO coach_messages (session_id, t_s, text, audio_path, llm_ms, tts_ms, model, fell_back, "
                "mode, feedback, created_at) VALUES (7, 30, 'Lock in with the click.', NULL, 400, 250, "
                "'gpt-4o-mini', :no, 'online', 1, :t)"
            ),
            {"no": False, "t": as_db},
        )
        conn.execute(
            text(
                "INSERT INTO practice_plans (user_id, created_at, plan, weakest_metric, source_session_ids) "
                "VALUES (1, :t, :plan, 'timing_stability', :ids)"
            ),
            {"t": as_db, "plan": '{"title": "Timing"}', "ids": "[7]"},
        )
        conn.execute(
            text(
                "INSERT INTO chat_messages (user_id, thread_id, role, content, created_at) "
                "VALUES (1, 'th', 'user', 'hi', :t)"
            ),
            {"t": as_db},
        )
    return {"t0": t0}


def test_a_database_made_at_revision_1_upgrades_without_loss(db_url):
    engine = make_engine(db_url)
    try:
        report = mig.upgrade(engine, target="0001")
        assert report.to_revision == "0001"
        with engine.connect() as conn:
            assert mig.current_revision(conn) == "0001"
            assert "prompt_version" not in {c["name"] for c in inspect(conn).get_columns("coach_messages")}
        seeded = _seed_revision_1(engine)
    finally:
        engine.dispose()

    with Store(db_url) as store:
        assert (store.migration.from_revision, store.migration.to_revision) == ("0001", "0005")
        if store.dialect == "sqlite":
            assert store.migration.backup_path is not None and store.migration.backup_path.exists()
        user = store.ensure_user("ana")
        assert user.id == 1 and user.created_at == seeded["t0"]
        (session,) = store.history(user.id)
        assert session.session_id == 7 and session.started_at == seeded["t0"]
        assert (session.key, session.scale, session.bpm, session.subdivision) == ("A", "minor_pentatonic", 96, 2)
        assert session.metrics.pitch_accuracy == 93.5 and session.noise_control == 91.2
        detail = store.session_detail(user.id, 7)
        assert [(n.midi, n.cents, n.in_scale) for n in detail.notes] == [(57, -3.1, True), (60, 22.0, False)]
        assert detail.windows[0].notes == 2
        (tip,) = detail.coach_messages
        assert tip.text == "Lock in with the click." and tip.feedback == 1 and tip.prompt_version is None
        assert tip.kind == "tip"  # rows from before revision 0004 are tips
        plan = store.latest_plan(user.id)
        assert plan.plan == {"title": "Timing"} and plan.source_session_ids == (7,) and plan.prompt_version is None
        assert [m.content for m in store.chat_thread(user.id, "th")] == ["hi"]
        # The new columns and index are there and usable.
        store.add_coach_message(7, t_s=60.0, text="again", prompt_version="v2")
        assert store.session_detail(user.id, 7).coach_messages[-1].prompt_version == "v2"
        store.add_coach_message(7, t_s=90.0, text="Good session. Next, slow down.", kind="summary")
        assert store.session_detail(user.id, 7).coach_messages[-1].kind == "summary"
        with pytest.raises(ValueError, match="kind"):
            store.add_coach_message(7, t_s=95.0, text="?", kind="rant")
        with store.engine.connect() as conn:
            indexes = {ix["name"] for ix in inspect(conn).get_indexes("coach_messages")}
        assert "ix_coach_messages_session_id_t_s" in indexes


def test_sqlite_backup_is_a_consistent_copy_and_old_ones_are_pruned(tmp_path):
    path = tmp_path / "fretcoach.db"
    engine = make_engine(f"sqlite:///{path}")
    mig.upgrade(engine, target="0001")
    _seed_revision_1(engine)
    engine.dispose()
    for _ in range(mig.KEEP_BACKUPS + 2):
        mig.backup_sqlite(path)
    backups = sorted(tmp_path.glob("fretcoach.db.bak-*"))
    assert len(backups) == mig.KEEP_BACKUPS
    assert not list(tmp_path.glob("*.partial"))
    with sqlite3.connect(backups[-1]) as copy:
        assert copy.execute("SELECT count(*) FROM notes").fetchone() == (2,)
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_failed_backup_stops_the_migration(tmp_path, monkeypatch):
    path = tmp_path / "fretcoach.db"
    engine = make_engine(f"sqlite:///{path}")
    mig.upgrade(engine, target="0001")
    engine.dispose()

    def broken_backup(source):
        raise DiskFullError("could not back up the database before updating it: the disk is full")

    monkeypatch.setattr(mig, "backup_sqlite", broken_backup)
    with pytest.raises(DiskFullError, match="could not back up"):
        Store(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)


def test_a_failing_migration_changes_nothing(db_url, monkeypatch):
    engine = make_engine(db_url)
    mig.upgrade(engine, target="0001")
    _seed_revision_1(engine)
    engine.dispose()

    from alembic.operations import Operations

    real_create_index = Operations.create_index

    def failing_create_index(self, *args, **kwargs):
        real_create_index(self, *args, **kwargs)
        raise RuntimeError("boom in the middle of revision 0002")

    monkeypatch.setattr(Operations, "create_index", failing_create_index)
    with pytest.raises(MigrationError, match="nothing was changed"):
        Store(db_url, backup=False)
    monkeypatch.undo()

    check = create_engine(db_url)
    try:
        with check.connect() as conn:
            assert mig.current_revision(conn) == "0001"
            columns = {c["name"] for c in inspect(conn).get_columns("coach_messages")}
            assert "prompt_version" not in columns  # the add_column before the failure was rolled back
            assert conn.execute(text("SELECT count(*) FROM notes")).scalar() == 2
    finally:
        check.dispose()
    with Store(db_url) as store:  # and it upgrades fine afterwards
        assert store.migration.to_revision == "0005"


def test_a_database_from_a_newer_version_is_refused_untouched(db_url):
    Store(db_url).close()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(SchemaTooNewError, match="newer FretCoach"):
        Store(db_url)
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "9999"
    engine.dispose()


def test_tables_without_a_revision_are_refused(tmp_path):
    path = tmp_path / "foreign.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        conn.execute("INSERT INTO users (email) VALUES ('x@example.org')")
    with pytest.raises(MigrationError, match="no schema version"):
        Store(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT email FROM users").fetchall() == [("x@example.org",)]


def test_migration_scripts_ship_inside_the_package():
    """The script location is inside the package, and setuptools packages it (wheel check)."""
    assert mig.MIGRATIONS_DIR.is_dir()
    assert (mig.MIGRATIONS_DIR / "env.py").is_file()
    versions = sorted(p.name for p in (mig.MIGRATIONS_DIR / "versions").glob("0*.py"))
    assert versions == [
        "0001_initial.py",
        "0002_prompt_versions.py",
        "0003_calibrations.py",
        "0004_coach_message_kind.py",
        "0005_chat_feedback_and_charts.py",
    ]
    assert mig.alembic_config().get_main_option("script_location") == str(mig.MIGRATIONS_DIR)
    assert mig.HEAD_REVISION == mig.head_revision()  # the fast path's constant is the real head
