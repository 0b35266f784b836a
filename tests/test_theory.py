from __future__ import annotations

import math

import numpy as np
import pytest

from fretcoach_desktop.audio.theory import (
    KEYS,
    SCALES,
    TheoryError,
    freq_to_midi_cents,
    in_scale,
    key_prefers_flats,
    midi_to_freq,
    normalize_key,
    normalize_scale,
    note_name,
    pitch_class,
    scale_pitch_classes,
)


def test_keys_are_the_contract_keys_in_order():
    assert KEYS == ("C", "C#", "Db", "D", "D#", "Eb", "E", "F", "F#", "Gb", "G", "G#", "Ab", "A", "A#", "Bb", "B")


@pytest.mark.parametrize(
    ("key", "pc"),
    [("C", 0), ("C#", 1), ("Db", 1), ("D", 2), ("D#", 3), ("Eb", 3), ("E", 4), ("F", 5), ("F#", 6),
     ("Gb", 6), ("G", 7), ("G#", 8), ("Ab", 8), ("A", 9), ("A#", 10), ("Bb", 10), ("B", 11)],
)  # fmt: skip
def test_pitch_class_of_every_key(key, pc):
    assert pitch_class(key) == pc


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("a", "A"), ("b", "B"), ("bb", "Bb"), ("BB", "Bb"), ("Bb", "Bb"), ("c#", "C#"), (" F# ", "F#"),
     ("eb", "Eb"), ("A♯", "A#"), ("E♭", "Eb")],
)  # fmt: skip
def test_normalize_key_accepts_case_and_accidentals(text, canonical):
    assert normalize_key(text) == canonical


@pytest.mark.parametrize("bad", ["H", "", "Cb", "E#", "B#", "Fb", "A##", "Ab7", "#A", "bA", "la"])
def test_unknown_keys_raise_with_the_valid_choices(bad):
    with pytest.raises(TheoryError) as info:
        pitch_class(bad)
    message = str(info.value)
    assert repr(bad) in message
    assert "C C# Db D D# Eb E F F# Gb G G# Ab A A# Bb B" in message


def test_theory_error_is_a_value_error():
    assert issubclass(TheoryError, ValueError)
    with pytest.raises(ValueError):
        normalize_key(3)  # type: ignore[arg-type]


def test_required_scales_have_the_right_intervals():
    assert SCALES["major"] == (0, 2, 4, 5, 7, 9, 11)
    assert SCALES["minor"] == (0, 2, 3, 5, 7, 8, 10)
    assert SCALES["major_pentatonic"] == (0, 2, 4, 7, 9)
    assert SCALES["minor_pentatonic"] == (0, 3, 5, 7, 10)
    assert SCALES["blues"] == (0, 3, 5, 6, 7, 10)
    assert SCALES["dorian"] == (0, 2, 3, 5, 7, 9, 10)
    assert SCALES["mixolydian"] == (0, 2, 4, 5, 7, 9, 10)
    assert SCALES["phrygian"] == (0, 1, 3, 5, 7, 8, 10)
    assert SCALES["lydian"] == (0, 2, 4, 6, 7, 9, 11)
    assert SCALES["locrian"] == (0, 1, 3, 5, 6, 8, 10)
    assert SCALES["harmonic_minor"] == (0, 2, 3, 5, 7, 8, 11)
    assert SCALES["chromatic"] == tuple(range(12))


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("minor pentatonic", "minor_pentatonic"), ("Minor-Pentatonic", "minor_pentatonic"),
     ("MAJOR_PENTATONIC", "major_pentatonic"), ("aeolian", "minor"), ("Ionian", "major"),
     ("natural minor", "minor"), ("harmonic minor", "harmonic_minor"), ("  dorian ", "dorian"),
     ("minor blues", "blues")],
)  # fmt: skip
def test_scale_names_and_aliases(text, canonical):
    assert normalize_scale(text) == canonical


def test_unknown_scale_lists_the_valid_scales():
    with pytest.raises(TheoryError) as info:
        normalize_scale("superlocrian")
    message = str(info.value)
    assert "'superlocrian'" in message
    for name in ("major", "minor_pentatonic", "blues", "dorian", "mixolydian"):
        assert name in message


def test_scale_pitch_classes_hand_computed():
    assert scale_pitch_classes("A", "minor_pentatonic") == frozenset({9, 0, 2, 4, 7})  # A C D E G
    assert scale_pitch_classes("C", "major") == frozenset({0, 2, 4, 5, 7, 9, 11})
    assert scale_pitch_classes("B", "major_pentatonic") == frozenset({11, 1, 3, 6, 8})  # B C# D# F# G#
    assert scale_pitch_classes("E", "blues") == frozenset({4, 7, 9, 10, 11, 2})  # E G A Bb B D
    assert scale_pitch_classes("bb", "Dorian") == frozenset({10, 0, 1, 3, 5, 7, 8})


def test_enharmonic_keys_give_the_same_scale():
    assert scale_pitch_classes("C#", "major") == scale_pitch_classes("Db", "major")


