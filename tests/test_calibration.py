"""Latency calibration: the estimate, the stream clocks, the click/capture gap, live runs."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from fretcoach_desktop.audio.calibration import (
    CalibrationError,
    CalibrationRun,
    estimate_latency,
    scored_clicks,
)
from fretcoach_desktop.audio.clock import StreamClock
from fretcoach_desktop.audio.demo import FileSource
from fretcoach_desktop.audio.live import AnalysisThread
from fretcoach_desktop.audio.player import ClickTrack

from .synth import SynthNote, render

SR = 44100


# --------------------------------------------------------------------------- the estimate


def test_latency_is_the_median_offset_and_outliers_are_dropped():
    rng = np.random.default_rng(4)
    clicks = scored_clicks(80, 16)
    onsets = [c + 0.037 + rng.normal(0, 0.002) for c in clicks]
    onsets[3] = clicks[3] + 0.200  # a late pluck
    del onsets[9]  # a missed click
    onsets.append(clicks[5] + 0.300)  # a second attack after a click: only the first counts
    onsets += [0.1, 0.85, 1.6]  # playing during the count-in is ignored
    result = estimate_latency(onsets, bpm=80, beats=16)
    assert result.latency_ms == pytest.approx(37.0, abs=1.5)
    assert result.clicks == 16 and result.outliers == 1 and result.hits == 14
    assert len(result.offsets_ms) == 15 and max(result.offsets_ms) == pytest.approx(200.0, abs=0.01)
    assert result.spread_ms < 4.0 and result.quality == "good" and result.usable
    assert result.describe().startswith("37 ms (good:")
    assert result.to_json()["quality"] == "good"


def test_a_latency_that_jumps_mid_run_is_reported_as_unstable_not_good():
    """Six clicks at +45 ms then ten at +67 ms: the device changed its buffering. The ten
    must not pass for a good measurement with the six dropped as outliers."""
    clicks = scored_clicks(80, 16)
    jumped = estimate_latency([c + (0.045 if k < 6 else 0.067) for k, c in enumerate(clicks)], bpm=80, beats=16)
    assert jumped.quality == "unstable" and not jumped.usable
    assert jumped.other_latency_ms == pytest.approx(45.0) and jumped.other_hits == 6
    assert jumped.changed_after == 6
    assert "jumped from 45 ms to 67 ms after click 6" in jumped.problem()
    assert jumped.to_json()["quality"] == "unstable" and jumped.to_json()["changed_after_click"] == 6
    # the other way round, with a missed click: the first latency is the later majority's
    back = [c + (0.067 if k < 10 else 0.045) for k, c in enumerate(clicks) if k != 3]
    result = estimate_latency(back, bpm=80, beats=16)
    assert result.quality == "unstable" and result.changed_after == 10
    assert "jumped from 67 ms to 45 ms after click 10" in result.problem()
    # alternating is not a jump, but still two latencies
    mixed = estimate_latency([c + (0.045 if k % 3 == 0 else 0.067) for k, c in enumerate(clicks)], bpm=80, beats=16)
    assert mixed.quality == "unstable" and mixed.changed_after is None
    assert "two latencies, 67 ms and 45 ms" in mixed.problem()
    # a few stray attacks are outliers, not a second latency
    stray = [c + 0.037 for c in clicks]
    stray[2] += 0.1
    stray[9] += 0.12
    result = estimate_latency(stray, bpm=80, beats=16)
    assert result.quality == "good" and result.other_latency_ms is None and result.problem() is None


def test_a_player_ahead_of_the_click_gives_a_negative_latency():
    clicks = scored_clicks(100, 8)
    result = estimate_latency([c - 0.025 for c in clicks], bpm=100, beats=8)
    assert result.latency_ms == pytest.approx(-25.0, abs=0.01) and result.spread_ms == 0.0


def test_scattered_playing_is_poor_and_too_few_hits_is_an_error():
    rng = np.random.default_rng(5)
    clicks = scored_clicks(80, 16)
    scattered = estimate_latency([c + 0.05 + rng.normal(0, 0.04) for c in clicks], bpm=80, beats=16)
    assert scattered.quality == "poor" and not scattered.usable
    with pytest.raises(CalibrationError, match="only 3 of 16 clicks: play one short"):
        estimate_latency(clicks[:3], bpm=80, beats=16)
    with pytest.raises(CalibrationError, match="turn the click up"):
        estimate_latency([], bpm=80, beats=16, method="loopback")
    with pytest.raises(ValueError, match="bpm"):
        estimate_latency(clicks, bpm=500)
    with pytest.raises(ValueError, match="method"):
        estimate_latency(clicks, method="tap")


# --------------------------------------------------------------------------- stream clocks


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_stream_clock_finds_sample_zero_through_start_up_bursts():
    clock = FakeClock()
    sc = StreamClock(48000, clock)
    start, block = 1000.0, 480  # sample 0 at t = 1000 s; blocks of 10 ms; 3 ms callback delay
    assert sc.origin() is None
    # start-up: nothing for 60 ms, then 6 blocks at once; then steady (+ jitter)
    rng = np.random.default_rng(1)
    for k in range(100):
        due = start + (k + 1) * block / 48000 + 0.003
        clock.t = max(due, start + 0.066) + (rng.uniform(0, 0.0015) if k > 6 else 0.0)
        sc.tick(block)
    assert sc.origin() == pytest.approx(start + 0.003, abs=0.001)
    assert sc.time_of(48000) == pytest.approx(start + 1.003, abs=0.001)


# --------------------------------------------------------------------------- the click/capture gap


class ClockedFileSource(FileSource):
    """A file replay that says where its sample 0 is on the monotonic clock, as a capture does."""

    def __init__(self, *args, origin: float, **kw) -> None:
        super().__init__(*args, **kw)
        self.origin = origin

    def clock_origin(self) -> float | None:
        return self.origin


class FakePlayer:
    """Starts click tracks and says when click 0 left the output: *gap* after the capture's sample 0."""

    def __init__(self, capture_origin: float, gap_s: float) -> None:
        self.origin = capture_origin + gap_s
        self.started: list[ClickTrack] = []

    def make_click(self, bpm: float, *, volume: float = 0.8, **kw) -> ClickTrack:
        return ClickTrack(SR, bpm, volume=volume)

    def start_click(self, track: ClickTrack) -> bool:
        self.started.append(track)
        return True

    def stop_click(self) -> None:
        pass

    def click_origin(self, track: ClickTrack) -> float | None:
        return self.origin if track in self.started else None


