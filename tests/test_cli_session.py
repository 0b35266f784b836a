"""``fretcoach session`` and ``fretcoach plan`` end to end, offline (no key: the rule-based coach)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TAKE = Path(__file__).parent / "data" / "musescore_take000.flac"


def fretcoach(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fretcoach_desktop", *args], capture_output=True, text=True, timeout=120
    )


def test_session_replays_coaches_stores_and_plan_uses_it(isolated_env):
    proc = fretcoach(
        "session", str(TAKE), "--bpm", "108", "--key", "B", "--scale", "major_pentatonic",
        "--subdivision", "2", "--speed", "20", "--no-audio", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["notes_played"] >= 20 and out["status"] == "complete"
    assert out["metrics"]["pitch_accuracy"] is not None
    # a 10 s take has no full 30 s window: only the end-of-session summary is spoken
    assert [m["mode"] for m in out["coach_messages"]] == ["offline"]
    assert Path(out["coach_messages"][0]["audio_path"]).is_file()  # espeak-ng wrote the speech

    history = json.loads(fretcoach("history", "--json").stdout)
    assert [h["session_id"] for h in history] == [out["session_id"]]

    plan = json.loads(fretcoach("plan", "--json").stdout)
    assert plan["user_id"] == out["user_id"] and plan["practice_id"] >= 1
    assert 2 <= len(plan["plan"]["exercises"]) <= 4
    assert plan["plan"]["focus_metric"] in {"pitch_accuracy", "scale_conformity", "timing_stability", "noise_control"}


def test_session_rejects_bad_input_in_one_line(isolated_env):
    proc = fretcoach("session", str(TAKE), "--bpm", "108", "--key", "H", "--scale", "minor")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_tips_are_one_sentence_and_the_summary_says_it_is_one(isolated_env, tmp_path, monkeypatch):
    """A model that always answers two sentences: every live tip is cut to one, the
    end-of-session summary may keep two, and both say which they are, in the JSON and in
    the store."""
    import numpy as np
    import soundfile as sf

    from fretcoach_desktop.coach.evaluation import one_sentence
    from fretcoach_desktop.config import load_config
    from fretcoach_desktop.store import Store
    from tests.fakes.openai_server import FakeOpenAI, Reply

    x, sr = sf.read(TAKE, dtype="float32")
    long_take = tmp_path / "long.flac"
    sf.write(long_take, np.concatenate([x] * 7), sr)  # 70 s: two 30 s windows, then the summary
    two = "Your timing is drifting late on the upbeats. Lock in with the click and keep your picking hand loose."
    with FakeOpenAI() as api:
        api.default("gpt-4o-mini", Reply(two))
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
        monkeypatch.setenv("OPENAI_BASE_URL", api.base_url)
        proc = fretcoach(
            "session", str(long_take), "--bpm", "108", "--key", "B", "--scale", "major_pentatonic",
            "--subdivision", "2", "--speed", "20", "--no-audio", "--json",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert api.chat_requests("gpt-4o-mini"), "the online coach was not asked"
    out = json.loads(proc.stdout)
    messages = out["coach_messages"]
    assert [m["kind"] for m in messages] == ["tip", "tip", "summary"], messages
    for m in messages:
        assert m["mode"] == "online" and m["model"] == "gpt-4o-mini", m
    assert [m["text"] for m in messages[:2]] == ["Your timing is drifting late on the upbeats."] * 2
    assert all(one_sentence(m["text"]) == 1.0 for m in messages[:2])
    assert messages[2]["text"] == two  # a summary may be two short sentences
    monkeypatch.delenv("OPENAI_API_KEY")
    with Store.open(load_config()) as store:
        user = store.ensure_user("default")
        stored = store.session_detail(user.id, out["session_id"]).coach_messages
    assert [(m.kind, m.text) for m in stored] == [(m["kind"], m["text"]) for m in messages]


def test_a_session_killed_mid_take_is_seen_as_recovered_by_every_command(isolated_env, tmp_path):
    """kill -9 of a running `fretcoach session`: the next command of any kind sees the
    session as recovered with what its last checkpoint saved, without waiting for it to
    look stale; while it was still running, no command closed it."""
    import os
    import signal
    import time

    import numpy as np
    import soundfile as sf

    from fretcoach_desktop.config import load_config
    from fretcoach_desktop.store import Store

    x, sr = sf.read(TAKE, dtype="float32")
    long_take = tmp_path / "long.flac"
    sf.write(long_take, np.concatenate([x] * 6), sr)
    child = subprocess.Popen(
        [sys.executable, "-m", "fretcoach_desktop", "session", str(long_take), "--bpm", "108", "--key", "B",
         "--scale", "major_pentatonic", "--subdivision", "2", "--speed", "1", "--no-audio"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        saved = 0
        while time.monotonic() < deadline and saved == 0:
            time.sleep(0.5)
            with Store.open(load_config()) as store:  # a reader while the session records
                rows = store.history(store.ensure_user("default").id, include_in_progress=True)
            assert all(r.status == "in_progress" for r in rows), rows  # never closed under it
            saved = rows[0].notes_played if rows else 0
        assert saved > 0, "no checkpoint within 60 s"
        assert json.loads(fretcoach("history", "--json").stdout) == []  # a reader: still live
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stderr.close()

    history = fretcoach("history", "--json")
    (row,) = json.loads(history.stdout)
    assert row["status"] == "recovered" and row["notes_played"] >= saved
    assert "recovered unfinished session" in history.stderr
    exported = json.loads(fretcoach("export", "-", "--format", "json").stdout)
    assert [(r["session_id"], r["status"]) for r in exported] == [(row["session_id"], "recovered")]
    plan = json.loads(fretcoach("plan", "--json").stdout)
    assert str(row["session_id"]) in plan["source_session_ids"]  # ids are strings in the plan JSON
