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
        self.span = self.window + self.max_lag + 1
        self._nfft = 1 << int(np.ceil(np.log2(self.span + self.window)))
        self._lags = np.arange(self.max_lag + 2)

    def cmndf(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CMNDF of each row of ``frames`` (shape (k, >= span)); returns (cmndf, power)."""
        frames = np.asarray(frames, dtype=np.float64)[:, : self.span]
        w = self.window
        n_lags = self.max_lag + 2
        # cross term r(tau) = sum_j x[j] * x[j + tau], j < w, via one FFT correlation
        spec_full = np.fft.rfft(frames, self._nfft, axis=1)
        spec_head = np.fft.rfft(frames[:, :w], self._nfft, axis=1)
        corr = np.fft.irfft(spec_full * np.conj(spec_head), self._nfft, axis=1)[:, :n_lags]
        # energies of x[tau : tau + w] for every tau, from a cumulative sum
        sq = np.concatenate([np.zeros((frames.shape[0], 1)), np.cumsum(frames**2, axis=1)], axis=1)
        energy = sq[:, w : w + n_lags] - sq[:, 0:n_lags]
        diff = energy[:, :1] + energy - 2.0 * corr
        diff[:, 0] = 0.0
        np.maximum(diff, 0.0, out=diff)
        cum = np.cumsum(diff[:, 1:], axis=1)
        cmndf = np.ones_like(diff)
        with np.errstate(divide="ignore", invalid="ignore"):
            cmndf[:, 1:] = np.where(cum > 0, diff[:, 1:] * self._lags[1:] / cum, 1.0)
        power = energy[:, 0] / w
        return cmndf, power

    def estimate(self, frames: np.ndarray) -> list[PitchEstimate]:
        """One PitchEstimate per row of ``frames``."""
        cmndf, power = self.cmndf(frames)
        out = []
        lo, hi = self.min_lag, self.max_lag
        for row, p in zip(cmndf, power):
            seg = row[lo : hi + 1]
            # local minima of the CMNDF; take the first (shortest lag) one that is deep
            # enough: under the absolute threshold, or close to the deepest dip when the
            # tone is not clean (a chorused or two-note mixture dips lowest at a multiple
            # of the period, which would read as a sub-octave)
            inner = seg[1:-1]
            minima = np.flatnonzero((inner <= seg[:-2]) & (inner <= seg[2:])) + 1
            if minima.size:
                depth = seg[minima]
                ok = minima[depth < max(self.threshold, float(depth.min()) + 0.1)]
                i = int(ok[0])
            else:
                i = int(np.argmin(seg))
            tau = i + lo
            aper = float(row[tau])
            if 1 <= tau < row.size - 1:
                a, b, c = row[tau - 1], row[tau], row[tau + 1]
                den = a - 2.0 * b + c
                shift = 0.5 * (a - c) / den if den > 0 else 0.0
                shift = float(np.clip(shift, -0.5, 0.5))
                aper = float(b - 0.25 * (a - c) * shift)
            else:
                shift = 0.0
            freq = self.sample_rate / (tau + shift)
            out.append(PitchEstimate(freq_hz=float(freq), aperiodicity=max(aper, 0.0), power=float(p)))
        return out

    def frames_from(self, x: np.ndarray, hop: int) -> np.ndarray:
        """All full frames of ``x`` (a 1-D view) every ``hop`` samples, as a strided view."""
        if x.size < self.span:
            return np.empty((0, self.span), dtype=x.dtype)
        return np.lib.stride_tricks.sliding_window_view(x, self.span)[::hop]
