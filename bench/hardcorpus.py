"""A harder corpus of our own: deterministic guitar takes with exact note truth, per condition.

    python -m bench.hardcorpus [OUT_DIR] [--force] [--only CONDITION]

Writes ``OUT_DIR/<condition>/takeNN.flac`` + ``.json`` in the format of the shared corpus
(see ``../shared/corpus/README.md``), with one extra field, ``condition``, by which
``python -m bench.analysis OUT_DIR --by-condition`` groups its figures. The default
``OUT_DIR`` is ``bench/.hard-corpus``; it is rebuilt when this file's ``VERSION`` changes.

Where the electric player lives, and where the public corpus is thin:

==================  ============================================================================
condition           what is in it
==================  ============================================================================
clean               reference: nylon, steel, jazz and clean electric, 70-110 bpm
sf_overdrive        the SoundFont's own overdriven and distortion guitars, low notes included
amp_drive           clean electric through a waveshaping amp and a cabinet, drive x4, x15, x40
reverb              a room: exponentially decaying diffuse tail, RT60 0.3, 0.5 and 0.8 s
fast_eighths        eighths at 120-160 bpm, every note ringing over the next
fast_sixteenths     sixteenths at 100-130 bpm, ringing
muted_short         notes cut short by muting (30-50 % of the note spacing)
legato              hammer-ons and pull-offs: pitch changes with no pick attack (additive string)
vibrato             +-15 to 30 cents at 5-6 Hz on held notes (truth = centre)
bends               one or two semitones bent up to the target within 80-150 ms (truth = target)
low_notes           E2 and drop-D D2 up to E3, clean and overdriven
hum                 50/60 Hz mains hum with harmonics and buzz, 30-36 dB under the playing
room_tone           pink room noise and rumble 30-38 dB under the playing
click_bleed         the metronome's click leaking into the input, 24-30 dB under the playing
low_level           peaks at -36 dBFS over the interface's own noise floor
clipping            input gain 4-8 dB too hot, hard clipped at full scale
noise               scrapes and pick clicks, between notes and within 50 ms of an attack
==================  ============================================================================

Pitched notes (but legato) are rendered by FluidSynth from MIDI with the FluidR3 GM SoundFont
(Debian: ``fluidsynth fluid-soundfont-gm``), a different sample set from the public corpus's.
Each note has its own MIDI channel, so its pitch bend (detune, vibrato, bend) is its own.
A SoundFont sample is not always tuned to the cent, and may start with up to ~30 ms of
lead-in: each (program, key, velocity) is rendered alone once and measured, and the truth
says when and at what pitch the note really sounds (``onset_s`` = note-on + the sample's
lead-in; ``cents`` include the sample's tuning). Everything is seeded from the condition and take number:
the same version of this file and of FluidSynth gives the same takes.

Nothing here is tuned to the engine: conditions and their ranges come from the issue, the
takes are drawn at random within them.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

VERSION = 4  # of the corpus: a new one rebuilds it
DRAWS = 3  # of the random draws: takes change only when this does (new material)
SR = 44100
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "bench" / ".hard-corpus"
SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2",)
TPB = 1920  # MIDI ticks per beat at 120 bpm: one tick is 0.26 ms
BEND_RANGE = 4  # semitones, set on every channel by RPN 0
PROGRAMS = {"nylon": 24, "steel": 25, "jazz": 26, "clean": 27, "overdrive": 29, "distortion": 30}
KEYS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SCALES = ("major", "minor", "major_pentatonic", "minor_pentatonic", "blues", "dorian", "mixolydian")
VELOCITIES = (80, 100, 115)
COUNT_IN_BEATS = 4


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the score


@dataclass
class TNote:
    onset_s: float
    dur_s: float
    midi: int
    grid_s: float
    planted: str = "none"
    cents: float = 0.0  # planted detune (before the sample's own tuning)
    velocity: int = 100
    vibrato: tuple[float, float] | None = None  # (depth cents, rate Hz)
    bend_from: int = 0  # semitones below the target the string is plucked at
    bend_s: tuple[float, float] = (0.0, 0.0)  # bend starts, reaches the target (after onset)
    legato: bool = False  # no pick attack: a hammer-on or pull-off from the previous note
    string: int = 0  # 0 = low E (or D in drop D) ... 5 = high E


@dataclass
class Spec:
    condition: str
    index: int
    rng: np.random.Generator
    key: str
    scale: str
    bpm: float
    subdivision: int
    timing_sd_ms: float
    program: str = "clean"
    notes: list[TNote] = field(default_factory=list)
    noise: list[tuple[float, float, str]] = field(default_factory=list)  # start, duration, kind
    variant: str = ""

    @property
    def step_s(self) -> float:
        return 60.0 / self.bpm / self.subdivision

    @property
    def count_in_s(self) -> float:
        return COUNT_IN_BEATS * 60.0 / self.bpm


def _pcs(key: str, scale: str) -> set[int]:
    from fretcoach_desktop.audio.theory import scale_pitch_classes

    return set(scale_pitch_classes(key, scale))


def make_line(
    spec: Spec,
    n: int,
    lo: int,
    hi: int,
    *,
    dur: tuple[float, float] = (0.85, 1.0),
    rests: float = 0.08,
    plant: bool = True,
) -> None:
    """A walk over the scale in [lo, hi]: n notes on the grid, with planted mistakes.

    ``dur`` is the note length as a fraction of the grid step (over 1: it rings over the
    next note). Off-scale notes are a semitone off the walk; detuned ones 18-45 cents off;
    late or early ones 50-90 ms off the grid (only where the grid step leaves room for it).
    """
    rng = spec.rng
    pcs = _pcs(spec.key, spec.scale)
    pool = [m for m in range(lo, hi + 1) if m % 12 in pcs]
    idx = int(rng.integers(len(pool)))
    step = spec.step_s
    g = spec.count_in_s
    can_shift = step >= 0.2
    for _ in range(n):
        while rng.random() < rests:
            g += step
        midi = pool[idx]
        note = TNote(onset_s=g, dur_s=step * float(rng.uniform(*dur)), midi=midi, grid_s=g)
        note.velocity = int(rng.choice(VELOCITIES))
        r = rng.random() if plant else 1.0
        if r < 0.08:
            for d in (1, -1) if rng.random() < 0.5 else (-1, 1):
                if (midi + d) % 12 not in pcs and lo <= midi + d <= hi + 1:
                    note.midi, note.planted = midi + d, "off_scale"
                    break
        elif r < 0.16:
            note.cents = float(rng.choice([-1, 1]) * rng.uniform(18, 45))
            note.planted = "detuned"
        elif r < 0.22 and can_shift:
            note.onset_s += float(rng.choice([-1, 1]) * rng.uniform(0.050, 0.090))
            note.planted = "late_or_early"
        if note.planted != "late_or_early":
            note.onset_s += float(np.clip(rng.normal(0, spec.timing_sd_ms / 1000), -0.03, 0.03))
        spec.notes.append(note)
        idx = int(np.clip(idx + rng.choice([-2, -1, -1, 1, 1, 2]), 0, len(pool) - 1))
        g += step
    assign_strings(spec.notes)


OPEN_STRINGS = (40, 45, 50, 55, 59, 64)
DAMP_S = 0.02  # a fretting hand or a new pick stroke stops a string in about this long


def assign_strings(notes: list[TNote]) -> None:
    """Put each note on a string the way a player would (the fret nearest the last one), and
    cut a note short when the next note on its string starts: one string sounds one note.
    Notes on other strings ring on for as long as their ``dur_s`` says."""
    fret = 5
    for n in notes:
        played = n.midi - n.bend_from
        options = [(abs(played - o - fret), -k, k) for k, o in enumerate(OPEN_STRINGS) if 0 <= played - o <= 15]
        k = min(options)[2] if options else 0  # below E2: the low string tuned down (drop D)
        n.string = k
        fret = max(0, played - (OPEN_STRINGS[k] if options else played))
    last: dict[int, TNote] = {}
    for n in notes:
        prev = last.get(n.string)
        if prev is not None and prev.onset_s + prev.dur_s > n.onset_s - DAMP_S:
            prev.dur_s = max(0.02, n.onset_s - DAMP_S - prev.onset_s)
        last[n.string] = n


# --------------------------------------------------------------------------- rendering


def _soundfont() -> str:
    for sf in SOUNDFONTS:
        if Path(sf).exists():
            return sf
    raise RuntimeError("the FluidR3 GM SoundFont is missing: apt-get install fluidsynth fluid-soundfont-gm")


def _tick(t: float) -> int:
    return int(round(t * 2 * TPB))


def _tick_s(t: float) -> float:
    return _tick(t) / (2 * TPB)


def _bend_value(cents: float) -> int:
    return int(np.clip(round(8192 * cents / (BEND_RANGE * 100)), -8192, 8191))


def write_midi(path: Path, notes: list[TNote], program: int) -> None:
    """One note per channel (rotating over the 15 melodic channels), each with its bend."""
    import mido

    events: list[tuple[int, int, object]] = []
    channels = [c for c in range(16) if c != 9]
    for c in channels:  # program and a pitch-bend range of BEND_RANGE semitones (RPN 0)
        events.append((0, 0, mido.Message("program_change", channel=c, program=program)))
        for cc, v in ((101, 0), (100, 0), (6, BEND_RANGE), (38, 0), (101, 127), (100, 127)):
            events.append((0, 0, mido.Message("control_change", channel=c, control=cc, value=v)))
    for i, n in enumerate(notes):
        ch = channels[i % len(channels)]
        on, off = _tick(n.onset_s), _tick(n.onset_s + n.dur_s)
        # a bent note is fretted bend_from semitones low and pushed up to its pitch
        events.append((on, 1, mido.Message("pitchwheel", channel=ch, pitch=_bend_value(n.cents))))
        events.append((on, 2, mido.Message("note_on", channel=ch, note=n.midi - n.bend_from, velocity=n.velocity)))
        if n.vibrato or n.bend_from:
            t = n.onset_s + 0.005
            while t < n.onset_s + n.dur_s:
                dt = t - n.onset_s
                c = n.cents
                if n.bend_from:
                    a, b = n.bend_s
                    frac = float(np.clip((dt - a) / (b - a), 0.0, 1.0))
                    c += 100 * n.bend_from * (3 * frac**2 - 2 * frac**3)  # smoothstep up
                if n.vibrato:
                    depth, rate = n.vibrato
                    ramp = min(1.0, max(0.0, (dt - 0.08) / 0.1))  # vibrato comes in after the attack
                    c += ramp * depth * math.sin(2 * math.pi * rate * max(0.0, dt - 0.08))
                events.append((_tick(t), 1, mido.Message("pitchwheel", channel=ch, pitch=_bend_value(c))))
                t += 0.005
        events.append((off, 0, mido.Message("note_off", channel=ch, note=n.midi - n.bend_from, velocity=0)))
    events.sort(key=lambda e: (e[0], e[1]))
    mid = mido.MidiFile(ticks_per_beat=TPB)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500000))
    last = 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - last))
        last = tick
    end = max((_tick(n.onset_s + n.dur_s) for n in notes), default=0) + 2 * 2 * TPB
    track.append(mido.MetaMessage("end_of_track", time=end - last))
    mid.save(str(path))


def fluid_render(notes: list[TNote], program: int) -> np.ndarray:
    """Render with FluidSynth (no reverb, no chorus); mono float64 at SR."""
    import soundfile as sf

    if shutil.which("fluidsynth") is None:
        raise RuntimeError("fluidsynth is missing: apt-get install fluidsynth fluid-soundfont-gm")
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "take.mid", Path(tmp) / "take.wav"
        write_midi(mid, notes, program)
        cmd = ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.4", "-r", str(SR), "-O", "float"]
        subprocess.run([*cmd, "-F", str(wav), _soundfont(), str(mid)], check=True, capture_output=True)
        x, sr = sf.read(wav, dtype="float64", always_2d=True)
    assert sr == SR
    return x.mean(axis=1)


def strings_render(notes: list[TNote], program: int, length: int) -> np.ndarray:
    """Render string by string and damp each note at its end (a SoundFont's release rings on
    for a second after note-off; a guitarist's hand or next stroke stops the string)."""
    out = np.zeros(length)
    fade = np.cos(np.linspace(0, np.pi / 2, int(DAMP_S * SR))) ** 2
    for k in sorted({n.string for n in notes}):
        mine = [n for n in notes if n.string == k]
        x = fluid_render(mine, program)
        x = np.pad(x, (0, max(0, length - x.size)))[:length]
        gate = np.zeros(length)
        for n in mine:
            a, b = int(round(_tick_s(n.onset_s) * SR)), int(round(_tick_s(n.onset_s + n.dur_s) * SR))
            gate[a:b] = 1.0
            tail = fade[: max(0, min(fade.size, length - b))]
            gate[b : b + tail.size] = np.maximum(gate[b : b + tail.size], tail)
        out += x * gate
    return out


def additive_render(notes: list[TNote], rng: np.random.Generator, length: int) -> np.ndarray:
    """Plucked strings as inharmonic partials; a legato note continues its string's phase.

    A picked note starts a string (partial amplitudes from the pluck position, higher
    partials decaying faster, a short pick transient); a legato note changes the string's
    pitch abruptly without a pick transient and with a small energy bump.
    """
    from scipy import signal

    out = np.zeros(length)
    groups: list[list[TNote]] = []
    for n in notes:
        if n.legato and groups:
            groups[-1].append(n)
        else:
            groups.append([n])
    for grp in groups:
        start = int(round(grp[0].onset_s * SR))
        end = min(length, int(round((grp[-1].onset_s + grp[-1].dur_s) * SR)))
        t = np.arange(end - start) / SR
        f0 = np.empty(end - start)
        bump = np.ones(end - start)
        for k, n in enumerate(grp):
            a = int(round(n.onset_s * SR)) - start
            b = int(round(grp[k + 1].onset_s * SR)) - start if k + 1 < len(grp) else end - start
            f0[a:b] = 440.0 * 2 ** ((n.midi - 69 + n.cents / 100) / 12)
            if k:  # hammer-on / pull-off: a little energy, a fast pitch change (1 ms)
                bump[a:] *= 1.25
        f0 = np.convolve(np.pad(f0, (22, 22), mode="edge"), np.ones(44) / 44, mode="valid")[: end - start]
        phase = 2 * np.pi * np.cumsum(f0) / SR
        pos = float(rng.uniform(0.12, 0.25))  # pluck position along the string
        inharm = float(rng.uniform(5e-5, 2e-4))
        tau1 = float(rng.uniform(1.2, 2.5))
        y = np.zeros(end - start)
        fmean = float(np.mean(f0))
        for h in range(1, int(min(60, 8000 / fmean)) + 1):
            amp = abs(math.sin(math.pi * h * pos)) / h**1.1
            tau = tau1 / (1 + (h * fmean / 900.0) ** 1.6)
            stretch = math.sqrt(1 + inharm * h * h)
            y += amp * np.exp(-t / tau) * np.sin(h * stretch * phase + rng.uniform(0, 2 * np.pi))
        y *= bump
        # pick transient: 3 ms of high-passed noise
        nt = int(0.003 * SR)
        sos = signal.butter(2, 2000, "highpass", fs=SR, output="sos")
        y[:nt] += 0.3 * signal.sosfilt(sos, rng.normal(0, 1, nt)) * np.hanning(2 * nt)[nt:]
        fade = int(0.01 * SR)
        y[-fade:] *= np.linspace(1, 0, fade)
        attack = int(0.001 * SR)
        y[:attack] *= np.linspace(0, 1, attack)
        out[start:end] += y * (grp[0].velocity / 100.0)
    return out


# --------------------------------------------------------------------------- the sample set's own tuning


_SAMPLES: dict[tuple[int, int, int], tuple[float, float]] = {}
ATTACK_DB = -30.0  # a note starts sounding where its envelope first reaches this re its attack peak


def sample_calibration(program: int, midis: set[int], out_dir: Path) -> dict[tuple[int, int, int], tuple[float, float]]:
    """(cents off equal temperament, seconds from note-on to sound) per (program, key, velocity).

    A SoundFont sample is not always tuned to the cent, and many start with a few (up to
    ~30) milliseconds of lead-in. Each note is rendered alone and measured: its pitch by
    YIN over its sustain (a waveshaper keeps the period, so this holds for the overdriven
    programs too), its start where a 1 ms envelope first reaches ATTACK_DB under the
    attack's peak. Cached in ``out_dir/samples.json``.
    """
    cache = out_dir / "samples.json"
    if not _SAMPLES and cache.exists():
        for k, v in json.loads(cache.read_text()).items():
            p, m, vel = (int(s) for s in k.split(","))
            _SAMPLES[(p, m, vel)] = (float(v[0]), float(v[1]))
    todo = sorted((m, v) for m in midis for v in VELOCITIES if (program, m, v) not in _SAMPLES)
    if todo:
        from fretcoach_desktop.audio.pitch import Yin

        notes = [TNote(onset_s=0.5 + i, dur_s=0.8, midi=m, grid_s=0.0, velocity=v) for i, (m, v) in enumerate(todo)]
        x = fluid_render(notes, program)
        yin = Yin(SR, fmin=60.0, window_s=0.03)
        env = np.sqrt(np.convolve(x * x, np.ones(44) / 44, mode="same"))
        for n, (m, v) in zip(notes, todo):
            on = int(round(_tick_s(n.onset_s) * SR))
            starts = [on + int((0.15 + 0.02 * k) * SR) for k in range(20)]
            freq, aper, _ = yin.estimate_arrays(np.stack([x[s : s + yin.span] for s in starts]))
            cents = 1200 * np.log2(freq / (440.0 * 2 ** ((m - 69) / 12)))
            good = cents[(aper < 0.2) & (np.abs(cents) < 50)]
            head = env[on : on + int(0.15 * SR)]
            delay = int(np.argmax(head >= head.max() * _db(ATTACK_DB)))
            _SAMPLES[(program, m, v)] = (round(float(np.median(good)), 2) if good.size else 0.0, delay / SR)
        out_dir.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({f"{p},{m},{v}": c for (p, m, v), c in sorted(_SAMPLES.items())}))
    return _SAMPLES


