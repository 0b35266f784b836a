"""Accuracy, latency and speed of the analysis engine against peers on the ground-truth corpus.

    python -m bench.analysis [CORPUS_DIR] [--engines fretcoach,aubio,librosa] [--json OUT]
                             [--markdown] [--per-take [ENGINE]] [--only SUBSTR]

CORPUS_DIR defaults to ``../shared/corpus`` next to the repository. Every ``*.json``
ground-truth file under it (recursively) is paired with the ``.flac`` beside it (format:
the corpus README). Every engine goes through the same scoring code (:func:`score_take`,
built on one matching function, :func:`match_onsets`); the figures are explained in
``bench/README.md``.

Engines:

* ``fretcoach`` -- :func:`fretcoach_desktop.audio.analyzer.analyze_samples`, the engine the
  GUI and the CLI use;
* ``aubio`` -- aubio's onset detector and yinfft pitch tracker fed hop-size blocks from a
  Python loop, the way aubio is used from Python (causal, so it has a latency);
* ``librosa`` -- ``librosa.onset.onset_detect`` + ``librosa.pyin`` on the whole file
  (offline: no latency);
* ``truth`` -- the ground truth itself, as a sanity check of the harness (must score
  perfectly: F1 1.0, every metric MAE 0).

The peers share everything downstream of "onset time + fundamental frequency" with our
engine (midi/cents, key/scale, metronome grid, metrics), so the comparison is about
hearing the notes, not about the bookkeeping. They report no noise events.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fretcoach_desktop.audio.types import AnalysisResult, Metrics, NoiseEvent, Note

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = (REPO_ROOT / ".." / "shared" / "corpus").resolve()

MATCH_TOLERANCE_S = 0.050  # onset match window (corpus README)
DETUNE_THRESHOLD_CENTS = 10.0  # pitch_accuracy is perfect up to 10 cents (DESIGN.md)
NOISE_TOLERANCE_S = 0.050  # a detected noise event matches a truth one if they overlap +-50 ms
METRIC_NAMES = ("pitch_accuracy", "scale_conformity", "timing_stability", "noise_control")
ALL_ENGINES = ("fretcoach", "aubio", "librosa")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- corpus


@dataclass
class Take:
    name: str  # path of the JSON relative to the corpus dir, without suffix
    json_path: Path
    audio_path: Path
    bpm: float
    subdivision: int
    key: str
    scale: str
    program: str
    timing_sd_ms: float
    notes: list[Note]
    planted: list[str]
    noise_events: list[NoiseEvent]
    meta: dict = field(repr=False, default_factory=dict)

    def describe(self) -> str:
        sub = "1/4" if self.subdivision == 1 else f"1/{4 * self.subdivision}"
        return (
            f"{self.bpm:g} bpm {sub}, {self.key} {self.scale}, {self.program}, "
            f"timing sd {self.timing_sd_ms:g} ms, {len(self.notes)} notes, "
            f"{len(self.noise_events)} noise events"
        )


def _note_name(midi: int, key: str, scale: str) -> str:
    """Spelled the way the engine spells it in this key (flats in flat keys)."""
    from fretcoach_desktop.audio import theory

    prefer = getattr(theory, "key_prefers_flats", None)
    flats = bool(prefer(key, scale)) if prefer is not None else False
    return theory.note_name(midi, prefer_flats=flats) if flats else theory.note_name(midi)


def load_take(json_path: Path, corpus_dir: Path) -> Take:
    meta = json.loads(json_path.read_text())
    audio_path = json_path.with_name(meta.get("file") or json_path.with_suffix(".flac").name)
    if not audio_path.exists():
        audio_path = json_path.with_suffix(".flac")
    if not audio_path.exists():
        raise FileNotFoundError(f"no audio beside {json_path}")
    notes: list[Note] = []
    planted: list[str] = []
    for n in sorted(meta["notes"], key=lambda n: n["onset_s"]):
        onset = float(n["onset_s"])
        notes.append(
            Note(
                onset_s=onset,
                emitted_s=onset,
                midi=int(n["midi"]),
                note=_note_name(int(n["midi"]), str(meta["key"]), str(meta["scale"])),
                cents=float(n["cents"]),
                in_scale=bool(n["in_scale"]),
                grid_s=float(n["grid_s"]),
                timing_offset_ms=float(n["timing_offset_ms"]),
            )
        )
        planted.append(str(n.get("planted", "none")))
    noise = [NoiseEvent(float(e["start_s"]), float(e["end_s"])) for e in meta.get("noise_events", [])]
    return Take(
        name=str(json_path.relative_to(corpus_dir).with_suffix("")),
        json_path=json_path,
        audio_path=audio_path,
        bpm=float(meta["bpm"]),
        subdivision=int(meta.get("subdivision", 1)),
        key=str(meta["key"]),
        scale=str(meta["scale"]),
        program=str(meta.get("program", "?")),
        timing_sd_ms=float(meta.get("timing_sd_ms", float("nan"))),
        notes=notes,
        planted=planted,
        noise_events=sorted(noise, key=lambda e: e.start_s),
        meta=meta,
    )


def discover(corpus_dir: Path, only: Sequence[str] = ()) -> list[Take]:
    takes = []
    for p in sorted(corpus_dir.rglob("*.json")):
        if p.parent == corpus_dir and p.name == "samples.json":
            continue  # the hard corpus's SoundFont measurements, not a take
        rel = str(p.relative_to(corpus_dir))
        if only and not any(s in rel for s in only):
            continue
        takes.append(load_take(p, corpus_dir))
    return takes


def truth_metrics(take: Take) -> Metrics:
    from fretcoach_desktop.audio.metrics import compute_metrics

    return compute_metrics(take.notes, take.noise_events)


# --------------------------------------------------------------------------- engines


class Engine:
    """Turns one take's samples into an AnalysisResult. ``causal`` engines report emitted_s."""

    name = "?"
    causal = True

    def prepare(self) -> None:  # imports, so that a missing peer fails before any work
        pass

    def analyze(self, take: Take, samples: np.ndarray, sr: int) -> AnalysisResult:
        raise NotImplementedError