def plucks_on_clicks(bpm: float, beats: int, delay_s: float, count_in: int = 4) -> np.ndarray:
    period = 60.0 / bpm
    notes = [SynthNote(delay_s + k * period, 57 + (k % 5), dur_s=0.4) for k in range(count_in + beats)]
    return render(notes, SR, total_s=delay_s + (count_in + beats) * period + 1.0)


def test_the_gap_between_capture_and_click_is_measured_and_taken_out():
    gap = 0.137
    samples = plucks_on_clicks(120, 8, gap)  # every pluck exactly on a click as the capture heard it
    source = ClockedFileSource(samples, SR, speed=None, lossless=True, origin=500.0)
    player = FakePlayer(500.0, gap)
    thread = AnalysisThread(
        source,
        bpm=120,
        key="C",
        scale="chromatic",
        latency_ms=10.0,
        click=player.make_click(120),
        player=player,  # type: ignore[arg-type]
    )
    thread.start()
    assert thread.wait(30)
    snap = thread.snapshot
    assert snap.click_offset_ms == pytest.approx(137.0)
    assert len(snap.notes) == 12
    # reported onsets: capture time - gap - latency; the plucks were on the clicks, so 10 ms early
    offsets = [n.timing_offset_ms for n in snap.notes]
    assert np.median(offsets) == pytest.approx(-10.0, abs=4.0), offsets
    assert snap.notes[4].onset_s == pytest.approx(2.0 - 0.010, abs=0.006)


