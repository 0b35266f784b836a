"""The analysis thread (ring -> engine -> snapshots and events), file sources and ``listen``."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fretcoach_desktop import cli
from fretcoach_desktop.audio.analyzer import analyze_samples
from fretcoach_desktop.audio.capture import Capture
from fretcoach_desktop.audio.demo import FileSource, demo_take_info, demo_take_path
from fretcoach_desktop.audio.live import (
    AnalysisThread,
    Checkpoint,
    LiveSnapshot,
    StreamEnded,
    WindowClosed,
    to_dbfs,
)
from fretcoach_desktop.audio.metrics import compute_metrics
from fretcoach_desktop.audio.ring import RingBuffer
from fretcoach_desktop.audio.sources import read_audio
from fretcoach_desktop.commands import listen

from .synth import SynthNote, render
from .test_capture import STEREO, FakeInputStream

DATA = Path(__file__).parent / "data"
TAKE = DATA / "timgm_take001.flac"
SR = 44100


@pytest.fixture(scope="module")
def take():
    samples, sr = read_audio(TAKE)
    truth = json.loads(TAKE.with_suffix(".json").read_text())
    exercise = {k: truth[k] for k in ("bpm", "key", "scale", "subdivision")}
    return samples, sr, exercise


def without_final(result_json: dict) -> dict:
    """``final_s`` is the stream time of the block in which a note ended: it depends on how
    the audio was cut into blocks; everything else must not."""
    out = dict(result_json)
    out["notes"] = [{k: v for k, v in n.items() if k != "final_s"} for n in result_json["notes"]]
    return out


def run_file(samples, sr, exercise, **kw) -> tuple[AnalysisThread, list]:
    source = FileSource(samples, sr, speed=kw.pop("speed", None), **kw.pop("source_kw", {}))
    thread = AnalysisThread(source, **exercise, **kw)
    events = thread.subscribe()
    thread.start()
    assert thread.wait(60), "the file did not finish"
    thread.join(5)
    got = []
    while not events.empty():
        got.append(events.get_nowait())
    return thread, got


# --------------------------------------------------------------------------- the pipeline


def test_live_path_finds_the_same_notes_as_analyze(take):
    samples, sr, exercise = take
    thread, events = run_file(samples, sr, exercise)
    snap = thread.snapshot
    expected = analyze_samples(samples, sr, **exercise)
    assert len(snap.notes) == len(expected.notes) > 10
    assert without_final(snap.result().to_json()) == without_final(expected.to_json())
    assert not snap.running and snap.error is None and snap.overflows == 0
    assert snap.time_s == pytest.approx(samples.size / sr)
    assert isinstance(events[-1], StreamEnded) and events[-1].reason == "finished"
    assert thread.end_reason == "finished"


def test_real_time_pacing_of_a_file_source():
    y = render([SynthNote(0.2, 57)], total_s=1.0)
    source = FileSource(y, SR, speed=4.0, blocksize=256)
    t0 = time.monotonic()
    source.start()
    assert source.wait(5)
    elapsed = time.monotonic() - t0
    assert 0.2 <= elapsed < 1.0, elapsed  # 1 s of audio at 4x: ~0.25 s
    assert source.finished and source.ring.available == y.size and source.ring_overflows == 0


def test_snapshots_are_immutable_and_never_change_once_published(take):
    samples, sr, exercise = take
    source = FileSource(samples, sr, speed=8.0, lossless=True)
    thread = AnalysisThread(source, **exercise)
    thread.start()
    seen: list[tuple[LiveSnapshot, int]] = []
    while thread.running:
        snap = thread.snapshot
        if not seen or snap is not seen[-1][0]:
            seen.append((snap, len(snap.notes)))
        time.sleep(0.02)
    thread.join(5)
    final = thread.snapshot
    assert len(seen) > 5
    for snap, count in seen:
        assert len(snap.notes) == count  # an old snapshot is never extended
        assert isinstance(snap.notes, tuple) and isinstance(snap.noise_events, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        final.running = True  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        final.notes[0].cents = 0.0  # type: ignore[misc]
    seqs = [s.seq for s, _ in seen]
    assert seqs == sorted(seqs)
    running = [s for s, _ in seen if s.running]
    assert running and running[0].sample_rate == sr and final.seq >= seqs[-1]


def test_stop_is_prompt_and_publishes_a_final_snapshot():
    y = render([SynthNote(0.1 + 0.25 * i, 57 + i % 5) for i in range(8)], total_s=2.5)
    source = FileSource(y, SR, speed=1.0, loop=True)  # would run forever
    ended: list[StreamEnded] = []
    thread = AnalysisThread(source, bpm=120, key="A", scale="minor", on_end=ended.append)
    thread.start()
    time.sleep(0.6)
    assert thread.snapshot.running and thread.snapshot.time_s > 0.2
    t0 = time.monotonic()
    assert thread.stop()
    assert time.monotonic() - t0 < 0.5
    assert not source.running
    snap = thread.snapshot
    assert not snap.running and snap.error is None
    assert ended and ended[0].reason == "stopped" and ended[0].snapshot is snap
    assert thread.stop()  # twice is fine


def test_window_events_every_30_s_of_stream_time_and_checkpoints_every_5_s(take):
    samples, sr, exercise = take
    long = np.tile(samples, math.ceil(65 * sr / samples.size))[: int(65 * sr)]  # 65 s
    windows_hooked: list[WindowClosed] = []
    thread, events = run_file(long, sr, exercise, on_window=windows_hooked.append)
    windows = [e for e in events if isinstance(e, WindowClosed)]
    checkpoints = [e for e in events if isinstance(e, Checkpoint)]
    assert [(w.index, w.start_s, w.end_s, w.complete) for w in windows] == [
        (0, 0.0, 30.0, True),
        (1, 30.0, 60.0, True),
        (2, 60.0, 90.0, False),  # the last 5 s, reported when the stream ends
    ]
    assert windows_hooked == windows
    final = thread.snapshot
    for w in windows:
        in_window = [n for n in final.notes if w.start_s <= n.onset_s < w.end_s]
        assert w.notes == tuple(in_window) or len(w.notes) == len(in_window)
        assert w.metrics == compute_metrics(w.notes, w.noise_events)
        assert w.metrics.notes == len(w.notes) > 0
    assert sum(w.metrics.notes for w in windows) == len(final.notes)
    times = [c.snapshot.time_s for c in checkpoints]
    assert len(times) == 12  # 5, 10, ... 60 s; the end of the stream is StreamEnded
    assert all(b - a > 4.0 for a, b in zip(times, times[1:]))
    assert isinstance(events[-1], StreamEnded)
    # the live 30 s window of the last snapshot covers [35 s, 65 s)
    recent = [n for n in final.notes if n.onset_s >= 35.0]
    assert final.window_metrics == compute_metrics(recent, [e for e in final.noise_events if e.start_s >= 35.0])


def test_latency_compensation_shifts_onsets_and_regrids(take):
    samples, sr, exercise = take
    plain, _ = run_file(samples, sr, exercise)
    shifted, _ = run_file(samples, sr, exercise, latency_ms=25.0)
    a, b = plain.snapshot, shifted.snapshot
    assert len(a.notes) == len(b.notes)
    for n, m in zip(a.notes, b.notes):
        assert m.onset_s == pytest.approx(n.onset_s - 0.025)
        assert m.emitted_s == n.emitted_s  # when the engine reported it: stream time, unchanged
        assert m.timing_offset_ms == pytest.approx((m.onset_s - m.grid_s) * 1000)
        assert abs(m.timing_offset_ms) <= 1000 * 60 / exercise["bpm"] / exercise["subdivision"] / 2 + 1e-6
    assert b.latency_ms == 25.0
    assert b.session_metrics == compute_metrics(b.notes, b.noise_events)


def test_level_clipping_and_tuner():
    t = np.arange(int(2.0 * SR)) / SR
    a2 = sum(np.sin(2 * np.pi * 110.0 * k * t) / k for k in range(1, 5))
    a2 /= np.max(np.abs(a2))  # peaks at 0 dBFS
    hiss = 0.001 * np.random.default_rng(0).standard_normal(int(0.5 * SR))  # then the string: A2
    snaps = {}
    for name, gain in (("loud", 1.0), ("soft", 0.1)):
        signal = np.concatenate([hiss, gain * a2]).astype(np.float32)
        source = FileSource(signal, SR, speed=1.0)
        thread = AnalysisThread(source, bpm=100, key="A", scale="minor")
        thread.start()
        time.sleep(1.2)
        snaps[name] = thread.snapshot
        thread.stop()
    loud_snap, soft_snap = snaps["loud"], snaps["soft"]
    assert loud_snap.clipping and loud_snap.level_peak_dbfs >= -0.5 and loud_snap.clip_count > 0
    assert not soft_snap.clipping and soft_snap.level_peak_dbfs == pytest.approx(-20.0, abs=0.5)
    assert soft_snap.level_rms_dbfs < soft_snap.level_peak_dbfs
    tuner = soft_snap.tuner
    assert tuner is not None and tuner.note == "A2" and tuner.midi == 45
    assert abs(tuner.cents) < 3 and tuner.freq_hz == pytest.approx(110.0, rel=0.002)
    assert to_dbfs(0.0) == -120.0 and to_dbfs(1.0) == 0.0


class _OverflowingSource:
    """A source whose ring overflowed before the analysis could read it."""

    sample_rate, blocksize, input_overflows = SR, 256, 2

    def __init__(self) -> None:
        self.ring = RingBuffer(1000)
        self.finished = False

    def start(self) -> None:
        self.ring.write(np.zeros(1000, np.float32))
        self.ring.write(np.zeros(500, np.float32))  # does not fit: dropped
        self.finished = True

    def stop(self) -> None:
        pass

    def poll_error(self) -> None:
        return None


def test_dropped_samples_are_counted_and_replaced_by_silence_to_keep_the_clock():
    thread = AnalysisThread(_OverflowingSource(), bpm=100, key="A", scale="minor")
    thread.start()
    assert thread.wait(5)
    snap = thread.snapshot
    assert snap.ring_overflows == 1 and snap.dropped_samples == 500 and snap.input_overflows == 2
    assert snap.overflows == 3
    assert snap.time_s == pytest.approx(1500 / SR)  # stream time still matches the device's clock


class _DropInTheMiddleSource:
    """A device that ran 0.2 s ahead of a stalled analysis: the ring (1 s) was full, one
    block was dropped after the first second, then the device went on."""

    sample_rate, blocksize, input_overflows = SR, 256, 0

    def __init__(self, first: np.ndarray, rest: np.ndarray) -> None:
        self.ring = RingBuffer(SR)
        self.first, self.rest = first, rest
        self.finished = False
        self._writer: threading.Thread | None = None

    def start(self) -> None:
        self.ring.write(self.first)  # fills the ring
        self.ring.write(np.full(int(0.2 * SR), 0.5, np.float32))  # no room: dropped

        def later() -> None:
            while self.ring.free < self.rest.size:
                time.sleep(0.005)
            self.ring.write(self.rest)
            self.finished = True

        self._writer = threading.Thread(target=later, daemon=True)
        self._writer.start()

    def stop(self) -> None:
        pass

    def poll_error(self) -> None:
        return None


def test_dropped_samples_become_silence_where_they_were_dropped_not_where_the_analysis_was():
    """A note played before a drop keeps its time, and so does one played after it.

    (The silence used to be appended after whatever the analysis had read by then: 0.5 s of
    the ring, so the note at 0.6 s, read later, came out 0.2 s late.)"""
    exercise = {"bpm": 120.0, "key": "A", "scale": "minor"}
    first = render([SynthNote(0.6, 57, dur_s=0.35)], SR, 1.0, seed=3).astype(np.float32)
    rest = render([SynthNote(0.1, 60, dur_s=0.3)], SR, 0.6, seed=4).astype(np.float32)
    assert first.size == SR
    thread = AnalysisThread(_DropInTheMiddleSource(first, rest), **exercise)
    thread.start()
    assert thread.wait(10)
    snap = thread.snapshot
    assert snap.ring_overflows == 1 and snap.dropped_samples == int(0.2 * SR)
    assert snap.time_s == pytest.approx(1.8, abs=1e-6)
    stream = np.concatenate([first, np.zeros(int(0.2 * SR), np.float32), rest])
    offline = analyze_samples(stream, SR, **exercise)
    assert [n.midi for n in snap.notes] == [n.midi for n in offline.notes] == [57, 60]
    for live_note, offline_note in zip(snap.notes, offline.notes, strict=True):
        assert live_note.onset_s == pytest.approx(offline_note.onset_s, abs=1e-6)
    assert snap.notes[0].onset_s == pytest.approx(0.6, abs=0.01)
    assert snap.notes[1].onset_s == pytest.approx(1.3, abs=0.05)


def test_bad_exercise_settings_fail_before_anything_starts():
    source = FileSource(np.ones(100, np.float32), SR)
    for bad in ({"bpm": 5}, {"key": "H"}, {"scale": "lydian dominant bebop"}, {"subdivision": 5}, {"a4": 300.0}):
        kw = {"bpm": 100, "key": "A", "scale": "minor", **bad}
        with pytest.raises(ValueError):
            AnalysisThread(source, **kw)
    assert not source.running


# --------------------------------------------------------------------------- device loss


def test_device_loss_mid_session_ends_the_stream_and_capture_restarts(take):
    samples, sr, exercise = take
    signal = samples[: 6 * sr]
    lost = FakeInputStream.factory(signal=signal, speed=8.0, fail_after=int(3 * sr / 256))
    capture = Capture(STEREO, channel=2, sample_rate=sr, blocksize=256, stream_factory=lost)
    ended: list[StreamEnded] = []
    thread = AnalysisThread(capture, **exercise, on_end=ended.append)
    thread.start()
    assert thread.wait(10), "a lost device must end the stream"
    snap = thread.snapshot
    assert not snap.running and snap.error and "stopped unexpectedly" in snap.error
    assert ended[0].reason == "error" and ended[0].snapshot.notes == snap.notes
    assert 2.9 < snap.time_s < 3.1 and len(snap.notes) > 0  # what was heard is kept
    assert not capture.running

    # the user plugs the interface back in and presses Start: same Capture object
    capture._stream_factory = FakeInputStream.factory(signal=signal, speed=8.0)
    again = AnalysisThread(capture, **exercise)
    again.start()
    time.sleep(0.6)
    assert again.snapshot.running and again.snapshot.error is None
    assert again.snapshot.time_s > 2.0 and len(again.snapshot.notes) > 0
    again.stop()
    assert not again.snapshot.running and again.snapshot.error is None


# --------------------------------------------------------------------------- demo take


def test_the_demo_take_is_bundled_with_its_exercise():
    path = demo_take_path()
    assert path.is_file() and path.suffix == ".flac"
    info = demo_take_info()
    assert {"bpm", "key", "scale", "subdivision", "notes"} <= set(info)
    samples, sr = read_audio(path)
    assert 15 < samples.size / sr < 25


# --------------------------------------------------------------------------- fretcoach listen


def listen_args(*argv: str):
    parser = cli._Parser(prog="fretcoach", root=True)  # every _Parser takes --user
    sub = parser.add_subparsers(dest="command", parser_class=cli._Parser)
    listen.add_parser(sub)
    return parser.parse_args(["listen", *argv])


def test_listen_replays_a_file_and_prints_the_analyze_json(take):
    samples, sr, exercise = take
    out, err = io.StringIO(), io.StringIO()
    saved = []
    args = listen_args(
        "--file", str(TAKE), "--speed", "0", "--json",
        "--bpm", str(exercise["bpm"]), "--key", exercise["key"], "--scale", exercise["scale"],
        "--subdivision", str(exercise["subdivision"]),
    )  # fmt: skip
    assert args.handler is listen.run
    assert listen.run(args, out=out, err=err, save_session=saved.append) == 0
    got = json.loads(out.getvalue())
    expected = analyze_samples(samples, sr, **exercise).to_json()
    # the analyze contract, unchanged, plus what t = 0 is and what was lost on the way
    assert without_final({k: got[k] for k in expected}) == without_final(expected)
    assert {k: got[k] for k in set(got) - set(expected)} == {
        "t0": "first sample of the file",
        "t0_utc": None,
        "device": f"file: {TAKE.name}",
        "latency_ms": 0.0,
        "click_offset_ms": None,
        "input_overflows": 0,
        "ring_overflows": 0,
        "dropped_samples": 0,
    }
    (session,) = saved
    assert session.device == f"file: {TAKE.name}" and session.error is None
    assert session.key == exercise["key"] and len(session.result.notes) == len(got["notes"])
    assert [w.index for w in session.windows] == [0]  # one (partial) window


def test_listen_stops_after_seconds_and_prints_a_report():
    out, err = io.StringIO(), io.StringIO()
    args = listen_args("--demo", "--speed", "4", "--seconds", "3")
    assert listen.run(args, out=out, err=err) == 0
    text = out.getvalue()
    assert "Pitch accuracy" in text and "Notes" in text
    assert "replaying file: demo_take.flac" in err.getvalue()
    info = demo_take_info()
    assert f"{info['key']} {info['scale']}" in text


def test_listen_record_writes_exactly_what_was_analyzed(take, tmp_path):
    samples, sr, exercise = take
    recorded = tmp_path / "heard.wav"
    out = io.StringIO()
    args = listen_args(
        "--file", str(TAKE), "--speed", "0", "--json", "--record", str(recorded),
        "--bpm", str(exercise["bpm"]), "--key", exercise["key"], "--scale", exercise["scale"],
        "--subdivision", str(exercise["subdivision"]),
    )  # fmt: skip
    assert listen.run(args, out=out, err=io.StringIO()) == 0
    heard, rate = read_audio(recorded)
    assert rate == sr and heard.size == samples.size
    np.testing.assert_array_equal(heard, samples)
    got = json.loads(out.getvalue())
    again = analyze_samples(heard, rate, **exercise).to_json()
    assert without_final({k: got[k] for k in again}) == without_final(again)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (("--bpm", "100", "--key", "H", "--scale", "minor", "--demo"), "key"),
        (("--key", "A", "--scale", "minor"), "--bpm"),
        (("--demo", "--file", "x.wav"), "either --file or --demo"),
        (("--demo", "--seconds", "-1"), "--seconds"),
        (("--demo", "--channel", "0"), "--channel"),
        (("--file", "/nonexistent.wav", "--bpm", "90", "--key", "A", "--scale", "minor"), "file not found"),
        (("--demo", "--record", "take.mp3"), "--record: the file must end in .wav or .flac"),
        (("--demo", "--record", "/nonexistent/take.wav"), "--record: no directory"),
    ],
)
def test_listen_user_errors_are_one_line(argv, fragment):
    with pytest.raises(cli.CliError) as info:
        listen.run(listen_args(*argv), out=io.StringIO(), err=io.StringIO())
    assert fragment in str(info.value) and "\n" not in str(info.value)
    assert info.value.status == 2


def test_listen_without_an_input_device_fails_with_status_1(monkeypatch: pytest.MonkeyPatch):
    from fretcoach_desktop.audio import capture

    monkeypatch.setattr(capture, "list_input_devices", lambda: [])
    with pytest.raises(cli.CliError) as info:
        listen.run(listen_args("--bpm", "90", "--key", "A", "--scale", "minor"), out=io.StringIO(), err=io.StringIO())
    assert info.value.status == 1 and "no audio input device" in str(info.value)


def test_a_file_source_can_play_through_the_output_for_listening():
    from fretcoach_desktop.audio.player import AudioPlayer

    from .test_player import Recorder

    recorder = Recorder()
    player = AudioPlayer.reset_instance(sample_rate=SR, stream_factory=recorder)
    try:
        y = render([SynthNote(0.1, 57)], total_s=2.0)
        source = FileSource(y, SR, speed=1.0, play_through=True)
        source.start()
        assert player.is_playing and len(recorder.streams) == 1
        block = recorder.streams[0].pump(SR // 10)
        np.testing.assert_allclose(block[:, 0], y[: SR // 10], atol=1e-6)  # what is analyzed is heard
        source.stop()
        assert not player.is_playing
        assert not FileSource(y, SR, speed=4.0, play_through=True).play_through  # real time only
    finally:
        AudioPlayer.reset_instance()