def test_in_scale_ignores_octave_and_accepts_numpy_ints():
    assert in_scale(57, "A", "minor_pentatonic")  # A3
    assert in_scale(69 + 24, "A", "minor_pentatonic")  # A6
    assert not in_scale(58, "A", "minor_pentatonic")  # A#3
    assert in_scale(np.int64(60), "A", "minor")
    assert not in_scale(61, "A", "minor")
    with pytest.raises(TheoryError):
        in_scale(60.5, "A", "minor")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("midi", "sharp", "flat"),
    [(69, "A4", "A4"), (60, "C4", "C4"), (61, "C#4", "Db4"), (57, "A3", "A3"), (59, "B3", "B3"),
     (70, "A#4", "Bb4"), (40, "E2", "E2"), (21, "A0", "A0"), (0, "C-1", "C-1"), (127, "G9", "G9")],
)  # fmt: skip
def test_note_names(midi, sharp, flat):
    assert note_name(midi) == sharp
    assert note_name(midi, prefer_flats=True) == flat


@pytest.mark.parametrize(
    ("key", "scale", "flats"),
    [
        ("F", "major", True), ("Bb", "major", True), ("Eb", "major", True), ("Ab", "major", True),
        ("Db", "major", True), ("Gb", "major", True),
        ("C", "major", False), ("G", "major", False), ("D", "major", False), ("F#", "major", False),
        ("D", "minor", True), ("G", "minor", True), ("C", "minor", True), ("F", "minor", True),
        ("A", "minor", False), ("E", "minor", False), ("B", "minor", False),
        ("G", "dorian", True), ("C", "mixolydian", True), ("D", "dorian", False),
        ("C", "phrygian", True), ("E", "phrygian", False), ("F", "locrian", True),
        ("F", "phrygian", True), ("C", "locrian", True), ("B", "locrian", False),
        ("B", "lydian", False), ("F", "lydian", False),
        ("D", "minor_pentatonic", True), ("A", "minor_pentatonic", False), ("G", "blues", True),
        ("F", "major_pentatonic", True), ("bb", "minor", True), ("A#", "minor", False),
        ("C#", "major", False), ("db", "major", True),
    ],
)  # fmt: skip
def test_key_prefers_flats(key, scale, flats):
    assert key_prefers_flats(key, scale) is flats


def test_key_prefers_flats_validates():
    with pytest.raises(TheoryError):
        key_prefers_flats("H", "major")
    with pytest.raises(TheoryError):
        key_prefers_flats("C", "bebop")


def test_midi_to_freq():
    assert midi_to_freq(69) == pytest.approx(440.0)
    assert midi_to_freq(57) == pytest.approx(220.0)
    assert midi_to_freq(60) == pytest.approx(261.6255653, rel=1e-9)
    assert midi_to_freq(40) == pytest.approx(82.4068892, rel=1e-9)  # low E string
    assert midi_to_freq(69, a4=432.0) == pytest.approx(432.0)
    assert midi_to_freq(69.5) == pytest.approx(440.0 * 2 ** (0.5 / 12))


def test_freq_to_midi_cents_exact_notes():
    assert freq_to_midi_cents(440.0) == (69, pytest.approx(0.0, abs=1e-9))
    midi, cents = freq_to_midi_cents(82.4068892)
    assert midi == 40 and cents == pytest.approx(0.0, abs=1e-5)


def test_freq_to_midi_cents_deviations():
    midi, cents = freq_to_midi_cents(440.0 * 2 ** (25 / 1200))
    assert midi == 69 and cents == pytest.approx(25.0)
    midi, cents = freq_to_midi_cents(440.0 * 2 ** (-30 / 1200))
    assert midi == 69 and cents == pytest.approx(-30.0)
    midi, cents = freq_to_midi_cents(440.0 * 2 ** (70 / 1200))  # 70 c above A4 = 30 c below A#4
    assert midi == 70 and cents == pytest.approx(-30.0)


def test_freq_to_midi_cents_half_way_and_range():
    midi, cents = freq_to_midi_cents(440.0 * 2 ** (50 / 1200))
    assert midi in (69, 70) and abs(cents) == pytest.approx(50.0)
    for freq in np.geomspace(30.0, 5000.0, 997):
        midi, cents = freq_to_midi_cents(float(freq))
        assert -50.0 <= cents <= 50.0
        assert midi_to_freq(midi + cents / 100.0) == pytest.approx(freq, rel=1e-9)


def test_freq_to_midi_cents_respects_a4():
    midi, cents = freq_to_midi_cents(432.0, a4=432.0)
    assert midi == 69 and cents == pytest.approx(0.0, abs=1e-9)
    midi, cents = freq_to_midi_cents(440.0, a4=432.0)
    assert midi == 69 and cents == pytest.approx(1200 * math.log2(440 / 432))


def test_freq_to_midi_cents_accepts_numpy_scalars():
    midi, cents = freq_to_midi_cents(np.float32(220.0))
    assert midi == 57 and cents == pytest.approx(0.0, abs=1e-4)


@pytest.mark.parametrize("bad", [0.0, -440.0, math.nan, math.inf, "440", None])
def test_freq_to_midi_cents_rejects_non_frequencies(bad):
    with pytest.raises(TheoryError):
        freq_to_midi_cents(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_bad_a4_is_rejected(bad):
    with pytest.raises(TheoryError):
        freq_to_midi_cents(440.0, a4=bad)
    with pytest.raises(TheoryError):
        midi_to_freq(69, a4=bad)
