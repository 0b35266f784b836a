"""Audio from files: decoding a take into mono float32 samples, and cutting it into blocks.

``read_audio`` turns every problem a user can cause with a file (wrong path, a folder, no
permission, not audio, empty, silent, odd sample rate) into an :class:`AudioFileError`
whose message is one line fit to show in the CLI or the UI.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

__all__ = [
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "SILENCE_DBFS",
    "AudioFileError",
    "iter_blocks",
    "read_audio",
]

MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 192000
#: A take whose peak stays below this level (dB relative to full scale) counts as silent.
SILENCE_DBFS = -60.0


class AudioFileError(Exception):
    """An audio file that cannot be used, with a one-line message for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)


def read_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Decode an audio file (WAV, FLAC, OGG/Vorbis, or anything else libsndfile reads).

    Multi-channel audio is mixed down to mono by averaging the channels.

    Returns:
        ``(samples, sample_rate)``: a 1-D float32 array (full scale is
        +-1.0) and the rate in Hz.

    Raises:
        AudioFileError: the file is missing, a directory, unreadable, empty, not audio, has
            no samples, is silent (peak below -60 dBFS), contains invalid samples (NaN or
            infinity), or its sample rate is outside 8000-192000 Hz.
    """
    p = Path(path).expanduser()
    name = str(path)
    if not p.exists():
        raise AudioFileError(f"file not found: {name}")
    if p.is_dir():
        raise AudioFileError(f"{name} is a directory, not an audio file")
    try:
        with open(p, "rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                raise AudioFileError(f"{name} is empty (0 bytes), not an audio file")
            data, sample_rate = _decode(fh, name)
    except PermissionError:
        raise AudioFileError(f"permission denied: cannot read {name}") from None
    except IsADirectoryError:
        raise AudioFileError(f"{name} is a directory, not an audio file") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise AudioFileError(f"cannot read {name}: {reason}") from None

    mono = data.mean(axis=1, dtype=np.float64).astype(np.float32) if data.shape[1] > 1 else data[:, 0]
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    # min and max see every sample once, allocate nothing, and carry any NaN or infinity
    # (a 3-minute take is 8 million samples: no temporary arrays for isfinite() and abs()).
    low, high = float(mono.min()), float(mono.max())
    if not (math.isfinite(low) and math.isfinite(high)):
        raise AudioFileError(f"{name} contains invalid samples (NaN or infinity)")
    peak = max(-low, high)
    threshold = 10.0 ** (SILENCE_DBFS / 20.0)
    if peak < threshold:
        level = "-inf" if peak == 0.0 else f"{20.0 * math.log10(peak):.0f}"
        raise AudioFileError(
            f"{name} is silent (peak {level} dBFS, below {SILENCE_DBFS:.0f} dBFS): check the recording level"
        )
    return mono, sample_rate


def _decode(fh: BinaryIO, name: str) -> tuple[np.ndarray, int]:
    """Decode an open binary file into a (frames, channels) float32 array and its rate."""
    try:
        with sf.SoundFile(fh) as f:
            sample_rate = int(f.samplerate)
            frames = f.frames
            if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
                raise AudioFileError(
                    f"{name} has an unsupported sample rate of {sample_rate} Hz "
                    f"(supported: {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz)"
                )
            if frames == 0:
                raise AudioFileError(f"{name} contains no audio (0 samples)")
            data = f.read(dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, TypeError, ValueError):
        # libsndfile could not make sense of the bytes (unknown format, corrupt, truncated).
        raise AudioFileError(f"{name} is not a readable audio file (supported: WAV, FLAC, OGG)") from None
    if data.shape[0] == 0:
        raise AudioFileError(f"{name} contains no audio (0 samples)")
    return data, sample_rate


def iter_blocks(samples: np.ndarray, block_size: int, *, pad: bool = False) -> Iterator[np.ndarray]:
    """Iterate over consecutive blocks of *block_size* samples, as an audio callback would see them.

    The blocks are views into *samples* (no copies). The last block is shorter when the
    length is not a multiple of *block_size*, unless ``pad=True``, which zero-pads it to full
    size (that one block is a copy).

    Raises:
        ValueError: if *block_size* is not a positive integer.
    """
    if isinstance(block_size, bool) or not isinstance(block_size, int | np.integer) or block_size < 1:
        raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
    # Validate now, not at the first next(): the body below is a separate generator.
    return _blocks(samples, int(block_size), pad)


def _blocks(samples: np.ndarray, size: int, pad: bool) -> Iterator[np.ndarray]:
    total = len(samples)
    for start in range(0, total, size):
        block = samples[start : start + size]
        if pad and len(block) < size:
            padded = np.zeros((size, *block.shape[1:]), dtype=block.dtype)
            padded[: len(block)] = block
            block = padded
        yield block
