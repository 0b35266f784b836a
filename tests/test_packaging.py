"""What an installed app needs besides its code: resources found as package data, and no
half-made session left behind when a command fails for want of one."""

from __future__ import annotations

from pathlib import Path

import pytest

from fretcoach_desktop import cli, resources
from fretcoach_desktop.app import demo_take
from fretcoach_desktop.audio.demo import demo_take_path
from fretcoach_desktop.coach import prompts

TAKE = Path(__file__).parent / "data" / "musescore_take000.flac"


def test_resources_are_package_data():
    package = Path(resources.__file__).parent
    assert resources.path("prompts") == package / "prompts"
    assert prompts.prompts_dir() == package / "prompts"
    assert demo_take() == demo_take_path() == package / "demo" / "demo_take.flac"
    assert (package / "prompts" / "registry.json").is_file()


def test_a_failed_session_leaves_no_session_behind(monkeypatch, tmp_path, capsys):
    from fretcoach_desktop.config import load_config
    from fretcoach_desktop.store import Store

    monkeypatch.setattr(prompts, "prompts_dir", lambda: tmp_path)  # an install without its prompts
    status = cli.main(["session", str(TAKE), "--bpm", "108", "--key", "B", "--scale", "major_pentatonic",
                       "--no-audio", "--speed", "8"])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 1
    assert err.count("\n") == 1 and "prompt registry" in err and "Traceback" not in err
    with Store.open(load_config()) as store:
        user = store.ensure_user("default")
        assert store.history(user.id) == []
        assert store.recover_unfinished(user.id, stale_after_s=0) == []


@pytest.mark.parametrize("command", [["plan"], ["eval", "run", "--prompt", "v1"]])
def test_a_missing_prompt_is_one_line(monkeypatch, tmp_path, capsys, command):
    monkeypatch.setattr(prompts, "prompts_dir", lambda: tmp_path)
    status = cli.main(command)
    err = capsys.readouterr().err
    assert status in (1, 2)
    assert err.startswith("fretcoach: error: ") and err.count("\n") == 1, err
    assert "internal error" not in err
