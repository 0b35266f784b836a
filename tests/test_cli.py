from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from fretcoach_desktop import __version__, cli
from fretcoach_desktop.audio.types import AnalysisResult, Metrics, NoiseEvent, Note

SR = 44100


# --------------------------------------------------------------------------- helpers


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m fretcoach_desktop ARGS`` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "fretcoach_desktop", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], fragment: str, status: int = 2) -> str:
    assert proc.returncode == status, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("fretcoach: error: ")
    assert fragment in lines[0]
    assert proc.stdout == ""
    return lines[0]


@pytest.fixture
def take(tmp_path) -> Path:
    """A short, audible WAV take (plucked A3 on the beat at 120 BPM)."""
    t = np.arange(int(2.0 * SR)) / SR
    signal = np.zeros_like(t)
    for onset in (0.5, 1.0, 1.5):
        mask = t >= onset
        signal[mask] += 0.4 * np.exp(-(t[mask] - onset) / 0.3) * np.sin(2 * np.pi * 220.0 * (t[mask] - onset))
    path = tmp_path / "take.wav"
    sf.write(path, signal.astype(np.float32), SR)
    return path


def sample_result() -> AnalysisResult:
    def note(onset_s, midi, name, cents, in_scale, grid_s, offset_ms):
        return Note(
            onset_s=onset_s, emitted_s=onset_s + 0.03, midi=midi, note=name, cents=cents,
            in_scale=in_scale, grid_s=grid_s, timing_offset_ms=offset_ms,
        )  # fmt: skip

    notes = (
        note(0.5012, 57, "A3", -3.1, True, 0.5, 1.2),
        note(1.04, 60, "C4", 22.0, True, 1.0, 40.0),
        note(1.47, 65, "F4", -35.5, False, 1.5, -30.0),
    )
    events = (NoiseEvent(1.8, 1.85),)
    metrics = Metrics(70.0, 66.7, 60.0, 75.0, notes=3, noise_events=1)
    return AnalysisResult(notes, events, metrics, duration_s=2.0, sample_rate=SR)


@pytest.fixture
def fake_engine(monkeypatch):
    """Replace the analysis engine by a fake that records its arguments."""
    calls: list[dict] = []
    module = types.ModuleType("fretcoach_desktop.audio.analyzer")

    def analyze_samples(samples, sample_rate, **kwargs):
        calls.append({"samples": samples, "sample_rate": sample_rate, **kwargs})
        return module.result

    module.analyze_samples = analyze_samples
    module.result = sample_result()
    module.calls = calls
    monkeypatch.setitem(sys.modules, "fretcoach_desktop.audio.analyzer", module)
    return module


# --------------------------------------------------------------------------- bad input: subprocess


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--bpm", "120", "--key", "H", "--scale", "minor"], "unknown key 'H'"),
        (["--bpm", "120", "--key", "A", "--scale", "bebop"], "unknown scale 'bebop'"),
        (["--bpm", "10", "--key", "A", "--scale", "minor"], "bpm must be a number from 20 to 400"),
        (["--bpm", "401", "--key", "A", "--scale", "minor"], "bpm must be a number from 20 to 400"),
        (["--bpm", "nan", "--key", "A", "--scale", "minor"], "bpm must be a number from 20 to 400"),
        (["--bpm", "fast", "--key", "A", "--scale", "minor"], "invalid float value: 'fast'"),
        (["--bpm", "120", "--key", "A", "--scale", "minor", "--subdivision", "5"], "subdivision must be one of"),
        (["--bpm", "120", "--key", "A", "--scale", "minor", "--a4", "300"], "--a4 must be from 400 to 480"),
        (["--bpm", "120", "--key", "A", "--scale", "minor", "--count-in", "-1"], "--count-in"),
        (["--bpm", "120", "--key", "A", "--scale", "minor", "--block-size", "0"], "--block-size"),
        (["--key", "A", "--scale", "minor"], "the following arguments are required: --bpm"),
    ],
)
def test_bad_options_exit_2_with_one_line(take, args, fragment):
    assert_one_line_error(run_cli("analyze", str(take), *args), fragment)


def test_options_are_validated_before_the_file_is_read(tmp_path):
    proc = run_cli("analyze", str(tmp_path / "missing.wav"), "--bpm", "120", "--key", "Z", "--scale", "minor")
    assert_one_line_error(proc, "unknown key 'Z'")


def _silent(tmp_path: Path) -> Path:
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros(SR, dtype=np.float32), SR)
    return path


def _text(tmp_path: Path) -> Path:
    path = tmp_path / "notes.flac"
    path.write_text("not audio at all\n" * 10)
    return path


