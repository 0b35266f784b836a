"""``fretcoach history``, ``fretcoach export``, ``fretcoach analyze --save`` and ``--user`` profiles."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import soundfile as sf

from fretcoach_desktop import cli
from fretcoach_desktop.audio import analyzer
from fretcoach_desktop.audio.metrics import compute_metrics
from fretcoach_desktop.audio.types import AnalysisResult, NoiseEvent
from fretcoach_desktop.config import load_config
from fretcoach_desktop.store import HISTORY_FIELDS, Store
from tests.test_store import make_note

SR = 8000


@pytest.fixture
def take(tmp_path):
    path = tmp_path / "take.wav"
    sf.write(path, (0.1 * np.sin(np.arange(SR) * 2 * np.pi * 220 / SR)).astype(np.float32), SR)
    return path


@pytest.fixture
def fake_result(monkeypatch) -> AnalysisResult:
    """The analysis engine replaced by one returning a known 65 s result."""
    notes = tuple(make_note(i, onset=1.0 * i) for i in range(64))
    noise = (NoiseEvent(5.0, 5.05), NoiseEvent(40.0, 40.1))
    result = AnalysisResult(notes, noise, compute_metrics(notes, noise), duration_s=65.0, sample_rate=SR)
    monkeypatch.setattr(analyzer, "analyze_samples", lambda *a, **k: result)
    return result


def analyze(take, *extra: str) -> list[str]:
    return ["analyze", str(take), "--bpm", "120", "--key", "A", "--scale", "minor", *extra]


def history_json(capsys, *args: str) -> list[dict]:
    assert cli.main([*args, "history", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_history_starts_empty(capsys):
    assert cli.main(["history"]) == 0
    assert "No sessions yet for profile 'default'" in capsys.readouterr().out
    assert history_json(capsys) == []


def test_analyze_save_stores_the_take(take, fake_result, capsys):
    assert cli.main(analyze(take, "--save")) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("Saved as session 1 (profile 'default')")
    assert "Pitch accuracy" in out

    (row,) = history_json(capsys)
    assert tuple(row) == HISTORY_FIELDS
    assert row["session_id"] == 1 and row["status"] == "complete"
    assert (row["key"], row["scale"], row["bpm"], row["notes_played"]) == ("A", "minor", 120.0, 64)
    assert row["duration_s"] == 65.0
    assert row["pitch_accuracy"] == round(fake_result.metrics.pitch_accuracy, 1)
    assert row["noise_control"] == round(fake_result.metrics.noise_control, 1)
    started = datetime.fromisoformat(row["started_at"])
    assert started.tzinfo is not None and abs(datetime.now(UTC) - started) < timedelta(minutes=5)

    config = load_config()
    with Store.open(config) as store:
        user = store.ensure_user("default")
        detail = store.session_detail(user.id, 1)
    assert detail.session.source == "file"
    assert len(detail.notes) == 64
    assert [(w.start_s, w.end_s) for w in detail.windows] == [(0.0, 30.0), (30.0, 60.0), (60.0, 65.0)]
    assert detail.windows[1].metrics == compute_metrics(fake_result.notes, fake_result.noise_events, 30.0, 60.0)


def test_analyze_save_json_keeps_stdout_one_object(take, fake_result, capsys):
    assert cli.main(analyze(take, "--json", "--save")) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == fake_result.to_json()
    assert captured.out.count("\n") == 1
    assert "saved as session 1" in captured.err


def test_analyze_without_save_does_not_touch_the_database(take, fake_result, capsys, isolated_env):
    assert cli.main(analyze(take)) == 0
    assert "Saved" not in capsys.readouterr().out
    assert not (isolated_env / "fretcoach.db").exists()


def test_profiles_are_separate(take, fake_result, capsys, monkeypatch):
    assert cli.main(["--user", "bob", *analyze(take, "--save")]) == 0
    assert "profile 'bob'" in capsys.readouterr().out
    assert history_json(capsys) == []  # 'default' sees nothing of bob's
    assert [r["session_id"] for r in history_json(capsys, "--user", "bob")] == [1]
    monkeypatch.setenv("FRETCOACH_USER", "bob")
    assert [r["session_id"] for r in history_json(capsys)] == [1]
    assert history_json(capsys, "--user", "carol") == []  # flag beats the variable; created on use
    with Store.open(load_config()) as store:
        assert {u.name for u in store.users()} == {"bob", "carol", "default"}


def test_user_is_accepted_after_the_command_and_wins_there(take, fake_result, capsys, monkeypatch):
    assert cli.main([*analyze(take, "--save"), "--user", "bob"]) == 0
    assert "profile 'bob'" in capsys.readouterr().out
    assert [r["session_id"] for r in history_json(capsys, "--user", "bob")] == [1]
    assert cli.main(["--user", "carol", "history", "--json", "--user", "bob"]) == 0
    assert [r["session_id"] for r in json.loads(capsys.readouterr().out)] == [1]
    monkeypatch.setenv("FRETCOACH_USER", "carol")
    assert cli.main(["export", "-", "--format", "json", "--user", "bob"]) == 0
    assert [r["session_id"] for r in json.loads(capsys.readouterr().out)] == [1]


@pytest.mark.parametrize("name", ["", "   ", "a" * 65, "tab\there"])
def test_a_bad_profile_name_is_one_line_in_the_players_terms(name, capsys):
    assert cli.main(["history", "--user", name]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "profile name" in err, err
    assert "pydantic" not in err and "Value error" not in err


def test_history_table_and_limit(take, fake_result, capsys):
    for _ in range(3):
        assert cli.main(analyze(take, "--save")) == 0
    capsys.readouterr()
    assert cli.main(["history", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [int(line.split()[0]) for line in lines] == [3, 2]
    assert "A minor" in out and "complete" in out and "1:05" in out
    assert [r["session_id"] for r in history_json(capsys)] == [3, 2, 1]
    assert cli.main(["history", "--limit", "0"]) == 2
    assert "--limit" in capsys.readouterr().err


def test_export_csv_and_json(take, fake_result, capsys, tmp_path):
    for _ in range(2):
        assert cli.main(analyze(take, "--save")) == 0
    capsys.readouterr()

    assert cli.main(["export", "--format", "csv", str(tmp_path / "out.csv")]) == 0
    assert "Exported 2 sessions" in capsys.readouterr().out
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == HISTORY_FIELDS
    assert [r["session_id"] for r in rows] == ["2", "1"]
    assert rows[0]["status"] == "complete" and rows[0]["notes_played"] == "64"

    assert cli.main(["export", str(tmp_path / "out.json")]) == 0  # format from the extension
    capsys.readouterr()
    exported = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert exported == history_json(capsys)

    assert cli.main(["export", "--format", "json", "-"]) == 0
    assert json.loads(capsys.readouterr().out) == exported
    assert not list(tmp_path.glob(".*.partial"))


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["export", "sessions.txt"], "--format"),
        (["export", "--format", "xml", "x.xml"], "invalid choice"),
        (["export", "--format", "csv", "/no/such/folder/x.csv"], "does not exist"),
    ],
)
def test_export_user_errors_exit_2(args, fragment, capsys):
    try:
        status = cli.main(args)
    except SystemExit as exc:  # argparse's own usage errors
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1


def test_export_to_a_directory_is_refused(tmp_path, capsys):
    assert cli.main(["export", "--format", "csv", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_commands_recover_a_crashed_session_and_say_so(capsys):
    config = load_config()
    with Store.open(config) as recorder:  # another process recording a session right now
        user = recorder.ensure_user("default")
        sid = recorder.start_session(
            user.id, key="E", scale="blues", bpm=90, started_at=datetime.now(UTC) - timedelta(hours=2)
        )
        recorder.checkpoint(sid, notes=[make_note(i) for i in range(12)], duration_s=6.0)
        with recorder.engine.begin() as conn:  # however old its last checkpoint: it is live
            from sqlalchemy import text

            conn.execute(
                text("UPDATE sessions SET checkpointed_at = :t"),
                {"t": (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None)},
            )
        assert cli.main(["history", "--json"]) == 0
        captured = capsys.readouterr()
        assert json.loads(captured.out) == [] and "recovered" not in captured.err
        recorder.live.release(sid, finished=False)  # and now it dies (kill -9 drops the lock too)

    assert cli.main(["history", "--json"]) == 0  # at once: no waiting for it to look stale
    captured = capsys.readouterr()
    (row,) = json.loads(captured.out)
    assert row["session_id"] == sid and row["status"] == "recovered" and row["notes_played"] == 12
    assert f"recovered unfinished session {sid}" in captured.err


def test_a_bad_database_url_is_a_one_line_error(capsys, monkeypatch):
    monkeypatch.setenv("FRETCOACH_DB_URL", "nosuchdialect://x/y")
    assert cli.main(["history"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fretcoach: error: ") and len(err.strip().splitlines()) == 1


def test_fretcoach_db_url_selects_postgresql(take, fake_result, capsys, monkeypatch, postgres_server, isolated_env):
    url = postgres_server.create_database()
    monkeypatch.setenv("FRETCOACH_DB_URL", url)
    assert cli.main(["--user", "hub-player", *analyze(take, "--save")]) == 0
    capsys.readouterr()
    (row,) = history_json(capsys, "--user", "hub-player")
    assert row["notes_played"] == 64 and row["status"] == "complete"
    assert not (isolated_env / "fretcoach.db").exists()  # nothing went to the default SQLite file
    with Store(url) as store:
        assert [u.name for u in store.users()] == ["hub-player"]
