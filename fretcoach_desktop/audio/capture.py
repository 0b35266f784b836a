"""Live input from an audio device: a PortAudio input stream feeding a :class:`RingBuffer`.

The PortAudio callback does one thing: copy the selected channel of the block into the
preallocated ring (and bump two counters). Everything else (analysis, logging, error
reporting) happens on the consumer's side: the analysis thread drains the ring and calls
:meth:`Capture.poll_error` on every wake-up, which turns a lost device (the stream ended
without being asked to, or no audio arrived for a while) into a one-line message.

Every problem a user can cause (no device, PortAudio missing, a channel the device does not
have, an unsupported sample rate, a device unplugged mid-session) ends in a
:class:`CaptureError` or an error string with a one-line message; a stopped or failed
:class:`Capture` can be started again without restarting the process.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .clock import StreamClock
from .ring import RingBuffer

__all__ = [
    "DEFAULT_BLOCKSIZE",
    "Capture",
    "CaptureError",
    "InputDevice",
    "find_input_device",
    "list_input_devices",
    "refresh_devices",
]

log = logging.getLogger(__name__)

DEFAULT_BLOCKSIZE = 256  # 5.8 ms at 44.1 kHz
DEFAULT_RING_SECONDS = 4.0  # the analysis thread may fall this far behind before samples drop
STALL_TIMEOUT_S = 2.0  # a running stream that delivers nothing this long is considered lost
START_TIMEOUT_S = 5.0  # ...except before its first block: some back-ends (PulseAudio) take ~1-2 s
# an input overflow's lost samples, from the jump of the blocks' ADC times: counted from
# this many frames (single ADC stamps jitter by up to ~12 ms through PulseAudio; smaller
# losses are left out rather than invented) up to this many seconds (beyond: a clock jump)
MIN_LOST_FRAMES = 512
MAX_LOST_S = 10.0


class CaptureError(Exception):
    """An audio input problem, with a one-line message fit for the CLI or the UI."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)


@dataclass(frozen=True, slots=True)
class InputDevice:
    """An audio input device as PortAudio reports it."""

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    default_samplerate: float
    default_low_input_latency: float = 0.0
    is_default: bool = False

    def label(self, channel: int | None = None) -> str:
        """``"Scarlett 2i2 - In 1"``-style label for pickers and status lines."""
        return self.name if channel is None else f"{self.name} - In {channel}"


# --------------------------------------------------------------------------- PortAudio


def _sounddevice() -> Any:
    """The sounddevice module, or a CaptureError saying what to install."""
    try:
        import sounddevice as sd
    except ImportError:
        raise CaptureError(
            "the Python package 'sounddevice' is not installed; run 'make venv' or 'pip install sounddevice'"
        ) from None
    except OSError:
        raise CaptureError(
            "the PortAudio library was not found; install it (Debian/Ubuntu: apt-get install libportaudio2) "
            "to use audio devices"
        ) from None
    return sd


