"""The DB writer thread, live-session checkpoints, and crash recovery after a real kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from fretcoach_desktop.store import (
    CHECKPOINT_INTERVAL_S,
    DatabaseLockedError,
    SessionRecorder,
    SessionSnapshot,
    Store,
    StoreWriter,
    windows_for,
)
from tests.test_store import make_note, notes_upto

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def writer():
    errors: list[BaseException] = []
    w = StoreWriter(on_error=errors.append)
    w.errors = errors  # type: ignore[attr-defined]
    yield w
    w.close(timeout=10)


# --------------------------------------------------------------------------- StoreWriter


def test_writes_run_in_order_on_one_thread(writer):
    seen: list[tuple[int, int]] = []
    futures = [writer.submit(lambda i=i: seen.append((i, threading.get_ident())) or i) for i in range(500)]
    assert writer.flush(timeout=10)
    assert [f.result() for f in futures] == list(range(500))
    assert [i for i, _ in seen] == list(range(500))
    threads = {ident for _, ident in seen}
    assert len(threads) == 1 and threading.get_ident() not in threads


def test_submit_never_waits_for_a_slow_write(writer):
    release = threading.Event()
    blocked = writer.submit(release.wait, 10)
    t0 = time.monotonic()
    later = [writer.submit(lambda i=i: i) for i in range(100)]
    assert time.monotonic() - t0 < 0.5  # the caller (the GUI) is never held up
    assert not blocked.done() and not any(f.done() for f in later)
    assert writer.flush(timeout=0.1) is False
    release.set()
    assert writer.flush(timeout=10)
    assert [f.result() for f in later] == list(range(100))


def test_a_failed_write_fails_its_future_and_the_next_ones_still_run(writer):
    def boom():
        raise ValueError("bad write")

    failed = writer.submit(boom)
    ok = writer.submit(lambda: "fine")
    assert ok.result(timeout=10) == "fine"
    assert isinstance(failed.exception(timeout=10), ValueError)
    assert [str(e) for e in writer.errors] == ["bad write"]
    assert isinstance(writer.last_error, ValueError)


def test_close_applies_what_was_queued_then_refuses_writes():
    w = StoreWriter()
    done: list[int] = []
    for i in range(50):
        w.submit(lambda i=i: (time.sleep(0.001), done.append(i)))
    assert w.close(timeout=10)
    assert done == list(range(50))
    assert w.closed
    with pytest.raises(RuntimeError, match="closed"):
        w.submit(lambda: None)
    assert w.flush(timeout=1)  # nothing left to wait for


def test_periodic_jobs_run_on_the_writer_until_cancelled(writer):
    ticks: list[float] = []
    job = writer.every(0.05, lambda: ticks.append(time.monotonic()))
    deadline = time.monotonic() + 5
    while len(ticks) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(ticks) >= 4
    job.cancel()
    writer.flush(timeout=5)
    count = len(ticks)
    time.sleep(0.2)
    assert len(ticks) <= count + 1
    with pytest.raises(ValueError):
        writer.every(0, lambda: None)


def test_the_gui_does_not_wait_on_a_locked_database(tmp_path, writer):
    path = tmp_path / "fretcoach.db"
    with Store(f"sqlite:///{path}", busy_timeout_s=0.3) as store:
        user = store.ensure_user("ana")
        sid = store.start_session(user.id, key="A", scale="minor", bpm=100)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            t0 = time.monotonic()
            future = writer.submit(store.add_coach_message, sid, t_s=30.0, text="tip")
            assert time.monotonic() - t0 < 0.05
            assert isinstance(future.exception(timeout=10), DatabaseLockedError)
        finally:
            other.execute("ROLLBACK")
            other.close()
        retried = writer.submit(store.add_coach_message, sid, t_s=30.0, text="tip")
        assert retried.result(timeout=10) > 0
        assert isinstance(writer.errors[0], DatabaseLockedError)


# --------------------------------------------------------------------------- SessionRecorder


def test_checkpoint_interval_is_at_most_5_seconds():
    assert 0 < CHECKPOINT_INTERVAL_S <= 5.0
    assert SessionRecorder.__init__.__kwdefaults__["interval_s"] == CHECKPOINT_INTERVAL_S


def test_recorder_checkpoints_a_live_session_then_completes_it(store, writer):
    user = store.ensure_user("ana")
    state = {"notes": ()}
    saved: list[int] = []

    def snapshot():
        notes = state["notes"]
        duration = 0.5 * len(notes)
        return SessionSnapshot(duration_s=duration, notes=notes, windows=windows_for(notes, [], duration))

    recorder = SessionRecorder(
        store, writer, snapshot, interval_s=0.05, on_checkpoint=lambda sid, snap: saved.append(len(snap.notes))
    )
    sid = recorder.start(user.id, key="E", scale="blues", bpm=80, subdivision=2, audio_device="USB").result(10)
    assert recorder.session_id == sid
    for i in range(1, 40):
        state["notes"] = tuple(notes_upto(i))
        time.sleep(0.005)
    deadline = time.monotonic() + 5
    while not saved and time.monotonic() < deadline:
        time.sleep(0.01)
    assert saved and recorder.checkpoints == len(saved)
    mid = store.history(user.id, include_in_progress=True)[0]
    assert mid.status == "in_progress" and mid.notes_played >= saved[0] > 0

    final = SessionSnapshot(duration_s=30.0, notes=tuple(notes_upto(60)), windows=windows_for(notes_upto(60), [], 30.0))
    summary = recorder.stop(final).result(10)
    assert summary.status == "complete" and summary.notes_played == 60 and summary.duration_s == 30.0
    assert summary.audio_device == "USB"
    count = recorder.checkpoints
    time.sleep(0.2)
    assert recorder.checkpoints == count  # no checkpoint after stop
    assert len(store.session_detail(user.id, sid).notes) == 60


# --------------------------------------------------------------------------- crash recovery (kill -9)

_CHILD = r"""
import sys, time
from fretcoach_desktop.store import SessionRecorder, SessionSnapshot, Store, StoreWriter, windows_for
from tests.test_store import make_note

