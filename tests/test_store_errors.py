"""Database failures a user can meet: each is a one-line StoreError, and nothing stored is lost."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import event, text

from fretcoach_desktop.store import (
    DatabaseCorruptError,
    DatabaseLockedError,
    DatabaseReadOnlyError,
    DatabaseUnavailableError,
    DiskFullError,
    Store,
    StoreError,
)
from tests.test_store import notes_upto, start


def one_line(exc: BaseException) -> str:
    message = str(exc)
    assert message and "\n" not in message and "Traceback" not in message
    return message


def seeded(url: str, notes: int = 10) -> tuple[int, int]:
    """A profile 'default' with one finished session of *notes* notes."""
    with Store(url) as store:
        user = store.ensure_user("default")
        sid = start(store, user.id)
        store.finish_session(sid, notes=notes_upto(notes), duration_s=5.0)
        return user.id, sid


# --------------------------------------------------------------------------- busy / locked


def test_sqlite_locked_by_another_program(tmp_path):
    url = f"sqlite:///{tmp_path / 'fretcoach.db'}"
    user_id, sid = seeded(url)
    other = sqlite3.connect(tmp_path / "fretcoach.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    try:
        with Store(url, busy_timeout_s=0.2) as store:
            t0 = time.monotonic()
            with pytest.raises(DatabaseLockedError) as excinfo:
                store.add_coach_message(sid, t_s=1.0, text="tip")
            assert time.monotonic() - t0 < 3.0
            assert "busy" in one_line(excinfo.value)
            # WAL: reading still works while another program writes.
            assert [s.session_id for s in store.history(user_id)] == [sid]
            other.execute("ROLLBACK")
            store.add_coach_message(sid, t_s=1.0, text="tip")  # and the write works once free
            assert len(store.session_detail(user_id, sid).notes) == 10
    finally:
        other.close()


def test_postgres_lock_timeout_is_busy(postgres_server):
    url = postgres_server.create_database()
    user_id, sid = seeded(url)
    import psycopg

    holder = psycopg.connect(postgres_server.url(url.rsplit("/", 1)[1]).replace("postgresql+psycopg", "postgresql"))
    try:
        holder.execute("LOCK TABLE coach_messages IN ACCESS EXCLUSIVE MODE")
        with Store(url, busy_timeout_s=0.3) as store:
            with pytest.raises(DatabaseLockedError) as excinfo:
                store.add_coach_message(sid, t_s=1.0, text="tip")
            one_line(excinfo.value)
            holder.rollback()
            store.add_coach_message(sid, t_s=1.0, text="tip")
            assert len(store.session_detail(user_id, sid).coach_messages) == 1
    finally:
        holder.close()


# --------------------------------------------------------------------------- read-only


def _unprivileged(argv: list[str]) -> list[str]:
    """Run *argv* without the power to ignore file permissions (root otherwise writes anyway)."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot test file permissions")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--inh-caps=-all", *argv]


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRETCOACH_")}
    env["FRETCOACH_DATA_DIR"] = str(data_dir)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(
        _unprivileged([sys.executable, "-m", "fretcoach_desktop", *args]),
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def _assert_cli_error(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fretcoach: error: "), proc.stderr
    assert fragment in lines[0], lines[0]


@pytest.fixture
def readonly_data(tmp_path):
    """A data directory with a database holding one session; made read-only by the test."""
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'fretcoach.db'}"
    _, sid = seeded(url)
    yield data, sid
    os.chmod(data, 0o755)
    for p in data.iterdir():
        os.chmod(p, 0o644)


def test_read_only_database_file(readonly_data):
    data, sid = readonly_data
    db = data / "fretcoach.db"
    before = db.read_bytes()
    os.chmod(db, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)

    # Reading the existing profile works...
    proc = _cli(data, "history", "--json")
    assert proc.returncode == 0, proc.stderr
    assert f'"session_id": {sid}' in proc.stdout
    # ...creating a profile (a write) fails with a clear line, and nothing is lost.
    _assert_cli_error(_cli(data, "--user", "newbie", "history"), "read-only")
    assert db.read_bytes() == before


def test_read_only_data_directory(readonly_data):
    data, _ = readonly_data
    db = data / "fretcoach.db"
    before = db.read_bytes()
    os.chmod(db, 0o444)
    os.chmod(data, 0o555)
    proc = _cli(data, "--user", "newbie", "history")
    _assert_cli_error(proc, "practice database")
    assert any(word in proc.stderr for word in ("read-only", "writable"))
    assert db.read_bytes() == before
    assert sorted(p.name for p in data.iterdir()) == ["fretcoach.db"]


def test_postgres_read_only_database(postgres_server):
    url = postgres_server.create_database()
    user_id, sid = seeded(url)
    postgres_server.execute(f'ALTER DATABASE "{url.rsplit("/", 1)[1]}" SET default_transaction_read_only = on')
    with Store(url) as store:
        assert [s.session_id for s in store.history(user_id)] == [sid]
        with pytest.raises(DatabaseReadOnlyError) as excinfo:
            store.add_coach_message(sid, t_s=1.0, text="tip")
        assert "cannot be written" in one_line(excinfo.value)


# --------------------------------------------------------------------------- corrupt


def test_a_file_that_is_not_a_database_is_left_untouched(tmp_path):
    db = tmp_path / "fretcoach.db"
    garbage = b"this is my tax return, not a database\n" * 200
    db.write_bytes(garbage)
    with pytest.raises(DatabaseCorruptError) as excinfo:
        Store(f"sqlite:///{db}")
    message = one_line(excinfo.value)
    assert "damaged" in message and str(db) in message
    assert db.read_bytes() == garbage
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fretcoach.db"]  # no backup, no WAL


def test_a_damaged_database_reports_corruption(tmp_path):
    db = tmp_path / "fretcoach.db"
    url = f"sqlite:///{db}"
    user_id, _ = seeded(url, notes=2000)
    raw = bytearray(db.read_bytes())
    page = 4096
    raw[2 * page :] = b"\xa5" * (len(raw) - 2 * page)  # keep the header and schema page
    db.write_bytes(bytes(raw))
    with pytest.raises(DatabaseCorruptError) as excinfo:
        with Store(url) as store:
            store.session_detail(user_id, 1)
    one_line(excinfo.value)
    assert db.read_bytes() == bytes(raw)


def test_cli_on_a_corrupt_database_is_one_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "fretcoach.db").write_bytes(b"\x00garbage" * 1000)
    proc = subprocess.run(
        [sys.executable, "-m", "fretcoach_desktop", "history"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FRETCOACH_DATA_DIR": str(data)},
    )
    _assert_cli_error(proc, "damaged")


# --------------------------------------------------------------------------- full disk


def test_full_disk_loses_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'fretcoach.db'}"
    user_id, sid = seeded(url, notes=50)
    with Store(url) as store:
        live = start(store, user_id)
        store.checkpoint(live, notes=notes_upto(10), duration_s=5.0)

        # Simulate a full disk: SQLite reports SQLITE_FULL once the file reaches its page limit.
        @event.listens_for(store.engine, "connect")
        def _cap(dbapi_conn, _record):
            pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
            dbapi_conn.execute(f"PRAGMA max_page_count = {pages + 2}")

        store.engine.dispose()
        with pytest.raises(DiskFullError) as excinfo:
            store.checkpoint(live, notes=notes_upto(20_000), duration_s=600.0)
        assert "full" in one_line(excinfo.value)
        # The failed checkpoint was rolled back as a whole; the earlier one is intact.
        detail = store.session_detail(user_id, live)
        assert len(detail.notes) == 10 and detail.session.duration_s == 5.0
        assert len(store.session_detail(user_id, sid).notes) == 50