def _reason(exc: BaseException) -> str:
    """A PortAudio error as a short phrase: ``Invalid number of channels``."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "[PaErrorCode" in text:
        text = text[: text.index("[PaErrorCode")].strip()
    if text.startswith("Error opening ") and ":" in text:
        text = text.split(":", 1)[1].strip()
    return text.rstrip(".")


def refresh_devices() -> None:
    """Make PortAudio scan the devices again (a device plugged in, a sound server started).

    PortAudio only enumerates devices when it is initialized. This re-initializes it, which
    closes every open PortAudio stream of the process: call it only when no stream is open
    (stop the capture and the player first).
    """
    sd = _sounddevice()
    try:
        sd._terminate()
    except Exception:  # noqa: BLE001 - not initialized: nothing to terminate
        pass
    try:
        sd._initialize()
    except Exception as exc:  # noqa: BLE001 - PortAudio errors come in several types
        raise CaptureError(f"cannot initialize the audio system: {_reason(exc)}") from None


def list_input_devices() -> list[InputDevice]:
    """The devices that have at least one input channel (the default one marked).

    Raises:
        CaptureError: sounddevice or PortAudio is missing, or PortAudio cannot list devices.
    """
    sd = _sounddevice()
    try:
        devices = list(sd.query_devices())
        host_apis = list(sd.query_hostapis())
        default_input = sd.default.device[0]
    except Exception as exc:  # noqa: BLE001
        raise CaptureError(f"cannot list audio devices: {_reason(exc)}") from None
    if not isinstance(default_input, int) or default_input < 0:
        try:
            default_input = int(sd.query_devices(kind="input")["index"])
        except Exception:  # noqa: BLE001 - no default input device
            default_input = -1
    found = []
    for index, dev in enumerate(devices):
        channels = int(dev.get("max_input_channels", 0))
        if channels <= 0:
            continue
        api_index = dev.get("hostapi", -1)
        api = host_apis[api_index]["name"] if 0 <= api_index < len(host_apis) else "?"
        found.append(
            InputDevice(
                index=index,
                name=str(dev["name"]),
                hostapi=str(api),
                max_input_channels=channels,
                default_samplerate=float(dev.get("default_samplerate") or 0.0),
                default_low_input_latency=float(dev.get("default_low_input_latency") or 0.0),
                is_default=index == default_input,
            )
        )
    return found


def find_input_device(device: int | str | None = None, devices: list[InputDevice] | None = None) -> InputDevice:
    """The input device for *device*: an index, a name (exact, else a unique part of one,
    case-insensitive), or None for the system default.

    Raises:
        CaptureError: no input device at all, or none (or several) matching *device*.
    """
    devices = list_input_devices() if devices is None else devices
    if not devices:
        raise CaptureError("no audio input device found; connect an audio interface (or use the demo input)")
    if device is None or (isinstance(device, str) and not device.strip()):
        for dev in devices:
            if dev.is_default:
                return dev
        return devices[0]
    if isinstance(device, int) or (isinstance(device, str) and device.strip().isdigit()):
        index = int(device)
        for dev in devices:
            if dev.index == index:
                return dev
        raise CaptureError(f"no audio input device with index {index} (see 'fretcoach devices')")
    wanted = device.strip().lower()
    exact = [d for d in devices if d.name.lower() == wanted]
    if exact:
        return exact[0]
    partial = [d for d in devices if wanted in d.name.lower()]
    if len(partial) == 1:
        return partial[0]
    if partial:
        names = ", ".join(repr(d.name) for d in partial[:5])
        raise CaptureError(f"audio input device {device!r} is ambiguous: it matches {names}")
    raise CaptureError(f"no audio input device named {device!r} (see 'fretcoach devices')")


# --------------------------------------------------------------------------- capture


class Capture:
    """Records one channel of an input device into a ring buffer.

    Args:
        device: index, name (or part of one), an :class:`InputDevice`, or None for the
            default input.
        channel: the input to record, 1-based as printed on the interface (1 or 2 on a
            stereo interface).
        sample_rate: Hz; default: the device's default rate.
        blocksize: frames per PortAudio callback (small: 128-256 for low latency).
        latency: PortAudio latency hint (``"low"``, ``"high"`` or seconds).
        ring_seconds: ring buffer size; the consumer may fall this far behind.
        stall_timeout_s: a running stream that delivers no block for this long is reported
            as lost (some drivers just stop calling back when a device is unplugged); before
            the first block, at least 5 s are allowed (PulseAudio takes 1-2 s to start).
        stream_factory: builds the stream (default ``sounddevice.InputStream``); tests pass
            a fake. It is called with the keyword arguments of ``sounddevice.InputStream``.
        clock: monotonic seconds for :attr:`clock` (tests pass a fake).

    The object is reusable: :meth:`start` after :meth:`stop` (or after the device was lost)
    opens a new stream, looking the device up again by name.
    """

    def __init__(
        self,
        device: int | str | InputDevice | None = None,
        *,
        channel: int = 1,
        sample_rate: int | None = None,
        blocksize: int = DEFAULT_BLOCKSIZE,
        latency: str | float = "low",
        ring_seconds: float = DEFAULT_RING_SECONDS,
        stall_timeout_s: float = STALL_TIMEOUT_S,
        stream_factory: Callable[..., Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(channel, bool) or not isinstance(channel, int) or channel < 1:
            raise CaptureError(f"the input channel must be a number from 1 up, got {channel!r}")
        if isinstance(blocksize, bool) or not isinstance(blocksize, int) or not 16 <= blocksize <= 8192:
            raise CaptureError(f"the block size must be from 16 to 8192 frames, got {blocksize!r}")
        if not (math.isfinite(ring_seconds) and ring_seconds > 0):
            raise CaptureError(f"ring_seconds must be positive, got {ring_seconds!r}")
        self._wanted = device
        self.channel = channel
        self._requested_rate = sample_rate
        self.blocksize = blocksize
        self._latency_hint = latency
        self._ring_seconds = float(ring_seconds)
        self.stall_timeout_s = float(stall_timeout_s)
        self._stream_factory = stream_factory
        self._monotonic = clock
        #: where the stream's sample 0 lies on the monotonic clock (aligns the metronome)
        self.clock: StreamClock | None = None
        self._lock = threading.Lock()  # start/stop only; never taken by the callback

        self.device: InputDevice | None = device if isinstance(device, InputDevice) else None
        self.sample_rate: int = int(sample_rate) if sample_rate else 0
        self.ring: RingBuffer | None = None
        self._stream: Any = None
        self._stopping = False
        self._error: str | None = None
        # written by the PortAudio thread only
        self._callbacks = 0
        self._input_overflows = 0
        self._input_lost = 0
        # consumer-side watchdog state
        self._seen_callbacks = 0
        self._seen_at = 0.0

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        """A stream is open and no error has been detected."""
        return self._stream is not None and self._error is None

    @property
    def finished(self) -> bool:
        """A device never runs out of audio (a file source does)."""
        return False

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def input_overflows(self) -> int:
        """Blocks PortAudio reported as overflowed (input lost before we saw it)."""
        return self._input_overflows

    @property
    def input_lost_samples(self) -> int:
        """Samples the input overflows lost, as far as the ADC times tell (replaced by silence
        in the stream; included in :attr:`dropped_samples`)."""
        return self._input_lost

    @property
    def ring_overflows(self) -> int:
        return self.ring.overflows if self.ring is not None else 0

    @property
    def dropped_samples(self) -> int:
        """Samples replaced by silence: dropped by the ring, or lost in input overflows."""
        return self.ring.dropped_samples if self.ring is not None else 0

    @property
    def latency_s(self) -> float:
        """The input latency PortAudio reports for the open stream (0 when closed)."""
        stream = self._stream
        try:
            value = stream.latency if stream is not None else 0.0
        except Exception:  # noqa: BLE001 - stream gone
            return 0.0
        return float(value[0] if isinstance(value, tuple | list) else value or 0.0)

    def clock_origin(self) -> float | None:
        """Monotonic time of the capture's sample 0 (stream time 0), None until known."""
        clock = self.clock
        return clock.origin() if clock is not None else None

    @property
    def name(self) -> str:
        return self.device.label(self.channel) if self.device is not None else "audio input"

    def describe(self) -> str:
        """Status-bar text: ``"44.1 kHz, 5.8 ms buffer"``."""
        if not self.sample_rate:
            return "not started"
        return f"{self.sample_rate / 1000:g} kHz, {1000 * self.blocksize / self.sample_rate:.1f} ms buffer"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Open the device and start recording into a fresh :attr:`ring`.

        Raises:
            CaptureError: no such device, bad channel or sample rate, PortAudio missing, or
                the device refused to open.
        """
        with self._lock:
            self._close_stream()
            device = self._resolve()
            if self.channel > device.max_input_channels:
                raise CaptureError(
                    f"{device.name} has {device.max_input_channels} input channel"
                    f"{'s' if device.max_input_channels != 1 else ''}; there is no input {self.channel}"
                )
            rate = int(self._requested_rate or round(device.default_samplerate) or 44100)
            if not 8000 <= rate <= 192000:
                raise CaptureError(f"sample rate {rate} Hz is outside 8000-192000 Hz")
            ring = RingBuffer(max(int(self._ring_seconds * rate), 4 * self.blocksize))
            self.device, self.sample_rate, self.ring = device, rate, ring
            self._error = None
            self._stopping = False
            self._callbacks = self._input_overflows = self._input_lost = 0
            self._seen_callbacks, self._seen_at = 0, time.monotonic()
            self.clock = StreamClock(rate, self._monotonic)
            self._stream = self._open(device, rate, ring, self.clock)
            try:
                self._stream.start()
            except Exception as exc:  # noqa: BLE001 - PortAudio errors come in several types
                self._close_stream()
                raise CaptureError(f"cannot start recording from {device.name}: {_reason(exc)}") from None
            log.info("capture started: %s, %s", self.name, self.describe())

    def stop(self) -> None:
        """Stop recording and close the stream (safe to call twice, or after a failure)."""
        with self._lock:
            self._close_stream()

    def restart(self, *, rescan: bool = False) -> None:
        """Stop, then start again; with *rescan*, make PortAudio look for devices again
        first (a re-plugged interface gets a new index). Rescanning closes every PortAudio
        stream of the process (see :func:`refresh_devices`)."""
        with self._lock:
            self._close_stream()
        if rescan:
            refresh_devices()  # the device is then looked up again by name (its index may change)
        self.start()

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> Capture:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def poll_error(self) -> str | None:
        """Consumer side: the error that ended the capture, or None while all is well.

        Detects a stream that ended without being asked to (PortAudio's finished
        callback, an inactive stream) and a stream that stopped delivering audio for
        :attr:`stall_timeout_s` (the device was unplugged and the driver went quiet).
        """
        if self._error is not None or self._stream is None or self._stopping:
            return self._error
        now = time.monotonic()
        count = self._callbacks
        if count != self._seen_callbacks:
            self._seen_callbacks, self._seen_at = count, now
        else:
            limit = self.stall_timeout_s if count else max(self.stall_timeout_s, START_TIMEOUT_S)
            if now - self._seen_at > limit:
                self._fail(f"no audio from {self.name} for {limit:g} s: is the device still connected?")
                return self._error
        try:
            active = bool(self._stream.active)
        except Exception as exc:  # noqa: BLE001
            self._fail(f"lost the audio input {self.name}: {_reason(exc)}")
            return self._error
        if not active and not self._stopping:
            self._fail(f"the audio input {self.name} stopped unexpectedly: was the device disconnected?")
        return self._error

    # ------------------------------------------------------------------ internals
    def _resolve(self) -> InputDevice:
        if isinstance(self._wanted, InputDevice):
            return self._wanted
        if self.device is not None and self._stream_factory is not None:
            return self.device
        return find_input_device(self._wanted if self.device is None else self.device.name)

    def _open(self, device: InputDevice, rate: int, ring: RingBuffer, clock: StreamClock) -> Any:
        if self._stream_factory is None:
            sd = _sounddevice()
            factory = sd.InputStream
            try:
                sd.check_input_settings(device=device.index, channels=self.channel, samplerate=rate, dtype="float32")
            except Exception as exc:  # noqa: BLE001
                raise CaptureError(
                    f"{device.name} cannot record input {self.channel} at {rate} Hz: {_reason(exc)}"
                ) from None
        else:
            factory = self._stream_factory
        column = self.channel - 1
        write, tick, mark_lost = ring.write, clock.tick, ring.mark_lost
        last = [0.0, 0]  # the previous block's ADC time and frames

        # The real-time callback: count, stamp, copy one column into the ring. Nothing else.
        # An input overflow means the driver lost samples before they reached us; how many
        # follows from the blocks' ADC times (when the host API gives them), and that many
        # zeros go into the stream at this point so later notes keep their times.
        def callback(indata: Any, frames: int, time_info: Any, status: Any) -> None:
            self._callbacks += 1
            adc = getattr(time_info, "inputBufferAdcTime", 0.0) or 0.0
            lost = 0
            if status.input_overflow:
                self._input_overflows += 1
                if adc > 0.0 and last[0] > 0.0:
                    lost = int(round((adc - last[0]) * rate)) - last[1]
                    if MIN_LOST_FRAMES <= lost <= MAX_LOST_S * rate:
                        mark_lost(lost)
                        self._input_lost += lost
                    else:
                        lost = 0
            last[0], last[1] = adc, frames
            tick(frames + lost)
            write(indata, column)

        def finished() -> None:
            # Runs on PortAudio's thread when the stream becomes inactive: just a flag.
            if not self._stopping and self._error is None:
                self._error = f"the audio input {self.name} stopped unexpectedly: was the device disconnected?"

        try:
            return factory(
                device=device.index,
                channels=self.channel,
                samplerate=rate,
                blocksize=self.blocksize,
                dtype="float32",
                latency=self._latency_hint,
                callback=callback,
                finished_callback=finished,
            )
        except CaptureError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise CaptureError(f"cannot open {device.name}: {_reason(exc)}") from None

    def _fail(self, message: str) -> None:
        if self._error is None:
            self._error = message
            log.warning("capture: %s", message)

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._stopping = True
        for op in ("abort", "close"):
            try:
                getattr(stream, op)()
            except Exception as exc:  # noqa: BLE001 - the device may be gone already
                log.debug("capture: %s failed: %s", op, exc)
        log.info("capture stopped: %s (%d input overflows)", self.name, self._input_overflows)
