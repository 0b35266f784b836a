"""The streaming note analyzer: one engine for the GUI, the CLI and the benchmarks.

Feed it blocks of mono float samples of any size with :meth:`StreamingAnalyzer.process`;
it reports notes as they are heard. It is causal: every decision uses only the samples
received so far, and every note carries ``emitted_s``, the stream time of the last sample
the decision needed. Everything runs on fixed sample grids, so the notes (and their
``emitted_s``) are the same whatever the block size.

Pipeline:

0. The signal is low-passed and decimated to ~22-24 kHz for analysis (a guitar's
   fundamentals end near 1.3 kHz and its attacks are well described below 11 kHz);
   onset times are refined on the full-rate waveform.
1. Onset candidates: log spectral flux on ~23 ms frames every ~5.8 ms, peaks over an
   adaptive threshold, each refined on the waveform (:mod:`.onsets`).
2. Pitch: YIN frames every ~5.8 ms over the whole guitar range (:mod:`.pitch`); dense
   around attacks, every other frame while a note rings, none in silence.
3. A candidate becomes a note once two consecutive YIN frames after it are periodic and
   agree; its name, scale membership and timing are reported then. Its frames are read
   again with the notes still ringing (on other strings) cancelled out of them, and a
   reading at a multiple of a clean shorter period is lifted to it. A re-pluck of the
   sounding pitch must raise the periodic power; a high tone that dies within 25 ms is a
   click, not a note; a candidate whose first frames are aperiodic is a noise event
   (scrape, buzz, pick noise) unless it turns into a note. A new pitch jumped to and held
   without an attack (hammer-on, pull-off) starts a legato note; one glided to (a bend)
   does not.
4. While a note rings its pitch keeps being measured; its ``cents`` settle to the
   median over its first half second (a plucked string starts a few cents sharp), and the
   note is final when the next one starts or it decays (``final_s``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import compute_metrics
from .metronome import Grid
from .onsets import SpectralFlux, refine_onset
from .pitch import Yin, refine_dip
from .theory import freq_to_midi_cents, key_prefers_flats, note_name, scale_pitch_classes
from .types import AnalysisResult, Metrics, NoiseEvent, Note

# --- tuning constants (seconds, ratios), from guitar acoustics, not fitted per take -----
ANALYSIS_RATE = 22050.0  # decimate to about this rate
PITCH_BAND_HZ = 4000.0  # YIN sees the signal low-passed here: fundamentals end near 1.3 kHz,
# and without the high harmonics its dips are wide enough to be sampled faithfully
HOP_S = 256 / 44100  # ~5.8 ms: the ODF hop and the pitch hop
ODF_FRAME_S = 1024 / 44100  # ~23 ms
PEAK_PRE_S = 0.012  # an ODF peak must be the max of the last 12 ms...
PEAK_POST_S = 0.006  # ...and of the next 6 ms (the only look-ahead)
THRESH_MEAN_S = 0.3  # adaptive threshold: the mean ODF over the last 300 ms...
THRESH_RATIO = 1.75  # ...times this
THRESH_FLOOR = 2.0  # and at least this times the ODF background
MIN_IOI_S = 0.045  # two onsets closer than this are one attack...
STRONGER = 2.0  # ...unless the second peak is this much stronger (a scrape after a note-off)
PERIODIC = 0.2  # YIN aperiodicity under which a frame is a pitched tone
APERIODIC = 0.35  # over which a frame is noise
QUIET = 4.0  # frames below QUIET x the background power are silence
MIXED = 0.45  # aperiodicity a frame may have when it agrees with a known pitch (two notes ring)
UNMIX_PERIODIC = 0.25  # a new note's period under a ringing note must be at least this clean
RING_S = 1.5  # a note started this recently may still ring (on another string) under a new one
RING_NOTES = 2  # how many of those are cancelled out of a new note's frames
CANCELLED_PERIODIC = 0.2  # a frame with the ringing notes cancelled must be this periodic...
CANCELLED_SHARE = 0.25  # ...and hold this share of the frame's power (per cancellation stage)...
CANCELLED_RISE = 2.0  # ...and this many times what the same cancellation leaves just before the attack
CLEANER = 0.03  # a plain reading gives way to a cancelled one only this much more periodic
SUBHARMONIC_MAX = 6  # a reading is checked for being this many times the new note's period
CONFIRM_FRAMES = 2  # agreeing periodic frames that make a note
BLIP_MIDI = 78.0  # a tone from F#5 up (a metronome click's range) must show it sustains...
BLIP_S = 0.025  # ...over this long after its attack...
BLIP_DROP = 16.0  # ...without its power falling by this factor (12 dB): a plucked string does
DENSE_S = 0.16  # every pitch frame is computed this long after an onset candidate
DECIDE_S = 0.16  # a candidate still unpitched this long after its onset is not a note
REPLUCK_MIN_S = 0.1  # a re-pluck of the sounding pitch comes at least this late...
REPLUCK_GAIN = 1.5  # ...and raises the periodic power at least this much
MOVING_ST = 0.75  # an attack this close to where a bending note has glided is the note moving
WOBBLE_ST = 1.5  # a reading this close to a note started less than REPLUCK_MIN_S ago is that note
NOISE_FRAMES = 4  # frames after an attack that tell a noise burst from a note
NOISE_GAIN = 2.0  # a noise burst is at least this much over QUIET...
NOISE_HF_GAIN = 3.0  # ...and raises the energy above 3 kHz at least this much
NOISE_HF_SHARE = 0.3  # ...that is at least this share of the band's rise (a metronome click is not)
HF_AFTER_S = 0.025  # the burst of an attack is measured over frames ending this soon after it
NOISE_FLUX_HF = 0.6  # an attack whose spectral flux is mostly above 3 kHz...
NOISE_STRENGTH = 30.0  # ...that stands this far over the ODF's background...
NOISE_CONTRAST = 6.0  # ...and over its recent median is noise, even over a ringing tone
NOISE_NEAR_HF = 0.7  # within MIN_IOI_S of an attack, it takes this share above 3 kHz
NOISE_NEAR_S = 0.03  # the length given to such a burst (its frames are the attack's too)
NOISE_HF_ADDS = 1.2  # over a ringing tone it adds energy above 3 kHz (a bend only moves it)
NOISE_JOIN_S = 0.05  # bursts closer than this are one noise event
NOTE_MAX_S = 0.5  # a note is named from at most its first half second: later, a low string's
# fundamental has died before its octave, and frames read the octave
NOTE_SILENT_S = 0.12  # unpitched this long: the note has ended
LEGATO_FRAMES = 3  # a new stable pitch held over this many measured frames, no attack
LEGATO_STABLE = 0.25  # semitones: the spread of those frames (a bend is still moving)
GLIDE_FRAMES = 3  # frames between the old and the new pitch that make the change a bend
KEEP_FRAMES_S = 30.0  # per-frame analysis kept this long (no decision looks further back)
TUNER_SILENT_POWER = 1e-7  # mean square below which the tuner does not even look (-70 dBFS)


@dataclass(slots=True)
class _Candidate:
    onset: int  # refined onset, absolute full-rate sample
    found_at: int  # full-rate sample at which the ODF peak was confirmed
    sharp: bool = False  # the ODF peak stands far above the ODF's background and recent median
    hf_share: float = 0.0  # the share of the peak's spectral flux above 3 kHz
    frames: list[int] = field(default_factory=list)  # agreeing periodic frames so far


@dataclass(slots=True)
class _Active:
    """The note that is sounding now."""

    note: Note
    midi_f: float  # pitch (fractional MIDI) the note was confirmed at
    onset: int
    index: int  # position in StreamingAnalyzer.notes
    pitches: list[float] = field(default_factory=list)
    votes: dict[int, int] = field(default_factory=dict)  # frames per semitone heard
    majority: int = 0  # the semitone most frames agree on so far
    last_pitched: int = 0  # full-rate sample: end of the last frame that matched
    legato: list[tuple[int, float]] = field(default_factory=list)
    last_m: float = 0.0  # pitch of the last frame that read a pitch
    run_from: float = 0.0  # last_m just before the current legato run began

    def add(self, midi_f: float) -> None:
        self.pitches.append(midi_f)
        semi = int(round(midi_f))
        self.votes[semi] = n = self.votes.get(semi, 0) + 1
        if n > self.votes.get(self.majority, 0) or (n == self.votes[self.majority] and semi > self.majority):
            self.majority = semi


_UNKNOWN = -1.0  # aperiodicity of a pitch frame that was not computed


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
        if not 400.0 <= a4 <= 480.0:
            raise ValueError(f"A4 reference {a4} Hz is outside 400-480 Hz")
        self.sample_rate = sr = int(sample_rate)
        self.grid = Grid(bpm, subdivision)
        self.key, self.scale, self.a4 = key, scale, float(a4)
        self._scale_pcs = scale_pitch_classes(key, scale)
        self._flats = key_prefers_flats(key, scale)

        # analysis at a decimated rate: full-rate sample = low-rate sample * dec
        self.dec = dec = max(1, int(round(sr / ANALYSIS_RATE)))
        self.low_rate = low = sr / dec
        if dec > 1:
            # anti-alias low-pass (linear phase, 8 taps per decimation step)
            self._fir = _lowpass(8 * dec + 1, 0.9 / dec)
            self._tail = np.zeros(self._fir.size - 1, dtype=np.float32)
        self.hop = max(16, int(round(HOP_S * low)))  # low-rate samples, ODF and pitch
        self.odf_frame = 1 << int(round(math.log2(ODF_FRAME_S * low)))
        self._flux = SpectralFlux(low, self.odf_frame)
        self._pitch_fir = _lowpass(int(low / 1000) * 2 + 1, PITCH_BAND_HZ / (low / 2))
        self._pitch_tail = np.zeros(self._pitch_fir.size - 1, dtype=np.float32)
        self.yin = Yin(low)

        # full-rate history (for onset refinement) and low-rate history (for analysis)
        self._raw = _History(max(int(history_s * sr), 8 * self.odf_frame * dec))
        self._low = _History(max(int(history_s * low), 8 * self.yin.span))
        self._pitch = _History(max(int(history_s * low), 8 * self.yin.span))
        self.n_samples = 0

        # onset detection function
        # per-frame series, read by absolute frame number, forgetting frames older than
        # KEEP_FRAMES_S (see _forget)
        self._odf = _Series()
        self._hf = _Series()  # energy above 3 kHz per ODF frame
        self._hf_odf = _Series()  # the ODF's part above 3 kHz
        self._band = _Series()  # energy over the whole band per ODF frame
        self._odf_checked = 0  # ODF frames < this were considered for peaks
        self._pre = max(1, int(round(PEAK_PRE_S * low / self.hop)))
        self._post = max(1, int(round(PEAK_POST_S * low / self.hop)))
        self._mean_len = max(4, int(round(THRESH_MEAN_S * low / self.hop)))
        self._odf_floor = 0.0
        self._last_onset = -(10**12)
        self._last_odf = 0.0
        self._last_hf = 0.0  # the share above 3 kHz of the last onset's flux

        # pitch frames: frame j covers low-rate samples [j*hop, j*hop + span)
        self._f0 = _Series()
        self._aper = _Series()
        self._power = _Series()
        self._floor = _Series()  # background power as of each frame
        self._power_floor: float | None = None
        self._dense: list[tuple[int, int]] = []  # frame ranges measured densely (attacks)

        self._candidates: list[_Candidate] = []
        self._active: _Active | None = None
        self._ringing: list[list[float]] = []  # [onset sample, midi_f] of the latest notes
        self._before: tuple[int, list] | None = None  # (onset, cancelled reads ending at it)
        self.notes: list[Note] = []
        self.noise_events: list[NoiseEvent] = []
        #: every attack the onset detector accepted (seconds), note or not: latency calibration
        self.onsets: list[float] = []
        self._new: list[Note] = []
        self.level_rms = 0.0
        self.level_peak = 0.0
        #: set to a list to record the engine's decisions (diagnostics, ``--trace``)
        self.trace: list[tuple[float, str, str]] | None = None

    # ------------------------------------------------------------------ public API
    @property
    def time_s(self) -> float:
        return self.n_samples / self.sample_rate

    def process(self, block: np.ndarray) -> list[Note]:
        """Consume one block of mono samples; return the notes reported during it."""
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        if block.size:
            self.level_peak = float(np.max(np.abs(block)))
            self.level_rms = float(np.sqrt(np.mean(np.square(block, dtype=np.float64))))
            self._append(block)
            self._run_odf()
            self._run_notes()
            self._forget()
        new, self._new = self._new, []
        return new

    def _forget(self) -> None:
        """Let the per-frame series forget what no decision can read any more: frames older
        than KEEP_FRAMES_S (a note is named from its first 0.5 s; ringing notes are looked
        back on for RING_S), so memory stays flat over an hour of playing."""
        keep = int(KEEP_FRAMES_S * self.low_rate / self.hop)
        oldest = len(self._f0) - keep
        if self._active is not None:
            oldest = min(oldest, self._frame_at(self._active.onset) - 1)
        if self._candidates:
            oldest = min(oldest, self._frame_at(self._candidates[0].onset) - 1)
        if oldest > 0:
            for series in (self._f0, self._aper, self._power, self._floor):
                series.forget_before(oldest)
        oldest_odf = min(self._odf_checked - keep, len(self._odf) - keep)
        if oldest_odf > 0:
            for series in (self._odf, self._hf, self._hf_odf, self._band):
                series.forget_before(oldest_odf)

    def finish(self) -> list[Note]:
        """End of stream: decide pending candidates and close the sounding note."""
        self._run_notes(final=True)
        self._close_active()
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

    def tuner(self) -> tuple[float, float] | None:
        """(frequency Hz, aperiodicity) of the newest samples, or None if not pitched.

        Computed on demand (a tuner display asks ~30 times a second), independent of the
        note decisions.
        """
        span = self.yin.span
        if self._pitch.end < span:
            return None
        x = self._pitch.view(self._pitch.end - span, self._pitch.end)
        if float(np.dot(x, x)) < TUNER_SILENT_POWER * x.size:
            return None  # nothing to tune (below -70 dBFS): skip YIN, the input is usually idle
        freq, aper, power = self.yin.estimate_arrays(x[None, :])
        if aper[0] >= PERIODIC or power[0] <= QUIET * (self._power_floor or 0.0):
            return None
        return float(freq[0]), float(aper[0])

    def _log(self, at: int, what: str, detail: str) -> None:
        if self.trace is not None:
            self.trace.append((at / self.sample_rate, what, detail))

    # ------------------------------------------------------------------ input
    def _append(self, block: np.ndarray) -> None:
        start = self.n_samples
        self._raw.append(block)
        self.n_samples += block.size
        if self.dec == 1:
            low = block
        else:
            # FIR filter with the previous block's tail as state, keeping only the outputs
            # at full-rate indices that are multiples of dec (the same whatever the blocking)
            low, self._tail = _fir(self._fir, self._tail, block, (-start) % self.dec, self.dec)
        self._low.append(low)
        band, self._pitch_tail = _fir(self._pitch_fir, self._pitch_tail, low)
        self._pitch.append(band)

    # ------------------------------------------------------------------ onsets
    def _run_odf(self) -> None:
        hop, n = self.hop, self.odf_frame
        first = len(self._odf)
        last = (self._low.end - n) // hop  # last complete ODF frame
        if last < first:
            return
        x = self._low.view(first * hop, last * hop + n)
        frames = _frames(x, n, hop)
        flux, hf_flux, hf, total = self._flux(frames)
        self._odf.extend(flux.tolist())
        self._hf_odf.extend(hf_flux.tolist())
        self._hf.extend(hf.tolist())
        self._band.extend(total.tolist())
        self._pick_peaks()

    def _pick_peaks(self) -> None:
        odf, pre, post = self._odf, self._pre, self._post
        hop, n, dec, sr = self.hop, self.odf_frame, self.dec, self.sample_rate
        while self._odf_checked + post < len(odf):
            i = self._odf_checked
            self._odf_checked += 1
            v = odf[i]
            past = odf[max(0, i - self._mean_len) : i]
            mean = sum(past) / len(past) if past else v
            # the background follows quiet passages quickly and loud ones slowly
            if self._odf_floor == 0.0:
                self._odf_floor = v
            elif v < self._odf_floor:
                self._odf_floor = 0.9 * self._odf_floor + 0.1 * v
            else:
                self._odf_floor = 0.999 * self._odf_floor + 0.001 * v
            if i < pre or v <= 0.0 or v < THRESH_RATIO * mean or v < THRESH_FLOOR * self._odf_floor:
                continue
            if v < max(odf[i - pre : i + post + 1]):
                continue
            centre = (i * hop + n // 2) * dec
            raw = self._raw
            onset = refine_onset(raw.view(raw.start, raw.end), raw.start, centre, sr)
            onset = max(onset, centre - n // 2 * dec)
            if onset - self._last_onset < MIN_IOI_S * sr and v < STRONGER * self._last_odf:
                if self._last_hf < NOISE_FLUX_HF and self._hf_odf[i] >= NOISE_NEAR_HF * v and self._sharp(v, past):
                    # a scrape or pick click right after an attack: too close to be a
                    # note, but broadband and sharp, which the attack's own tail is not
                    # (after a broadband peak, it is that burst going on)
                    self._add_noise(onset, onset + int(NOISE_NEAR_S * sr), "right after an attack")
                else:
                    self._log(onset, "skip", "too close to the previous onset")
                continue
            hf = self._hf_odf[i] / v  # the share of this peak's flux above 3 kHz
            self._last_onset, self._last_odf, self._last_hf = onset, v, hf
            found = ((i + post) * hop + n) * dec
            self._log(onset, "candidate", f"odf {v:.1f} mean {mean:.1f} floor {self._odf_floor:.1f}, {hf:.0%} high")
            self._candidates.append(
                _Candidate(
                    onset=onset,
                    found_at=found,
                    sharp=self._sharp(v, past),
                    hf_share=hf,
                )
            )
            self.onsets.append(onset / sr)
            # every pitch frame from just before the attack to DENSE_S after it is measured
            self._dense.append((self._frame_at(onset) - 1, self._frame_at(onset + int(DENSE_S * sr))))

    def _sharp(self, v: float, past: list[float]) -> bool:
        """Whether an ODF peak ``v`` stands out as a burst would, over the ODF's background
        and over its typical recent value (a median: one loud attack does not raise it)."""
        return v >= NOISE_STRENGTH * self._odf_floor and (not past or v >= NOISE_CONTRAST * float(np.median(past)))

    @staticmethod
    def _broadband(cand: _Candidate) -> bool:
        """A sharp attack whose spectral flux is mostly above 3 kHz: a scrape or pick click."""
        return cand.sharp and cand.hf_share >= NOISE_FLUX_HF

    def _add_noise(self, start: int, end: int, why: str) -> None:
        """Record a noise event over full-rate samples [start, end), unless it is within
        NOISE_JOIN_S of one already recorded (a rough scrape has several peaks). Events are
        only ever appended (the live path reads the new ones by count), so they are in the
        order decided."""
        sr, join = self.sample_rate, NOISE_JOIN_S
        event = NoiseEvent(start_s=start / sr, end_s=end / sr)
        if any(e.start_s - join <= event.end_s and event.start_s <= e.end_s + join for e in self.noise_events[-4:]):
            self._log(start, "noise", f"part of the previous noise event ({why})")
            return
        self._log(start, "noise", why)
        self.noise_events.append(event)

    # ------------------------------------------------------------------ pitch frames
    def _frame_at(self, sample: int) -> int:
        """Index of the first pitch frame starting at or after full-rate ``sample``."""
        step = self.hop * self.dec
        return -(-sample // step)

    def _frame_start(self, j: int) -> int:
        return j * self.hop * self.dec

    def _frame_end(self, j: int) -> int:
        return (j * self.hop + self.yin.span) * self.dec

    def _ready_frames(self) -> int:
        """Number of pitch frames the note logic may consume now.

        Frame j is consumed only once every ODF peak that could yield an onset at or
        before its start has been decided, so candidates are always known in time, for
        any block size.
        """
        complete = (self._low.end - self.yin.span) // self.hop + 1
        # an onset is refined to at most half an ODF frame before the peak's centre
        decided = self._odf_checked  # ODF frames < this are decided
        return max(0, min(complete, decided))

    def _compute_frames(self, upto: int) -> None:
        """Measure pitch frames [len(self._f0), upto): dense near attacks, sparse elsewhere."""
        first = len(self._f0)
        if upto <= first:
            return
        hop, span = self.hop, self.yin.span
        x = self._pitch.view(first * hop, (upto - 1) * hop + span)
        frames = _frames(x, span, hop)
        # frame power for every frame, cheaply, to skip silence
        w = self.yin.window
        sq = np.concatenate([[0.0], np.cumsum(np.square(x, dtype=np.float64))])
        starts = np.arange(upto - first) * hop
        power = (sq[starts + w] - sq[starts]) / w
        while self._dense and self._dense[0][1] < first:
            self._dense.pop(0)
        want = np.zeros(upto - first, dtype=bool)
        for lo, hi in self._dense:
            want[max(lo - first, 0) : max(hi + 1 - first, 0)] = True
        floors = []
        for k, p in enumerate(power.tolist()):
            floor = self._track_floor(p)
            floors.append(floor)
            if (first + k) % 2 == 0 and p > QUIET * floor:
                want[k] = True
        f0 = np.zeros(upto - first)
        aper = np.full(upto - first, _UNKNOWN)
        sel = np.flatnonzero(want)
        if sel.size:
            f0[sel], aper[sel], _ = self.yin.estimate_arrays(frames[sel])
        self._f0.extend(f0.tolist())
        self._aper.extend(aper.tolist())
        self._power.extend(power.tolist())
        self._floor.extend(floors)

    def _track_floor(self, p: float) -> float:
        """Follow the background power: down at once, up slowly (~0.4 dB/s)."""
        if self._power_floor is None or p < self._power_floor:
            self._power_floor = p
        else:
            self._power_floor *= 1.0005
        return self._power_floor

    def _measured(self, j: int) -> bool:
        return self._aper[j] != _UNKNOWN

    def _midi_f(self, j: int) -> float:
        return 69.0 + 12.0 * math.log2(self._f0[j] / self.a4)

    def _pitched(self, j: int, limit: float = PERIODIC) -> bool:
        a = self._aper[j]
        return 0.0 <= a < limit and self._power[j] > QUIET * self._floor[j]

    def _pre_power(self, onset: int) -> float:
        """Power of the last frame that ends before ``onset`` (0 at stream start)."""
        j = (onset // self.dec - self.yin.span) // self.hop
        return self._power[j] if 0 <= j < len(self._power) else 0.0

    # ------------------------------------------------------------------ notes
    def _run_notes(self, final: bool = False) -> None:
        if final:  # no more audio: every complete frame may be used
            ready = max(0, (self._low.end - self.yin.span) // self.hop + 1)
        else:
            ready = self._ready_frames()
        first = len(self._f0)
        self._compute_frames(ready)
        for j in range(first, ready):
            self._consume(j)
        if final:
            while self._candidates:
                self._decide_unpitched(self._candidates.pop(0), len(self._f0))

    def _consume(self, j: int) -> None:
        start = self._frame_start(j)
        while self._candidates:
            cand = self._candidates[0]
            if start < cand.onset:
                break  # frame j still belongs to what sounded before the attack
            if len(self._candidates) > 1 and start >= self._candidates[1].onset:
                nxt = self._candidates[1]
                if nxt.onset - cand.onset < MIN_IOI_S * self.sample_rate:
                    # a stronger peak right after an undecided weak one: one attack
                    # (a slow, overdriven pluck); it starts where the weak one did
                    self._candidates.pop(0)
                    if self._broadband(cand) and not self._broadband(nxt):
                        # a scrape or pick click just before the pluck
                        self._add_noise(cand.onset, nxt.onset, "broadband, just before an attack")
                        continue
                    self._log(cand.onset, "merged", f"with the stronger peak at {nxt.onset / self.sample_rate:.3f}")
                    nxt.onset = cand.onset
                    continue
                # the next attack came before this one was decided
                self._decide_unpitched(self._candidates.pop(0), j)
                continue
            if not self._examine(cand, j):
                return
            self._candidates.pop(0)
            if self._active is not None and self._active.onset == cand.onset:
                return  # frame j confirmed this very note
        self._sustain(j)

    def _examine(self, cand: _Candidate, j: int) -> bool:
        """Feed frame j (which starts after the candidate's onset); True once decided."""
        if self._measured(j):
            self._cancel_ringing(j, cand.onset)
        if self._pitched(j, MIXED):
            self._lift_subharmonic(j)
        act = self._active
        if act is not None and self._pitched(j) and act.midi_f - self._midi_f(j) > 11.5:
            # reads below the ringing note: a common period of it and a new note?
            if _harmonic(self._midi_f(j) - act.midi_f):
                self._unmix(j, act)
        # with a note ringing, the new one sounds over it: its frames are less periodic,
        # so they must agree more closely and for one frame longer
        mixed = act is not None and self._pitched(j, MIXED) and not self._pitched(j)
        if self._pitched(j) or (mixed and not _harmonic(self._midi_f(j) - act.midi_f)):
            streak = cand.frames
            if streak and abs(self._midi_f(j) - self._midi_f(streak[-1])) > (0.3 if mixed else 0.5):
                streak.clear()
            streak.append(j)
            clean = all(self._aper[k] < PERIODIC for k in streak)
            if len(streak) >= CONFIRM_FRAMES + (0 if clean else 1):
                blip = self._blip(cand, streak)
                if blip is None:
                    return False  # a high tone: wait to see whether it sustains
                if blip:
                    self._log(cand.onset, "blip", "a short high tone that dies at once (a click), not a note")
                    self._decide_unpitched(cand, j + 1)
                    return True
                self._confirm(cand, streak)
                return True
        elif self._measured(j):
            cand.frames.clear()
        if self._frame_start(j) - cand.onset > DECIDE_S * self.sample_rate:
            self._decide_unpitched(cand, j + 1)
            return True
        return False

    def _blip(self, cand: _Candidate, streak: list[int]) -> bool | None:
        """Is the tone a blip (a metronome click leaking into the input) rather than a note?

        None: not known yet. A click is a high sine burst that dies within a few tens of
        milliseconds; a plucked string, even muted, sustains longer. Only high tones are
        checked, so other notes are not delayed.
        """
        if float(np.median([self._midi_f(k) for k in streak])) < BLIP_MIDI:
            return False
        last = streak[-1]
        # measured from when the tone appeared (the attack may have been noise before it)
        if self._frame_start(last) - max(cand.onset, self._frame_start(streak[0])) < BLIP_S * self.sample_rate:
            return None
        return max(self._power[k] for k in streak) > BLIP_DROP * self._power[last]

    def _ringing_before(self, onset: int) -> list[float]:
        """Pitches (fractional MIDI) of the notes that may still ring at ``onset``, newest first."""
        sr = self.sample_rate
        ages = [(onset - on, m) for on, m in self._ringing if on < onset]
        # a note started this recently is not cancelled: the candidate may be a second peak
        # of its own attack, which must read as that note (and be dropped as the same tone)
        return [m for age, m in ages if REPLUCK_MIN_S * sr <= age < RING_S * sr][::-1][:RING_NOTES]

    def _cancel_ringing(self, j: int, onset: int) -> None:
        """Read frame j with the notes still ringing cancelled out of it.

        A note played while others ring on other strings sounds in a mixture that YIN
        reads as one of the ringing notes, as their common sub-harmonic, or as no period
        at all. Subtracting the signal delayed by a ringing note's period (de Cheveigné's
        cancellation filter) removes that note and keeps the new one periodic at its own
        period. The frame's reading is replaced when the raw one is not a new pitch (it
        is aperiodic, or harmonically related to a ringing note, or the attack comes right
        after the sounding note's own) and the cancelled frame is periodic, loud enough,
        and not itself a ringing note.
        """
        ringing = self._ringing_before(onset)
        if not ringing:
            return
        act = self._active
        echo = act is not None and onset - act.onset < REPLUCK_MIN_S * self.sample_rate
        # a new pitch read plainly stands if it is cleaner than what the cancellation reads
        plain = not echo and self._pitched(j) and not any(_harmonic(self._midi_f(j) - m) for m in ringing)
        if plain and self._aper[j] < CLEANER:
            return  # nothing can read it more cleanly
        # the new note may repeat an older ringing note's pitch: each ringing note is tried
        # alone, then all of them, and the most periodic reading that passes is kept
        subsets = _subsets(ringing)
        reads = self._cancel_reads(j * self.hop, subsets)
        if not echo:
            if self._before is None or self._before[0] != onset:
                at = onset // self.dec - self.yin.span
                self._before = (onset, self._cancel_reads(at, subsets))
            befores = self._before[1]
        best = None
        for k, (subset, got) in enumerate(zip(subsets, reads)):
            if got is None:
                continue
            freq, aper, power = got
            if aper >= CANCELLED_PERIODIC or freq <= 0.0:
                continue
            m = 69.0 + 12.0 * math.log2(freq / self.a4)
            # each cancellation stage doubles a new tone's power on average (|1 - e^-jwP|^2)
            share = power / 2.0 ** len(subset) / max(self._power[j], 1e-20)
            if share < CANCELLED_SHARE or power < 2.0 * QUIET * self._floor[j] or any(abs(m - r) < 0.5 for r in subset):
                continue
            # new: louder than what the same cancellation leaves of the frame that ends at
            # the attack (a note older than those cancelled, still sounding, is not new; a
            # re-pluck of it is)
            if not echo and befores[k] is not None and power < CANCELLED_RISE * befores[k][2]:
                continue
            if best is None or aper < best[1]:
                best = (m, aper)
        if best is None:
            return
        m, aper = best
        if plain and (aper > self._aper[j] - CLEANER or abs(m - self._midi_f(j)) < 0.5):
            return
        raw = f"{self._midi_f(j):.2f} ({self._aper[j]:.2f})"
        self._log(self._frame_start(j), "cancel", f"{raw} -> {m:.2f} ({aper:.2f})")
        self._f0[j] = self.a4 * 2.0 ** ((m - 69.0) / 12.0)
        self._aper[j] = min(aper, PERIODIC * 0.99)

    def _reads_as(self, j: int, midi_f: float, ringing: list[float]) -> bool:
        """Does frame j read as ``midi_f`` once the notes ``ringing`` are cancelled out of
        it? (A sounding note mixed with older ones can read as another pitch, which must
        not pass for a hammer-on.)"""
        for got in self._cancel_reads(j * self.hop, _subsets(ringing)):
            if got is not None and got[1] < CANCELLED_PERIODIC and got[0] > 0.0:
                if abs(69.0 + 12.0 * math.log2(got[0] / self.a4) - midi_f) < 0.5:
                    return True
        return False

    def _cancel_reads(self, at: int, subsets: list[list[float]]) -> list[tuple[float, float, float] | None]:
        """YIN (freq, aperiodicity, power) of the pitch-band frame starting at low-rate sample
        ``at`` with each subset of notes cancelled out of it (None: history too short)."""
        span = self.yin.span
        rows, which = [], []
        for k, ringing in enumerate(subsets):
            periods = [self.low_rate / (self.a4 * 2.0 ** ((m - 69.0) / 12.0)) for m in ringing]
            start = at - sum(int(math.ceil(p)) + 1 for p in periods)
            if start < self._pitch.start or at + span > self._pitch.end:
                continue
            y = self._pitch.view(start, at + span).astype(np.float64)
            for p in periods:
                n, frac = int(math.floor(p)), p - math.floor(p)
                y = y[n + 1 :] - ((1.0 - frac) * y[1 : y.size - n] + frac * y[: y.size - n - 1])
            rows.append(y[-span:])
            which.append(k)
        out: list[tuple[float, float, float] | None] = [None] * len(subsets)
        if rows:
            freq, aper, power = self.yin.estimate_arrays(np.asarray(rows, dtype=np.float32))
            for i, k in enumerate(which):
                out[k] = (float(freq[i]), float(aper[i]), float(power[i]))
        return out

    def _lift_subharmonic(self, j: int) -> None:
        """Re-read frame j at a fraction 1/k of its period when the frame is periodic there.

        Two notes sounding together (the new one over one still ringing) repeat at a common
        multiple of their periods, and that dip can be deeper than the new note's own:
        Eb4 over a ringing C4 reads as Ab2, a third of Eb4's frequency. A single tone has no
        clean dip at a fraction of its period (its fundamental breaks it), so a clean dip
        at P/k means the frame's tone is k times higher. The ringing note's own period is
        not taken for the new one.
        """
        f0 = self._f0[j]
        if f0 <= 0.0:
            return
        tau = self.low_rate / f0
        hop, span, yin = self.hop, self.yin.span, self.yin
        if tau / 2 < yin.min_lag:
            return
        cmndf, _ = yin.cmndf(self._pitch.view(j * hop, j * hop + span)[None, :])
        row = cmndf[0]
        act = self._active
        best: tuple[float, float] | None = None
        for k in range(2, SUBHARMONIC_MAX + 1):
            t = tau / k
            lo, hi = max(yin.min_lag, int(math.floor(t * 0.98))), int(math.ceil(t * 1.02))
            if hi < lo:
                break
            i = lo + int(np.argmin(row[lo : hi + 1]))
            v = float(row[i])
            if v >= UNMIX_PERIODIC or not row[i - 1] >= v <= row[i + 1]:
                continue
            shift, _ = refine_dip(cmndf, np.array([i]))
            freq = self.low_rate / (i + float(shift[0]))
            midi = 69.0 + 12.0 * math.log2(freq / self.a4)
            if act is not None and abs(midi - act.midi_f) < 0.5:
                continue  # the ringing note itself
            best = (freq, v)
        if best is not None:
            self._log(
                self._frame_start(j), "lift", f"{self._midi_f(j):.2f} -> {69 + 12 * math.log2(best[0] / self.a4):.2f}"
            )
            self._f0[j] = best[0]
            self._aper[j] = min(self._aper[j], best[1])

    def _unmix(self, j: int, act: _Active) -> None:
        """Re-read frame j without the ringing note's period.

        Frame j reads the sounding note, or a common sub-harmonic of it and a new one
        (E5 over a ringing A4 is periodic at A3). Ignoring dips at multiples of the
        ringing period finds the new note's own period if there is one; if that reading
        is clearly periodic it replaces the frame's pitch.
        """
        old_period = self.low_rate / (self.a4 * 2.0 ** ((act.midi_f - 69.0) / 12.0))
        hop, span = self.hop, self.yin.span
        x = self._pitch.view(j * hop, j * hop + span)
        freq, aper, _ = self.yin.estimate_arrays(x[None, :], exclude_period=old_period)
        if aper[0] < UNMIX_PERIODIC:
            new = 69 + 12 * math.log2(freq[0] / self.a4)
            self._log(self._frame_start(j), "unmix", f"{self._midi_f(j):.2f} -> {new:.2f}")
            self._f0[j] = float(freq[0])
            self._aper[j] = min(float(aper[0]), PERIODIC * 0.99)

    def _confirm(self, cand: _Candidate, frames: list[int]) -> None:
        midi_f = float(np.median([self._midi_f(k) for k in frames]))
        power = float(np.mean([self._power[k] for k in frames]))
        emitted = max(self._frame_end(frames[-1]), cand.found_at)
        act = self._active
        soon = act is not None and cand.onset - act.onset < REPLUCK_MIN_S * self.sample_rate
        # right after a note's attack, a reading within a semitone or so of it is the note
        # wobbling (an overdriven low string), unless the attack really added power
        harmonic = act is not None and _harmonic(midi_f - act.midi_f)
        wobble = soon and not harmonic and abs(midi_f - act.midi_f) < WOBBLE_ST
        # near where the sounding note's pitch is now (a bend or a wide vibrato on its
        # way): the note moving, unless the attack really added power
        moving = (
            act is not None
            and not harmonic
            and abs(midi_f - act.last_m) < MOVING_ST
            and self._glided(act, cand.onset, midi_f)
        )
        if harmonic or wobble or moving:
            pre = self._pre_power(cand.onset)
            if wobble:  # the note may still be swelling: compare with its loudest so far
                heard = self._power[self._frame_at(act.onset) : self._frame_at(cand.onset)]
                pre = max([pre, *heard])
            if (soon and harmonic) or power < REPLUCK_GAIN * pre:
                # the same tone ringing on: a noise burst over it, or nothing
                self._log(cand.onset, "same tone", f"{midi_f:.2f} vs {act.midi_f:.2f} power {power:.2e} pre {pre:.2e}")
                self._decide_unpitched(cand, frames[-1] + 1)
                return
        self._start_note(cand.onset, midi_f, emitted, frames)

    def _glided(self, act: _Active, until: int, midi_f: float) -> bool:
        """Did the sounding note glide towards ``midi_f`` before full-rate sample ``until``
        (a bend: frames read the pitches in between; a hammer-on jumps)?"""
        lo, hi = sorted((act.midi_f, midi_f))
        between = sum(
            1
            for k in range(self._frame_at(act.onset), self._frame_at(until))
            if self._pitched(k, MIXED) and lo + 0.2 < self._midi_f(k) < hi - 0.2
        )
        return between >= GLIDE_FRAMES

    def _decide_unpitched(self, cand: _Candidate, j_end: int) -> None:
        """The candidate did not become a note: keep it as a noise event if it was one.

        A noise event is an attack that is broadband: the energy above 3 kHz jumps with
        it. Either its first frames are aperiodic and clearly above the background (a
        scrape or buzz in a gap), or it is a strong burst above 3 kHz over a tone that
        rings on unchanged (a scrape or pick click over a sounding string, which leaves
        the low band's periodicity intact). Its loudness is not compared with the ringing
        note's: a scrape is often quieter than the tone it interrupts.
        """
        j0 = self._frame_at(cand.onset)
        frames = [k for k in range(j0, min(j_end, j0 + NOISE_FRAMES, len(self._aper))) if self._measured(k)]
        aper = ",".join(f"{self._aper[k]:.2f}" for k in frames)
        noisy = [k for k in frames if self._aper[k] > APERIODIC]
        gain, share = self._hf_gain(cand.onset)
        if self._broadband(cand) and gain >= NOISE_HF_ADDS:
            pass  # a sharp attack, mostly above 3 kHz: broadband whatever the low band does
        elif not noisy or len(noisy) * 2 < len(frames):
            self._log(cand.onset, "dropped", f"not noisy: aper {aper}, {gain:.1f}x above 3 kHz ({share:.0%})")
            return
        elif max(self._power[k] for k in noisy) < NOISE_GAIN * QUIET * self._floor[noisy[0]]:
            self._log(cand.onset, "dropped", f"too quiet: aper {aper}")
            return
        elif gain < NOISE_HF_GAIN or share < NOISE_HF_SHARE:
            self._log(cand.onset, "dropped", f"no broadband burst ({gain:.1f}x above 3 kHz, {share:.0%}): aper {aper}")
            return
        last = noisy[-1] if noisy else j0  # it lasts while the frames stay aperiodic
        while last + 1 < min(len(self._aper), j0 + 4 * NOISE_FRAMES) and self._aper[last + 1] > APERIODIC:
            last += 1
        end = max(self._frame_end(last) - self.yin.window * self.dec, cand.onset + self.hop * self.dec)
        self._add_noise(cand.onset, end, f"aper {aper}, {gain:.1f}x above 3 kHz ({share:.0%} of the rise)")

    def _hf_gain(self, onset: int) -> tuple[float, float]:
        """How much the energy above 3 kHz grew at ``onset``, and which share of the
        whole band's growth that was (a scrape or pick click is mostly above 3 kHz; a
        metronome click or a pluck mostly below).

        Measured on the loudest ODF frame that ends within HF_AFTER_S after ``onset``
        against the last frame that ends before it (a later attack's burst must not count
        for this one).
        """
        n, hop = self.odf_frame, self.hop
        at = onset // self.dec
        before = (at - n) // hop
        last = min(len(self._hf) - 1, (at + int(HF_AFTER_S * self.low_rate) - n) // hop)
        if before < 0 or last <= before:
            return 1.0, 0.0  # nothing before it to compare with (the stream's first frames)
        k = max(range(before + 1, last + 1), key=self._hf.__getitem__)
        grew = self._band[k] - self._band[before]
        share = (self._hf[k] - self._hf[before]) / grew if grew > 0 else 0.0
        return self._hf[k] / max(self._hf[before], 1e-20), share

    def _start_note(self, onset: int, midi_f: float, emitted: int, frames: list[int]) -> None:
        self._close_active()
        note = self._make_note(onset, midi_f, emitted)
        self.notes.append(note)
        self._new.append(note)
        act = _Active(note=note, midi_f=midi_f, onset=onset, index=len(self.notes) - 1)
        for k in frames:
            act.add(self._midi_f(k))
        act.last_pitched = self._frame_end(frames[-1])
        act.last_m = midi_f
        self._active = act
        self._ringing = [*self._ringing[-(RING_NOTES + 1) :], [float(onset), midi_f]]
        self._log(onset, "note", f"{note.note} {note.cents:+.1f}c emitted {note.emitted_s:.3f}")

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
        if act is None or not self._measured(j):
            return
        end = self._frame_end(j)
        sr = self.sample_rate
        if self._pitched(j) or (self._pitched(j, MIXED) and abs(self._midi_f(j) - act.midi_f) < 0.3):
            m = self._midi_f(j)
            if _harmonic(m - act.midi_f) or _harmonic(m - act.majority):
                # the same tone (or a sub-harmonic reading of it): keep measuring
                act.legato.clear()
                act.last_m = m
                if end - act.onset < NOTE_MAX_S * sr:
                    act.add(m)
                act.last_pitched = end
                return
            if self._reads_as(j, act.midi_f, self._ringing_before(act.onset)):
                act.last_pitched = end  # the note mixed with older ones still ringing
                return
            # a different pitch without an attack: a hammer-on or pull-off jumps to it and
            # holds it; a bend glides there through the pitches in between
            run = act.legato
            if not run or abs(m - run[-1][1]) > 0.5:
                run.clear()
                act.run_from = act.last_m
            run.append((j, m))
            act.last_m = m
            held = run[-LEGATO_FRAMES:]
            if len(held) < LEGATO_FRAMES or max(v for _, v in held) - min(v for _, v in held) > LEGATO_STABLE:
                return
            lo, hi = sorted((act.midi_f, m))
            between = sum(1 for _, v in run[:-LEGATO_FRAMES] if lo + 0.2 < v < hi - 0.2)
            glided_in = abs(act.run_from - act.midi_f) > 0.25  # already moving before the run
            if hi - lo < 0.75:  # a wide vibrato or a slight push: the same note
                for _, v in run:
                    act.add(v)
                act.last_pitched = end
                run.clear()
                return
            if between >= GLIDE_FRAMES or glided_in:
                # a bend (or a slide) that reached its pitch: the same note, now at its target
                self._log(self._frame_start(j), "bend", f"{act.midi_f:.2f} -> {m:.2f}")
                for _, v in run:
                    act.add(v)
                act.midi_f = m
                act.last_pitched = end
                run.clear()
                return
            onset = self._frame_start(held[0][0]) + self.yin.window * self.dec // 2
            self._log(onset, "legato", f"{act.midi_f:.2f} -> {m:.2f}")
            self._start_note(onset, float(np.median([v for _, v in held])), end, [k for k, _ in held])
            return
        if end - act.last_pitched > NOTE_SILENT_S * sr:
            self._close_active()

    def _close_active(self) -> None:
        """The sounding note is over: settle its pitch over everything heard of it."""
        act, self._active = self._active, None
        if act is None:
            return
        settled = _settled_pitch(act.pitches)
        for entry in self._ringing:
            if entry[0] == act.onset:
                entry[1] = settled
        final = self._make_note(act.onset, settled, int(round(act.note.emitted_s * self.sample_rate)))
        self.notes[act.index] = replace(final, final_s=self.time_s)


class _Series:
    """A per-frame list indexed by absolute frame number that forgets its oldest frames.

    The engine reads frames by their number since the stream began (``series[j]``,
    ``series[a:b]``, ``len(series)`` = frames so far); :meth:`forget_before` drops frames it
    will never read again, so an hour-long session does not keep an hour of frames.
    """

    __slots__ = ("_items", "_start")

    def __init__(self) -> None:
        self._items: list[float] = []
        self._start = 0  # absolute number of self._items[0]

    def __len__(self) -> int:
        return self._start + len(self._items)

    def __getitem__(self, index: int | slice) -> Any:
        start = self._start
        if isinstance(index, slice):
            lo = 0 if index.start is None else index.start
            hi = len(self) if index.stop is None else index.stop
            if lo < start:
                raise IndexError(f"frame {lo} is forgotten (frames from {start} are kept)")
            return self._items[lo - start : max(lo, hi) - start]
        if index < 0:
            return self._items[index]
        if index < start:
            raise IndexError(f"frame {index} is forgotten (frames from {start} are kept)")
        return self._items[index - start]

    def __setitem__(self, index: int, value: float) -> None:
        if index < self._start:
            raise IndexError(f"frame {index} is forgotten (frames from {self._start} are kept)")
        self._items[index - self._start] = value

    def extend(self, values: list[float]) -> None:
        self._items.extend(values)

    def forget_before(self, frame: int) -> None:
        """Drop the frames before *frame* (in chunks, so it costs nothing per block)."""
        drop = frame - self._start
        if drop > max(1024, len(self._items) // 2):
            del self._items[:drop]
            self._start = frame


class _History:
    """A growing window onto the newest samples of a stream, addressed by absolute index."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.data = np.zeros(4 * keep, dtype=np.float32)
        self.start = 0  # absolute index of data[0]
        self.end = 0  # absolute index one past the newest sample

    def append(self, block: np.ndarray) -> None:
        used = self.end - self.start
        if used + block.size > self.data.size:
            keep = min(used, self.keep)
            if keep + block.size > self.data.size:
                grown = np.zeros(2 * (keep + block.size), dtype=np.float32)
                grown[:keep] = self.data[used - keep : used]
                self.data = grown
            else:
                self.data[:keep] = self.data[used - keep : used]
            self.start = self.end - keep
            used = keep
        self.data[used : used + block.size] = block
        self.end += block.size

    def view(self, start: int, stop: int) -> np.ndarray:
        if start < self.start:
            raise IndexError("history too short for the requested samples")
        return self.data[start - self.start : stop - self.start]


def _lowpass(taps: int, cutoff: float) -> np.ndarray:
    """Linear-phase low-pass FIR: a Hamming-windowed sinc with unit gain at DC, ``cutoff`` as
    a fraction of Nyquist (what ``scipy.signal.firwin(taps, cutoff)`` designs, without
    importing scipy.signal, which costs a whole process more than analysing a long take)."""
    m = np.arange(taps) - 0.5 * (taps - 1)
    h = cutoff * np.sinc(cutoff * m) * np.hamming(taps)
    return (h / h.sum()).astype(np.float32)


def _fir(
    taps: np.ndarray, tail: np.ndarray, block: np.ndarray, first: int = 0, step: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Causal FIR filter of ``block`` continuing from ``tail`` (the last len(taps)-1 inputs).

    Only the outputs at block indices ``first``, ``first + step``, ... are computed (a
    decimating filter computes just the samples it keeps). Returns them and the new tail.
    """
    ext = np.concatenate([tail, block])
    if step == 1 and first == 0:
        out = np.convolve(ext, taps, mode="valid")
    else:
        windows = np.lib.stride_tricks.sliding_window_view(ext, taps.size)[first::step]
        out = windows @ taps[::-1]
    return out, ext[ext.size - tail.size :]


def _frames(x: np.ndarray, size: int, hop: int) -> np.ndarray:
    """Read-only strided view of the full frames of 1-D ``x``, one every ``hop`` samples."""
    count = 1 + (x.size - size) // hop
    step = x.strides[0]
    return np.lib.stride_tricks.as_strided(x, (count, size), (hop * step, step), writeable=False)


def _subsets(ringing: list[float]) -> list[list[float]]:
    """The ringing notes to cancel, tried in turn: each alone, then (if several) all."""
    return [[m] for m in ringing] + ([list(ringing)] if len(ringing) > 1 else [])


def _harmonic(interval: float) -> bool:
    """True when two pitches are the same note or one reads as a sub-harmonic of the other.

    YIN's failure mode on chorused or overlapping tones is a lag k times the period
    (an octave, a twelfth, ... below, k <= 10); such readings belong to the same note.
    """
    ratio = 2.0 ** (abs(interval) / 12.0)
    k = round(ratio)
    return 1 <= k <= 10 and abs(12.0 * math.log2(ratio / k)) < 0.5


def _settled_pitch(pitches: list[float]) -> float:
    """The note's pitch from all its frames.

    Single frames can read a sub-harmonic (a chorused tone, a previous note still
    ringing: the mixture repeats at a common multiple of both periods) but hardly ever
    a harmonic above. So among the semitones that a good share of the frames agree on,
    take the highest one that the most common reading is a sub-harmonic of, and the
    median of the frames within it.
    """
    arr = np.asarray(pitches)
    semis, counts = np.unique(np.round(arr), return_counts=True)
    common = float(semis[counts == counts.max()].max())
    enough = max(2, int(np.ceil(0.25 * arr.size)))
    candidates = [float(s) for s, c in zip(semis, counts) if c >= enough and s >= common and _harmonic(s - common)]
    best = max(candidates, default=common)
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
    block_size: int = 16384,
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
    block_size: int = 16384,
) -> AnalysisResult:
    """Read an audio file (WAV, FLAC, OGG...) and analyze it."""
    from .sources import read_audio

    samples, sr = read_audio(path)
    return analyze_samples(
        samples, sr, bpm=bpm, key=key, scale=scale, subdivision=subdivision, a4=a4, block_size=block_size
    )
