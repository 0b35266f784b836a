"""Speech for the coach: OpenAI TTS (``gpt-4o-mini-tts``) to a WAV file, espeak-ng otherwise.

:func:`synthesize` never raises: with no key, or when the API fails, it falls back to the
local ``espeak-ng -w out.wav "text"``; when that fails too it returns a result without a
path and with the error, and the caller keeps the text.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fretcoach_desktop.coach.llm import describe_error

if TYPE_CHECKING:  # pragma: no cover
    from fretcoach_desktop.config import Config

__all__ = ["TTS_TIMEOUT_S", "SpeechResult", "espeak_speech", "openai_speech", "synthesize"]

log = logging.getLogger(__name__)

TTS_TIMEOUT_S = 20.0
ESPEAK_TIMEOUT_S = 15.0
_INSTRUCTIONS = "Speak like a calm, encouraging guitar teacher, briefly and clearly."


@dataclass(frozen=True)
class SpeechResult:
    path: str | None  # the WAV file, or None when no speech could be made
    engine: str | None  # "openai", "espeak-ng" or None
    tts_ms: float
    error: str | None = None  # why OpenAI speech (or all speech) failed, one line


def openai_speech(text: str, path: Path, config: Config, *, timeout: float = TTS_TIMEOUT_S) -> None:
    """Write OpenAI speech for *text* to *path* (WAV). Raises on any failure."""
    from openai import OpenAI

    assert config.openai_api_key is not None
    client = OpenAI(
        api_key=config.openai_api_key.get_secret_value(),
        base_url=config.openai_base_url or None,
        timeout=timeout,
        max_retries=0,
    )
    try:
        kwargs: dict[str, Any] = {
            "model": config.tts_model,
            "voice": config.tts_voice,
            "input": text,
            "response_format": "wav",
        }
        if "tts-1" not in config.tts_model:  # instructions are for gpt-4o-*-tts models
            kwargs["instructions"] = _INSTRUCTIONS
        response = client.audio.speech.create(**kwargs)
        data = response.content
    finally:
        client.close()
    if data[:4] != b"RIFF":
        raise ValueError("the speech API did not return a WAV file")
    _write_atomic(path, data)


def espeak_speech(text: str, path: Path, *, timeout: float = ESPEAK_TIMEOUT_S) -> None:
    """Write local espeak-ng speech for *text* to *path* (WAV). Raises on any failure."""
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if exe is None:
        raise FileNotFoundError("espeak-ng is not installed")
    tmp = path.with_name(path.name + ".part")
    subprocess.run(
        [exe, "-w", str(tmp), "--", text],
        check=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if not tmp.is_file() or tmp.stat().st_size <= 44:
        tmp.unlink(missing_ok=True)
        raise RuntimeError("espeak-ng wrote no audio")
    os.replace(tmp, path)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def synthesize(text: str, path: str | Path, config: Config, *, timeout: float = TTS_TIMEOUT_S) -> SpeechResult:
    """Speak *text* into the WAV file *path*: OpenAI when a key is set, else/then espeak-ng."""
    path = Path(path)
    start = time.perf_counter()
    error: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return SpeechResult(None, None, 0.0, f"cannot create {path.parent}: {exc.strerror}")
    if config.online_coach:
        try:
            openai_speech(text, path, config, timeout=timeout)
            return SpeechResult(str(path), "openai", _ms(start))
        except Exception as exc:
            error = describe_error(exc)
            log.info("OpenAI speech failed (%s); using espeak-ng", error)
    try:
        espeak_speech(text, path)
        return SpeechResult(str(path), "espeak-ng", _ms(start), error)
    except Exception as exc:
        espeak_error = describe_error(exc)
        log.warning("no speech for the coach tip: %s", espeak_error)
        return SpeechResult(None, None, _ms(start), "; ".join(e for e in (error, espeak_error) if e))


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
