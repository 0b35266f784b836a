"""Fundamental-frequency estimation: YIN (de Cheveigné & Kawahara, 2002), vectorised.

The difference function of several frames is computed at once with FFT
correlation, then the cumulative-mean-normalised difference (CMNDF) is searched for the
first dip under an absolute threshold, refined by parabolic interpolation. The lag range
covers the whole guitar (down to drop tunings below E2) so the low strings are measured
from their fundamental period, not read from an overtone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def refine_dip(cmndf: np.ndarray, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parabolic interpolation of the dip at lag ``tau[i]`` of each row ``i`` of ``cmndf``:
    (fractional lag shift in [-0.5, 0.5], interpolated CMNDF value >= 0)."""
    rows = np.arange(cmndf.shape[0])
    a = cmndf[rows, tau - 1].astype(np.float64)
    b = cmndf[rows, tau].astype(np.float64)
    c = cmndf[rows, tau + 1].astype(np.float64)
    den = a - 2.0 * b + c
    shift = np.clip(np.where(den > 0, 0.5 * (a - c) / np.where(den > 0, den, 1.0), 0.0), -0.5, 0.5)
    return shift, np.maximum(b - 0.25 * (a - c) * shift, 0.0)


def _fast_len(n: int) -> int:
    """The smallest 5-smooth number (only factors 2, 3, 5) >= n: an FFT size that is fast."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            q = p35
            while q < n:
                q *= 2
            best = min(best, q)
            p35 *= 3
        p5 *= 5
    return best


@dataclass(frozen=True, slots=True)
class PitchEstimate:
    freq_hz: float  # 0.0 when unvoiced
    aperiodicity: float  # CMNDF value at the chosen lag: ~0 for a clean tone, ~1 for noise
    power: float  # mean energy of the analysed frame

    @property
    def voiced(self) -> bool:
        return self.freq_hz > 0.0


class Yin:
    """YIN for a fixed sample rate, integration window and lag range."""

    def __init__(
        self,
        sample_rate: int,
        *,
        fmin: float = 65.0,
        fmax: float = 1500.0,
        window_s: float = 0.0116,
        threshold: float = 0.1,
    ) -> None:
        self.sample_rate = int(sample_rate)
        self.min_lag = max(2, int(np.floor(sample_rate / fmax)))
        self.max_lag = int(np.ceil(sample_rate / fmin)) + 1
        self.window = max(int(round(window_s * sample_rate)), self.max_lag // 2)
        self.threshold = threshold
        #: samples one frame needs: integration window plus the largest lag
        self.span = self.window + self.max_lag + 2
        # a circular correlation of the frame with its head has no wrap-around for the
        # lags we read as long as the transform is at least one frame long
        self._nfft = _fast_len(self.span)
        self._lags = np.arange(self.max_lag + 2, dtype=np.float32)

    def cmndf(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CMNDF of each row of ``frames`` (shape (k, >= span)); returns (cmndf, power)."""
        frames = np.ascontiguousarray(frames[:, : self.span], dtype=np.float32)
        w = self.window
        n_lags = self.max_lag + 2
        # cross term r(tau) = sum_j x[j] * x[j + tau], j < w, via one FFT correlation
        spec = np.fft.rfft(frames, self._nfft, axis=1)
        spec *= np.conj(np.fft.rfft(frames[:, :w], self._nfft, axis=1))
        corr = np.fft.irfft(spec, self._nfft, axis=1)[:, :n_lags]
        # energies of x[tau : tau + w] for every tau, from a cumulative sum (in float64:
        # the difference of two large running sums must not lose the small ones)
        sq = np.cumsum(np.square(frames, dtype=np.float64), axis=1)
        energy = np.empty((frames.shape[0], n_lags), dtype=np.float64)
        energy[:, 0] = sq[:, w - 1]
        energy[:, 1:] = sq[:, w : w + n_lags - 1] - sq[:, : n_lags - 1]
        diff = energy.astype(np.float32)
        diff += diff[:, :1]
        diff -= 2.0 * corr
        diff[:, 0] = 0.0
        np.maximum(diff, 0.0, out=diff)
        cum = np.cumsum(diff[:, 1:], axis=1)
        silent = cum[:, -1] <= 0.0
        cum[silent] = 1.0
        np.maximum(cum, np.float32(1e-30), out=cum)
        cmndf = diff
        cmndf[:, 1:] *= self._lags[1:]
        cmndf[:, 1:] /= cum
        cmndf[:, 0] = 1.0
        cmndf[silent] = 1.0
        power = energy[:, 0] / w
        return cmndf, power

    def estimate_arrays(
        self, frames: np.ndarray, exclude_period: float | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised estimate: (freq_hz, aperiodicity, power) arrays, one entry per row.

        Among the local minima of the CMNDF, take the first (shortest lag) one that is
        deep enough: under the absolute threshold, or within 0.1 of the deepest dip when
        the tone is not clean (a chorused or two-note mixture dips lowest at a multiple
        of the period, which would read as a sub-octave). Parabolic interpolation refines
        the lag.

        ``exclude_period`` (in samples) ignores dips at its multiples: a tone still ringing
        from the previous note makes the mixture periodic at a common multiple of both
        periods, which would hide the new note's own period.
        """
        cmndf, power = self.cmndf(frames)
        lo, hi = self.min_lag, self.max_lag
        seg = cmndf[:, lo - 1 : hi + 2]
        inner = seg[:, 1:-1]
        not_min = (inner > seg[:, :-2]) | (inner > seg[:, 2:])
        depth = inner.copy()
        depth[not_min] = np.inf
        if exclude_period is not None:
            ratio = np.arange(lo, hi + 1) / exclude_period
            near = np.abs(ratio - np.round(ratio)) * exclude_period < max(1.0, 0.02 * exclude_period)
            depth[:, near & (ratio > 0.5)] = np.inf
        deepest = depth.min(axis=1)
        limit = np.maximum(np.float32(self.threshold), deepest + np.float32(0.1))
        ok = depth < limit[:, None]
        has = ok.any(axis=1)
        fallback = np.where(np.isfinite(deepest), depth.argmin(axis=1), inner.argmin(axis=1))
        first = np.where(has, ok.argmax(axis=1), fallback)
        tau = first + lo
        shift, aper = refine_dip(cmndf, tau)
        freq = self.sample_rate / (tau + shift)
        return freq, aper, power

    def estimate(self, frames: np.ndarray) -> list[PitchEstimate]:
        """One PitchEstimate per row of ``frames``."""
        freq, aper, power = self.estimate_arrays(frames)
        return [PitchEstimate(float(f), float(a), float(p)) for f, a, p in zip(freq, aper, power)]

    def frames_from(self, x: np.ndarray, hop: int) -> np.ndarray:
        """All full frames of ``x`` (a 1-D view) every ``hop`` samples, as a strided view."""
        if x.size < self.span:
            return np.empty((0, self.span), dtype=x.dtype)
        return np.lib.stride_tricks.sliding_window_view(x, self.span)[::hop]
