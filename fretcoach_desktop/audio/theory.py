"""Music theory helpers: keys, scales, note names and pitch <-> frequency.

Everything here is pure Python and exact; it is shared by the analyzer, the CLI, the
fretboard and the coach.

Conventions
-----------
* MIDI note numbers: 69 is A4, 60 is C4 (middle C); octave numbers change at C.
* Pitch classes: 0 = C, 1 = C#/Db, ..., 11 = B.
* Keys are written with a letter and an optional accidental: ``C C# Db D D# Eb E F F# Gb
  G G# Ab A A# Bb B``. Input is case-insensitive (``"a"``, ``"bb"``, ``"C#"``); a ``b``
  means flat only *after* the letter, so ``"b"`` is B and ``"bb"`` is B flat. The
  Unicode signs ``♯`` and ``♭`` are accepted too.
* Scale names are canonical snake_case (``minor_pentatonic``); input may use spaces,
  hyphens and any case, and a few common aliases (``aeolian``, ``ionian``, ...).
"""

from __future__ import annotations

import math
from functools import lru_cache

__all__ = [
    "KEYS",
    "SCALES",
    "SCALE_ALIASES",
    "TheoryError",
    "freq_to_midi_cents",
    "in_scale",
    "key_prefers_flats",
    "midi_to_freq",
    "normalize_key",
    "normalize_scale",
    "note_name",
    "pitch_class",
    "scale_pitch_classes",
]


class TheoryError(ValueError):
    """An unknown key or scale, or a value that has no musical meaning."""


#: Every key name the app accepts, in chromatic order (enharmonic spellings side by side).
KEYS: tuple[str, ...] = (
    "C", "C#", "Db", "D", "D#", "Eb", "E", "F", "F#", "Gb", "G", "G#", "Ab", "A", "A#", "Bb", "B",
)  # fmt: skip

_KEY_PC: dict[str, int] = {
    "C": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "F": 5, "F#": 6, "Gb": 6,
    "G": 7, "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11,
}  # fmt: skip

#: Scale name -> semitone intervals above the tonic (ascending, starting with 0).
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "major_pentatonic": (0, 2, 4, 7, 9),
    "minor_pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),  # minor blues: minor pentatonic plus the flat fifth
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "chromatic": tuple(range(12)),
}

#: Alternative names (already in normalized snake_case form) -> canonical scale name.
SCALE_ALIASES: dict[str, str] = {
    "ionian": "major",
    "aeolian": "minor",
    "natural_minor": "minor",
    "minor_blues": "blues",
    "pentatonic_major": "major_pentatonic",
    "pentatonic_minor": "minor_pentatonic",
}

# Semitones from the relative major's tonic up to the scale's tonic: D dorian -> C major.
# Used only to choose between sharp and flat spellings.
_MODE_OFFSET: dict[str, int] = {
    "major": 0,
    "major_pentatonic": 0,
    "dorian": 2,
    "phrygian": 4,
    "lydian": 5,
    "mixolydian": 7,
    "minor": 9,
    "minor_pentatonic": 9,
    "blues": 9,
    "harmonic_minor": 9,
    "locrian": 11,
    "chromatic": 0,
}

# Pitch classes of the major keys written with flats: F, Bb, Eb, Ab, Db (and Gb, see below).
_FLAT_MAJOR_PCS = frozenset({5, 10, 3, 8, 1})

_SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")

_SHARP_SIGNS = {"#", "♯"}
_FLAT_SIGNS = {"b", "♭"}


# --------------------------------------------------------------------------- keys and scales


def normalize_key(key: str) -> str:
    """Return the canonical spelling of *key* (``"bb"`` -> ``"Bb"``, ``"c#"`` -> ``"C#"``).

    Raises:
        TheoryError: if *key* is not one of :data:`KEYS` (the message lists them).
    """
    if not isinstance(key, str):
        raise TheoryError(f"key must be a string, not {type(key).__name__}")
    text = key.strip()
    canonical = None
    if 1 <= len(text) <= 2 and text[0].upper() in "ABCDEFG":
        letter = text[0].upper()
        if len(text) == 1:
            canonical = letter
        elif text[1] in _SHARP_SIGNS:
            canonical = letter + "#"
        elif text[1].lower() in _FLAT_SIGNS:
            canonical = letter + "b"
    if canonical not in _KEY_PC:
        raise TheoryError(f"unknown key {key!r}; valid keys: {' '.join(KEYS)}")
    return canonical


def pitch_class(key: str) -> int:
    """Pitch class (0 = C ... 11 = B) of a key name such as ``"A"``, ``"Bb"`` or ``"f#"``."""
    return _KEY_PC[normalize_key(key)]


