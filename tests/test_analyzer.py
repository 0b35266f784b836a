"""The streaming analyzer on signals with known notes: synthetic plucks and corpus takes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from fretcoach_desktop.audio.analyzer import StreamingAnalyzer, analyze_file, analyze_samples
from fretcoach_desktop.audio.metrics import compute_metrics
from fretcoach_desktop.audio.types import NoiseEvent, Note

from .synth import SynthNote, bend, legato, noise_burst, noise_floor, render, soft_tone

DATA = Path(__file__).parent / "data"
SR = 44100

# E2 to E6 over the fretboard, some of them detuned
SCALE_RUN = [(40, 0), (43, 0), (45, -25), (47, 0), (50, 0), (52, 30), (55, 0), (57, 0),
             (59, 0), (64, -20), (69, 0), (76, 0), (81, 0), (88, 0)]  # fmt: skip


def _run(notes, **kw):
    y = render(notes, **kw)
    return analyze_samples(y, kw.get("sr", SR), bpm=150, key="E", scale="minor")


def _match(detected, expected, tol_s=0.015):
    """Pair each expected note with a detected one within tol_s; return (pairs, extra)."""
    pairs, used = [], set()
    for e in expected:
        best = min(
            (d for d in detected if id(d) not in used),
            key=lambda d: abs(d.onset_s - e.onset_s),
            default=None,
        )
        if best is not None and abs(best.onset_s - e.onset_s) <= tol_s:
            used.add(id(best))
            pairs.append((e, best))
    extra = [d for d in detected if id(d) not in used]
    return pairs, extra


@pytest.fixture(scope="module")
def scale_run():
    notes = [SynthNote(0.5 + 0.4 * i, m, c) for i, (m, c) in enumerate(SCALE_RUN)]
    return notes, render(notes)


def test_every_note_of_the_guitar_range_is_heard_with_its_pitch(scale_run):
    notes, y = scale_run
    result = analyze_samples(y, SR, bpm=150, key="E", scale="minor")
    pairs, extra = _match(result.notes, notes)
    assert len(pairs) == len(notes), [n.note for n in result.notes]
    assert not extra
    for truth, heard in pairs:
        assert heard.midi == truth.midi, (truth, heard)  # no octave errors on the low strings
        assert heard.cents == pytest.approx(truth.cents, abs=3.0), (truth, heard)
        assert abs(heard.onset_s - truth.onset_s) < 0.006
        assert heard.onset_s <= heard.emitted_s <= heard.onset_s + 0.1  # causal, low latency
        assert heard.final_s >= heard.emitted_s


def test_note_names_scale_membership_and_timing_follow_the_settings(scale_run):
    notes, y = scale_run
    result = analyze_samples(y, SR, bpm=150, key="E", scale="minor", subdivision=2)
    by_onset = {round(n.onset_s, 1): n for n in result.notes}
    e2 = by_onset[0.5]
    assert e2.note == "E2" and e2.in_scale
    # beat period 0.4 s at 150 bpm; eighths every 0.2 s: 0.5 s is between 0.4 and 0.6
    assert e2.grid_s in (pytest.approx(0.4), pytest.approx(0.6))
    assert abs(e2.timing_offset_ms) == pytest.approx(100.0, abs=6)
    in_c = analyze_samples(y, SR, bpm=150, key="C", scale="major_pentatonic")
    names = {n.midi: n for n in in_c.notes}
    assert not names[47].in_scale  # B is not in C major pentatonic
    assert names[69].in_scale  # A is


def test_same_notes_whatever_the_block_size(scale_run):
    notes, y = scale_run
    results = [analyze_samples(y, SR, bpm=150, key="E", scale="minor", block_size=b)
               for b in (64, 441, 4096, 65536)]  # fmt: skip
    ref = results[0]
    for other in results[1:]:
        assert [(n.onset_s, n.emitted_s, n.midi) for n in other.notes] == [
            (n.onset_s, n.emitted_s, n.midi) for n in ref.notes
        ]
        assert [n.cents for n in other.notes] == pytest.approx([n.cents for n in ref.notes], abs=0.1)
        assert other.noise_events == ref.noise_events


@pytest.mark.parametrize("rate", [48000, 22050, 96000])
def test_same_notes_at_other_sample_rates(scale_run, rate):
    notes, y = scale_run
    g = np.gcd(rate, SR)
    z = resample_poly(y, rate // g, SR // g).astype(np.float32)
    result = analyze_samples(z, rate, bpm=150, key="E", scale="minor")
    pairs, extra = _match(result.notes, notes)
    assert len(pairs) == len(notes) and not extra
    for truth, heard in pairs:
        assert heard.midi == truth.midi
        assert heard.cents == pytest.approx(truth.cents, abs=3.0)


def test_reference_pitch_is_configurable():
    notes = [SynthNote(0.3 + 0.5 * i, m) for i, m in enumerate((45, 57, 64))]
    # the same notes tuned to A4 = 432 Hz
    y = render([SynthNote(n.onset_s, n.midi, 1200 * np.log2(432 / 440)) for n in notes])
    at_440 = analyze_samples(y, SR, bpm=120, key="A", scale="minor")
    at_432 = analyze_samples(y, SR, bpm=120, key="A", scale="minor", a4=432.0)
    assert [n.midi for n in at_432.notes] == [45, 57, 64]
    assert all(abs(n.cents) < 3 for n in at_432.notes)
    assert all(n.cents < -25 for n in at_440.notes)


def test_repeated_notes_on_the_same_pitch_are_separate_notes():
    notes = [SynthNote(0.5 + 0.25 * i, 57, dur_s=0.25) for i in range(6)]
    result = _run(notes)
    pairs, extra = _match(result.notes, notes)
    assert len(pairs) == 6 and not extra
    assert {n.midi for n in result.notes} == {57}


def test_legato_pitch_change_without_an_attack_is_a_new_note():
    y = legato(57, 59, change_s=1.0)
    result = analyze_samples(y, SR, bpm=120, key="A", scale="minor")
    assert [n.midi for n in result.notes] == [57, 59]
    assert result.notes[1].onset_s == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("semitones", [1, 2])
def test_a_bend_is_one_note_named_by_the_pitch_it_reaches(semitones):
    """A bend glides through the pitches in between: not a hammer-on, no extra notes."""
    y = bend(57 - semitones, 57, start_s=0.03, reach_s=0.15)
    result = analyze_samples(y, SR, bpm=120, key="A", scale="minor")
    assert [n.midi for n in result.notes] == [57]
    assert abs(result.notes[0].cents) < 10
    assert result.notes[0].onset_s == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize(("reach_s", "harmonics"), [(0.06, 6), (0.1, 6), (0.08, 39)])
def test_a_fast_bend_whose_moving_partials_look_like_an_attack_is_still_one_note(reach_s, harmonics):
    """A whole-tone bend within 60-100 ms sweeps the partials across the spectrum, which
    the spectral flux takes for an attack; it adds no power, so it is the note moving on
    its way up, not a new note (the note is named by the pitch it reaches)."""
    y = bend(55, 57, start_s=0.03, reach_s=reach_s, harmonics=harmonics)
    result = analyze_samples(y, SR, bpm=120, key="A", scale="minor")
    assert [(round(n.onset_s, 2), n.midi) for n in result.notes] == [(0.5, 57)]


@pytest.mark.parametrize(("midi", "rate_hz", "depth"), [(45, 7.0, 0.2), (45, 9.0, 0.15), (57, 5.0, 0.2)])
def test_a_held_note_through_a_gentle_tremolo_is_one_note(midi, rate_hz, depth):
    """An amp's tremolo (or a chorused string beating) swells the level a few times a
    second: each swell lifts the spectral flux a little, which is not an attack. (Deeper
    or faster tremolo still splits a note: see the README's engine limits.)"""
    y = render([SynthNote(0.5, midi, dur_s=2.5)], total_s=3.2).astype(np.float64)
    t = np.arange(y.size) / SR
    y *= 1.0 + depth * np.sin(2 * np.pi * rate_hz * np.maximum(t - 0.6, 0.0))
    y += noise_floor(y.size, SR, np.random.default_rng(5))
    result = analyze_samples(y.astype(np.float32), SR, bpm=120, key="E", scale="minor")
    assert [(round(n.onset_s, 2), n.midi) for n in result.notes] == [(0.5, midi)]


@pytest.mark.parametrize("level_db", [-20, -30])
def test_the_metronome_click_leaking_into_the_input_is_never_a_note(level_db):
    """The app's own click (a high, fast-dying blip) heard through a microphone or a
    loopback: no click becomes a note or a noise event, and notes on the beat are heard."""
    from fretcoach_desktop.audio.metronome import render_click

    bpm = 100
    notes = [SynthNote(2.4, 57), SynthNote(3.0, 60), SynthNote(3.9, 64), SynthNote(4.8, 81)]  # on beats
    y = render(notes, total_s=6.5)
    gain = 10 ** (level_db / 20) * float(np.max(np.abs(y)))
    for beat in range(int(6.0 * bpm / 60)):
        click = render_click(SR, accent=beat % 4 == 0) * gain
        at = int(round(beat * 60 / bpm * SR))
        y[at : at + click.size] += click
    result = analyze_samples(y, SR, bpm=bpm, key="A", scale="minor")
    pairs, extra = _match(result.notes, notes)
    assert not extra, [(n.onset_s, n.note) for n in extra]
    assert [d.midi for _, d in pairs] == [n.midi for n in notes]
    assert result.noise_events == ()


def test_string_noise_bursts_are_noise_events_not_notes():
    notes = [SynthNote(0.5, 52), SynthNote(1.5, 55), SynthNote(2.5, 57)]
    bursts = [(1.1, 0.05), (2.1, 0.04), (3.3, 0.06)]  # in the gaps and during a ringing note
    result = _run(notes, bursts=bursts)
    pairs, extra = _match(result.notes, notes)
    assert len(pairs) == 3 and not extra, [(n.onset_s, n.note) for n in result.notes]
    starts = sorted(e.start_s for e in result.noise_events)
    assert len(starts) == 3
    for got, (want, _) in zip(starts, bursts):
        assert got == pytest.approx(want, abs=0.01)
    assert result.metrics.noise_control == pytest.approx(50.0)


@pytest.mark.parametrize("offset_s", [-0.045, 0.03, 0.045, 0.3])
def test_a_scrape_near_an_attack_or_over_a_ringing_note_is_still_a_noise_event(offset_s):
    """A scrape 30-50 ms before or after a pluck (too close to be a note of its own) or
    over a loud ringing string (whose low band stays periodic) is a noise event: it is
    broadband and sharp. The notes around it are unchanged."""
    rng = np.random.default_rng(1)
    y = noise_floor(int(3.5 * SR), SR, rng)
    notes = [SynthNote(0.5, 52), SynthNote(1.5, 57), SynthNote(2.5, 60)]
    for n in notes:
        tone = soft_tone(n.midi, 0.9, SR)
        y[int(n.onset_s * SR) :][: tone.size] += tone
    burst = noise_burst(0.03, SR, rng)
    y[int((1.5 + offset_s) * SR) :][: burst.size] += burst
    result = analyze_samples(y.astype(np.float32), SR, bpm=150, key="E", scale="minor")
    pairs, extra = _match(result.notes, notes)
    assert len(pairs) == 3 and not extra, [(n.onset_s, n.note) for n in result.notes]
    assert [e.start_s for e in result.noise_events] == [pytest.approx(1.5 + offset_s, abs=0.015)]


def test_hum_and_hiss_alone_give_no_notes_and_null_metrics():
    y = render([], total_s=3.0)
    result = analyze_samples(y, SR, bpm=100, key="G", scale="major")
    assert result.notes == () and result.noise_events == ()
    assert result.metrics.pitch_accuracy is None and result.metrics.noise_control is None


def test_decisions_only_use_the_past(scale_run):
    """Notes reported before time T are the same when the stream stops at T (causality)."""
    notes, y = scale_run
    full = analyze_samples(y, SR, bpm=150, key="E", scale="minor")
    cut_s = 3.0
    engine = StreamingAnalyzer(SR, bpm=150, key="E", scale="minor")
    early = []
    for start in range(0, int(cut_s * SR), 512):
        early += engine.process(y[start : min(start + 512, int(cut_s * SR))])
    reported = [(n.onset_s, n.midi, n.emitted_s) for n in early]
    assert reported == [(n.onset_s, n.midi, n.emitted_s) for n in full.notes if n.emitted_s <= cut_s - 0.012]
    assert all(n.emitted_s <= cut_s for n in early)


def test_a_stream_cut_just_after_a_note_was_emitted_still_reports_it():
    """emitted_s is honest: the samples up to it were enough to decide the note, so a run
    that ends 5 ms later (finish() at the end of the stream) reports it at the same onset."""
    import copy

    from fretcoach_desktop.audio.sources import read_audio

    meta = json.loads((DATA / "musescore_take000.json").read_text())
    y, sr = read_audio(DATA / "musescore_take000.flac")

    def engine() -> StreamingAnalyzer:
        return StreamingAnalyzer(
            sr, bpm=meta["bpm"], key=meta["key"], scale=meta["scale"], subdivision=meta["subdivision"]
        )

    full = analyze_samples(
        y, sr, bpm=meta["bpm"], key=meta["key"], scale=meta["scale"], subdivision=meta["subdivision"]
    )
    assert len(full.notes) > 20
    live, fed = engine(), 0
    for note in full.notes:
        cut = int(np.ceil((note.emitted_s + 0.005) * sr))
        live.process(y[fed:cut])
        fed = cut
        probe = copy.deepcopy(live)
        probe.finish()
        assert any(abs(n.onset_s - note.onset_s) < 0.0015 for n in probe.notes), (note.note, note.onset_s)


def test_live_metrics_over_a_window(scale_run):
    notes, y = scale_run
    result = analyze_samples(y, SR, bpm=150, key="E", scale="minor")
    first = compute_metrics(result.notes, result.noise_events, 0.0, 2.0)
    assert first.notes == 4  # onsets at 0.5, 0.9, 1.3, 1.7
    # the A2 at 1.3 s is 25 cents flat: (1 + 1 + 0.625 + 1) / 4
    assert first.pitch_accuracy == pytest.approx(100 * 3.625 / 4, abs=3)


def test_tuner_reads_the_newest_samples():
    y = render([SynthNote(0.2, 45, 10, dur_s=1.0)], total_s=1.0, floor=False)
    engine = StreamingAnalyzer(SR, bpm=100, key="A", scale="minor")
    engine.process(y[: int(0.6 * SR)])
    freq, aper = engine.tuner()
    assert 1200 * np.log2(freq / 110.0) == pytest.approx(10, abs=2)
    engine.process(np.zeros(SR // 2, dtype=np.float32))
    assert engine.tuner() is None


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError):
        StreamingAnalyzer(4000, bpm=100, key="A", scale="minor")
    with pytest.raises(ValueError):
        StreamingAnalyzer(SR, bpm=100, key="H", scale="minor")
    with pytest.raises(ValueError):
        StreamingAnalyzer(SR, bpm=1000, key="A", scale="minor")
    with pytest.raises(ValueError):
        StreamingAnalyzer(SR, bpm=100, key="A", scale="minor", a4=300)


# --------------------------------------------------------------------------- corpus takes
def _truth(path: Path):
    d = json.loads(path.read_text())
    return d, compute_metrics(
        [
            Note(
                n["onset_s"], n["onset_s"], n["midi"], "", n["cents"], n["in_scale"], n["grid_s"], n["timing_offset_ms"]
            )
            for n in d["notes"]
        ],  # fmt: skip
        [NoiseEvent(e["start_s"], e["end_s"]) for e in d["noise_events"]],
    )


@pytest.mark.parametrize("take", ["musescore_take000", "timgm_take001"])
def test_corpus_take_notes_and_metrics_match_the_ground_truth(take):
    truth, truth_metrics = _truth(DATA / f"{take}.json")
    result = analyze_file(
        DATA / f"{take}.flac", bpm=truth["bpm"], key=truth["key"], scale=truth["scale"],
        subdivision=truth["subdivision"],
    )  # fmt: skip
    expected = [SynthNote(n["onset_s"], n["midi"], n["cents"]) for n in truth["notes"]]
    pairs, extra = _match(result.notes, expected, tol_s=0.05)
    recall = len(pairs) / len(expected)
    precision = len(pairs) / max(1, len(result.notes))
    assert recall >= 0.95 and precision >= 0.95, (recall, precision)
    right = sum(1 for t, h in pairs if t.midi == h.midi)
    assert right / len(expected) >= 0.95
    # each planted detune is heard in the right direction
    for t, h in pairs:
        if abs(t.cents) >= 18 and t.midi == h.midi:
            assert np.sign(h.cents) == np.sign(t.cents) and abs(h.cents) > 10, (t, h)
    for name in ("pitch_accuracy", "scale_conformity", "timing_stability", "noise_control"):
        assert getattr(result.metrics, name) == pytest.approx(getattr(truth_metrics, name), abs=6.0), name


def test_a_long_stream_keeps_only_recent_analysis_frames():
    """Memory stays flat over a long session: the per-frame series forget what no decision
    reads any more, and notes keep coming out right after the first frames are forgotten."""
    from fretcoach_desktop.audio.analyzer import KEEP_FRAMES_S

    rng = np.random.default_rng(3)
    seconds = 2.5 * KEEP_FRAMES_S
    y = noise_floor(int(seconds * SR), SR, rng)
    onsets = np.arange(0.5, seconds - 1.0, 0.5)
    midis = [45 + (k * 5) % 24 for k in range(onsets.size)]
    for t, midi in zip(onsets, midis):
        tone = soft_tone(midi, 0.45, SR)
        y[int(t * SR) :][: tone.size] += tone
    az = StreamingAnalyzer(SR, bpm=120, key="C", scale="major")
    for i in range(0, y.size, 4096):
        az.process(y[i : i + 4096].astype(np.float32))
    az.finish()
    assert [n.midi for n in az.notes] == midis
    frames_per_s = az.low_rate / az.hop
    kept = len(az._f0._items)  # noqa: SLF001 - the point of the test
    assert len(az._f0) > 2 * KEEP_FRAMES_S * frames_per_s  # every frame was analysed...
    assert kept < 1.6 * KEEP_FRAMES_S * frames_per_s  # ...but only the recent ones are kept
