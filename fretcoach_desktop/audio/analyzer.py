"""The streaming note analyzer: one engine for the GUI, the CLI and the benchmarks.

Feed it blocks of mono float samples of any size with :meth:`StreamingAnalyzer.process`;
it reports notes as they are heard. It is causal: every decision uses only the samples
received so far, and every note carries ``emitted_s``, the stream time of the last
sample the decision needed (so the result is the same whatever the block size).

Pipeline, all on a fixed sample grid so block boundaries never matter:

1. Onset candidates: log spectral flux on ~23 ms frames every ~2.9 ms, peaks over an
   adaptive threshold, each refined on the waveform (:mod:`.onsets`).
2. Pitch track: YIN every ~5.8 ms over the whole guitar range (:mod:`.pitch`).
3. A candidate becomes a note once two consecutive YIN frames after it are periodic and
   agree; its name, scale membership and timing are reported then. A re-pluck of the
   sounding pitch must raise the periodic energy; a candidate that never turns periodic
   but raises the energy is a noise event (scrape, buzz, pick noise). A pitch change
   held without an attack (hammer-on, pull-off, slide) starts a legato note.
4. While a note sounds its pitch keeps being measured; its ``cents`` settle to the median
   over the note (the pluck starts a few cents sharp, as real strings do), and the note
   is final when the next one starts or it decays (``final_s``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .metrics import compute_metrics
from .metronome import Grid
from .onsets import SpectralFlux, refine_onset
from .pitch import Yin
from .theory import freq_to_midi_cents, key_prefers_flats, note_name, scale_pitch_classes
from .types import AnalysisResult, Metrics, NoiseEvent, Note

# --- tuning constants (seconds, ratios); chosen from guitar acoustics, not per take ----
ODF_HOP_S = 128 / 44100  # ~2.9 ms
ODF_FRAME_S = 1024 / 44100  # ~23 ms
PITCH_HOP_S = 256 / 44100  # ~5.8 ms
PEAK_PRE_S = 0.012  # an ODF peak must be the max of the last 12 ms...
PEAK_POST_S = 0.006  # ...and of the next 6 ms (the only look-ahead)
THRESH_MEAN_S = 0.3  # adaptive threshold: mean of the ODF over the last 300 ms
THRESH_RATIO = 1.5
MIN_IOI_S = 0.045  # two onsets closer than this are one attack
PERIODIC = 0.2  # YIN aperiodicity under which a frame is a pitched tone
APERIODIC = 0.35  # over which a frame is noise
CONFIRM_FRAMES = 2
DECIDE_S = 0.16  # a candidate still unpitched this long after its onset is noise (or nothing)
REPLUCK_MIN_S = 0.1  # a re-pluck of the sounding pitch comes at least this late
REPLUCK_GAIN = 1.5  # periodic power must grow this much for a re-pluck of the same pitch
NOISE_GAIN = 2.0  # energy must grow this much for a noise event
NOTE_MAX_S = 2.0  # cents are measured over at most this much of a note
NOTE_SILENT_S = 0.12  # unpitched this long: the note has ended
NOISE_FRAMES = 4  # frames after an attack that tell a noise burst from a note
LEGATO_FRAMES = 4  # a new stable pitch held this many frames without an attack


@dataclass(slots=True)
class _Candidate:
    onset: int  # refined onset, absolute sample
    found_at: int  # absolute sample at which the ODF peak was confirmed
    legato: bool = False


@dataclass(slots=True)
class _Active:
    note: Note
    midi_f: float  # pitch (fractional MIDI) the note was confirmed at
    onset: int
    pitches: list[float] = field(default_factory=list)
    powers: list[float] = field(default_factory=list)
    last_pitched: int = 0  # absolute sample of the last pitched frame that matched
    legato_run: list[tuple[int, float]] = field(default_factory=list)
    index: int = 0  # position in StreamingAnalyzer.notes


class StreamingAnalyzer:
    """Causal note analyzer. Not thread-safe: one thread feeds it."""

    def __init__(
        self,
        sample_rate: int,
        *,
        bpm: float,
        key: str,
        scale: str,
        subdivision: int = 1,
        a4: float = 440.0,
        history_s: float = 1.0,
    ) -> None:
        if not 8000 <= sample_rate <= 192000:
            raise ValueError(f"sample rate {sample_rate} Hz is outside 8000-192000 Hz")
        self.sample_rate = sr = int(sample_rate)
        self.grid = Grid(bpm, subdivision)
        self.key, self.scale, self.a4 = key, scale, float(a4)
        self._scale_pcs = scale_pitch_classes(key, scale)
        self._flats = key_prefers_flats(key, scale)

        scale_factor = sr / 44100
        self.odf_hop = max(16, int(round(ODF_HOP_S * sr)))
        self.odf_frame = 1 << int(round(math.log2(ODF_FRAME_S * sr)))
        self.pitch_hop = max(32, int(round(PITCH_HOP_S * sr)))
        del scale_factor
        self._flux = SpectralFlux(sr, self.odf_frame)
        self.yin = Yin(sr)

        # sample history (absolute index of _buf[0] is _buf0)
        self._cap = max(int(history_s * sr), 4 * self.yin.span, 4 * self.odf_frame) * 2
        self._buf = np.zeros(self._cap, dtype=np.float32)
        self._buf0 = 0
        self.n_samples = 0

        # ODF state
        self._odf_next = 0  # next ODF frame index to compute
        self._odf: list[float] = []  # ODF values, index = frame
        self._odf_checked = 0  # frames < this were considered for peaks
        self._pre = max(1, int(round(PEAK_PRE_S * sr / self.odf_hop)))
        self._post = max(1, int(round(PEAK_POST_S * sr / self.odf_hop)))
        self._mean_len = max(4, int(round(THRESH_MEAN_S * sr / self.odf_hop)))
        self._odf_floor = 0.0
        self._last_onset = -(10**12)

        # pitch track (index = YIN frame; frame j covers [j*hop, j*hop + span))
        self._yin_next = 0
        self._f0: list[float] = []
        self._aper: list[float] = []
        self._power: list[float] = []
        self._processed_frames = 0  # YIN frames consumed by the note state machine
        self._power_floor = None  # running estimate of the background power

        self._candidates: list[_Candidate] = []
        self._cand_frames: list[int] = []  # pitched-frame streak of the oldest candidate
        self._active: _Active | None = None
        self.notes: list[Note] = []
        self.noise_events: list[NoiseEvent] = []
        self._new: list[Note] = []
        self.level_rms = 0.0
        self.level_peak = 0.0
        #: set to a list to record the engine's decisions (diagnostics, ``--trace``)
        self.trace: list[tuple[float, str, str]] | None = None

    def _log(self, at: int, what: str, detail: str) -> None:
        if self.trace is not None:
            self.trace.append((at / self.sample_rate, what, detail))

    # ------------------------------------------------------------------ public API
    @property
    def time_s(self) -> float:
        return self.n_samples / self.sample_rate

    def process(self, block: np.ndarray) -> list[Note]:
        """Consume one block of mono samples; return the notes reported during it."""
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        if block.size:
            self._append(block)
            self.level_peak = float(np.max(np.abs(block)))
            self.level_rms = float(np.sqrt(np.mean(block * block)))
            self._run_odf()
            self._run_pitch()
            self._run_notes()
        new, self._new = self._new, []
        return new

    def finish(self) -> list[Note]:
        """End of stream: decide pending candidates and close the sounding note."""
        self._run_notes(final=True)
        if self._active is not None:
            self._close_active(self.n_samples)
        new, self._new = self._new, []
        return new

    def metrics(self, start_s: float | None = None, end_s: float | None = None) -> Metrics:
        return compute_metrics(self.notes, self.noise_events, start_s, end_s)

    def result(self) -> AnalysisResult:
        return AnalysisResult(
            notes=tuple(self.notes),
            noise_events=tuple(self.noise_events),
            metrics=self.metrics(),
            duration_s=self.time_s,
            sample_rate=self.sample_rate,
        )

    def tuner(self, seconds: float = 0.05) -> tuple[float, float] | None:
        """(frequency Hz, aperiodicity) of the latest pitched frame within ``seconds``."""
        look = max(1, int(seconds * self.sample_rate / self.pitch_hop))
        for j in range(len(self._f0) - 1, max(-1, len(self._f0) - 1 - look), -1):
            if self._aper[j] < PERIODIC and self._f0[j] > 0:
                return self._f0[j], self._aper[j]
        return None

    # ------------------------------------------------------------------ buffering
    def _append(self, block: np.ndarray) -> None:
        used = self.n_samples - self._buf0
        if used + block.size > self._cap:
            keep = min(used, self._cap // 2)
            if keep + block.size > self._cap:
                self._cap = keep + block.size * 2
                new = np.zeros(self._cap, dtype=np.float32)
                new[:keep] = self._buf[used - keep : used]
                self._buf = new
            else:
                self._buf[:keep] = self._buf[used - keep : used]
            self._buf0 = self.n_samples - keep
            used = keep
        self._buf[used : used + block.size] = block
        self.n_samples += block.size

    def _view(self, start: int, stop: int) -> np.ndarray:
        return self._buf[start - self._buf0 : stop - self._buf0]

    # ------------------------------------------------------------------ onsets
    def _run_odf(self) -> None:
        hop, n = self.odf_hop, self.odf_frame
        last = (self.n_samples - n) // hop  # last complete frame index
        if last < self._odf_next:
            return
        first = self._odf_next
        x = self._view(first * hop, last * hop + n)
        frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop]
        self._odf.extend(self._flux(frames).tolist())
        self._odf_next = last + 1
        self._pick_peaks()

    def _pick_peaks(self) -> None:
        odf = self._odf
        pre, post = self._pre, self._post
        sr, hop, n = self.sample_rate, self.odf_hop, self.odf_frame
        while self._odf_checked + post < len(odf):
            i = self._odf_checked
            self._odf_checked += 1
            v = odf[i]
            lo = max(0, i - self._mean_len)
            past = odf[lo:i]
            mean = sum(past) / len(past) if past else v
            # background follows the quiet parts quickly and the loud parts slowly
            if self._odf_floor == 0.0:
                self._odf_floor = v
            elif v < self._odf_floor:
                self._odf_floor = 0.9 * self._odf_floor + 0.1 * v
            else:
                self._odf_floor = 0.999 * self._odf_floor + 0.001 * v
            if i < pre:
                continue
            if v < THRESH_RATIO * mean or v < 2.0 * self._odf_floor:
                continue
            window = odf[i - pre : i + post + 1]
            if v < max(window):
                continue
            centre = i * hop + n // 2
            onset = refine_onset(self._buf, self._buf0, centre, sr)
            onset = max(onset, centre - n // 2)
            if onset - self._last_onset < MIN_IOI_S * sr:
                self._log(onset, "skip", "too close to the previous onset")
                continue
            self._last_onset = onset
            found = (i + post) * hop + n
            self._log(onset, "candidate", f"odf {v:.1f} mean {mean:.1f} floor {self._odf_floor:.1f}")
            self._candidates.append(_Candidate(onset=onset, found_at=found))

    # ------------------------------------------------------------------ pitch track
    def _run_pitch(self) -> None:
        hop, span = self.pitch_hop, self.yin.span
        last = (self.n_samples - span) // hop
        if last < self._yin_next:
            return
        first = self._yin_next
        x = self._view(first * hop, last * hop + span)
        frames = self.yin.frames_from(x, hop)
        for est in self.yin.estimate(frames):
            self._f0.append(est.freq_hz)
            self._aper.append(est.aperiodicity)
            self._power.append(est.power)
        self._yin_next = last + 1

    def _frame_start(self, j: int) -> int:
        return j * self.pitch_hop

    def _frame_end(self, j: int) -> int:
        return j * self.pitch_hop + self.yin.span

    def _midi_f(self, j: int) -> float:
        return 69.0 + 12.0 * math.log2(self._f0[j] / self.a4)

    def _pitched(self, j: int, limit: float = PERIODIC) -> bool:
        floor = self._power_floor or 0.0
        return self._aper[j] < limit and self._power[j] > 4.0 * floor

    def _pre_power(self, onset: int) -> float:
        """Power of the last frame that ends before ``onset`` (0 at stream start)."""
        j = (onset - self.yin.span) // self.pitch_hop
        if j < 0 or j >= len(self._power):
            return 0.0
        return self._power[j]

    # ------------------------------------------------------------------ notes
    def _run_notes(self, final: bool = False) -> None:
        while self._processed_frames < len(self._f0):
            j = self._processed_frames
            self._update_floor(j)
            if self._candidates:
                cand = self._candidates[0]
                nxt = self._candidates[1] if len(self._candidates) > 1 else None
                if self._frame_start(j) < cand.onset:
                    self._sustain(j)
                    self._processed_frames += 1
                    continue
                if nxt is not None and self._frame_start(j) >= nxt.onset:
                    # the next attack arrived before this one was decided
                    self._decide_unpitched(cand, j)
                    self._candidates.pop(0)
                    self._cand_frames = []
                    continue  # re-examine frame j for the next candidate
                if self._examine(cand, j):
                    self._candidates.pop(0)
                    self._cand_frames = []
                    continue  # frame j may already belong to the next candidate
                self._processed_frames += 1
                continue
            self._sustain(j)
            self._processed_frames += 1
        if final:
            while self._candidates:
                self._decide_unpitched(self._candidates.pop(0), len(self._f0))
                self._cand_frames = []

    def _update_floor(self, j: int) -> None:
        p = self._power[j]
        if self._power_floor is None:
            self._power_floor = p
        elif p < self._power_floor:
            self._power_floor = p
        else:
            self._power_floor *= 1.0005  # creeps up ~0.2 dB/s so a raised floor is followed

    def _examine(self, cand: _Candidate, j: int) -> bool:
        """Feed frame j (starting after the candidate's onset); True once decided."""
        if self._pitched(j):
            streak = self._cand_frames
            if streak and abs(self._midi_f(j) - self._midi_f(streak[-1])) > 0.5:
                streak.clear()
            streak.append(j)
            if len(streak) >= CONFIRM_FRAMES:
                self._confirm(cand, streak)
                return True
        else:
            self._cand_frames = []
            # keep the active note alive only with frames that really match it
        if self._frame_start(j) - cand.onset > DECIDE_S * self.sample_rate:
            self._decide_unpitched(cand, j + 1)
            return True
        return False

    def _confirm(self, cand: _Candidate, frames: list[int]) -> None:
        midi_f = float(np.median([self._midi_f(k) for k in frames]))
        power = float(np.mean([self._power[k] for k in frames]))
        emitted = max(self._frame_end(frames[-1]), cand.found_at)
        act = self._active
        if act is not None and not cand.legato and _harmonic(midi_f - act.midi_f):
            young = cand.onset - act.onset < REPLUCK_MIN_S * self.sample_rate
            if young or power < REPLUCK_GAIN * self._pre_power(cand.onset):
                self._log(cand.onset, "same tone", f"power {power:.2e} pre {self._pre_power(cand.onset):.2e}")
                # the same tone ringing on: a noise burst over it, or nothing
                self._decide_unpitched(cand, frames[-1] + 1)
                return
        self._start_note(cand.onset, midi_f, emitted, frames)

    def _decide_unpitched(self, cand: _Candidate, j_end: int) -> None:
        """The candidate did not become a note: keep it as a noise event if it was one.

        A noise event is an attack whose first frames are aperiodic (a scrape or buzz is
        broadband; over a ringing string it still breaks the periodicity) and clearly
        above the background. Its loudness is not compared with the ringing note's: a
        scrape is often quieter than the tone it interrupts.
        """
        j0 = -(-cand.onset // self.pitch_hop)
        frames = list(range(j0, min(j_end, j0 + NOISE_FRAMES, len(self._aper))))
        aper = ",".join(f"{self._aper[k]:.2f}" for k in frames)
        noisy = [k for k in frames if self._aper[k] > APERIODIC]
        if len(noisy) * 2 < len(frames) or not noisy:
            self._log(cand.onset, "dropped", f"not noisy: aper {aper}")
            return
        floor = self._power_floor or 0.0
        if max(self._power[k] for k in noisy) < NOISE_GAIN * 4.0 * floor:
            self._log(cand.onset, "dropped", f"too quiet: aper {aper}")
            return
        # it lasts while the frames stay aperiodic
        last = noisy[0]
        k = last + 1
        while k < len(self._aper) and k < j0 + 4 * NOISE_FRAMES and self._aper[k] > APERIODIC:
            last = k
            k += 1
        end = max(self._frame_end(last) - self.yin.window, cand.onset + self.pitch_hop)
        self._log(cand.onset, "noise", f"aper {aper}")
        self.noise_events.append(NoiseEvent(start_s=cand.onset / self.sample_rate, end_s=end / self.sample_rate))

    def _start_note(self, onset: int, midi_f: float, emitted: int, frames: list[int]) -> None:
        if self._active is not None:
            self._close_active(onset)
        sr = self.sample_rate
        note = self._make_note(onset, midi_f, emitted)
        self.notes.append(note)
        self._new.append(note)
        act = _Active(note=note, midi_f=midi_f, onset=onset, index=len(self.notes) - 1)
        for k in frames:
            act.pitches.append(self._midi_f(k))
            act.powers.append(self._power[k])
            act.last_pitched = self._frame_end(k)
        self._active = act
        del sr

    def _make_note(self, onset: int, midi_f: float, emitted: int) -> Note:
        sr = self.sample_rate
        freq = self.a4 * 2.0 ** ((midi_f - 69.0) / 12.0)
        midi, cents = freq_to_midi_cents(freq, self.a4)
        onset_s = onset / sr
        grid_s, offset_ms = self.grid.nearest(onset_s)
        return Note(
            onset_s=onset_s,
            emitted_s=emitted / sr,
            midi=midi,
            note=note_name(midi, prefer_flats=self._flats),
            cents=cents,
            in_scale=(midi % 12) in self._scale_pcs,
            grid_s=grid_s,
            timing_offset_ms=offset_ms,
            freq_hz=freq,
        )

    def _sustain(self, j: int) -> None:
        act = self._active
        if act is None:
            return
        end = self._frame_end(j)
        sr = self.sample_rate
        if self._pitched(j, PERIODIC):
            m = self._midi_f(j)
            if _harmonic(m - act.midi_f):
                # the same tone (or a sub/super-octave reading of it): keep measuring
                act.legato_run.clear()
                if end - act.onset < NOTE_MAX_S * sr:
                    act.pitches.append(m)
                act.last_pitched = end
                return
            # a different stable pitch without an attack: legato
            run = act.legato_run
            if run and abs(m - run[-1][1]) > 0.5:
                run.clear()
            run.append((j, m))
            if len(run) >= LEGATO_FRAMES:
                first = run[0][0]
                onset = self._frame_start(first) + self.yin.window // 2
                frames = [k for k, _ in run]
                self._close_active(onset)
                self._start_note(onset, float(np.median([v for _, v in run])), end, frames)
            return
        if end - act.last_pitched > NOTE_SILENT_S * sr:
            self._close_active(act.last_pitched)

    def _close_active(self, end: int) -> None:
        act = self._active
        if act is None:
            return
        self._active = None
        if not act.pitches:
            return
        settled = _settled_pitch(act.pitches)
        final = self._make_note(act.onset, settled, int(round(act.note.emitted_s * self.sample_rate)))
        self.notes[act.index] = final
        del end


_HARMONIC_INTERVALS = tuple(12.0 * math.log2(k) for k in range(1, 11))


def _harmonic(interval: float) -> bool:
    """True when two pitches are the same note or one reads as a sub-harmonic of the other.

    YIN's failure mode on chorused or overlapping tones is a lag k times the period
    (an octave, a twelfth, ... below); such readings belong to the same note.
    """
    a = abs(interval)
    return min(abs(a - h) for h in _HARMONIC_INTERVALS) < 0.5


def _settled_pitch(pitches: list[float]) -> float:
    """The note's pitch: the semitone most frames agree on, then the median within it.

    Single frames can read a sub-octave (a chorused sample, the previous note's tail);
    the majority over the note cannot.
    """
    arr = np.asarray(pitches)
    semis, counts = np.unique(np.round(arr), return_counts=True)
    best = semis[counts == counts.max()].max()
    return float(np.median(arr[np.abs(arr - best) <= 0.5]))


def analyze_samples(
    samples: np.ndarray,
    sample_rate: int,
    *,
    bpm: float,
    key: str,
    scale: str,
    subdivision: int = 1,
    a4: float = 440.0,
    block_size: int = 4096,
) -> AnalysisResult:
    """Run the streaming analyzer over a whole signal, block by block."""
    engine = StreamingAnalyzer(sample_rate, bpm=bpm, key=key, scale=scale, subdivision=subdivision, a4=a4)
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    for start in range(0, x.size, block_size):
        engine.process(x[start : start + block_size])
    engine.finish()
    return engine.result()


def analyze_file(
    path: str | Path,
    *,
    bpm: float,
    key: str,
    scale: str,
    subdivision: int = 1,
    a4: float = 440.0,
    block_size: int = 4096,
) -> AnalysisResult:
    from .sources import read_audio

    samples, sr = read_audio(path)
    return analyze_samples(
        samples, sr, bpm=bpm, key=key, scale=scale, subdivision=subdivision, a4=a4, block_size=block_size
    )


__all__ = ["StreamingAnalyzer", "analyze_samples", "analyze_file", "replace"]