def test_os_level_disk_full_is_translated():
    from fretcoach_desktop.store.errors import translate

    err = translate(OSError(28, "No space left on device"), "/data/fretcoach.db")
    assert isinstance(err, DiskFullError) and "/data/fretcoach.db" in one_line(err)
    assert isinstance(translate(PermissionError(13, "Permission denied")), DatabaseReadOnlyError)


# --------------------------------------------------------------------------- unreachable / bad URLs


@pytest.mark.parametrize(
    "url",
    [
        "not a url at all",
        "nosuchdialect://host/db",
        "postgresql+psycopg://nobody:secret-password@127.0.0.1:1/fretcoach",
    ],
)
def test_unusable_urls_are_clear_and_hide_passwords(url):
    with pytest.raises(DatabaseUnavailableError) as excinfo:
        Store(url, busy_timeout_s=1.0)
    message = one_line(excinfo.value)
    assert "secret-password" not in message


def test_store_errors_are_one_line_subclasses():
    for cls in (DatabaseLockedError, DatabaseReadOnlyError, DiskFullError, DatabaseCorruptError):
        err = cls("first line\nsecond line")
        assert isinstance(err, StoreError) and str(err) == "first line second line"


def test_sqlite_foreign_keys_are_enforced(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'x.db'}") as store, store.engine.connect() as conn:
        with pytest.raises(Exception, match="FOREIGN KEY"):
            conn.execute(
                text(
                    "INSERT INTO notes (session_id, seq, onset_s, midi, cents, in_scale, timing_offset_ms) "
                    "VALUES (999, 0, 0, 60, 0, 1, 0)"
                )
            )
