"""File and demo sources: replay audio through the live pipeline as if it were a device.

:class:`FileSource` writes a file's samples into a :class:`RingBuffer` from its own
thread, block by block, paced by a clock (real time, or X times real time), exactly as a
PortAudio callback would; the analysis thread cannot tell the difference. It can also play
the file through the output device so the player hears what is analyzed.

:func:`demo_take_path` is the bundled guitar take used by the "Demo" input, so the app
works on a machine with no audio interface.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .ring import RingBuffer

__all__ = ["DEMO_TAKE", "FileSource", "demo_take_info", "demo_take_path", "resources_dir"]

log = logging.getLogger(__name__)

DEMO_TAKE = "demo/demo_take.flac"


def resources_dir() -> Path:
    """The package's ``resources/`` folder (icons, prompts, the demo take): package data."""
    from fretcoach_desktop import resources

    return resources.path()


def demo_take_path() -> Path:
    """The bundled demo take (a 19 s jazz-guitar exercise in C# major at 120 BPM)."""
    from fretcoach_desktop import resources

    return resources.path(*DEMO_TAKE.split("/"))


def demo_take_info() -> dict[str, Any]:
    """The demo take's exercise settings and ground truth: bpm, subdivision, key, scale, notes..."""
    return json.loads(demo_take_path().with_suffix(".json").read_text(encoding="utf-8"))


class FileSource:
    """Replays samples (or an audio file) into a ring buffer at a steady pace.

    Args:
        audio: a path to an audio file, or mono float samples (then *sample_rate* is needed).
        sample_rate: Hz, for sample arrays.
        blocksize: samples per write, like a PortAudio callback block.
        speed: 1.0 = real time, 4.0 = four times faster; ``None`` = as fast as the consumer
            reads (lossless: the writer waits for room in the ring).
        lossless: wait for room in the ring instead of dropping samples (like a device, a
            paced source drops and counts what does not fit). Always on when speed is None.
        loop: start over at the end (the demo input), instead of finishing.
        play_through: also play the audio on the output device (:class:`AudioPlayer`),
            real time only.
        ring_seconds: ring buffer size.
        clock, sleep: injectable for tests.

    Raises:
        AudioFileError: the file cannot be used (see :func:`.sources.read_audio`).
    """

    def __init__(
        self,
        audio: str | os.PathLike[str] | np.ndarray,
        sample_rate: int | None = None,
        *,
        blocksize: int = 256,
        speed: float | None = 1.0,
        lossless: bool = False,
        loop: bool = False,
        play_through: bool = False,
        ring_seconds: float = 4.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        if isinstance(audio, np.ndarray):
            if not sample_rate:
                raise ValueError("sample_rate is needed with a sample array")
            samples = np.ascontiguousarray(np.asarray(audio, dtype=np.float32).reshape(-1))
            self.path: Path | None = None
        else:
            from .sources import read_audio

            samples, sample_rate = read_audio(audio)
            self.path = Path(audio)
        if samples.size == 0:
            raise ValueError("no samples to play")
        if speed is not None and not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be a positive number (or None), got {speed!r}")
        if isinstance(blocksize, bool) or not isinstance(blocksize, int) or not 1 <= blocksize <= 65536:
            raise ValueError(f"blocksize must be from 1 to 65536, got {blocksize!r}")
        self.samples = samples
        self.sample_rate = int(sample_rate)  # type: ignore[arg-type]
        self.blocksize = blocksize
        self.speed = speed
        self.lossless = lossless or speed is None
        self.loop = loop
        self.play_through = play_through and speed == 1.0
        self._ring_seconds = ring_seconds
        self._clock, self._sleep = clock, sleep
        self.ring: RingBuffer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._finished = False
        self._written = 0  # samples written into the ring (including loops)

    # ------------------------------------------------------------------ AudioSource
    @property
    def finished(self) -> bool:
        """True once every sample has been written (never, when looping)."""
        return self._finished

    @property
    def input_overflows(self) -> int:
        return 0  # a file never loses blocks before the ring

    @property
    def ring_overflows(self) -> int:
        return self.ring.overflows if self.ring is not None else 0

    @property
    def duration_s(self) -> float:
        return self.samples.size / self.sample_rate

    @property
    def position_s(self) -> float:
        """Stream time written so far."""
        return self._written / self.sample_rate

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else "samples"

    def poll_error(self) -> str | None:
        return None

    def start(self) -> None:
        """Start writing into a fresh :attr:`ring` (again from the beginning after a stop)."""
        self.stop()
        capacity = max(int(self._ring_seconds * self.sample_rate), 4 * self.blocksize)
        self.ring = RingBuffer(capacity)
        self._stop.clear()
        self._finished = False
        self._written = 0
        self._thread = threading.Thread(target=self._run, name="fretcoach-file-source", daemon=True)
        if self.play_through:
            from .player import AudioPlayer

            AudioPlayer.instance().play(self.samples, self.sample_rate)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(2.0)
        if thread is not None and self.play_through:
            from .player import AudioPlayer

            AudioPlayer.instance().stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every sample is written (or the source was stopped)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    # ------------------------------------------------------------------ the writer
    def _run(self) -> None:
        ring = self.ring
        assert ring is not None
        x, block, sr = self.samples, self.blocksize, self.sample_rate
        t0 = self._clock()
        pos = 0  # position in x
        while not self._stop.is_set():
            if self.speed is not None:
                # write every block that is due by now, then sleep until the next one is
                due = int((self._clock() - t0) * self.speed * sr)
                if self._written + block > due:
                    wait = (self._written + block - due) / (self.speed * sr)
                    self._stop.wait(min(max(wait, 0.0005), 0.02))
                    continue
            n = min(block, x.size - pos)
            chunk = x[pos : pos + n]
            if self.lossless:
                while ring.free < n and not self._stop.is_set():
                    self._stop.wait(0.002)
                if self._stop.is_set():
                    return
            ring.write(chunk)
            pos += n
            self._written += n
            if pos >= x.size:
                if not self.loop:
                    self._finished = True
                    return
                pos = 0