@pytest.mark.parametrize(
    ("make_path", "fragment"),
    [
        (lambda tmp: tmp / "missing.wav", "file not found"),
        (lambda tmp: tmp, "is a directory"),
        (_text, "not a readable audio file"),
        (_silent, "is silent"),
    ],
)
def test_bad_files_exit_2_with_one_line(tmp_path, make_path, fragment):
    path = make_path(tmp_path)
    proc = run_cli("analyze", str(path), "--bpm", "120", "--key", "A", "--scale", "minor")
    assert_one_line_error(proc, fragment)


def test_broken_settings_file_is_a_clean_error(take, isolated_env):
    (isolated_env / "settings.json").write_text("{oops", encoding="utf-8")
    proc = run_cli("analyze", str(take), "--bpm", "120", "--key", "A", "--scale", "minor")
    assert_one_line_error(proc, "is not valid JSON")


def test_a_settings_error_wins_over_a_file_error(tmp_path, isolated_env):
    """The take is decoded while the settings load; a bad settings file is still reported first."""
    (isolated_env / "settings.json").write_text("{oops", encoding="utf-8")
    proc = run_cli("analyze", str(tmp_path / "missing.wav"), "--bpm", "120", "--key", "A", "--scale", "minor")
    assert_one_line_error(proc, "is not valid JSON")


def test_unknown_options_are_one_line_usage_errors():
    assert_one_line_error(run_cli("history", "--frobnicate"), "unrecognized arguments")


# --------------------------------------------------------------------------- entry points


def test_module_help_lists_every_command():
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert "usage: fretcoach" in proc.stdout
    for command in ("analyze", "listen", "devices", "session", "plan", "ask", "history", "export", "eval"):
        assert command in proc.stdout


def _commands_action(parser):
    return next(a for a in parser._subparsers._group_actions if isinstance(a, cli._Commands))


def test_lazy_command_stubs_match_the_real_parsers():
    """The top-level help shows each module command's own help line, in the same order,
    whether or not its real parser has been built; building it keeps every other command."""
    parser = cli.build_parser()
    action = _commands_action(parser)
    stubs = [(a.dest, a.help) for a in action._choices_actions]
    names = list(action.choices)
    help_before = parser.format_help()
    action.install_all()
    assert [(a.dest, a.help) for a in action._choices_actions] == stubs
    assert list(action.choices) == names == cli.command_names()
    assert parser.format_help() == help_before
    for name, _, _ in cli._MODULE_COMMANDS:
        real = action.choices[name]
        assert real.get_default("handler") is not None, name
        assert real.description, name  # the module's parser, not a stub


def test_a_lazy_command_is_built_when_named():
    args = cli.build_parser().parse_args(["ask", "what next?", "--thread", "t1"])
    assert (args.command, args.question, args.thread, args.json) == ("ask", "what next?", "t1", False)
    from fretcoach_desktop.commands import ask

    assert args.handler is ask.run


def test_building_the_parser_imports_no_command_module_and_no_heavy_package():
    """`fretcoach --help` and the parser of `analyze` cost no numpy, scipy, pydantic, store."""
    code = (
        "import sys\n"
        "from fretcoach_desktop import cli\n"
        "cli.build_parser().parse_args(['analyze', 'x', '--bpm', '90', '--key', 'A', '--scale', 'minor'])\n"
        "heavy = ('numpy', 'scipy', 'soundfile', 'pydantic', 'sqlalchemy', 'alembic', 'langchain', 'openai')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy"
        " or m.startswith(('fretcoach_desktop.audio', 'fretcoach_desktop.store', 'fretcoach_desktop.config',"
        " 'fretcoach_desktop.commands.'))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['fretcoach_desktop.commands.options']"


def test_module_without_arguments_and_no_display_says_so(monkeypatch):
    """With no sub-command the window opens; with no display that is one clear line."""
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    assert_one_line_error(run_cli(), "no display found", status=1)


def test_version(capsys):
    assert cli.main(["--version"]) == 0  # main returns the status argparse would exit with
    assert capsys.readouterr().out.strip() == f"fretcoach {__version__}"


def test_cli_main_without_command_prints_help(capsys):
    assert cli.main([]) == 0
    assert "analyze" in capsys.readouterr().out


def test_every_command_and_sub_command_takes_user_after_its_name():
    """The README says every command takes --user: each parser, once built, has it."""
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, cli._Commands))  # noqa: SLF001
    commands.install_all()
    seen = []

    def walk(p, path):
        options = {s for a in p._actions for s in a.option_strings}  # noqa: SLF001
        assert "--user" in options, path
        seen.append(path)
        for action in p._actions:  # noqa: SLF001
            if isinstance(action, cli.argparse._SubParsersAction):  # noqa: SLF001
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")

    walk(parser, "fretcoach")
    assert {"fretcoach session", "fretcoach eval run", "fretcoach analyze", "fretcoach ask"} <= set(seen)
    args = parser.parse_args(["eval", "run", "--prompt", "v1", "--user", "zoe"])
    assert args.user == "zoe"
    assert parser.parse_args(["history"]).user is None  # not given: $FRETCOACH_USER or 'default'


