from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from fretcoach_desktop.audio.metronome import Grid, render_click


def test_period_and_beat_length():
    assert Grid(120).period_s == pytest.approx(0.5)
    assert Grid(120).beat_s == pytest.approx(0.5)
    assert Grid(120, 2).period_s == pytest.approx(0.25)
    assert Grid(90, 3).period_s == pytest.approx(60 / 90 / 3)
    assert Grid(96, 4).period_s == pytest.approx(0.15625)
    assert Grid(96, 4).beat_s == pytest.approx(0.625)


def test_nearest_on_grid_early_and_late():
    grid = Grid(120)  # a grid point every 0.5 s
    assert grid.nearest(2.0) == (pytest.approx(2.0), pytest.approx(0.0))
    grid_s, offset = grid.nearest(2.03)
    assert grid_s == pytest.approx(2.0) and offset == pytest.approx(30.0)
    grid_s, offset = grid.nearest(1.96)
    assert grid_s == pytest.approx(2.0) and offset == pytest.approx(-40.0)  # negative = early
    grid_s, offset = grid.nearest(2.24)
    assert grid_s == pytest.approx(2.0) and offset == pytest.approx(240.0)
    grid_s, offset = grid.nearest(2.26)
    assert grid_s == pytest.approx(2.5) and offset == pytest.approx(-240.0)


def test_nearest_with_subdivision_matches_corpus_example():
    # corpus README: bpm 108, subdivision 2, onset 2.25573 -> grid 2.22222, +33.51 ms
    grid = Grid(108, 2)
    grid_s, offset = grid.nearest(2.25573)
    assert grid_s == pytest.approx(2.22222, abs=1e-5)
    assert offset == pytest.approx(33.51, abs=0.01)
    assert grid.beat_index(2.25573) == 8


def test_half_way_between_grid_points_goes_to_the_later_one():
    grid = Grid(120)  # 0.0, 0.5, 1.0, ...
    assert grid.nearest(0.25) == (pytest.approx(0.5), pytest.approx(-250.0))
    assert grid.beat_index(0.25) == 1
    assert grid.beat_index(1.25) == 3


def test_grid_starts_at_zero():
    grid = Grid(60)
    assert grid.nearest(0.0) == (0.0, 0.0)
    grid_s, offset = grid.nearest(-0.2)
    assert grid_s == 0.0 and offset == pytest.approx(-200.0)
    assert grid.beat_index(-3.0) == 0


def test_beat_index_is_consistent_with_nearest():
    grid = Grid(96, 2)
    for t in np.linspace(0.0, 20.0, 401):
        k = grid.beat_index(float(t))
        grid_s, offset = grid.nearest(float(t))
        assert grid_s == pytest.approx(k * grid.period_s)
        assert abs(offset) <= grid.period_s * 500 + 1e-9
    assert grid.beat_index(0.3125 * 7 + 0.01) == 7


def test_is_beat():
    grid = Grid(100, 2)
    assert [grid.is_beat(k) for k in range(5)] == [True, False, True, False, True]
    assert all(Grid(100).is_beat(k) for k in range(5))


def test_ticks_half_open_interval():
    grid = Grid(120, 2)  # every 0.25 s
    assert np.allclose(grid.ticks(0.0, 1.0), [0.0, 0.25, 0.5, 0.75])
    assert np.allclose(grid.ticks(0.1, 0.76), [0.25, 0.5, 0.75])
    assert grid.ticks(0.3, 0.4).size == 0
    assert np.allclose(grid.ticks(-1.0, 0.3), [0.0, 0.25])


@pytest.mark.parametrize("bpm", [19.99, 400.01, 0, -120, math.nan, math.inf, "120", None, True])
def test_invalid_bpm(bpm):
    with pytest.raises(ValueError, match="bpm must be a number from 20 to 400"):
        Grid(bpm)


@pytest.mark.parametrize("bpm", [20, 20.0, 400, 133.5, np.float32(90.0), np.int64(60)])
def test_valid_bpm_is_stored_as_float(bpm):
    grid = Grid(bpm)
    assert type(grid.bpm) is float and grid.bpm == float(bpm)


@pytest.mark.parametrize("sub", [0, 5, -1, 2.0, "2", True])
def test_invalid_subdivision(sub):
    with pytest.raises(ValueError, match="subdivision must be one of 1, 2, 3, 4"):
        Grid(100, sub)


def test_grid_is_frozen():
    grid = Grid(100, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        grid.bpm = 50  # type: ignore[misc]
    assert grid == Grid(100.0, 2)


@pytest.mark.parametrize("sample_rate", [8000, 44100, 48000, 96000])
def test_render_click_shape_and_range(sample_rate):
    for accent in (False, True):
        click = render_click(sample_rate, accent)
        assert click.dtype == np.float32 and click.ndim == 1
        assert click.size == round(0.040 * sample_rate)
        assert np.max(np.abs(click)) <= 1.0
        assert click[0] == 0.0 and abs(click[-1]) < 1e-6  # no pop at either end


def _dominant_hz(signal: np.ndarray, sample_rate: int) -> float:
    padded = np.zeros(1 << 16)
    padded[: signal.size] = signal
    spectrum = np.abs(np.fft.rfft(padded))
    return float(np.argmax(spectrum)) * sample_rate / padded.size


def test_accented_click_is_higher_and_louder():
    plain = render_click(48000, accent=False)
    accent = render_click(48000, accent=True)
    assert np.max(np.abs(accent)) > 1.5 * np.max(np.abs(plain))
    assert _dominant_hz(accent, 48000) == pytest.approx(1600, abs=10)
    assert _dominant_hz(plain, 48000) == pytest.approx(1000, abs=10)


def test_click_decays():
    click = render_click(44100, accent=True)
    quarter = click.size // 4
    assert np.max(np.abs(click[:quarter])) > 10 * np.max(np.abs(click[-quarter:]))


@pytest.mark.parametrize("bad", [0, 7999, 192001, 44100.0, True])
def test_render_click_rejects_bad_sample_rates(bad):
    with pytest.raises(ValueError, match="sample_rate"):
        render_click(bad, accent=False)