def test_without_a_clock_on_the_source_nothing_is_shifted():
    samples = plucks_on_clicks(120, 4, 0.137)
    source = FileSource(samples, SR, speed=None, lossless=True)
    player = FakePlayer(0.0, 0.5)
    thread = AnalysisThread(source, bpm=120, key="C", scale="chromatic", click=player.make_click(120), player=player)  # type: ignore[arg-type]
    thread.start()
    assert thread.wait(30)
    snap = thread.snapshot
    assert snap.click_offset_ms is None
    assert np.median([n.timing_offset_ms for n in snap.notes]) == pytest.approx(137.0, abs=5.0)


# --------------------------------------------------------------------------- a live run


def run_to_end(run: CalibrationRun, timeout: float = 30.0) -> list:
    seen = []
    run.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = run.poll()
        seen.append(progress)
        if progress.done:
            return seen
        time.sleep(0.01)
    raise AssertionError("the calibration did not end")


def test_a_calibration_run_measures_the_delay_of_the_attacks():
    samples = plucks_on_clicks(80, 12, 0.042)
    source = FileSource(samples, SR, speed=None, lossless=True)
    run = CalibrationRun(source, player=None, bpm=80, beats=12)
    seen = run_to_end(run)
    last = seen[-1]
    assert last.done and last.beat == 12 and last.hits == 12 and last.error is None
    assert seen[0].counting_in and seen[0].fraction == 0.0 and last.fraction == 1.0
    result = run.result()
    assert result.latency_ms == pytest.approx(42.0, abs=4.0)
    assert result.hits == 12 and result.quality == "good"


def test_a_calibration_stopped_early_or_silent_says_why():
    silent = np.zeros(int(10 * SR), dtype=np.float32)
    run = CalibrationRun(FileSource(silent, SR, speed=None, lossless=True), player=None, bpm=120, beats=8)
    run_to_end(run)
    with pytest.raises(CalibrationError, match="only 0 of 8 clicks"):
        run.result()
    short = plucks_on_clicks(80, 12, 0.04)[: int(4 * SR)]
    run = CalibrationRun(FileSource(short, SR, speed=None, lossless=True), player=None, bpm=80, beats=12)
    run_to_end(run)
    with pytest.raises(CalibrationError, match="before the last click"):
        run.result()


# --------------------------------------------------------------------------- stored per device


def test_calibrations_are_stored_per_profile_and_device_newest_first(store):
    from datetime import UTC, datetime, timedelta

    ana, ben = store.ensure_user("ana").id, store.ensure_user("ben").id
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    store.save_calibration(ana, "Scarlett 2i2 USB", 31.0, spread_ms=2.5, hits=15, clicks=16, bpm=80, created_at=t0)
    newer = store.save_calibration(
        ana, "Scarlett  2i2 USB ", 27.5, spread_ms=1.5, hits=16, clicks=16, bpm=80, created_at=t0 + timedelta(days=1)
    )
    store.save_calibration(ana, "USB Guitar Cable", 12.0, method="manual", created_at=t0)
    store.save_calibration(ben, "Scarlett 2i2 USB", 44.0, method="loopback", created_at=t0 + timedelta(days=2))

    got = store.calibration(ana, "Scarlett 2i2 USB")
    assert got is not None and got.id == newer and got.latency_ms == 27.5 and got.spread_ms == 1.5
    assert got.device == "Scarlett 2i2 USB" and got.method == "play-along" and got.created_at == t0 + timedelta(days=1)
    assert store.calibration(ben, "Scarlett 2i2 USB").latency_ms == 44.0  # another player, another value
    assert store.calibration(ana, "Built-in Microphone") is None
    assert [c.latency_ms for c in store.calibrations(ana)] == [27.5, 12.0, 31.0]  # same time: newest row first
    with pytest.raises(ValueError, match="latency_ms"):
        store.save_calibration(ana, "Scarlett 2i2 USB", 5000.0)
    with pytest.raises(ValueError, match="method"):
        store.save_calibration(ana, "Scarlett 2i2 USB", 5.0, method="guess")
    with pytest.raises(ValueError, match="device name"):
        store.save_calibration(ana, "  ", 5.0)


