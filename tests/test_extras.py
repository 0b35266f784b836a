"""A missing extra is one line naming it, never a traceback; the base install goes on.

Each command runs in a subprocess where the extra's packages cannot be imported
(tests/block_imports.py), the way they are missing from a base install.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fretcoach_desktop import extras

ROOT = Path(__file__).resolve().parents[1]
TAKE = ROOT / "tests" / "data" / "musescore_take000.flac"
AI = ",".join(extras.EXTRAS["ai"][1])
KEY = {"OPENAI_API_KEY": "sk-test-not-used", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}


def without(blocked: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.block_imports", blocked, "--", "fretcoach", *args],
        cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def one_line_naming(extra: str, stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if f"[{extra}]" in line]
    assert len(lines) == 1, stderr
    assert f"pipx install --force 'fretcoach-desktop[{extra}]'" in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "command",
    [
        ["plan", "--json"],
        ["ask", "What should I practice next?", "--json"],
        ["session", str(TAKE), "--bpm", "108", "--key", "B", "--scale", "major_pentatonic", "--no-audio",
         "--speed", "8", "--json"],
    ],
    ids=["plan", "ask", "session"],
)  # fmt: skip
def test_an_openai_key_without_the_ai_extra_warns_once_and_coaches_offline(command):
    proc = without(AI, *command, env=KEY)
    assert proc.returncode == 0, proc.stderr
    warning = one_line_naming("ai", proc.stderr)
    assert warning.startswith("fretcoach: warning: ") and "offline coach" in warning
    result = json.loads(proc.stdout)
    if command[0] == "plan":
        assert result["mode"] == "offline"
    elif command[0] == "ask":
        assert result["answer"] and result["model"] == "offline"
    else:
        assert {m["mode"] for m in result["coach_messages"]} == {"offline"}


def test_without_a_key_the_missing_ai_extra_is_not_mentioned():
    proc = without(AI, "plan", "--json")
    assert proc.returncode == 0 and "[ai]" not in proc.stderr, proc.stderr


def test_eval_run_without_the_ai_extra_says_so():
    assert subprocess.run([sys.executable, "-m", "fretcoach_desktop", "eval", "build-dataset", "--synthetic", "2"],
                          cwd=ROOT, capture_output=True, timeout=120).returncode == 0  # fmt: skip
    proc = without(AI, "eval", "run", "--prompt", "v1", env=KEY)
    assert proc.returncode == 0, proc.stderr
    one_line_naming("ai", proc.stderr)


@pytest.mark.parametrize("url", ["postgresql+psycopg://fretcoach@127.0.0.1:9/fretcoach", "postgresql://127.0.0.1:9/x"])
def test_a_postgresql_url_without_the_postgres_extra_is_one_line(url):
    proc = without("psycopg,psycopg2", "history", env={"FRETCOACH_DB_URL": url})
    assert proc.returncode == 1
    line = one_line_naming("postgres", proc.stderr)
    assert proc.stderr == line + "\n" and line.startswith("fretcoach: error: ")


def test_the_config_knows_when_the_key_cannot_be_used(monkeypatch):
    from fretcoach_desktop.config import load_config

    config = load_config({"openai_api_key": "sk-test"})
    assert config.online_coach and config.ai_extra_missing is None
    monkeypatch.setattr(extras, "missing", lambda extra: "langchain_openai" if extra == "ai" else None)
    assert not config.online_coach
    assert "[ai]" in config.ai_extra_missing
    assert load_config().ai_extra_missing is None  # no key: nothing to say


def test_settings_name_the_extras_that_are_missing(qtbot, monkeypatch):
    from fretcoach_desktop.config import load_config
    from fretcoach_desktop.ui.settings_dialog import MemorySecretStore, SettingsDialog

    monkeypatch.setattr(extras, "missing", lambda extra: extra)  # nothing optional installed
    dialog = SettingsDialog(load_config(), MemorySecretStore(available=False), devices=[])
    qtbot.addWidget(dialog)
    texts = [label.text() for label in dialog.findChildren(type(dialog.note))]
    assert any("[ai] extra" in t and "pipx install" in t for t in texts)
    assert any("[tracing] extra" in t for t in texts)
    assert "[ai] extra" in dialog.note.text()  # the keyring comes with it
