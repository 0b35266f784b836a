from __future__ import annotations

import math

import pytest

from fretcoach_desktop.audio.metrics import (
    METRIC_NAMES,
    compute_metrics,
    pitch_score,
    timing_score,
    weakest_metric,
)
from fretcoach_desktop.audio.types import Metrics, NoiseEvent, Note


def note(onset_s: float = 1.0, cents: float = 0.0, in_scale: bool = True, offset_ms: float = 0.0) -> Note:
    return Note(
        onset_s=onset_s,
        emitted_s=onset_s + 0.03,
        midi=57,
        note="A3",
        cents=cents,
        in_scale=in_scale,
        grid_s=onset_s - offset_ms / 1000.0,
        timing_offset_ms=offset_ms,
    )


def noise(start_s: float) -> NoiseEvent:
    return NoiseEvent(start_s=start_s, end_s=start_s + 0.05)


@pytest.mark.parametrize(
    ("cents", "score"),
    [(0.0, 1.0), (5.0, 1.0), (-10.0, 1.0), (10.0, 1.0), (10.4, 0.99), (20.0, 0.75), (-30.0, 0.5),
     (40.0, 0.25), (49.0, 0.025), (50.0, 0.0), (-50.0, 0.0), (80.0, 0.0)],
)  # fmt: skip
def test_pitch_score(cents, score):
    assert pitch_score(cents) == pytest.approx(score)


@pytest.mark.parametrize(
    ("offset_ms", "score"),
    [(0.0, 1.0), (-15.0, 1.0), (15.0, 1.0), (15.85, 0.99), (32.0, 0.8), (-57.5, 0.5), (83.0, 0.2),
     (100.0, 0.0), (-100.0, 0.0), (250.0, 0.0)],
)  # fmt: skip
def test_timing_score(offset_ms, score):
    assert timing_score(offset_ms) == pytest.approx(score)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_deviation_scores_zero(value):
    assert pitch_score(value) == 0.0
    assert timing_score(value) == 0.0


def test_scores_are_monotonic_between_the_thresholds():
    pitch = [pitch_score(c / 10) for c in range(0, 600)]
    timing = [timing_score(o / 10) for o in range(0, 1100)]
    assert all(a >= b for a, b in zip(pitch, pitch[1:]))
    assert all(a >= b for a, b in zip(timing, timing[1:]))


def test_compute_metrics_hand_computed():
    notes = [
        note(1.0, cents=0.0, in_scale=True, offset_ms=0.0),  # pitch 1, timing 1
        note(2.0, cents=30.0, in_scale=False, offset_ms=57.5),  # pitch 0.5, timing 0.5
        note(3.0, cents=-50.0, in_scale=True, offset_ms=-100.0),  # pitch 0, timing 0
        note(4.0, cents=20.0, in_scale=True, offset_ms=32.0),  # pitch 0.75, timing 0.8
    ]
    m = compute_metrics(notes, [noise(1.5)])
    assert m.pitch_accuracy == pytest.approx(100 * (1 + 0.5 + 0 + 0.75) / 4)  # 56.25
    assert m.scale_conformity == pytest.approx(75.0)
    assert m.timing_stability == pytest.approx(100 * (1 + 0.5 + 0 + 0.8) / 4)  # 57.5
    assert m.noise_control == pytest.approx(80.0)  # 4 / (4 + 1)
    assert m.notes == 4
    assert m.noise_events == 1


def test_compute_metrics_boundaries_give_full_and_zero_scores():
    full = compute_metrics([note(cents=10.0, offset_ms=15.0), note(2.0, cents=-10.0, offset_ms=-15.0)], [])
    assert full.pitch_accuracy == pytest.approx(100.0)
    assert full.timing_stability == pytest.approx(100.0)
    assert full.noise_control == pytest.approx(100.0)
    zero = compute_metrics([note(cents=50.0, offset_ms=100.0, in_scale=False)], [noise(0.5)])
    assert zero.pitch_accuracy == pytest.approx(0.0)
    assert zero.timing_stability == pytest.approx(0.0)
    assert zero.scale_conformity == pytest.approx(0.0)
    assert zero.noise_control == pytest.approx(50.0)


def test_no_notes_gives_none_not_zero():
    m = compute_metrics([], [noise(1.0), noise(2.0)])
    assert m.pitch_accuracy is None
    assert m.scale_conformity is None
    assert m.timing_stability is None
    assert m.noise_control is None
    assert m.notes == 0
    assert m.noise_events == 2
    assert m.to_json() == dict.fromkeys(METRIC_NAMES)


def test_window_selects_by_onset_and_noise_start_half_open():
    notes = [
        note(0.99, cents=0.0),
        note(1.0, cents=20.0),  # first in [1, 3)
        note(2.5, cents=30.0),
        note(3.0, cents=0.0),  # excluded: end is exclusive
    ]
    events = [noise(0.5), noise(1.0), noise(2.99), noise(3.0)]
    m = compute_metrics(notes, events, start_s=1.0, end_s=3.0)
    assert m.notes == 2
    assert m.noise_events == 2
    assert m.pitch_accuracy == pytest.approx(100 * (0.75 + 0.5) / 2)
    assert m.noise_control == pytest.approx(50.0)


def test_open_ended_windows():
    notes = [note(1.0), note(2.0, in_scale=False), note(3.0)]
    assert compute_metrics(notes, [], start_s=2.0).notes == 2
    assert compute_metrics(notes, [], end_s=2.0).notes == 1
    assert compute_metrics(notes, [], start_s=2.0).scale_conformity == pytest.approx(50.0)


def test_window_without_notes_is_none_even_if_other_notes_exist():
    m = compute_metrics([note(1.0)], [noise(5.5)], start_s=5.0, end_s=6.0)
    assert m.pitch_accuracy is None
    assert m.noise_events == 1


def test_compute_metrics_accepts_generators():
    m = compute_metrics((note(t) for t in (1.0, 2.0)), (noise(t) for t in (1.5,)))
    assert m.notes == 2
    assert m.noise_control == pytest.approx(100 * 2 / 3)


def test_weakest_metric():
    m = Metrics(pitch_accuracy=90.0, scale_conformity=95.0, timing_stability=70.0, noise_control=80.0)
    assert weakest_metric(m) == "timing_stability"
    m = Metrics(pitch_accuracy=40.0, scale_conformity=95.0, timing_stability=70.0, noise_control=80.0)
    assert weakest_metric(m) == "pitch_accuracy"


def test_weakest_metric_ties_go_to_the_first_listed():
    m = Metrics(pitch_accuracy=90.0, scale_conformity=60.0, timing_stability=90.0, noise_control=60.0)
    assert weakest_metric(m) == "scale_conformity"


def test_weakest_metric_none_and_partial():
    assert weakest_metric(Metrics(None, None, None, None)) is None
    assert weakest_metric(Metrics(None, 50.0, None, 70.0)) == "scale_conformity"
    assert weakest_metric(compute_metrics([note(cents=45.0)], [])) == "pitch_accuracy"
