"""Capture from an input device: channel selection, overflow counts, errors, device loss.

PortAudio is replaced by :class:`FakeInputStream` (no sound card needed); the real thing is
exercised end to end in test_pulse_e2e.py.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from fretcoach_desktop.audio import capture as capture_mod
from fretcoach_desktop.audio.capture import Capture, CaptureError, InputDevice, find_input_device, list_input_devices

STEREO = InputDevice(index=3, name="Scarlett 2i2 USB", hostapi="ALSA", max_input_channels=2, default_samplerate=48000)
MONO = InputDevice(index=5, name="USB Guitar Cable", hostapi="ALSA", max_input_channels=1, default_samplerate=44100)


class Flags(SimpleNamespace):
    input_overflow: bool = False


class FakeInputStream:
    """Stands in for sounddevice.InputStream.

    Driven by hand (:meth:`feed`, :meth:`lose_device`) or, with ``signal`` set, by a thread
    that delivers the signal block by block at ``speed`` times real time, then loses the
    device after ``fail_after`` blocks if set.
    """

    instances: list[FakeInputStream] = []

    def __init__(self, *, signal: np.ndarray | None = None, speed: float = 1.0, fail_after: int | None = None, **kw):
        self.kw = kw
        self.callback = kw["callback"]
        self.finished_callback = kw["finished_callback"]
        self.channels = kw["channels"]
        self.blocksize = kw["blocksize"]
        self.samplerate = kw["samplerate"]
        self.latency = 0.0058
        self.active = False
        self.closed = False
        self.signal, self.speed, self.fail_after = signal, speed, fail_after
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()
        FakeInputStream.instances.append(self)

    @classmethod
    def factory(cls, **options: Any):
        def make(**kw: Any) -> FakeInputStream:
            return cls(**options, **kw)

        return make

    def start(self) -> None:
        self.active = True
        if self.signal is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        bs, x = self.blocksize, self.signal
        assert x is not None
        t0 = time.monotonic()
        for i, start in enumerate(range(0, x.size, bs)):
            if self._halt.is_set():
                return
            if self.fail_after is not None and i >= self.fail_after:
                self.lose_device()
                return
            due = t0 + start / self.samplerate / self.speed
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            block = np.zeros((bs, self.channels), dtype=np.float32)
            chunk = x[start : start + bs]
            block[: chunk.size, self.channels - 1] = chunk
            self.feed(block)

    def feed(self, block: np.ndarray, overflow: bool = False) -> None:
        self.callback(block, block.shape[0], None, Flags(input_overflow=overflow))

    def lose_device(self) -> None:
        """What PortAudio does when the device goes away: the stream ends by itself."""
        self.active = False
        self.finished_callback()

    def abort(self) -> None:
        self._halt.set()
        was_active, self.active = self.active, False
        if was_active:
            self.finished_callback()

    def close(self) -> None:
        self._halt.set()
        self.closed = True


def stereo_block(frames: int, left: float, right: float) -> np.ndarray:
    block = np.empty((frames, 2), dtype=np.float32)
    block[:, 0], block[:, 1] = left, right
    return block


# --------------------------------------------------------------------------- recording


def test_the_selected_input_goes_into_the_ring():
    cap = Capture(STEREO, channel=2, blocksize=128, stream_factory=FakeInputStream.factory())
    cap.start()
    stream = FakeInputStream.instances[-1]
    assert stream.kw["channels"] == 2 and stream.kw["device"] == 3
    assert stream.kw["samplerate"] == 48000 and stream.kw["latency"] == "low" and stream.kw["dtype"] == "float32"
    assert cap.sample_rate == 48000 and cap.running
    stream.feed(stereo_block(128, 0.1, 0.7))
    stream.feed(stereo_block(128, 0.1, 0.7))
    got = cap.ring.read()
    assert got.size == 256 and np.all(got == np.float32(0.7))
    assert cap.describe() == "48 kHz, 2.7 ms buffer"
    assert cap.name == "Scarlett 2i2 USB - In 2"
    cap.stop()
    assert stream.closed and not cap.running and cap.poll_error() is None


def test_input_and_ring_overflows_are_counted():
    cap = Capture(MONO, ring_seconds=0.01, blocksize=128, stream_factory=FakeInputStream.factory())
    cap.start()
    stream = FakeInputStream.instances[-1]
    stream.feed(np.zeros((128, 1), np.float32), overflow=True)
    assert cap.input_overflows == 1
    for _ in range(10):  # the ring holds 4 blocks (its minimum): the rest overflows
        stream.feed(np.zeros((128, 1), np.float32))
    assert cap.ring_overflows > 0 and cap.dropped_samples > 0
    cap.stop()


def test_samples_an_input_overflow_lost_become_silence_in_their_place():
    """The driver lost ~0.1 s before a block (its ADC time jumped): that much silence goes
    into the stream before the block, so later notes keep their times. Without ADC times,
    or for a jump within the ADC jitter, nothing is invented."""
    cap = Capture(MONO, blocksize=256, stream_factory=FakeInputStream.factory())
    cap.start()
    stream = FakeInputStream.instances[-1]
    rate = cap.sample_rate

    def feed(value: float, adc: float | None, overflow: bool = False) -> None:
        info = None if adc is None else SimpleNamespace(inputBufferAdcTime=adc)
        stream.callback(np.full((256, 1), value, np.float32), 256, info, Flags(input_overflow=overflow))

    t = 100.0
    for _ in range(3):
        feed(0.1, t)
        t += 256 / rate
    t += 4410 / rate  # 4410 samples never arrived
    feed(0.2, t + 0.0004, overflow=True)  # a stamp a bit late, as they are
    feed(0.3, None, overflow=True)  # no ADC time: counted, not measured
    feed(0.4, t + 0.003, overflow=True)  # a jump within the jitter: not a loss worth inventing
    got = cap.ring.read_stream(np.zeros(20000, np.float32))
    lost = 4410 + int(round(0.0004 * rate))
    assert cap.input_overflows == 3 and cap.input_lost_samples == lost == cap.dropped_samples
    assert cap.ring_overflows == 0
    expected = np.concatenate(
        [np.full(768, 0.1), np.zeros(lost), np.full(256, 0.2), np.full(256, 0.3), np.full(256, 0.4)]
    ).astype(np.float32)
    np.testing.assert_array_equal(got, expected)
    assert cap.clock.frames == 6 * 256 + lost
    cap.stop()


def test_a_channel_the_device_does_not_have_is_a_clear_error():
    cap = Capture(STEREO, channel=3, stream_factory=FakeInputStream.factory())
    with pytest.raises(CaptureError, match=r"Scarlett 2i2 USB has 2 input channels; there is no input 3"):
        cap.start()
    for bad in (0, -1, 1.5):
        with pytest.raises(CaptureError, match="channel"):
            Capture(STEREO, channel=bad)  # type: ignore[arg-type]


def test_a_device_that_refuses_to_open_is_a_one_line_error():
    def refuse(**kw: Any) -> Any:
        raise RuntimeError("Error opening InputStream: Device unavailable [PaErrorCode -9985]")

    cap = Capture(STEREO, stream_factory=refuse)
    with pytest.raises(CaptureError) as info:
        cap.start()
    assert str(info.value) == "cannot open Scarlett 2i2 USB: Device unavailable"
    assert not cap.running


# --------------------------------------------------------------------------- device loss


def test_a_lost_device_is_reported_and_capture_restarts():
    cap = Capture(STEREO, channel=1, stream_factory=FakeInputStream.factory())
    cap.start()
    first = FakeInputStream.instances[-1]
    first.feed(stereo_block(256, 0.5, 0.0))
    assert cap.poll_error() is None
    first.lose_device()
    error = cap.poll_error()
    assert error is not None and "stopped unexpectedly" in error and "\n" not in error
    assert not cap.running

    cap.start()  # same object, new stream, fresh ring
    second = FakeInputStream.instances[-1]
    assert second is not first and first.closed
    assert cap.poll_error() is None and cap.running
    second.feed(stereo_block(256, 0.25, 0.0))
    assert np.all(cap.ring.read() == np.float32(0.25))
    cap.stop()


def test_an_inactive_stream_without_a_finished_callback_is_noticed():
    cap = Capture(STEREO, stream_factory=FakeInputStream.factory())
    cap.start()
    FakeInputStream.instances[-1].active = False  # some drivers stop without telling
    assert "stopped unexpectedly" in (cap.poll_error() or "")


def test_a_device_that_goes_quiet_is_reported_as_lost():
    cap = Capture(STEREO, stall_timeout_s=0.2, stream_factory=FakeInputStream.factory())
    cap.start()
    stream = FakeInputStream.instances[-1]
    time.sleep(0.3)
    assert cap.poll_error() is None  # before the first block, more time is allowed
    for _ in range(5):  # blocks keep coming: all is well, however long it runs
        stream.feed(stereo_block(256, 0.1, 0.1))
        assert cap.poll_error() is None
        time.sleep(0.08)
    time.sleep(0.3)  # then nothing for longer than the timeout
    error = cap.poll_error()
    assert error is not None and "no audio from Scarlett 2i2 USB - In 1" in error


def test_stopping_is_not_an_error():
    cap = Capture(STEREO, stream_factory=FakeInputStream.factory())
    cap.start()
    cap.stop()  # the fake calls finished_callback on abort, like PortAudio
    assert cap.poll_error() is None and cap.error is None
    cap.stop()  # twice is fine


# --------------------------------------------------------------------------- devices


DEVICES = [
    InputDevice(0, "HDA Intel PCH: ALC3246 Analog (hw:0,0)", "ALSA", 2, 44100.0),
    InputDevice(4, "Scarlett 2i2 USB: Audio (hw:2,0)", "ALSA", 2, 48000.0),
    InputDevice(7, "pulse", "ALSA", 32, 44100.0),
    InputDevice(8, "default", "ALSA", 32, 44100.0, is_default=True),
]


def test_find_input_device_by_name_part_index_or_default():
    assert find_input_device(None, DEVICES).name == "default"
    assert find_input_device("scarlett", DEVICES).index == 4
    assert find_input_device("PULSE", DEVICES).index == 7
    assert find_input_device(0, DEVICES).index == 0
    assert find_input_device("4", DEVICES).index == 4


def test_find_input_device_errors_are_one_line():
    with pytest.raises(CaptureError, match=r"no audio input device named 'Focusrite'"):
        find_input_device("Focusrite", DEVICES)
    with pytest.raises(CaptureError, match="ambiguous"):
        find_input_device("hw:", DEVICES)
    with pytest.raises(CaptureError, match="index 9"):
        find_input_device(9, DEVICES)
    with pytest.raises(CaptureError, match="no audio input device found"):
        find_input_device(None, [])


def test_list_input_devices_reads_portaudio(monkeypatch: pytest.MonkeyPatch):
    sd = pytest.importorskip("sounddevice")
    fake = [
        {"name": "out only", "hostapi": 0, "max_input_channels": 0, "default_samplerate": 48000.0},
        {
            "name": "USB Interface",
            "hostapi": 0,
            "max_input_channels": 2,
            "default_samplerate": 48000.0,
            "default_low_input_latency": 0.005,
        },
    ]
    monkeypatch.setattr(sd, "query_devices", lambda *a, **k: fake)
    monkeypatch.setattr(sd, "query_hostapis", lambda *a, **k: [{"name": "ALSA"}])
    monkeypatch.setattr(sd.default, "device", [1, 0])
    (dev,) = list_input_devices()
    assert dev == InputDevice(1, "USB Interface", "ALSA", 2, 48000.0, 0.005, True)


class _NoPortAudio(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return None


def test_missing_portaudio_or_sounddevice_is_a_clear_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoPortAudio(), *sys.meta_path])
    with pytest.raises(CaptureError, match=r"PortAudio library was not found.*libportaudio2"):
        list_input_devices()
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import sounddevice -> ImportError
    with pytest.raises(CaptureError, match="'sounddevice' is not installed"):
        capture_mod.list_input_devices()
    with pytest.raises(CaptureError, match="not installed"):
        Capture("anything").start()
