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