store = Store(sys.argv[1])
user = store.ensure_user("ana")
writer = StoreWriter()
state = {"notes": (), "t": 0.0}

def snapshot():
    notes, t = state["notes"], state["t"]
    return SessionSnapshot(duration_s=t, notes=notes, windows=windows_for(notes, [], t))

def saved(sid, snap):
    print(f"checkpoint {len(snap.notes)} {snap.duration_s:.3f}", flush=True)

recorder = SessionRecorder(store, writer, snapshot, interval_s=0.15, on_checkpoint=saved)
sid = recorder.start(user.id, key="A", scale="minor_pentatonic", bpm=120, source="live").result(30)
print(f"session {sid}", flush=True)
i = 0
while True:  # play forever: only SIGKILL ends this
    state["notes"] = state["notes"] + (make_note(i),)
    state["t"] = 0.5 * (i + 1)
    i += 1
    time.sleep(0.005)
"""


def test_a_session_killed_with_sigkill_is_recovered_with_what_was_saved(migrated_db_url):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, migrated_db_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    session_id = None
    checkpoints: list[tuple[int, float]] = []
    try:
        deadline = time.monotonic() + 60
        while len(checkpoints) < 3 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            word, *rest = line.split()
            if word == "session":
                session_id = int(rest[0])
            elif word == "checkpoint":
                checkpoints.append((int(rest[0]), float(rest[1])))
        assert len(checkpoints) >= 3, child.stderr.read() if child.poll() is not None else "no checkpoints"
    finally:
        child.send_signal(signal.SIGKILL)  # no atexit, no flush, no goodbye
        child.wait(timeout=30)
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    with Store(migrated_db_url) as store:
        user = store.ensure_user("ana")
        # The recorder's lock died with it: the first store to open recovers the session at
        # once, so every reader (history, export, AI Mode, chat, the window) sees it.
        (recovered,) = store.recovered
        assert [s.session_id for s in store.history(user.id)] == [session_id]
        assert recovered.session_id == session_id
        assert recovered.status == "recovered"
        last_notes, last_duration = checkpoints[-1]
        # At least what the last reported checkpoint saved (a later one may have landed too).
        assert recovered.notes_played >= last_notes > 0
        assert recovered.duration_s >= last_duration
        assert recovered.pitch_accuracy is not None and recovered.ended_at >= recovered.started_at

        detail = store.session_detail(user.id, session_id)
        expected = [make_note(i) for i in range(recovered.notes_played)]
        assert [(n.onset_s, n.midi, n.cents) for n in detail.notes] == [(n.onset_s, n.midi, n.cents) for n in expected]
        assert detail.windows and detail.windows[-1].end_s == pytest.approx(recovered.duration_s)
        assert [s.status for s in store.history(user.id)] == ["recovered"]
        assert store.recover_unfinished(user.id) == []


def test_writer_flushes_queued_writes_at_normal_exit(tmp_path):
    """A process that exits without closing its writer still applies what it queued."""
    url = f"sqlite:///{tmp_path / 'fretcoach.db'}"
    code = (
        "import sys, time\n"
        "from fretcoach_desktop.store import Store, StoreWriter\n"
        "store = Store(sys.argv[1]); user = store.ensure_user('ana')\n"
        "sid = store.start_session(user.id, key='A', scale='minor', bpm=90)\n"
        "w = StoreWriter()\n"
        "for i in range(20):\n"
        "    w.submit(lambda i=i: (time.sleep(0.01), store.add_coach_message(sid, t_s=float(i), text=str(i))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    with Store(url) as store:
        user = store.ensure_user("ana")
        (session,) = store.history(user.id, include_in_progress=True)
        assert len(store.session_detail(user.id, session.session_id).coach_messages) == 20


def test_future_type():
    w = StoreWriter()
    try:
        assert isinstance(w.submit(lambda: 1), Future)
    finally:
        w.close()


def test_recorder_retries_a_start_that_failed_on_a_busy_database(tmp_path, writer):
    path = tmp_path / "fretcoach.db"
    with Store(f"sqlite:///{path}", busy_timeout_s=0.1) as store:
        user = store.ensure_user("ana")
        notes = tuple(notes_upto(8))
        recorder = SessionRecorder(store, writer, lambda: SessionSnapshot(duration_s=4.0, notes=notes), interval_s=0.05)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            started = recorder.start(user.id, key="A", scale="minor", bpm=100)
            assert isinstance(started.exception(timeout=10), DatabaseLockedError)
        finally:
            other.execute("ROLLBACK")
            other.close()
        deadline = time.monotonic() + 5
        while recorder.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert recorder.session_id is not None and recorder.checkpoints > 0
        summary = recorder.stop().result(timeout=10)
        assert summary.session_id == recorder.session_id and summary.notes_played == 8
        assert summary.status == "complete"