def normalize_scale(scale: str) -> str:
    """Return the canonical name of *scale* (``"Minor Pentatonic"`` -> ``"minor_pentatonic"``).

    Spaces and hyphens count as underscores, case is ignored and the aliases in
    :data:`SCALE_ALIASES` (``aeolian``, ``ionian``, ...) are resolved.

    Raises:
        TheoryError: if the scale is unknown (the message lists the valid names).
    """
    if not isinstance(scale, str):
        raise TheoryError(f"scale must be a string, not {type(scale).__name__}")
    words = scale.strip().lower().replace("-", " ").replace("_", " ").split()
    name = "_".join(words)
    name = SCALE_ALIASES.get(name, name)
    if name not in SCALES:
        raise TheoryError(f"unknown scale {scale!r}; valid scales: {', '.join(SCALES)}")
    return name


@lru_cache(maxsize=512)
def scale_pitch_classes(key: str, scale: str) -> frozenset[int]:
    """The set of pitch classes (0-11) of *scale* built on *key*.

    >>> sorted(scale_pitch_classes("A", "minor_pentatonic"))
    [0, 2, 4, 7, 9]
    """
    tonic = pitch_class(key)
    return frozenset((tonic + step) % 12 for step in SCALES[normalize_scale(scale)])


def in_scale(midi: int, key: str, scale: str) -> bool:
    """Whether MIDI note *midi* belongs to *scale* on *key* (octave is irrelevant).

    The scale's pitch-class set is cached, so this is cheap to call per note.
    """
    return _as_int(midi, "midi") % 12 in scale_pitch_classes(key, scale)


def key_prefers_flats(key: str, scale: str) -> bool:
    """Whether note names in *key*/*scale* are conventionally spelled with flats.

    * A key written with a flat (``Bb``, ``eb``) uses flats; one written with a sharp uses
      sharps.
    * Otherwise the relative major decides: F, Bb, Eb, Ab, Db (and Gb) majors, and the minors
      and modes that share their notes (D minor, G dorian, C mixolydian, ...), use flats.
      Pentatonic and blues scales follow their parent major or minor key, chromatic follows
      the key itself. Everything else uses sharps.
    """
    canonical = normalize_key(key)
    name = normalize_scale(scale)
    if canonical.endswith("b"):
        return True
    if canonical.endswith("#"):
        return False
    parent_major = (_KEY_PC[canonical] - _MODE_OFFSET[name]) % 12
    # Gb and F# major are equally long; a natural-letter tonic reaches pitch class 6 only as
    # F locrian (Gb major, flats) or B lydian (F# major, sharps).
    if parent_major == 6:
        return canonical == "F"
    return parent_major in _FLAT_MAJOR_PCS


# --------------------------------------------------------------------------- notes and pitch


def note_name(midi: int, prefer_flats: bool = False) -> str:
    """Name of MIDI note *midi* with its octave: ``69`` -> ``"A4"``, ``61`` -> ``"C#4"``.

    With ``prefer_flats=True`` the black keys are spelled as flats (``61`` -> ``"Db4"``).
    """
    value = _as_int(midi, "midi")
    names = _FLAT_NAMES if prefer_flats else _SHARP_NAMES
    return f"{names[value % 12]}{value // 12 - 1}"


def midi_to_freq(midi: float, a4: float = 440.0) -> float:
    """Equal-tempered frequency in Hz of (possibly fractional) MIDI note *midi*."""
    ref = _positive_float(a4, "A4 reference")
    return ref * 2.0 ** ((float(midi) - 69.0) / 12.0)


def freq_to_midi_cents(freq_hz: float, a4: float = 440.0) -> tuple[int, float]:
    """Nearest MIDI note to *freq_hz* and the deviation from it in cents.

    The cents value lies in ``[-50, 50)``: a frequency exactly half-way between two notes
    belongs to the upper one (at -50 cents).

    >>> freq_to_midi_cents(440.0)
    (69, 0.0)

    Raises:
        TheoryError: if *freq_hz* or *a4* is not a positive finite number.
    """
    ref = _positive_float(a4, "A4 reference")
    freq = _positive_float(freq_hz, "frequency")
    semitones = 69.0 + 12.0 * math.log2(freq / ref)
    midi = math.floor(semitones + 0.5)
    cents = (semitones - midi) * 100.0
    return midi, cents


# --------------------------------------------------------------------------- helpers


def _as_int(value: object, what: str) -> int:
    """*value* as an int; accepts numpy integers and integral floats, rejects the rest."""
    if isinstance(value, bool):
        raise TheoryError(f"{what} must be an integer, not a bool")
    try:
        as_int = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        raise TheoryError(f"{what} must be an integer, got {value!r}") from None
    if as_int != value:
        raise TheoryError(f"{what} must be an integer, got {value!r}")
    return as_int


def _positive_float(value: object, what: str) -> float:
    """*value* as a float of Hz; it must be a positive finite number (numpy scalars too)."""
    try:
        as_float = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        as_float = math.nan
    if isinstance(value, bool | str) or not math.isfinite(as_float) or as_float <= 0:
        raise TheoryError(f"{what} must be a positive finite number of Hz, got {value!r}")
    return as_float