def _downstream(take: Take, events: Iterable[tuple[float, float, float]]) -> tuple[list[Note], Metrics]:
    """(onset_s, emitted_s, freq_hz) from a peer -> Notes + Metrics through our theory code."""
    from fretcoach_desktop.audio.metrics import compute_metrics
    from fretcoach_desktop.audio.metronome import Grid
    from fretcoach_desktop.audio.theory import freq_to_midi_cents, scale_pitch_classes

    pcs = scale_pitch_classes(take.key, take.scale)
    grid = Grid(take.bpm, take.subdivision)
    notes = []
    for onset, emitted, freq in events:
        midi, cents = freq_to_midi_cents(freq, 440.0)
        grid_s, offset_ms = grid.nearest(onset)
        notes.append(
            Note(
                onset_s=float(onset),
                emitted_s=float(emitted),
                midi=int(midi),
                note=_note_name(int(midi), take.key, take.scale),
                cents=float(cents),
                in_scale=(int(midi) % 12) in pcs,
                grid_s=float(grid_s),
                timing_offset_ms=float(offset_ms),
                freq_hz=float(freq),
            )
        )
    return notes, compute_metrics(notes, [])


class FretCoachEngine(Engine):
    name = "fretcoach"
    causal = True

    def prepare(self) -> None:
        from fretcoach_desktop.audio.analyzer import analyze_samples

        self._analyze = analyze_samples

    def analyze(self, take, samples, sr):
        return self._analyze(samples, sr, bpm=take.bpm, key=take.key, scale=take.scale, subdivision=take.subdivision)


def causality_cuts(take: Take, samples: np.ndarray, sr: int, after_s: float = 0.005) -> tuple[int, list[str]]:
    """Cut the take ``after_s`` after each note's ``emitted_s``: the shortened run must report it.

    ``emitted_s`` promises that the note was decided from the samples up to then; a run that
    ends there (finish() at the end of the stream) must therefore report the note, at the
    same onset. One pass per take: the engine is fed up to each cut, a copy of it is
    finished and checked, and the original goes on. Returns (cuts, failures, revisions):
    a revision is a note the shortened run names differently from the whole run (its
    pitch settles over the whole note, which the cut run did not hear).
    """
    import copy

    from fretcoach_desktop.audio.analyzer import StreamingAnalyzer

    def engine() -> StreamingAnalyzer:
        return StreamingAnalyzer(sr, bpm=take.bpm, key=take.key, scale=take.scale, subdivision=take.subdivision)

    full = engine()
    for start in range(0, samples.size, 4096):
        full.process(samples[start : start + 4096])
    full.finish()
    cuts = sorted((min(samples.size, math.ceil((n.emitted_s + after_s) * sr)), n) for n in full.notes)
    live, fed, failures, revised = engine(), 0, [], []
    for cut, note in cuts:
        while fed < cut:
            live.process(samples[fed : min(cut, fed + 4096)])
            fed = min(cut, fed + 4096)
        probe = copy.deepcopy(live)
        probe.finish()
        same = [m for m in probe.notes if abs(m.onset_s - note.onset_s) < 0.0015]
        where = f"{take.name}: {note.note} at {note.onset_s:.3f}s"
        if not same:
            failures.append(f"{where} (emitted {note.emitted_s:.3f}s) lost when cut at {cut / sr:.3f}s")
        elif same[0].midi != note.midi:
            revised.append(f"{where} reported as {same[0].note} when cut at {cut / sr:.3f}s")
    return len(cuts), failures, revised


class TruthEngine(Engine):
    """The ground truth as an engine: the harness must give it a perfect score."""

    name = "truth"
    causal = True  # emitted_s = onset_s: latency 0

    def analyze(self, take, samples, sr):
        return AnalysisResult(
            notes=tuple(take.notes),
            noise_events=tuple(take.noise_events),
            metrics=truth_metrics(take),
            duration_s=len(samples) / sr,
            sample_rate=sr,
        )


