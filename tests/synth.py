"""Synthetic guitar-like test signals with exactly known notes.

Karplus-Strong plucked strings (Jaffe & Smith's extension with a fractional-delay
all-pass so the pitch is exact to the cent), an interface-like noise floor (mains hum and
hiss), string-noise bursts, and a legato pitch change without a new attack.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SynthNote:
    onset_s: float
    midi: int
    cents: float = 0.0
    dur_s: float = 0.5
    gain: float = 0.5


def freq_of(midi: int, cents: float = 0.0, a4: float = 440.0) -> float:
    return a4 * 2.0 ** ((midi - 69 + cents / 100.0) / 12.0)


def pluck(freq: float, dur_s: float, sr: int, rng: np.random.Generator, decay: float = 0.996) -> np.ndarray:
    """One Karplus-Strong pluck, tuned exactly with a first-order all-pass."""
    period = sr / freq
    # the loop: delay N + averaging filter (0.5 sample) + all-pass (delta samples)
    n = int(np.floor(period - 0.5 - 0.1))
    delta = period - 0.5 - n
    c = (1.0 - delta) / (1.0 + delta)
    length = int(dur_s * sr)
    buf = rng.uniform(-1.0, 1.0, n)
    buf -= buf.mean()
    out = np.zeros(length)
    ap_x1 = ap_y1 = 0.0
    prev = 0.0
    idx = 0
    for i in range(length):
        x = buf[idx]
        avg = decay * 0.5 * (x + prev)
        prev = x
        y = c * avg + ap_x1 - c * ap_y1  # all-pass fractional delay
        ap_x1, ap_y1 = avg, y
        buf[idx] = y
        out[i] = x
        idx += 1
        if idx == n:
            idx = 0
    # a short release so notes do not end with a click
    fade = min(length, int(0.01 * sr))
    out[length - fade :] *= np.linspace(1.0, 0.0, fade)
    return out


def soft_tone(midi: int, dur_s: float, sr: int, gain: float = 0.4) -> np.ndarray:
    """A thumb-plucked note: harmonics up to 3 kHz with a 4 ms attack, no pick noise (a
    Karplus-Strong pluck starts with a period of white noise, as broadband as a scrape)."""
    t = np.arange(int(dur_s * sr)) / sr
    f = freq_of(midi)
    y = sum(0.6**k * np.sin(2 * np.pi * (k + 1) * f * t) for k in range(8) if (k + 1) * f < 3000)
    return gain * y * np.minimum(1.0, t / 0.004) * np.exp(-t / 0.6)


def noise_floor(length: int, sr: int, rng: np.random.Generator, level: float = 0.0015) -> np.ndarray:
    t = np.arange(length) / sr
    hum = level * (np.sin(2 * np.pi * 60 * t) + 0.5 * np.sin(2 * np.pi * 180 * t))
    return hum + level * 0.5 * rng.standard_normal(length)


def noise_burst(dur_s: float, sr: int, rng: np.random.Generator, gain: float = 0.2) -> np.ndarray:
    """A string scrape: band-passed white noise with a fast attack and decay."""
    n = int(dur_s * sr)
    x = rng.standard_normal(n)
    x = np.diff(x, prepend=0.0)  # tilt towards the highs, as a scrape is
    env = np.minimum(1.0, np.arange(n) / (0.002 * sr)) * np.exp(-np.arange(n) / (0.4 * n))
    return gain * x * env / np.max(np.abs(x))


def render(
    notes: list[SynthNote],
    sr: int = 44100,
    total_s: float | None = None,
    bursts: list[tuple[float, float]] = (),
    seed: int = 1,
    floor: bool = True,
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    end = max([n.onset_s + n.dur_s for n in notes] + [b[0] + b[1] for b in bursts] + [0.0]) + 0.5
    length = int((total_s or end) * sr)
    y = noise_floor(length, sr, rng) if floor else np.zeros(length)
    for n in notes:
        s = int(round(n.onset_s * sr))
        tone = n.gain * pluck(freq_of(n.midi, n.cents), n.dur_s, sr, rng)
        y[s : s + tone.size] += tone[: max(0, length - s)]
    for start, dur in bursts:
        s = int(round(start * sr))
        b = noise_burst(dur, sr, rng)
        y[s : s + b.size] += b[: max(0, length - s)]
    return y.astype(np.float32)


def legato(
    m1: int, m2: int, change_s: float, onset_s: float = 0.5, total_s: float = 1.6, sr: int = 44100
) -> np.ndarray:
    """A decaying harmonic tone that changes pitch at change_s with no new attack."""
    t = np.arange(int(total_s * sr)) / sr
    f = np.where(t < change_s, freq_of(m1), freq_of(m2))
    phase = 2 * np.pi * np.cumsum(f) / sr
    tone = sum(np.sin(k * phase) / k for k in range(1, 7))
    env = np.where(t >= onset_s, np.exp(-(t - onset_s) * 1.5), 0.0)
    env *= np.minimum(1.0, np.maximum(t - onset_s, 0) / 0.002)
    rng = np.random.default_rng(3)
    return (0.3 * tone * env + noise_floor(t.size, sr, rng)).astype(np.float32)


def bend(
    m_from: int,
    m_to: int,
    start_s: float,
    reach_s: float,
    onset_s: float = 0.5,
    total_s: float = 1.8,
    sr: int = 44100,
    harmonics: int = 6,
) -> np.ndarray:
    """A plucked harmonic tone whose pitch glides from m_from to m_to between start_s and
    reach_s after the onset (a smooth string bend), then holds."""
    t = np.arange(int(total_s * sr)) / sr
    frac = np.clip((t - onset_s - start_s) / (reach_s - start_s), 0.0, 1.0)
    midi = m_from + (m_to - m_from) * (3 * frac**2 - 2 * frac**3)
    freq = 440.0 * 2.0 ** ((midi - 69) / 12)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    tone = sum(np.sin(k * phase) / k * (k * freq < sr / 2) for k in range(1, harmonics + 1))
    env = np.where(t >= onset_s, np.exp(-(t - onset_s) * 1.5), 0.0)
    env *= np.minimum(1.0, np.maximum(t - onset_s, 0) / 0.002)
    rng = np.random.default_rng(4)
    return (0.3 * tone * env + noise_floor(t.size, sr, rng)).astype(np.float32)