# --------------------------------------------------------------------------- effects and the room


def _db(x: float) -> float:
    return 10 ** (x / 20)


def normalize(x: np.ndarray, peak_dbfs: float = -6.0) -> np.ndarray:
    m = float(np.max(np.abs(x))) or 1.0
    return x * (_db(peak_dbfs) / m)


def amp(x: np.ndarray, drive: float) -> np.ndarray:
    """A waveshaping amp: tighten, drive an asymmetric tanh, then a 4x12-like cabinet."""
    from scipy import signal

    pre = signal.sosfilt(signal.butter(1, 150, "highpass", fs=SR, output="sos"), x)
    pre = normalize(pre, 0.0)
    bias = 0.2
    y = np.tanh(drive * pre + bias) - math.tanh(bias)
    y = signal.sosfilt(signal.butter(2, 90, "highpass", fs=SR, output="sos"), y)
    y = signal.sosfilt(signal.butter(4, 4500, "lowpass", fs=SR, output="sos"), y)
    b, a = signal.iirpeak(1800, 1.2, fs=SR)  # the cabinet's presence bump
    return y + 0.5 * signal.lfilter(b, a, y)


def reverb(x: np.ndarray, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Diffuse exponential tail (high frequencies dying faster) plus a few early reflections."""
    from scipy import signal

    n = int(rt60 * 1.2 * SR)
    t = np.arange(n) / SR
    tail = rng.normal(0, 1, n) * 10 ** (-3 * t / rt60)
    dark = signal.sosfilt(signal.butter(2, 2500, "lowpass", fs=SR, output="sos"), tail)
    mix = np.clip(t / rt60, 0, 1)
    ir = (1 - mix) * tail + mix * dark * 2.0
    ir[: int(0.005 * SR)] = 0.0
    for delay, gain in ((0.011, 0.5), (0.017, 0.35), (0.023, 0.3), (0.031, 0.25)):
        ir[int(delay * SR)] += gain * rng.choice([-1, 1]) * 20
    ir /= np.sqrt(np.sum(ir**2))
    wet = signal.fftconvolve(x, ir)[: x.size]
    # direct-to-reverberant ratio: a guitar amp a metre or two away in a small room
    drr_db = float(rng.uniform(0, 6))
    wet *= np.sqrt(np.sum(x**2) / max(np.sum(wet**2), 1e-20)) * _db(-drr_db)
    return x + wet


def hum(n: int, rng: np.random.Generator, mains: float) -> np.ndarray:
    t = np.arange(n) / SR
    y = np.zeros(n)
    for h in range(1, 12):
        y += (1.0 / h**0.8) * np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 2 * np.pi))
    buzz = np.abs(np.sin(np.pi * mains * t)) ** 8  # the rectifier's spiky buzz
    y += 0.5 * (buzz - buzz.mean())
    return y / np.max(np.abs(y))


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.normal(0, 1, n))
    f = np.arange(spec.size)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    y = np.fft.irfft(spec, n)
    return y / np.max(np.abs(y))


def click_track(n: int, bpm: float) -> np.ndarray:
    """The app's metronome as a microphone hears it: a short woodblock-like tick per beat."""
    y = np.zeros(n)
    k = 0
    while (start := int(round(k * 60.0 / bpm * SR))) < n:
        length = min(int(0.03 * SR), n - start)
        t = np.arange(length) / SR
        f = 1800.0 if k % 4 == 0 else 1200.0
        y[start : start + length] += np.sin(2 * np.pi * f * t) * np.exp(-t / 0.006)
        k += 1
    return y


def noise_burst(kind: str, dur_s: float, rng: np.random.Generator) -> np.ndarray:
    """A string scrape (band-passed noise, rough) or a pick click (high-passed, decaying)."""
    from scipy import signal

    n = max(16, int(dur_s * SR))
    if kind == "scrape":
        x = rng.normal(0, 1, n)
        lo = float(rng.uniform(600, 1500))
        y = signal.sosfilt(signal.butter(2, [lo, 7000], "bandpass", fs=SR, output="sos"), x)
        env = np.minimum(1.0, np.arange(n) / (0.004 * SR)) * np.linspace(1.0, 0.3, n)
        # the winding of a wound string: a rough amplitude modulation
        env *= 1 + 0.6 * np.sin(2 * np.pi * rng.uniform(60, 200) * np.arange(n) / SR)
    else:
        y = signal.sosfilt(signal.butter(2, 1500, "highpass", fs=SR, output="sos"), rng.normal(0, 1, n))
        env = np.exp(-np.arange(n) / (0.25 * n))
    y = y * env
    return y / np.max(np.abs(y))


# --------------------------------------------------------------------------- conditions


SALT = ""  # "--set dev" draws other takes from the same conditions, to tune on; "--set check"
# a third draw, to check a change made on dev before the bench set is run


def _base(name: str, index: int, *, bpm: tuple[float, float], subs: tuple[int, ...], sd: tuple[float, ...]) -> Spec:
    rng = np.random.default_rng(zlib.crc32(f"{name}/{index}/v{DRAWS}{SALT}".encode()))
    key = str(rng.choice(KEYS))
    scale = str(rng.choice(SCALES))
    return Spec(
        condition=name,
        index=index,
        rng=rng,
        key=key,
        scale=scale,
        bpm=float(round(rng.uniform(*bpm))),
        subdivision=int(rng.choice(subs)),
        timing_sd_ms=float(rng.choice(sd)),
    )


@dataclass(frozen=True)
class Condition:
    """How one condition's takes are drawn; effects on the audio are applied in render()."""

    what: str
    bpm: tuple[float, float]
    subs: tuple[int, ...]
    sd: tuple[float, ...]  # timing spread, ms (one per take, at random)
    programs: tuple[str, ...]  # take i plays programs[i % len]
    line: tuple[int, int, int]  # notes, lowest and highest MIDI number
    dur: tuple[float, float] = (0.85, 1.0)  # note length / grid step (over 1: rings on)
    rests: float = 0.08
    plant: bool = True  # planted mistakes
    variants: tuple[str, ...] = ()  # take i's variant is variants[i % len] (render() applies it)
    then: Callable[[Spec], None] | None = None  # changes to the drawn notes

    def spec(self, name: str, index: int) -> Spec:
        s = _base(name, index, bpm=self.bpm, subs=self.subs, sd=self.sd)
        s.program = self.programs[index % len(self.programs)]
        s.variant = self.variants[index % len(self.variants)] if self.variants else ""
        n, lo, hi = self.line
        make_line(s, n, lo, hi, dur=self.dur, rests=self.rests, plant=self.plant)
        if self.then is not None:
            self.then(s)
        return s


def _slur(s: Spec) -> None:
    """Every note a few semitones from the previous one may be slurred: a picked note
    starts a group, up to two legato notes follow."""
    run = 0
    for prev, n in zip(s.notes, s.notes[1:]):
        if run < 2 and 1 <= abs(n.midi - prev.midi) <= 3 and s.rng.random() < 0.6:
            n.legato, n.planted, run = True, "legato", run + 1
            n.velocity = prev.velocity
            prev.dur_s = n.onset_s - prev.onset_s
        else:
            run = 0


def _vibrato(s: Spec) -> None:
    for n in s.notes:
        if s.rng.random() < 0.6:
            n.vibrato = (float(s.rng.uniform(15, 30)), float(s.rng.uniform(5, 6)))


def _bend(s: Spec) -> None:
    for n in s.notes:
        if n.planted == "none" and s.rng.random() < 0.5:
            n.bend_from = int(s.rng.choice([1, 2]))
            a = float(s.rng.uniform(0.02, 0.05))
            n.bend_s = (a, a + float(s.rng.uniform(0.08, 0.15)))
            n.planted = "bend"


def _scrape(s: Spec) -> None:
    """A scrape or pick click after every third note (in the gap, or over the ringing note
    when the gap is short), and most next ones 25-50 ms before or after the attack."""
    rng = s.rng
    for k, n in enumerate(s.notes):
        kind = "scrape" if rng.random() < 0.6 else "pick"
        dur = float(rng.uniform(0.04, 0.12) if kind == "scrape" else rng.uniform(0.004, 0.010))
        if k % 3 == 0:  # in the gap after the note
            gap_end = s.notes[k + 1].onset_s if k + 1 < len(s.notes) else n.onset_s + 1.0
            start = n.onset_s + n.dur_s + 0.3 * (gap_end - n.onset_s - n.dur_s)
            if gap_end - start - dur < 0.1:
                start = n.onset_s + 0.4 * (gap_end - n.onset_s)
        elif k % 3 == 1 and rng.random() < 0.7:  # within 50 ms of the attack, before or after it
            gap = float(rng.uniform(0.025, 0.05))
            start = n.onset_s + gap if rng.random() < 0.5 else n.onset_s - gap - dur
        else:
            continue
        s.noise.append((start, dur, kind))


_PLAIN = dict(bpm=(70, 110), subs=(1, 2), sd=(4, 8), line=(28, 40, 76))
CONDITIONS: dict[str, Condition] = {
    "clean": Condition(
        "nylon, steel, jazz, clean electric at 70-110 bpm",
        **{**_PLAIN, "sd": (4, 12), "line": (28, 45, 76)},
        programs=("nylon", "steel", "jazz", "clean"),
    ),
    "sf_overdrive": Condition(
        "the SoundFont's overdriven and distortion guitars",
        **{**_PLAIN, "bpm": (80, 110), "line": (28, 40, 72)},
        programs=("overdrive", "distortion"),
    ),
    "amp_drive": Condition(
        "clean electric through an amp and cabinet, drive x4, x15, x40",
        **{**_PLAIN, "bpm": (80, 110), "line": (28, 40, 72)},
        programs=("clean",),
        variants=("drive x4", "drive x15", "drive x40"),
    ),
    "reverb": Condition(
        "a room with RT60 0.3, 0.5, 0.8 s",
        **{**_PLAIN, "bpm": (80, 120), "line": (28, 45, 76)},
        programs=("steel", "clean", "nylon"),
        variants=("rt60 0.3", "rt60 0.5", "rt60 0.8"),
    ),
    "fast_eighths": Condition(
        "eighths at 120-160 bpm, each note ringing over the next",
        bpm=(120, 160),
        subs=(2,),
        sd=(4, 8),
        programs=("steel", "clean", "jazz"),
        line=(40, 45, 76),
        dur=(1.5, 3.0),
        rests=0.02,
    ),
    "fast_sixteenths": Condition(
        "sixteenths at 100-130 bpm, ringing",
        bpm=(100, 130),
        subs=(4,),
        sd=(3, 5),
        programs=("steel", "clean", "nylon"),
        line=(48, 50, 79),
        dur=(1.2, 2.5),
        rests=0.0,
    ),
    "muted_short": Condition(
        "notes cut short by muting (30-50 % of the spacing)",
        bpm=(90, 140),
        subs=(2,),
        sd=(4, 8),
        programs=("clean", "steel", "overdrive"),
        line=(32, 45, 76),
        dur=(0.3, 0.5),
    ),
    "legato": Condition(
        "hammer-ons and pull-offs: new pitches without a pick attack",
        bpm=(70, 100),
        subs=(2,),
        sd=(4, 8),
        programs=("additive",),
        line=(30, 45, 76),
        dur=(1.0, 1.0),
        plant=False,
        then=_slur,
    ),
    "vibrato": Condition(
        "held notes with +-15 to 30 cents of vibrato at 5-6 Hz",
        bpm=(60, 90),
        subs=(1,),
        sd=(4, 8),
        programs=("clean", "steel", "overdrive"),
        line=(20, 50, 79),
        dur=(0.9, 1.0),
        then=_vibrato,
    ),
    "bends": Condition(
        "one or two semitones bent up to the target in 80-150 ms",
        bpm=(60, 90),
        subs=(1,),
        sd=(4, 8),
        programs=("clean", "overdrive", "steel"),
        line=(20, 55, 79),
        dur=(0.9, 1.0),
        then=_bend,
    ),
    "low_notes": Condition(
        "E2 and drop-D D2 up to E3",
        **{**_PLAIN, "line": (28, 38, 52)},
        programs=("clean", "overdrive", "steel", "distortion"),
    ),
    "hum": Condition(
        "50/60 Hz mains hum with harmonics and buzz, 30-36 dB under the playing",
        **_PLAIN,
        programs=("clean", "overdrive", "jazz"),
        variants=("50 Hz", "60 Hz"),
    ),
    "room_tone": Condition(
        "pink room noise and rumble 30-38 dB under the playing", **_PLAIN, programs=("nylon", "steel", "clean")
    ),
    "click_bleed": Condition(
        "the metronome's click leaking into the input, 24-30 dB under",
        **{**_PLAIN, "bpm": (70, 120)},
        programs=("nylon", "clean", "steel"),
    ),
    "low_level": Condition(
        "peaks at -36 dBFS over the interface's noise floor", **_PLAIN, programs=("clean", "nylon", "steel")
    ),
    "clipping": Condition(
        "input gain 4-8 dB too hot, clipped at full scale", **_PLAIN, programs=("clean", "steel", "jazz")
    ),
    "noise": Condition(
        "scrapes and pick clicks, between notes and within 50 ms of an attack",
        bpm=(60, 90),
        subs=(1,),
        sd=(4, 8),
        programs=("clean", "steel", "nylon", "overdrive"),
        line=(24, 40, 76),
        dur=(0.7, 0.9),
        then=_scrape,
    ),
}


# --------------------------------------------------------------------------- one take


def render(spec: Spec, out_dir: Path) -> dict:
    rng = spec.rng
    for n in spec.notes:  # MIDI resolution: the truth is what the file plays
        n.onset_s = _tick_s(n.onset_s)
    length_s = max(n.onset_s + n.dur_s for n in spec.notes) + 1.5
    n_samples = int(length_s * SR)
    if spec.program == "additive":
        x = additive_render(spec.notes, rng, n_samples)
        samples: dict = {}
        program = -1
    else:
        program = PROGRAMS[spec.program]
        x = strings_render(spec.notes, program, n_samples)
        samples = sample_calibration(program, {n.midi - n.bend_from for n in spec.notes}, out_dir)
    x = np.pad(x, (0, max(0, n_samples - x.size)))[:n_samples]
    x = normalize(x, -6.0)

    cond = spec.condition
    if cond == "amp_drive":
        x = normalize(amp(x, (4.0, 15.0, 40.0)[spec.index % 3]), -6.0)
    elif cond == "reverb":
        x = normalize(reverb(x, (0.3, 0.5, 0.8)[spec.index % 3], rng), -6.0)

    peak = float(np.max(np.abs(x)))
    events = []
    for start, dur, kind in spec.noise:
        burst = noise_burst(kind, dur, rng) * peak * _db(-float(rng.uniform(6, 14)))
        a = int(start * SR)
        x[a : a + burst.size] += burst[: max(0, n_samples - a)]
        events.append({"start_s": round(a / SR, 5), "end_s": round((a + burst.size) / SR, 5), "kind": kind})

    if cond == "hum":
        x += hum(n_samples, rng, (50.0, 60.0)[spec.index % 2]) * peak * _db(-float(rng.uniform(30, 36)))
    elif cond == "room_tone":
        rumble = np.sin(2 * np.pi * float(rng.uniform(25, 40)) * np.arange(n_samples) / SR)
        x += (pink(n_samples, rng) + 0.5 * rumble) * peak * _db(-float(rng.uniform(30, 38)))
    elif cond == "click_bleed":
        x += click_track(n_samples, spec.bpm) * peak * _db(-float(rng.uniform(24, 30)))
    # every take: the interface's own floor, hiss and a little hum, ~60 dB under the playing
    x += (rng.normal(0, 0.2, n_samples) + 0.3 * hum(n_samples, rng, 60.0)) * peak * _db(-62)
    if cond == "low_level":
        x = normalize(x, -36.0) + rng.normal(0, _db(-86), n_samples)
    elif cond == "clipping":
        x = np.clip(normalize(x, float(rng.uniform(4, 8))), -1.0, 1.0)

    import soundfile as sf

    pcs = _pcs(spec.key, spec.scale)
    name = f"take{spec.index:02d}"
    take_dir = out_dir / cond
    take_dir.mkdir(parents=True, exist_ok=True)
    sf.write(take_dir / f"{name}.flac", x.astype(np.float32), SR, subtype="PCM_16")
    notes = []
    for n in spec.notes:
        # a legato note sounds at once; a picked one after its sample's lead-in
        offset, delay = samples.get((program, n.midi - n.bend_from, n.velocity), (0.0, 0.0))
        onset = n.onset_s + delay
        # the note is what sounds: 45 cents planted on a sample itself 10 cents off is the
        # next semitone, 45 cents off the other way
        midi, cents = n.midi, n.cents + offset
        while abs(cents) > 50.0:
            step = 1 if cents > 0 else -1
            midi, cents = midi + step, cents - 100.0 * step
        notes.append(
            {
                "onset_s": round(onset, 5),
                "offset_s": round(n.onset_s + n.dur_s, 5),
                "midi": midi,
                "cents": round(cents, 2),
                "in_scale": midi % 12 in pcs,
                "grid_s": round(n.grid_s, 5),
                "timing_offset_ms": round((onset - n.grid_s) * 1000, 2),
                "planted": n.planted,
                **({"vibrato_cents": round(n.vibrato[0], 1)} if n.vibrato else {}),
            }
        )
    meta = {
        "file": f"{name}.flac",
        "sample_rate": SR,
        "bpm": spec.bpm,
        "subdivision": spec.subdivision,
        "key": spec.key,
        "scale": spec.scale,
        "program": spec.program,
        "condition": cond,
        "variant": spec.variant,
        "count_in_s": round(spec.count_in_s, 5),
        "timing_sd_ms": spec.timing_sd_ms,
        "notes": notes,
        "noise_events": events,
    }
    (take_dir / f"{name}.json").write_text(json.dumps(meta, indent=1))
    return meta


def build(out_dir: Path = DEFAULT_OUT, *, takes: int = 3, only: list[str] | None = None, force: bool = False) -> Path:
    """Build the corpus into ``out_dir`` unless it is already there at this VERSION."""
    stamp = out_dir / "VERSION"
    if not force and not only and stamp.exists() and stamp.read_text().strip() == f"{VERSION}{SALT}":
        return out_dir
    if force and out_dir.exists() and not only:
        shutil.rmtree(out_dir)
    for name, cond in CONDITIONS.items():
        if only and name not in only:
            continue
        what = cond.what
        for i in range(takes):
            meta = render(cond.spec(name, i), out_dir)
            sound = f"{meta['program']} {meta['variant']}".strip()
            log(f"hard corpus: {name}/take{i:02d} ({what}; {sound}) {len(meta['notes'])} notes")
    if not only:
        stamp.write_text(f"{VERSION}{SALT}\n")
    return out_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.hardcorpus", description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    ap.add_argument("--takes", type=int, default=3, help="takes per condition (default: %(default)s)")
    ap.add_argument("--only", action="append", choices=sorted(CONDITIONS), help="only this condition (repeatable)")
    ap.add_argument("--force", action="store_true", help="rebuild even if the corpus is up to date")
    ap.add_argument(
        "--set",
        choices=("bench", "dev", "check"),
        default="bench",
        help="'dev': other takes from the same conditions, to work on; 'check': a third draw, to check "
        "a change made on dev; 'bench' (default) is what is reported",
    )
    args = ap.parse_args(argv)
    global SALT
    SALT = "" if args.set == "bench" else f"/{args.set}"
    try:
        out = build(args.out, takes=args.takes, only=args.only, force=args.force)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"hardcorpus: error: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