def test_global_user_option_is_validated(take, fake_engine, capsys):
    assert cli.main(["--user", "\t", "analyze", str(take), "--bpm", "120", "--key", "A", "--scale", "minor"]) == 2
    assert "user" in capsys.readouterr().err


# --------------------------------------------------------------------------- analyze with a fake engine


def test_json_output_is_the_engine_result(take, fake_engine, capsys):
    status = cli.main(
        ["analyze", str(take), "--bpm", "96", "--key", "bb", "--scale", "Minor Pentatonic",
         "--subdivision", "2", "--block-size", "512", "--json"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert json.loads(captured.out) == fake_engine.result.to_json()
    assert captured.out.count("\n") == 1  # one JSON object on one line
    (call,) = fake_engine.calls
    assert call["sample_rate"] == SR
    assert call["samples"].dtype == np.float32 and call["samples"].size == 2 * SR
    assert call["bpm"] == 96.0
    assert call["key"] == "Bb"
    assert call["scale"] == "minor_pentatonic"
    assert call["subdivision"] == 2
    assert call["a4"] == 440.0
    assert call["block_size"] == 512


def test_a4_comes_from_flag_then_environment(take, fake_engine, monkeypatch, capsys):
    monkeypatch.setenv("FRETCOACH_A4_HZ", "442")
    assert cli.main(["analyze", str(take), "--bpm", "120", "--key", "A", "--scale", "minor", "--json"]) == 0
    assert cli.main(["analyze", str(take), "--bpm", "120", "--key", "A", "--scale", "minor", "--a4", "415.5"]) == 0
    assert [c["a4"] for c in fake_engine.calls] == [442.0, 415.5]


def test_a4_without_settings_is_the_flag_or_440_and_the_settings_file_counts(take, fake_engine, isolated_env):
    argv = ["analyze", str(take), "--bpm", "120", "--key", "A", "--scale", "minor", "--json"]
    assert cli.main(argv) == 0
    assert cli.main([*argv, "--a4", "432"]) == 0
    (isolated_env / "settings.json").write_text('{"a4_hz": 441}', encoding="utf-8")
    assert cli.main(argv) == 0
    assert cli.main([*argv, "--a4", "432"]) == 0
    assert [c["a4"] for c in fake_engine.calls] == [440.0, 432.0, 441.0, 432.0]


def test_plain_analyze_builds_no_settings_model(take):
    """With default settings and no --save, analyze never imports pydantic or the store."""
    code = (
        "import sys\n"
        "from fretcoach_desktop import cli\n"
        f"status = cli.main(['analyze', {str(take)!r}, '--bpm', '120', '--key', 'A', '--scale', 'minor', '--json'])\n"
        "heavy = ('pydantic', 'sqlalchemy', 'alembic', 'fretcoach_desktop.config', 'fretcoach_desktop.store')\n"
        "print(status, sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stderr.strip() == "0 []"
    assert json.loads(proc.stdout)["sample_rate"] == SR


def test_count_in_is_accepted_and_reported(take, fake_engine, capsys):
    argv = ["analyze", str(take), "--bpm", "120", "--key", "A", "--scale", "minor", "--count-in", "4"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "count-in: 4 beats" in out
    assert len(fake_engine.calls) == 1


def test_table_output(take, fake_engine, capsys):
    assert cli.main(["analyze", str(take), "--bpm", "120", "--key", "A", "--scale", "minor"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    a3 = next(line for line in lines if " A3 " in line)
    assert "-3.1" in a3 and "in tune" in a3 and "ok" in a3 and "on time" in a3 and "+1.2 ms" in a3
    c4 = next(line for line in lines if " C4 " in line)
    assert "+22.0" in c4 and "sharp" in c4 and "late" in c4 and "+40.0 ms" in c4
    f4 = next(line for line in lines if " F4 " in line)
    assert "-35.5" in f4 and "flat" in f4 and "OUT" in f4 and "early" in f4 and "-30.0 ms" in f4
    assert "A minor, 120 BPM (quarter notes), A4 = 440 Hz" in out
    assert any(line.startswith("Pitch accuracy") and line.endswith("70.0") for line in lines)
    assert any(line.startswith("Scale conformity") and line.endswith("66.7") for line in lines)
    assert any(line.startswith("Timing stability") and line.endswith("60.0") for line in lines)
    assert any(line.startswith("Noise control") and line.endswith("75.0") for line in lines)
    assert any(line.startswith("Noise events") and line.endswith("1") for line in lines)


def test_table_without_notes(take, fake_engine, capsys):
    fake_engine.result = AnalysisResult((), (), Metrics(None, None, None, None), 2.0, SR)
    assert cli.main(["analyze", str(take), "--bpm", "120", "--key", "A", "--scale", "minor"]) == 0
    out = capsys.readouterr().out
    assert "no notes detected" in out
    assert any(line.startswith("Pitch accuracy") and line.endswith("n/a") for line in out.splitlines())


def test_engine_value_error_is_a_usage_error(take, fake_engine, capsys):
    def reject(*args, **kwargs):
        raise ValueError("sample rate too low for the pitch tracker")

    fake_engine.analyze_samples = reject
    assert cli.main(["analyze", str(take), "--bpm", "120", "--key", "A", "--scale", "minor"]) == 2
    err = capsys.readouterr().err
    assert err == "fretcoach: error: sample rate too low for the pitch tracker\n"


def test_unexpected_engine_failure_is_one_line_exit_1(take, fake_engine, capsys):
    def crash(*args, **kwargs):
        raise RuntimeError("boom\nwith two lines")

    fake_engine.analyze_samples = crash
    assert cli.main(["analyze", str(take), "--bpm", "120", "--key", "A", "--scale", "minor"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error (RuntimeError): boom with two lines" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- devices


def fake_sounddevice(devices: list[dict], default_input: int = 0) -> types.ModuleType:
    module = types.ModuleType("sounddevice")
    module.query_devices = lambda: devices
    module.query_hostapis = lambda: [{"name": "ALSA"}]
    module.default = types.SimpleNamespace(device=[default_input, 1])
    return module


def test_devices_lists_inputs_only(monkeypatch, capsys):
    devices = [
        {"name": "Scarlett 2i2", "hostapi": 0, "max_input_channels": 2, "default_samplerate": 48000.0},
        {"name": "HDMI out", "hostapi": 0, "max_input_channels": 0, "default_samplerate": 44100.0},
        {"name": "USB mic", "hostapi": 0, "max_input_channels": 1, "default_samplerate": 44100.0},
    ]
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(devices, default_input=2))
    assert cli.main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "Scarlett 2i2" in out and "USB mic" in out and "HDMI out" not in out
    mic = next(line for line in out.splitlines() if "USB mic" in line)
    assert mic.startswith("*") and "ALSA" in mic and "1 in" in mic and "44.1 kHz" in mic


def test_devices_none_found(monkeypatch, capsys):
    outputs_only = [{"name": "HDMI", "hostapi": 0, "max_input_channels": 0, "default_samplerate": 48000.0}]
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(outputs_only))
    assert cli.main(["devices"]) == 1
    assert "no audio input devices found" in capsys.readouterr().err


def test_devices_without_portaudio(monkeypatch, capsys):
    class NoPortAudio:
        def find_spec(self, name, path=None, target=None):
            if name == "sounddevice":
                raise OSError("PortAudio library not found")
            return None

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [NoPortAudio(), *sys.meta_path])
    assert cli.main(["devices"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "PortAudio library was not found" in err and "libportaudio2" in err


def test_devices_subprocess_never_shows_a_traceback():
    proc = run_cli("devices")
    assert "Traceback" not in proc.stderr
    assert proc.returncode in (0, 1)
    if proc.returncode == 1:
        assert len(proc.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- the real engine


@pytest.mark.skipif(
    importlib.util.find_spec("fretcoach_desktop.audio.analyzer") is None, reason="analysis engine not present"
)
def test_json_contract_with_the_real_engine(take):
    proc = run_cli("analyze", str(take), "--bpm", "120", "--key", "A", "--scale", "minor", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    # the contract's fields must be there (the engine may add more)
    assert set(result) >= {"notes", "noise_events", "metrics", "duration_s", "sample_rate"}
    assert result["sample_rate"] == SR
    assert result["duration_s"] == pytest.approx(2.0, abs=0.01)
    assert set(result["metrics"]) == {"pitch_accuracy", "scale_conformity", "timing_stability", "noise_control"}
    for note in result["notes"]:
        assert set(note) >= {"onset_s", "emitted_s", "midi", "note", "cents", "in_scale", "grid_s",
                             "timing_offset_ms"}  # fmt: skip
        assert note["emitted_s"] >= note["onset_s"]