class AubioEngine(Engine):
    """aubio as a Python user would stream it: onset("default") + pitch("yinfft"), hop 256.

    For every onset, the pitch is the median of the yinfft estimates over the ~60 ms of
    blocks that follow the block in which the onset was reported (cut short by the next
    onset), as aubio's author recommends for a segment (aubio/aubio#115: keep the confident
    values, take the median). The confidence gate is yinfft's own tolerance (0.8): a frame
    whose YIN minimum is not below it returns 0 Hz and is left out. ``get_confidence()`` is
    not usable with yinfft in aubio 0.4.x: it reads 0 for most of the guitar range
    (aubio/aubio#167, peak_pos is only updated for periods shorter than 1/1300 s), so a
    threshold on it would throw every estimate away. The note is emitted when its window
    is complete; an onset without any pitched frame is not a note.
    """

    name = "aubio"
    causal = True
    buf_onset = 1024
    buf_pitch = 2048
    hop = 256
    pitch_window_s = 0.060
    tolerance = 0.8

    def prepare(self) -> None:
        import aubio

        self._aubio = aubio

    def analyze(self, take, samples, sr):
        aubio = self._aubio
        hop = self.hop
        onset = aubio.onset("default", self.buf_onset, hop, sr)
        pitch = aubio.pitch("yinfft", self.buf_pitch, hop, sr)
        pitch.set_unit("Hz")
        pitch.set_tolerance(self.tolerance)

        n_blocks = -(-len(samples) // hop)
        padded = np.zeros(n_blocks * hop, dtype=np.float32)
        padded[: len(samples)] = samples
        events: list[tuple[float, float, float]] = []
        pending: list | None = None  # [onset_s, reported_at_s, [confident f0 estimates]]

        def finish(p: list, now: float) -> None:
            if p[2]:
                events.append((p[0], now, float(np.median(p[2]))))

        for i in range(n_blocks):
            block = padded[i * hop : (i + 1) * hop]
            now = (i + 1) * hop / sr  # stream time once this block has been fed
            is_onset = onset(block)[0] != 0
            f0 = float(pitch(block)[0])  # 0.0 when the frame fails the yinfft tolerance
            if is_onset:
                if pending is not None:
                    finish(pending, now)
                pending = [onset.get_last_s(), now, []]
                continue
            if pending is not None:
                if f0 > 0:
                    pending[2].append(f0)
                if now - pending[1] >= self.pitch_window_s - 1e-9:
                    finish(pending, now)
                    pending = None
        if pending is not None:
            finish(pending, n_blocks * hop / sr)

        notes, metrics = _downstream(take, events)
        return AnalysisResult(tuple(notes), (), metrics, len(samples) / sr, sr)


class LibrosaEngine(Engine):
    """librosa's defaults: onset_detect (units='time', no backtrack) + pyin (E2..E6, hop 256).

    For every onset, the pitch is the median f0 of the voiced pyin frames from onset + 10 ms
    until the next onset or onset + 150 ms; an onset with no voiced frame is not a note.
    Offline (needs the whole file), so it has no latency figure.
    """

    name = "librosa"
    causal = False
    hop = 256

    def prepare(self) -> None:
        import librosa

        self._librosa = librosa

    def analyze(self, take, samples, sr):
        librosa = self._librosa
        y = np.asarray(samples, dtype=np.float32)
        onsets = librosa.onset.onset_detect(y=y, sr=sr, units="time", backtrack=False)
        f0, voiced, _ = librosa.pyin(
            y,
            fmin=librosa.note_to_hz("E2"),
            fmax=librosa.note_to_hz("E6"),
            sr=sr,
            frame_length=2048,
            hop_length=self.hop,
        )
        times = librosa.times_like(f0, sr=sr, hop_length=self.hop)
        ok = voiced & np.isfinite(f0)
        events = []
        for k, t in enumerate(onsets):
            end = t + 0.150
            if k + 1 < len(onsets):
                end = min(end, onsets[k + 1])
            sel = ok & (times >= t + 0.010) & (times < end)
            if sel.any():
                events.append((float(t), float("nan"), float(np.median(f0[sel]))))
        notes, metrics = _downstream(take, events)
        return AnalysisResult(tuple(notes), (), metrics, len(samples) / sr, sr)


ENGINES: dict[str, Callable[[], Engine]] = {
    "fretcoach": FretCoachEngine,
    "aubio": AubioEngine,
    "librosa": LibrosaEngine,
    "truth": TruthEngine,
}


# --------------------------------------------------------------------------- scoring


def match_onsets(
    truth_s: Sequence[float], detected_s: Sequence[float], tolerance_s: float = MATCH_TOLERANCE_S
) -> list[tuple[int, int]]:
    """One-to-one matching of detected to truth onsets within ``tolerance_s``.

    All candidate pairs within the tolerance are taken closest first; each truth and each
    detected onset is used at most once. Returns (truth index, detected index) pairs sorted
    by truth index. This is the only matching function: every figure is built on it.
    """
    t = np.asarray(truth_s, dtype=float)
    d = np.asarray(detected_s, dtype=float)
    if not len(t) or not len(d):
        return []
    # candidates via a sorted search: for each truth onset, detected onsets in [t-tol, t+tol]
    order = np.argsort(d, kind="stable")
    ds = d[order]
    lo = np.searchsorted(ds, t - tolerance_s, side="left")
    hi = np.searchsorted(ds, t + tolerance_s, side="right")
    pairs = []
    for ti in range(len(t)):
        for j in range(lo[ti], hi[ti]):
            di = int(order[j])
            dist = abs(d[di] - t[ti])
            if dist <= tolerance_s:
                pairs.append((dist, ti, di))
    pairs.sort()
    used_t: set[int] = set()
    used_d: set[int] = set()
    out = []
    for _, ti, di in pairs:
        if ti in used_t or di in used_d:
            continue
        used_t.add(ti)
        used_d.add(di)
        out.append((ti, di))
    out.sort()
    return out


def match_noise(
    truth: Sequence[NoiseEvent], detected: Sequence[NoiseEvent], tolerance_s: float = NOISE_TOLERANCE_S
) -> list[tuple[int, int]]:
    """One-to-one matching of noise events that overlap (with ``tolerance_s`` slack), closest centres first."""
    pairs = []
    for ti, te in enumerate(truth):
        for di, de in enumerate(detected):
            if de.start_s <= te.end_s + tolerance_s and de.end_s >= te.start_s - tolerance_s:
                dist = abs((de.start_s + de.end_s) / 2 - (te.start_s + te.end_s) / 2)
                pairs.append((dist, ti, di))
    pairs.sort()
    used_t: set[int] = set()
    used_d: set[int] = set()
    out = []
    for _, ti, di in pairs:
        if ti not in used_t and di not in used_d:
            used_t.add(ti)
            used_d.add(di)
            out.append((ti, di))
    return sorted(out)


def _metric_error(engine: float | None, truth: float | None) -> float | None:
    """|engine - truth|; a null engine metric where the truth has one counts as 0."""
    if truth is None and engine is None:
        return 0.0
    if truth is None:
        return None  # not expected with the corpus: every take has notes
    return abs((engine if engine is not None else 0.0) - truth)


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


@dataclass
class TakeScore:
    take: str
    engine: str
    duration_s: float
    elapsed_s: float
    n_truth: int
    n_detected: int
    tp: int
    onset_err_ms: list[float]
    right_midi: int
    cents_err: list[float]
    detuned_total: int
    detuned_hit: int
    offscale_total: int
    offscale_hit: int
    inscale_matched: int
    false_offscale: int
    timing_err_ms: list[float]
    grid_mismatch: int
    latency_ms: list[float]
    truth_metrics: dict
    engine_metrics: dict
    metric_err: dict
    noise_truth: int
    noise_detected: int
    noise_matched: int
    # details for --per-take
    misses: list[tuple] = field(default_factory=list)
    false_positives: list[tuple] = field(default_factory=list)
    wrong_pitch: list[tuple] = field(default_factory=list)
    detune_misses: list[tuple] = field(default_factory=list)
    offscale_misses: list[tuple] = field(default_factory=list)
    false_offscale_list: list[tuple] = field(default_factory=list)
    timing_outliers: list[tuple] = field(default_factory=list)
    noise_misses: list[tuple] = field(default_factory=list)
    noise_false: list[tuple] = field(default_factory=list)

    @property
    def fp(self) -> int:
        return self.n_detected - self.tp

    @property
    def fn(self) -> int:
        return self.n_truth - self.tp

    def f1(self) -> float:
        return _f1(self.tp, self.fp, self.fn)

    def summary(self) -> dict:
        return {
            "take": self.take,
            "duration_s": round(self.duration_s, 3),
            "elapsed_s": round(self.elapsed_s, 4),
            "truth_notes": self.n_truth,
            "detected_notes": self.n_detected,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "onset_f1": round(self.f1(), 4),
            "note_accuracy": round(self.right_midi / self.n_truth, 4) if self.n_truth else None,
            "median_onset_error_ms": _round(_median(self.onset_err_ms), 2),
            "median_cents_error": _round(_median(self.cents_err), 2),
            "median_timing_error_ms": _round(_median(self.timing_err_ms), 2),
            "detuned": [self.detuned_hit, self.detuned_total],
            "off_scale": [self.offscale_hit, self.offscale_total],
            "false_off_scale": [self.false_offscale, self.inscale_matched],
            "grid_mismatches": self.grid_mismatch,
            "truth_metrics": self.truth_metrics,
            "engine_metrics": self.engine_metrics,
            "metric_abs_error": self.metric_err,
            "noise_events": {"truth": self.noise_truth, "detected": self.noise_detected, "matched": self.noise_matched},
            "misses": [list(x) for x in self.misses],
            "false_positives": [list(x) for x in self.false_positives],
            "wrong_pitch": [list(x) for x in self.wrong_pitch],
        }


def score_take(
    take: Take,
    result: AnalysisResult,
    *,
    engine: str,
    causal: bool,
    elapsed_s: float,
    tolerance_s: float = MATCH_TOLERANCE_S,
) -> TakeScore:
    truth = take.notes
    det = sorted(result.notes, key=lambda n: n.onset_s)
    pairs = match_onsets([n.onset_s for n in truth], [n.onset_s for n in det], tolerance_s)
    matched_t = {ti for ti, _ in pairs}
    matched_d = {di for _, di in pairs}

    onset_err, cents_err, timing_err = [], [], []
    right_midi = detuned_hit = offscale_hit = inscale_matched = false_off = grid_mismatch = 0
    wrong_pitch, detune_misses, offscale_misses, false_off_list, timing_outliers = [], [], [], [], []
    by_truth = dict(pairs)
    for ti, di in pairs:
        t, d = truth[ti], det[di]
        onset_err.append(abs(d.onset_s - t.onset_s) * 1000)
        if d.midi == t.midi:
            right_midi += 1
            cents_err.append(abs(d.cents - t.cents))
        else:
            wrong_pitch.append((round(t.onset_s, 4), t.note, t.midi, d.note, d.midi, round(d.cents, 1)))
        err = abs(d.timing_offset_ms - t.timing_offset_ms)
        timing_err.append(err)
        if abs(d.grid_s - t.grid_s) > 1e-3:
            grid_mismatch += 1
        if err > 15:
            timing_outliers.append(
                (
                    round(t.onset_s, 4),
                    round(t.timing_offset_ms, 1),
                    round(d.timing_offset_ms, 1),
                    round(d.grid_s - t.grid_s, 3),
                )
            )
        if t.in_scale:
            inscale_matched += 1
            if not d.in_scale:
                false_off += 1
                false_off_list.append((round(t.onset_s, 4), t.note, d.note))
    detuned_total = offscale_total = 0
    for ti, t in enumerate(truth):
        if take.planted[ti] == "detuned":
            detuned_total += 1
            di = by_truth.get(ti)
            d = det[di] if di is not None else None
            ok = (
                d is not None
                and d.midi == t.midi
                and abs(d.cents) > DETUNE_THRESHOLD_CENTS
                and _sign(d.cents) == _sign(t.cents)
            )
            detuned_hit += ok
            if not ok:
                detune_misses.append(
                    (
                        round(t.onset_s, 4),
                        t.note,
                        round(t.cents, 1),
                        None if d is None else d.note,
                        None if d is None else round(d.cents, 1),
                    )
                )
        if not t.in_scale:
            offscale_total += 1
            di = by_truth.get(ti)
            ok = di is not None and not det[di].in_scale
            offscale_hit += ok
            if not ok:
                offscale_misses.append((round(t.onset_s, 4), t.note, None if di is None else det[di].note))

    latency = []
    if causal:
        latency = [(n.emitted_s - n.onset_s) * 1000 for n in det if math.isfinite(n.emitted_s)]

    tm = truth_metrics(take)
    em = result.metrics
    truth_m = {k: getattr(tm, k) for k in METRIC_NAMES}
    eng_m = {k: getattr(em, k) for k in METRIC_NAMES}
    metric_err = {k: _metric_error(eng_m[k], truth_m[k]) for k in METRIC_NAMES}

    npairs = match_noise(take.noise_events, result.noise_events)
    nt = {a for a, _ in npairs}
    nd = {b for _, b in npairs}

    return TakeScore(
        take=take.name,
        engine=engine,
        duration_s=result.duration_s,
        elapsed_s=elapsed_s,
        n_truth=len(truth),
        n_detected=len(det),
        tp=len(pairs),
        onset_err_ms=onset_err,
        right_midi=right_midi,
        cents_err=cents_err,
        detuned_total=detuned_total,
        detuned_hit=detuned_hit,
        offscale_total=offscale_total,
        offscale_hit=offscale_hit,
        inscale_matched=inscale_matched,
        false_offscale=false_off,
        timing_err_ms=timing_err,
        grid_mismatch=grid_mismatch,
        latency_ms=latency,
        truth_metrics=truth_m,
        engine_metrics=eng_m,
        metric_err=metric_err,
        noise_truth=len(take.noise_events),
        noise_detected=len(result.noise_events),
        noise_matched=len(npairs),
        misses=[(round(t.onset_s, 4), t.note, take.planted[i]) for i, t in enumerate(truth) if i not in matched_t],
        false_positives=[
            (round(d.onset_s, 4), d.note, round(d.cents, 1), _nearest_truth_ms(d, truth))
            for j, d in enumerate(det)
            if j not in matched_d
        ],
        wrong_pitch=wrong_pitch,
        detune_misses=detune_misses,
        offscale_misses=offscale_misses,
        false_offscale_list=false_off_list,
        timing_outliers=timing_outliers,
        noise_misses=[(round(e.start_s, 4), round(e.end_s, 4)) for i, e in enumerate(take.noise_events) if i not in nt],
        noise_false=[
            (round(e.start_s, 4), round(e.end_s, 4)) for j, e in enumerate(result.noise_events) if j not in nd
        ],
    )


def _nearest_truth_ms(d: Note, truth: Sequence[Note]) -> float | None:
    if not truth:
        return None
    best = min(truth, key=lambda t: abs(t.onset_s - d.onset_s))
    return round((d.onset_s - best.onset_s) * 1000, 1)


# --------------------------------------------------------------------------- aggregation


def _median(xs: Sequence[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _round(x: float | None, nd: int) -> float | None:
    return None if x is None else round(x, nd)


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else 1.0


def aggregate(scores: Sequence[TakeScore], causal: bool) -> dict:
    tp = sum(s.tp for s in scores)
    fp = sum(s.fp for s in scores)
    fn = sum(s.fn for s in scores)
    n_truth = sum(s.n_truth for s in scores)
    lat = [x for s in scores for x in s.latency_ms]
    audio = sum(s.duration_s for s in scores)
    wall = sum(s.elapsed_s for s in scores)
    fig = {
        "takes": len(scores),
        "audio_s": audio,
        "truth_notes": n_truth,
        "detected_notes": sum(s.n_detected for s in scores),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "onset_precision": _ratio(tp, tp + fp),
        "onset_recall": _ratio(tp, tp + fn),
        "onset_f1": _f1(tp, fp, fn),
        "median_onset_error_ms": _median([x for s in scores for x in s.onset_err_ms]),
        "note_accuracy": _ratio(sum(s.right_midi for s in scores), n_truth),
        "median_cents_error": _median([x for s in scores for x in s.cents_err]),
        "detune_recall": _ratio(sum(s.detuned_hit for s in scores), sum(s.detuned_total for s in scores)),
        "off_scale_recall": _ratio(sum(s.offscale_hit for s in scores), sum(s.offscale_total for s in scores)),
        "false_off_scale_rate": _ratio(sum(s.false_offscale for s in scores), sum(s.inscale_matched for s in scores)),
        "median_timing_error_ms": _median([x for s in scores for x in s.timing_err_ms]),
        "grid_mismatches": sum(s.grid_mismatch for s in scores),
        "noise_recall": _ratio(sum(s.noise_matched for s in scores), sum(s.noise_truth for s in scores)),
        "noise_precision": _ratio(sum(s.noise_matched for s in scores), sum(s.noise_detected for s in scores)),
        "median_latency_ms": _median(lat) if causal else None,
        "p95_latency_ms": float(np.percentile(lat, 95)) if (causal and lat) else None,
        "speed_x_realtime": (audio / wall) if wall > 0 else None,
        "wall_s": wall,
        "offline": not causal,
    }
    for k in METRIC_NAMES:
        errs = [s.metric_err[k] for s in scores if s.metric_err[k] is not None]
        fig[f"mae_{k}"] = sum(errs) / len(errs) if errs else None
    return fig


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    fmt: Callable[[dict], str]
    target: str = ""
    check: Callable[[float, dict], bool] | None = None  # (value, all engines' figures) -> ok


def _num(key: str, spec: str, unit: str = "") -> Callable[[dict], str]:
    def f(fig: dict) -> str:
        v = fig.get(key)
        return "n/a" if v is None else f"{v:{spec}}{unit}"

    return f


def _latency(key: str) -> Callable[[dict], str]:
    def f(fig: dict) -> str:
        if fig.get("offline"):
            return "n/a (offline)"
        v = fig.get(key)
        return "n/a" if v is None else f"{v:.1f}"

    return f


def _speed_ok(v: float, every: dict) -> bool | None:
    ref = every.get("aubio", {}).get("speed_x_realtime")
    return None if ref is None else v >= ref


def _speed_fmt(fig: dict) -> str:
    if fig.get("engine") == "truth":
        return "n/a"
    v = fig.get("speed_x_realtime")
    return "n/a" if v is None else f"{v:.1f}x"


ROWS: tuple[Row, ...] = (
    Row("notes", "notes detected / truth", lambda f: f"{f['detected_notes']} / {f['truth_notes']}"),
    Row("onset_f1", "onset F1 (50 ms)", _num("onset_f1", ".3f"), ">= 0.99", lambda v, _: v >= 0.99),
    Row("onset_precision", "onset precision", _num("onset_precision", ".3f")),
    Row("onset_recall", "onset recall", _num("onset_recall", ".3f")),
    Row("median_onset_error_ms", "median onset error (ms)", _num("median_onset_error_ms", ".1f")),
    Row("note_accuracy", "note accuracy", _num("note_accuracy", ".3f"), ">= 0.99", lambda v, _: v >= 0.99),
    Row("median_cents_error", "median cents error", _num("median_cents_error", ".2f"), "<= 2", lambda v, _: v <= 2),
    Row("detune_recall", "detune recall", _num("detune_recall", ".3f"), ">= 0.97", lambda v, _: v >= 0.97),
    Row("off_scale_recall", "off-scale recall", _num("off_scale_recall", ".3f"), ">= 0.97", lambda v, _: v >= 0.97),
    Row(
        "false_off_scale_rate",
        "false off-scale rate",
        _num("false_off_scale_rate", ".3f"),
        "<= 0.02",
        lambda v, _: v <= 0.02,
    ),
    Row(
        "median_timing_error_ms",
        "median timing error (ms)",
        _num("median_timing_error_ms", ".1f"),
        "<= 8",
        lambda v, _: v <= 8,
    ),
    Row("grid_mismatches", "grid point != truth (notes)", _num("grid_mismatches", "d")),
    Row("mae_pitch_accuracy", "MAE pitch_accuracy", _num("mae_pitch_accuracy", ".2f"), "<= 3", lambda v, _: v <= 3),
    Row(
        "mae_scale_conformity", "MAE scale_conformity", _num("mae_scale_conformity", ".2f"), "<= 3", lambda v, _: v <= 3
    ),
    Row(
        "mae_timing_stability", "MAE timing_stability", _num("mae_timing_stability", ".2f"), "<= 3", lambda v, _: v <= 3
    ),
    Row("mae_noise_control", "MAE noise_control", _num("mae_noise_control", ".2f"), "<= 3", lambda v, _: v <= 3),
    Row("noise_recall", "noise-event recall", _num("noise_recall", ".3f"), ">= 0.8", lambda v, _: v >= 0.8),
    Row("noise_precision", "noise-event precision", _num("noise_precision", ".3f"), ">= 0.9", lambda v, _: v >= 0.9),
    Row("median_latency_ms", "median latency (ms)", _latency("median_latency_ms"), "<= 40", lambda v, _: v <= 40),
    Row("p95_latency_ms", "p95 latency (ms)", _latency("p95_latency_ms"), "<= 70", lambda v, _: v <= 70),
    Row("speed_x_realtime", "speed (x realtime)", _speed_fmt, ">= aubio", _speed_ok),
)


def table(figures: dict[str, dict], markdown: bool = False) -> str:
    engines = list(figures)
    header = ["figure", "target", *engines]
    body = []
    for row in ROWS:
        cells = [row.label, row.target]
        for e in engines:
            fig = figures[e]
            text = row.fmt(fig)
            v = fig.get(row.key)
            if (
                row.check is not None
                and isinstance(v, (int, float))
                and not (row.key == "speed_x_realtime" and e == "truth")
            ):
                ok = row.check(v, figures)
                if ok is not None:
                    text += " ✓" if ok else " ✗"
            cells.append(text)
        body.append(cells)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * len(engines)) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        out = [cells[0].ljust(widths[0]), cells[1].ljust(widths[1])]
        out += [c.rjust(w) for c, w in zip(cells[2:], widths[2:])]
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep, *[line(c) for c in body]])


