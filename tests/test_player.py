"""The singleton audio player and the metronome click track."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from fretcoach_desktop.audio.metronome import render_click
from fretcoach_desktop.audio.player import AudioPlayer, ClickTrack, resample

RATE = 48000


class FakeOutputStream:
    """Stands in for sounddevice.OutputStream: the test pulls blocks with :meth:`pump`."""

    def __init__(self, **kw: Any) -> None:
        self.kw = kw
        self.callback = kw["callback"]
        self.channels = kw["channels"]
        self.active = False
        self.closed = False

    def start(self) -> None:
        self.active = True

    def pump(self, frames: int) -> np.ndarray:
        out = np.full((frames, self.channels), 9.0, dtype=np.float32)  # garbage, as PortAudio may give
        self.callback(out, frames, None, None)
        return out

    def abort(self) -> None:
        self.active = False

    def close(self) -> None:
        self.closed = True


class Recorder:
    def __init__(self) -> None:
        self.streams: list[FakeOutputStream] = []

    def __call__(self, **kw: Any) -> FakeOutputStream:
        stream = FakeOutputStream(**kw)
        self.streams.append(stream)
        return stream


@pytest.fixture
def player():
    recorder = Recorder()
    p = AudioPlayer.reset_instance(sample_rate=RATE, stream_factory=recorder)
    p.recorder = recorder  # type: ignore[attr-defined]
    yield p
    AudioPlayer.reset_instance()


def test_the_player_is_a_process_wide_singleton(player):
    assert AudioPlayer.instance() is player
    assert AudioPlayer.instance() is AudioPlayer.instance()


def test_a_new_clip_stops_the_one_that_is_playing(player):
    first = np.full(RATE, 0.25, dtype=np.float32)  # 1 s
    second = np.full(RATE // 10, -0.5, dtype=np.float32)
    assert player.play(first, RATE)
    (stream,) = player.recorder.streams
    assert np.all(stream.pump(480) == 0.25)
    assert player.is_playing
    assert player.play(second, RATE)
    assert player.recorder.streams == [stream]  # one stream for everything
    block = stream.pump(480)
    assert np.all(block == -0.5)  # the new voice only: never both at once
    for _ in range(9):
        stream.pump(480)
    assert not player.is_playing
    assert np.all(stream.pump(480) == 0.0)  # then silence, not the rest of the first clip
    player.play(first, RATE)
    player.stop()
    assert not player.is_playing and np.all(stream.pump(480) == 0.0)


def test_clips_are_resampled_to_the_output_rate(player, tmp_path):
    t = np.arange(24000) / 24000
    voice = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)  # 1 s at 24 kHz (TTS)
    path = tmp_path / "tip.wav"
    sf.write(path, voice, 24000)
    assert player.play_file(path)
    stream = player.recorder.streams[0]
    played = np.concatenate([stream.pump(4800)[:, 0] for _ in range(11)])
    assert np.count_nonzero(played) == pytest.approx(RATE, abs=50)
    spectrum = np.abs(np.fft.rfft(played[:RATE]))
    assert np.argmax(spectrum) == pytest.approx(440, abs=2)  # 1 Hz bins at 48 kHz over 1 s
    assert resample(voice, 24000, RATE).size == RATE


def test_without_an_output_device_play_is_a_no_op_with_one_warning(caplog: pytest.LogCaptureFixture):
    def no_device(**kw: Any) -> Any:
        raise RuntimeError("Error querying device -1")

    player = AudioPlayer.reset_instance(sample_rate=RATE, stream_factory=no_device)
    try:
        with caplog.at_level(logging.WARNING, logger="fretcoach_desktop.audio.player"):
            assert player.play(np.ones(100, np.float32), RATE) is False
            assert player.play(np.ones(100, np.float32), RATE) is False
            assert player.start_click(player.make_click(100)) is False
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "no audio output" in warnings[0].getMessage()
        assert not player.is_playing and player.wait(0.1)
        player.stop()
        player.stop_click()
    finally:
        AudioPlayer.reset_instance()


def test_real_portaudio_with_a_missing_output_device_is_a_no_op(caplog: pytest.LogCaptureFixture):
    pytest.importorskip("sounddevice")
    player = AudioPlayer.reset_instance(device="no such output device 1234")
    try:
        with caplog.at_level(logging.WARNING, logger="fretcoach_desktop.audio.player"):
            assert player.play(np.ones(1000, np.float32), 44100) is False
        assert "no audio output" in caplog.text
    finally:
        AudioPlayer.reset_instance()


# --------------------------------------------------------------------------- click track


def onsets(signal: np.ndarray) -> list[int]:
    """Sample index where each click starts (signal goes from zero to non-zero)."""
    nz = signal != 0
    return [i for i in range(len(signal)) if nz[i] and (i == 0 or not nz[i - 1])]


@pytest.mark.parametrize(("bpm", "rate"), [(120, 48000), (97, 44100), (133.3, 44100)])
def test_clicks_are_sample_accurate_on_the_grid(bpm, rate):
    track = ClickTrack(rate, bpm, beats_per_bar=4, volume=1.0)
    length = 10 * rate
    full = track.render_block(0, length)
    expected = [round(k * 60 / bpm * rate) for k in range(100) if round(k * 60 / bpm * rate) < length]
    # the click's first sample is 0 (fade-in), so its first non-zero one is the next
    assert [i - 1 for i in onsets(full)] == expected
    accent, plain = render_click(rate, True), render_click(rate, False)
    for k, start in enumerate(expected[:-1]):
        want = accent if k % 4 == 0 else plain
        np.testing.assert_array_equal(full[start : start + want.size], want)


def test_click_rendering_does_not_depend_on_the_block_size():
    track = ClickTrack(44100, 150, beats_per_bar=3, volume=0.5)
    whole = track.render_block(0, 3 * 44100)
    track.reset()
    parts = []
    rng = np.random.default_rng(0)
    done = 0
    while done < whole.size:
        n = min(int(rng.integers(1, 700)), whole.size - done)
        out = np.zeros((n, 2), dtype=np.float32)  # stereo output: both channels
        track.render(out)
        np.testing.assert_array_equal(out[:, 0], out[:, 1])
        parts.append(out[:, 0])
        done += n
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_click_volume_and_mute():
    track = ClickTrack(44100, 120, volume=1.0)
    loud = track.render_block(0, 44100)
    track.volume = 0.25
    np.testing.assert_allclose(track.render_block(0, 44100), 0.25 * loud, atol=1e-7)
    track.volume = 7  # clamped
    assert track.volume == 1.0
    track.muted = True
    out = np.zeros(44100, np.float32)
    track.render(out)
    assert not out.any() and track.position == 44100  # muted clicks keep time
    with pytest.raises(ValueError):
        ClickTrack(44100, 5)
    with pytest.raises(ValueError):
        track.volume = float("nan")


def test_the_click_is_mixed_with_the_coach_voice(player):
    track = player.make_click(120, volume=1.0)
    assert track.sample_rate == RATE
    assert player.start_click(track)
    stream = player.recorder.streams[0]
    first = stream.pump(RATE // 2)  # one beat: the accented click at sample 0
    np.testing.assert_array_equal(first[: track._accent.size, 0], track._accent)
    player.play(np.full(RATE // 2, 0.1, dtype=np.float32), RATE)
    second = stream.pump(RATE // 2)  # the next click (plain) plus the voice
    plain = track._plain
    np.testing.assert_allclose(second[: plain.size, 0], plain + np.float32(0.1), atol=1e-6)
    assert np.all(second[plain.size :, 0] == np.float32(0.1))
    player.stop_click()
    assert np.all(stream.pump(100) == 0.0)
    with pytest.raises(ValueError, match="make_click"):
        player.start_click(ClickTrack(44100, 120))