# --------------------------------------------------------------------------- fretcoach calibrate


@pytest.fixture
def replayed_device(monkeypatch: pytest.MonkeyPatch):
    """``fretcoach calibrate`` records from a replayed play-along instead of a device."""
    from fretcoach_desktop.commands import calibrate

    takes: dict[str, np.ndarray] = {}

    def make_source(args):
        return FileSource(takes["next"], SR, speed=None, lossless=True), "Scarlett 2i2 USB"

    monkeypatch.setattr(calibrate, "_make_source", make_source)
    monkeypatch.setattr(calibrate, "_player", lambda: None)  # the clicks are in the take already
    return takes


def test_calibrate_command_measures_stores_and_shows(replayed_device, capsys):
    from fretcoach_desktop import cli

    replayed_device["next"] = plucks_on_clicks(80, 16, 0.033)
    assert cli.main(["calibrate", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["saved"] and got["device"] == "Scarlett 2i2 USB" and got["user"] == "default"
    assert got["latency_ms"] == pytest.approx(33.0, abs=4.0) and got["hits"] == 16

    assert cli.main(["--user", "ben", "calibrate", "--latency-ms", "25"]) == 0
    assert "input latency 25 ms (typed in)" in capsys.readouterr().out

    assert cli.main(["calibrate", "--show"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("Scarlett 2i2 USB: ") and "(play-along, " in shown
    assert cli.main(["--user", "ben", "calibrate", "--show", "--json"]) == 0
    (ben,) = json.loads(capsys.readouterr().out)["calibrations"]
    assert ben["latency_ms"] == 25.0 and ben["method"] == "manual"


def test_calibrate_command_refuses_to_store_what_it_cannot_trust(replayed_device, capsys):
    from fretcoach_desktop import cli

    rng = np.random.default_rng(2)
    period = 0.75
    notes = [SynthNote(k * period + 0.04 + rng.normal(0, 0.05), 57, dur_s=0.3) for k in range(20)]
    replayed_device["next"] = render(notes, SR, total_s=16.0)
    assert cli.main(["calibrate"]) == 1
    captured = capsys.readouterr()
    assert "too scattered" in captured.err and "not stored" in captured.err
    assert cli.main(["calibrate", "--show"]) == 0
    assert "no device calibrated" in capsys.readouterr().out

    jumping = [SynthNote(k * period + (0.045 if k < 10 else 0.067), 57, dur_s=0.3) for k in range(20)]
    replayed_device["next"] = render(jumping, SR, total_s=16.0)
    assert cli.main(["calibrate", "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["quality"] == "unstable"
    assert "not stored: the latency jumped from" in captured.err and "after click 6" in captured.err

    replayed_device["next"] = np.zeros(16 * SR, dtype=np.float32)
    assert cli.main(["calibrate"]) == 1
    assert "only 0 of 16 clicks" in capsys.readouterr().err
    assert cli.main(["calibrate", "--bpm", "500"]) == 2
    assert "--bpm must be from 30 to 200" in capsys.readouterr().err


def test_a_session_records_the_latency_its_note_times_had_subtracted(store):
    from fretcoach_desktop.audio.types import AnalysisResult, Metrics

    uid = store.ensure_user("ana").id
    live = store.start_session(uid, key="A", scale="minor", bpm=96, audio_device="Scarlett 2i2 USB", latency_ms=27.5)
    take = store.save_analysis(uid, AnalysisResult((), (), Metrics(None, None, None, None), 3.0, 44100), key="A",
                               scale="minor", bpm=96)  # fmt: skip
    assert store.finish_session(live, duration_s=10.0).latency_ms == 27.5
    rows = {s.session_id: s for s in store.history(uid)}
    assert rows[live].latency_ms == 27.5 and rows[take].latency_ms is None
    assert rows[live].to_json()["latency_ms"] == 27.5
    with pytest.raises(ValueError, match="latency_ms"):
        store.start_session(uid, key="A", scale="minor", bpm=96, latency_ms=float("nan"))
