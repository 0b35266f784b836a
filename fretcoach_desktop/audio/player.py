"""The audio player (the app's only singleton) and the metronome click track.

:class:`AudioPlayer` owns at most one output stream. Coach voices, previews and the
metronome click are mixed into it by one PortAudio callback; a new clip replaces the
playing one (it is stopped first), so two coach voices never overlap. With no output
device, or no PortAudio at all, every call still works: nothing is heard, one warning is
logged, :meth:`AudioPlayer.play` returns False.

:class:`ClickTrack` renders the metronome sample-accurately: click k starts at output
sample ``round(k * 60 / bpm * sample_rate)``, the first click of each bar accented, so the
click stays on the grid the engine scores against (t = 0 is the first click).

The callback follows python-sounddevice's rules: it reads references that other threads
swap atomically, adds preallocated arrays into the output buffer, and takes no lock, logs
nothing and does no I/O. Once opened, the stream stays open (playing silence when idle)
until :meth:`AudioPlayer.close`: stopping it from the callback would race with a clip
that starts at that moment.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np

from .clock import StreamClock
from .metronome import Grid, render_click

__all__ = ["AudioPlayer", "ClickTrack", "resample"]

log = logging.getLogger(__name__)

FALLBACK_RATE = 48000
#: PortAudio's output latency hint. Not "low": a click only has to be steady, not early (the
#: gap between the click and the capture is measured, see clock.py), and with a small buffer
#: a busy process (the GUI painting, an import) made PulseAudio's output underflow, after
#: which it grew its buffer mid-session and every later click came ~20 ms later.
OUTPUT_LATENCY = "high"


# --------------------------------------------------------------------------- click track


class ClickTrack:
    """A metronome click stream, mixed into an output buffer block by block.

    Args:
        sample_rate: the output stream's rate.
        bpm: tempo; click k is at sample ``round(k * 60 / bpm * sample_rate)``.
        beats_per_bar: every this many clicks, the accented (downbeat) click is used.
        volume: 0..1. ``volume`` and ``muted`` may be changed from any thread at any time.
    """

    def __init__(
        self,
        sample_rate: int,
        bpm: float,
        *,
        beats_per_bar: int = 4,
        volume: float = 0.8,
        muted: bool = False,
    ) -> None:
        grid = Grid(bpm)  # validates bpm
        if isinstance(beats_per_bar, bool) or not isinstance(beats_per_bar, int) or not 1 <= beats_per_bar <= 16:
            raise ValueError(f"beats_per_bar must be from 1 to 16, got {beats_per_bar!r}")
        self._accent = render_click(sample_rate, True)
        self._plain = render_click(sample_rate, False)
        self.sample_rate = int(sample_rate)
        self.bpm = grid.bpm
        self.beats_per_bar = beats_per_bar
        self._length = self._accent.size
        self._volume = -1.0
        self._scaled: tuple[np.ndarray, np.ndarray] = (self._accent, self._plain)
        self.volume = volume
        self.muted = bool(muted)
        #: the next output sample to render (audio thread only, but for :meth:`reset`)
        self.position = 0
        #: the output stream's frame at which click 0 was rendered (set by the player)
        self.stream_start: int | None = None

    @property
    def volume(self) -> float:
        return self._volume

    @volume.setter
    def volume(self, value: float) -> None:
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"volume must be a number from 0 to 1, got {value!r}")
        v = min(1.0, max(0.0, v))
        if v != self._volume:
            # scaled copies made here, outside the audio thread, then swapped in one store
            self._scaled = (self._accent * np.float32(v), self._plain * np.float32(v))
            self._volume = v

    def click_sample(self, k: int) -> int:
        """Output sample at which click *k* starts (click 0 at sample 0)."""
        return round(k * 60.0 / self.bpm * self.sample_rate)

    def is_accent(self, k: int) -> bool:
        return k % self.beats_per_bar == 0

    def reset(self, position: int = 0) -> None:
        """Start again from output sample *position* (0: the first click comes next)."""
        self.position = int(position)
        self.stream_start = None

    def render(self, out: np.ndarray) -> None:
        """Add the clicks of the next ``len(out)`` samples into *out* and advance.

        *out* is ``(frames,)`` or ``(frames, channels)`` float32 (every channel gets the click).
        Real-time safe: no sample memory is allocated.
        """
        frames = out.shape[0]
        pos = self.position
        self.position = pos + frames
        if self.muted:
            return
        accent, plain = self._scaled
        length = self._length
        period = 60.0 * self.sample_rate / self.bpm
        k = max(0, math.floor((pos - length) / period))
        end = pos + frames
        while True:
            start = self.click_sample(k)
            if start >= end:
                break
            if start + length > pos:
                a, b = max(start, pos), min(start + length, end)
                click = accent if k % self.beats_per_bar == 0 else plain
                seg = click[a - start : b - start]
                if out.ndim == 2:
                    out[a - pos : b - pos] += seg[:, None]
                else:
                    out[a - pos : b - pos] += seg
            k += 1

    def render_block(self, start: int, frames: int) -> np.ndarray:
        """The click signal of samples ``[start, start + frames)`` as a new array (tests, export)."""
        out = np.zeros(frames, dtype=np.float32)
        saved = self.position
        self.position = start
        try:
            self.render(out)
        finally:
            self.position = saved
        return out


# --------------------------------------------------------------------------- player


class _Clip:
    __slots__ = ("data", "pos", "size")

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.size = data.shape[0]
        self.pos = 0


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling of mono *samples* from *rate_in* to *rate_out* (float32).

    By FFT (numpy only: scipy is not a dependency of the base install). The clip is padded
    with at least 1,024 zeros first, so what the transform wraps around from the end to the
    start is silence: speech clips and clicks, the only things resampled, start and end in
    silence anyway.
    """
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    if rate_in == rate_out or x.size == 0:
        return x.copy()
    ratio = Fraction(int(rate_out), int(rate_in)).limit_denominator(1000)
    up, down = ratio.numerator, ratio.denominator
    blocks = -(-(x.size + 1024) // down)  # padded length: a whole number of `down`-sample blocks
    n_in, n_out = blocks * down, blocks * up
    spectrum = np.fft.rfft(x, n_in)
    out = np.zeros(n_out // 2 + 1, dtype=spectrum.dtype)
    keep = min(spectrum.size, out.size)
    out[:keep] = spectrum[:keep]
    if n_out < n_in and n_out % 2 == 0:  # the new Nyquist bin is real
        out[-1] = out[-1].real
    y = np.fft.irfft(out, n_out) * (n_out / n_in)
    return y[: int(round(x.size * up / down))].astype(np.float32)


class AudioPlayer:
    """Process-wide audio output: coach clips (one at a time) and the metronome click.

    Get it with :meth:`instance`. Thread-safe: every method may be called from any thread
    (the GUI, the coach worker); none blocks for long.

    Args (of :meth:`configure` and the constructor):
        device: output device index or name, None for the default output.
        sample_rate: output rate; default: the device's default rate.
        stream_factory: builds the output stream (default ``sounddevice.OutputStream``);
            tests pass a fake.
        clock: monotonic seconds, for :meth:`click_origin` (tests pass a fake).
    """

    _instance: ClassVar[AudioPlayer | None] = None
    _instance_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        *,
        device: int | str | None = None,
        sample_rate: int | None = None,
        stream_factory: Callable[..., Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.RLock()
        self._monotonic = clock
        self._clock: StreamClock | None = None
        self._device = device
        self._rate = int(sample_rate) if sample_rate else 0
        self._factory = stream_factory
        self._stream: Any = None
        self._channels = 1
        self._clip: _Clip | None = None
        self._click: ClickTrack | None = None
        self._warned = False

    # ------------------------------------------------------------------ the singleton
    @classmethod
    def instance(cls) -> AudioPlayer:
        """The process-wide player (created on first use)."""
        player = cls._instance
        if player is None:
            with cls._instance_lock:
                if cls._instance is None:
                    cls._instance = cls()
                player = cls._instance
        return player

    @classmethod
    def reset_instance(cls, **kwargs: Any) -> AudioPlayer:
        """Close the current player and make a new one with *kwargs* (tests, device change)."""
        with cls._instance_lock:
            if cls._instance is not None:
                cls._instance.close()
            cls._instance = cls(**kwargs)
            return cls._instance

    def configure(
        self,
        *,
        device: int | str | None = None,
        sample_rate: int | None = None,
        stream_factory: Callable[..., Any] | None = None,
    ) -> None:
        """Switch to another output device (stops everything that plays)."""
        with self._lock:
            self.close()
            self._device = device
            self._rate = int(sample_rate) if sample_rate else 0
            if stream_factory is not None:
                self._factory = stream_factory
            self._warned = False

    # ------------------------------------------------------------------ state
    @property
    def sample_rate(self) -> int:
        """The output rate clips are resampled to and click tracks must use."""
        if not self._rate:
            self._rate = self._default_rate()
        return self._rate

    @property
    def is_playing(self) -> bool:
        """A clip is playing (the click does not count)."""
        clip, stream = self._clip, self._stream
        if clip is None or clip.pos >= clip.size or stream is None:
            return False
        try:
            return bool(stream.active)
        except Exception:  # noqa: BLE001 - the stream is gone
            return False

    @property
    def click(self) -> ClickTrack | None:
        return self._click

    def click_origin(self, track: ClickTrack) -> float | None:
        """Monotonic time at which *track*'s click 0 leaves the output stream, None until known
        (not started on this player, or the stream has not run long enough to tell)."""
        clock, start = self._clock, track.stream_start
        if clock is None or start is None:
            return None
        return clock.time_of(start)

    # ------------------------------------------------------------------ clips
    def play(self, samples: np.ndarray, sample_rate: int, *, volume: float = 1.0) -> bool:
        """Play mono *samples* (float, full scale 1.0), stopping the clip that is playing.

        Returns False (and logs one warning per device) when there is no output device.
        """
        data = resample(samples, int(sample_rate), self.sample_rate)
        if volume != 1.0:
            data *= np.float32(min(max(float(volume), 0.0), 4.0))
        np.clip(data, -1.0, 1.0, out=data)
        with self._lock:
            self.stop()
            if not self._ensure_stream():
                return False
            self._clip = _Clip(data)  # the callback picks it up at its next block
            return True

    def play_file(self, path: str | os.PathLike[str], *, volume: float = 1.0) -> bool:
        """Play an audio file (WAV, FLAC, OGG...). Raises AudioFileError for a bad file."""
        from .sources import read_audio

        samples, rate = read_audio(path)
        return self.play(samples, rate, volume=volume)

    def stop(self) -> None:
        """Stop the clip that is playing (the click goes on)."""
        with self._lock:
            clip, self._clip = self._clip, None
            if clip is not None:
                clip.pos = clip.size

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the clip has played; False if still playing after *timeout* seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_playing:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    # ------------------------------------------------------------------ click
    def make_click(self, bpm: float, *, beats_per_bar: int = 4, volume: float = 0.8, muted: bool = False) -> ClickTrack:
        """A :class:`ClickTrack` at this player's output rate."""
        return ClickTrack(self.sample_rate, bpm, beats_per_bar=beats_per_bar, volume=volume, muted=muted)

    def start_click(self, track: ClickTrack) -> bool:
        """Start the metronome: *track*'s click 0 is rendered in the next output block.

        Returns False when there is no output device (the session goes on, silently).
        """
        if track.sample_rate != self.sample_rate:
            raise ValueError(
                f"the click track is at {track.sample_rate} Hz but the output runs at {self.sample_rate} Hz; "
                "make it with AudioPlayer.make_click()"
            )
        with self._lock:
            if not self._ensure_stream():
                return False
            track.reset(0)
            self._click = track
            return True

    def stop_click(self) -> None:
        with self._lock:
            self._click = None

    def close(self) -> None:
        """Stop everything and close the output stream."""
        with self._lock:
            self.stop()
            self._click = None
            stream, self._stream = self._stream, None
            if stream is not None:
                for op in ("abort", "close"):
                    try:
                        getattr(stream, op)()
                    except Exception as exc:  # noqa: BLE001
                        log.debug("player: %s failed: %s", op, exc)

    # ------------------------------------------------------------------ internals
    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        outdata.fill(0.0)
        clip = self._clip
        if clip is not None and clip.pos < clip.size:
            pos = clip.pos
            n = min(frames, clip.size - pos)
            outdata[:n] += clip.data[pos : pos + n, None]
            clip.pos = pos + n
        click = self._click
        if click is not None:
            if click.stream_start is None:
                click.stream_start = self._clock.frames - click.position if self._clock is not None else 0
            click.render(outdata)
        if self._clock is not None:
            self._clock.tick(frames)

    def _default_rate(self) -> int:
        if self._factory is not None:
            return FALLBACK_RATE
        try:
            import sounddevice as sd

            info = sd.query_devices(self._device, kind="output")
            return int(round(float(info["default_samplerate"]))) or FALLBACK_RATE
        except Exception:  # noqa: BLE001 - no device / no PortAudio: any rate will do
            return FALLBACK_RATE

    def _ensure_stream(self) -> bool:
        """An active output stream, opened if needed; False (one warning) when impossible."""
        stream = self._stream
        if stream is not None:
            try:
                if stream.active:
                    return True
            except Exception:  # noqa: BLE001
                pass
            self._stream = None
            for op in ("abort", "close"):
                try:
                    getattr(stream, op)()
                except Exception:  # noqa: BLE001
                    pass
        try:
            factory = self._factory
            channels = 1
            if factory is None:
                import sounddevice as sd

                factory = sd.OutputStream
                info = sd.query_devices(self._device, kind="output")
                channels = 2 if int(info.get("max_output_channels", 1)) >= 2 else 1
            self._channels = channels
            self._clock = StreamClock(self.sample_rate, self._monotonic)
            stream = factory(
                device=self._device,
                samplerate=self.sample_rate,
                channels=channels,
                dtype="float32",
                latency=OUTPUT_LATENCY,
                callback=self._callback,
            )
            stream.start()
        except Exception as exc:  # noqa: BLE001 - ImportError, OSError, PortAudioError, ValueError...
            if not self._warned:
                self._warned = True
                reason = " ".join(str(exc).split()) or type(exc).__name__
                log.warning("no audio output (%s): coach speech and the metronome click will be silent", reason)
            return False
        self._stream = stream
        return True