CONDITION_COLUMNS = (
    ("F1", "onset_f1", ".3f"),
    ("acc", "note_accuracy", ".3f"),
    ("cents", "median_cents_error", ".1f"),
    ("detune", "detune_recall", ".2f"),
    ("noiseR", "noise_recall", ".2f"),
    ("noiseP", "noise_precision", ".2f"),
    ("lat", "median_latency_ms", ".0f"),
    ("p95", "p95_latency_ms", ".0f"),
)


def condition_of(take: Take) -> str:
    """The take's condition (hard corpus) or, in the shared corpus, its SoundFont folder."""
    return str(take.meta.get("condition") or take.name.split("/")[0])


def condition_table(
    all_scores: dict[str, list[TakeScore]], takes: dict[str, Take], causal: dict[str, bool], markdown: bool = False
) -> str:
    """One row per condition, the main figures of every engine side by side."""
    conditions: list[str] = []
    for t in takes.values():
        if condition_of(t) not in conditions:
            conditions.append(condition_of(t))
    engines = list(all_scores)
    labels = [label for label, _, _ in CONDITION_COLUMNS]
    groups = ["", "", *[e if i == 0 else "" for e in engines for i in range(len(labels))]]
    header = ["condition", "notes", *labels * len(engines)]
    rows = []
    for cond in [*conditions, "all"]:
        cells = [cond, ""]
        for e in engines:
            picked = [s for s in all_scores[e] if cond == "all" or condition_of(takes[s.take]) == cond]
            fig = aggregate(picked, causal[e])
            cells[1] = str(fig["truth_notes"])
            for _, key, spec in CONDITION_COLUMNS:
                v = fig.get(key)
                cells.append("-" if v is None else f"{v:{spec}}")
        rows.append(cells)
    if markdown:
        named = ["condition", "notes", *[f"{e} {label}" for e in engines for label in labels]]
        lines = ["| " + " | ".join(named) + " |", "|---|" + "---:|" * (len(named) - 1)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(r: list[str]) -> str:
        return "  ".join([r[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(r[1:], widths[1:]))]).rstrip()

    top = "  ".join(g.ljust(w) for g, w in zip(groups, widths)).rstrip()
    return "\n".join([top, fmt(header), "  ".join("-" * w for w in widths), *map(fmt, rows)])


def _med(xs: Sequence[float], spec: str) -> str:
    return "n/a" if not xs else f"{statistics.median(xs):{spec}}"


def _fmt_metrics(m: dict) -> str:
    return " ".join("  -  " if m[k] is None else f"{m[k]:5.1f}" for k in METRIC_NAMES)


def per_take_report(scores: Sequence[TakeScore], takes: dict[str, Take]) -> str:
    out = []
    for s in scores:
        take = takes[s.take]
        acc = s.right_midi / s.n_truth if s.n_truth else float("nan")
        out.append(f"== {s.engine}: {s.take} ({take.describe()})")
        out.append(
            f"   onsets tp {s.tp} fp {s.fp} fn {s.fn}  F1 {s.f1():.3f}  note acc {acc:.3f}  "
            f"onset err {_med(s.onset_err_ms, '.1f')} ms  cents err {_med(s.cents_err, '.2f')}  "
            f"timing err {_med(s.timing_err_ms, '.1f')} ms  "
            f"detuned {s.detuned_hit}/{s.detuned_total}  off-scale {s.offscale_hit}/{s.offscale_total}  "
            f"false off-scale {s.false_offscale}/{s.inscale_matched}  "
            f"noise {s.noise_matched}/{s.noise_truth} (detected {s.noise_detected})"
        )
        lat = f"  latency median {statistics.median(s.latency_ms):.1f} ms" if s.latency_ms else ""
        speed = f"{s.duration_s / s.elapsed_s:.1f}x" if s.elapsed_s > 0 else "n/a"
        out.append(
            f"   metrics (pitch scale timing noise)  truth {_fmt_metrics(s.truth_metrics)}"
            f"  |  engine {_fmt_metrics(s.engine_metrics)}   speed {speed}{lat}"
        )
        for t, name, planted in s.misses:
            out.append(f"   MISS       {t:8.3f}s  {name:<4}" + (f"  ({planted})" if planted != "none" else ""))
        for t, name, cents, dt in s.false_positives:
            near = "" if dt is None else f"  nearest truth onset {dt:+.1f} ms"
            out.append(f"   FALSE POS  {t:8.3f}s  {name:<4} {cents:+.1f}c{near}")
        for t, tn, _tm, dn, _dm, dc in s.wrong_pitch:
            out.append(f"   PITCH      {t:8.3f}s  truth {tn:<4} heard {dn} {dc:+.1f}c")
        for t, tn, tc, dn, dc in s.detune_misses:
            heard = "unmatched" if dn is None else f"heard {dn} {dc:+.1f}c"
            out.append(f"   DETUNE     {t:8.3f}s  truth {tn} {tc:+.1f}c, {heard}")
        for t, tn, dn in s.offscale_misses:
            heard = "unmatched" if dn is None else f"heard {dn} as in scale"
            out.append(f"   OFF-SCALE  {t:8.3f}s  truth {tn} out of scale, {heard}")
        for t, tn, dn in s.false_offscale_list:
            out.append(f"   FALSE OFF  {t:8.3f}s  truth {tn} in scale, heard {dn} out of scale")
        for t, to, do, dg in s.timing_outliers:
            g = "" if abs(dg) < 1e-3 else f"  (grid point {dg:+.3f}s off)"
            out.append(f"   TIMING     {t:8.3f}s  truth {to:+.1f} ms, reported {do:+.1f} ms{g}")
        for a, b in s.noise_misses:
            out.append(f"   NOISE MISS {a:8.3f}s-{b:.3f}s")
        for a, b in s.noise_false:
            out.append(f"   NOISE FP   {a:8.3f}s-{b:.3f}s")
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def run_engine(
    engine: Engine, takes: Sequence[Take], audio: dict[str, tuple[np.ndarray, int]], tolerance_s: float
) -> list[TakeScore]:
    engine.prepare()
    first = takes[0]
    log(f"[{engine.name}] warm-up on {first.name}")
    engine.analyze(first, *audio[first.name])
    scores = []
    for i, take in enumerate(takes, 1):
        samples, sr = audio[take.name]
        t0 = time.perf_counter()
        result = engine.analyze(take, samples, sr)
        elapsed = time.perf_counter() - t0
        s = score_take(
            take, result, engine=engine.name, causal=engine.causal, elapsed_s=elapsed, tolerance_s=tolerance_s
        )
        scores.append(s)
        log(
            f"[{engine.name}] {i}/{len(takes)} {take.name}: {len(samples) / sr:.1f} s audio in "
            f"{elapsed:.2f} s, F1 {s.f1():.3f}, notes {s.right_midi}/{s.n_truth}"
        )
    return scores


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.analysis", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "corpus",
        nargs="?",
        type=Path,
        default=DEFAULT_CORPUS,
        help=f"ground-truth corpus directory (default: {DEFAULT_CORPUS})",
    )
    ap.add_argument(
        "--engines",
        default=",".join(ALL_ENGINES),
        help=f"comma-separated, from {','.join(ENGINES)} (default: %(default)s)",
    )
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write every figure and per-take score here")
    ap.add_argument("--markdown", action="store_true", help="print the summary as a Markdown table")
    ap.add_argument(
        "--per-take",
        nargs="?",
        const="fretcoach",
        default=None,
        metavar="ENGINES",
        help="per-take breakdown (misses, false positives, ...) for these engines (default when given: fretcoach)",
    )
    ap.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="SUBSTR",
        help="only the takes whose path contains SUBSTR (repeatable)",
    )
    ap.add_argument(
        "--causality",
        action="store_true",
        help="also cut every take 5 ms after each note's emitted_s and check the shortened run reports it",
    )
    ap.add_argument(
        "--by-condition",
        action="store_true",
        help="also print the main figures per condition (the hard corpus's 'condition', else the folder)",
    )
    ap.add_argument(
        "--tolerance-ms", type=float, default=MATCH_TOLERANCE_S * 1000, help="onset match window (default: %(default)g)"
    )
    args = ap.parse_args(argv)

    names = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in names if e not in ENGINES]
    if unknown:
        ap.error(f"unknown engine(s): {', '.join(unknown)}; choose from {', '.join(ENGINES)}")
    per_take = [e.strip() for e in args.per_take.split(",")] if args.per_take else []

    corpus = args.corpus.resolve()
    if not corpus.is_dir():
        ap.error(f"corpus directory not found: {corpus}")
    takes = discover(corpus, args.only)
    if not takes:
        ap.error(f"no ground-truth *.json under {corpus}")

    from fretcoach_desktop.audio.sources import read_audio

    log(f"reading {len(takes)} takes from {corpus}")
    audio = {}
    for take in takes:
        samples, sr = read_audio(take.audio_path)
        audio[take.name] = (np.ascontiguousarray(samples, dtype=np.float32), int(sr))

    all_scores: dict[str, list[TakeScore]] = {}
    figures: dict[str, dict] = {}
    for name in names:
        engine = ENGINES[name]()
        try:
            scores = run_engine(engine, takes, audio, args.tolerance_ms / 1000)
        except ImportError as exc:
            log(f"[{name}] skipped: {exc} (the peers come with: pip install -e '.[bench]')")
            continue
        all_scores[name] = scores
        figures[name] = {"engine": name, **aggregate(scores, engine.causal)}

    total_audio = sum(len(s) / sr for s, sr in audio.values())
    title = f"{len(takes)} takes, {total_audio:.1f} s of audio, corpus {corpus}"
    if args.markdown:
        print(f"Analysis benchmark: {title}\n")
        print(table(figures, markdown=True))
    else:
        print(f"Analysis benchmark: {title}\n")
        print(table(figures))
    by_name = {t.name: t for t in takes}
    causality: dict | None = None
    if args.causality:
        log("causality: cutting every take after each note's emitted_s")
        n_cuts, failures, revised = 0, [], []
        for take in takes:
            c, f, r = causality_cuts(take, *audio[take.name])
            n_cuts, failures, revised = n_cuts + c, failures + f, revised + r
        causality = {"cuts": n_cuts, "failures": failures, "revised": revised}
        print(f"\ncausality: {len(failures)} of {n_cuts} cuts 5 ms after emitted_s lost their note (target 0);")
        print(f"{len(revised)} named the note differently from the whole run (its pitch settles over the note)")
        for line in failures + revised:
            print(f"   {line}")
    if args.by_condition and all_scores:
        print()
        causal = {name: ENGINES[name].causal for name in all_scores}
        print(condition_table(all_scores, by_name, causal, markdown=args.markdown))
    for name in per_take:
        if name in all_scores:
            print()
            print(per_take_report(all_scores[name], by_name))
        else:
            log(f"--per-take {name}: engine not run")

    if args.json:
        payload = {
            "corpus": str(corpus),
            "tolerance_ms": args.tolerance_ms,
            "causality": causality,
            "targets": {r.key: r.target for r in ROWS if r.target},
            "engines": {
                name: {"figures": figures[name], "takes": [s.summary() for s in all_scores[name]]} for name in figures
            },
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2, default=float))
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
