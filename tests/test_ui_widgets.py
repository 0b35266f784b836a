"""Widgets and models of the practice window (pytest-qt, offscreen)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

pytest.importorskip("PySide6")

from fretcoach_desktop.audio.types import Metrics, Note  # noqa: E402
from fretcoach_desktop.ui.fretboard import FretboardWidget, positions_for_midi  # noqa: E402
from fretcoach_desktop.ui.history import HistoryView, SessionTableModel  # noqa: E402
from fretcoach_desktop.ui.last_notes import LastNotesStrip  # noqa: E402
from fretcoach_desktop.ui.level_meter import LevelMeter  # noqa: E402
from fretcoach_desktop.ui.metrics_panel import MetricsPanel  # noqa: E402
from fretcoach_desktop.ui.services import ExerciseSettings, SessionRecord  # noqa: E402
from fretcoach_desktop.ui.verdicts import build_summary, describe_note, timing_label, tuning_label  # noqa: E402


def note(midi=57, name="A3", cents=0.0, offset_ms=0.0, in_scale=True, onset=1.0) -> Note:
    return Note(onset, onset + 0.03, midi, name, cents, in_scale, onset - offset_ms / 1000, offset_ms)


# --------------------------------------------------------------------------- fretboard


def test_positions_for_midi_standard_tuning():
    assert positions_for_midi(40) == [(0, 0)]  # low E open
    assert positions_for_midi(45) == [(1, 0), (0, 5)]  # A2: open A or 5th fret low E
    assert positions_for_midi(64) == [(5, 0), (4, 5), (3, 9), (2, 14)]  # E4
    assert positions_for_midi(39) == []  # below the guitar
    assert positions_for_midi(64 + 15) == [(5, 15)]
    assert positions_for_midi(64 + 16) == []


def test_fretboard_marks_scale_notes(qtbot):
    board = FretboardWidget()
    qtbot.addWidget(board)
    board.set_scale("A", "minor_pentatonic")  # A C D E G
    marked = board.scale_positions()
    assert (0, 5) in marked  # A on the low E string
    assert (0, 0) in marked  # open E
    assert (0, 1) not in marked  # F
    assert (1, 3) in marked  # C on the A string
    assert (1, 4) not in marked  # C#
    assert all(f <= 15 for _, f in marked)
    board.set_scale("E", "major")
    assert (0, 4) in board.scale_positions()  # G# in E major


def test_fretboard_lights_played_notes_and_fades(qtbot):
    now = [100.0]
    board = FretboardWidget(clock=lambda: now[0])
    qtbot.addWidget(board)
    board.light_notes([note(midi=45, in_scale=True), note(midi=46, name="A#2", in_scale=False)])
    lit = board.lit()
    assert [(n.midi, n.in_scale) for n in lit] == [(45, True), (46, False)]
    assert all(n.fret in (0, 5, 1, 6) for n in lit)
    now[0] += 5.0
    board.tick()
    assert board.lit() == []


# --------------------------------------------------------------------------- verdicts and the last-notes strip


@pytest.mark.parametrize(
    ("offset", "label"),
    [(-40.0, "early"), (-15.4, "on time"), (0.0, "on time"), (15.4, "on time"), (15.6, "late"), (80.0, "late")],
)
def test_timing_label(offset, label):
    assert timing_label(offset) == label


@pytest.mark.parametrize(
    ("cents", "label"), [(-22.0, "flat"), (-10.4, "in tune"), (4.0, "in tune"), (10.4, "in tune"), (10.6, "sharp")]
)
def test_tuning_label(cents, label):
    assert tuning_label(cents) == label


def test_what_a_note_label_shows_agrees_with_the_scoring_rules():
    """+-15 ms is on time and +-10 cents in tune (the metric definitions): a label never
    reads "15 ms late" or "+10c sharp", and a note whose numbers read as on time and in
    tune is a good note, not one of the session's worst."""
    from fretcoach_desktop.ui.verdicts import worst_notes

    for tenths in range(-300, 301):
        value = tenths / 10
        timed = describe_note(note(cents=0.0, offset_ms=value))
        shown_ms = int(timed.timing_text.split()[0]) if timed.timing_text != "on time" else 0
        assert (timed.timing == "on time") == (abs(shown_ms) <= 15 and abs(round(value)) <= 15), value
        tuned = describe_note(note(cents=value, offset_ms=0.0))
        assert (tuned.tuning == "in tune") == (abs(int(tuned.cents_text[:-1])) <= 10), value
    edge = [note(cents=10.4, offset_ms=15.3, onset=1.0), note(cents=-10.2, offset_ms=-15.0, onset=2.0)]
    assert all(describe_note(n).good for n in edge)
    assert worst_notes(edge) == ()


def test_describe_note_says_why():
    v = describe_note(note(name="C4", midi=60, cents=22.4, offset_ms=40.0, in_scale=False))
    assert v.tuning == "sharp" and v.timing == "late" and not v.in_scale
    assert v.cents_text == "+22c"
    assert v.timing_text == "40 ms late"
    assert v.problems == ("out of scale", "22 cents sharp", "40 ms late")
    good = describe_note(note(cents=-3.0, offset_ms=2.0))
    assert good.good and good.timing_text == "on time" and good.why == "good note"


def test_last_notes_strip_labels_newest_first(qtbot):
    strip = LastNotesStrip()
    qtbot.addWidget(strip)
    assert strip.verdicts() == []
    notes = [
        note(name="A3", cents=-3.0, offset_ms=1.0, onset=1.0),
        note(name="C4", midi=60, cents=22.0, offset_ms=40.0, onset=1.5),
        note(name="D4", midi=62, cents=-30.0, offset_ms=-35.0, onset=2.0),
        note(name="F4", midi=65, cents=0.0, offset_ms=0.0, in_scale=False, onset=2.5),
    ]
    strip.set_notes(notes)
    verdicts = strip.verdicts()
    assert [v.name for v in verdicts] == ["F4", "D4", "C4", "A3"]
    assert [(v.timing, v.tuning) for v in verdicts] == [
        ("on time", "in tune"),
        ("early", "flat"),
        ("late", "sharp"),
        ("on time", "in tune"),
    ]
    texts = strip.texts()
    assert "out of scale" in texts[0]
    assert "35 ms early" in texts[1] and "flat" in texts[1]
    assert "40 ms late" in texts[2] and "+22c sharp" in texts[2]
    strip.set_notes(notes + [note(name=f"X{i}", onset=3 + i) for i in range(10)])
    assert len(strip.verdicts()) == 6  # only the newest few


# --------------------------------------------------------------------------- metrics panel, level meter


def test_metrics_panel_shows_none_as_dash(qtbot):
    panel = MetricsPanel()
    qtbot.addWidget(panel)
    panel.update_metrics(Metrics(None, None, None, None), Metrics(None, None, None, None), 1.0)
    assert [c.text for c in panel.cards.values()] == ["—"] * 4
    panel.update_metrics(Metrics(93.4, 100.0, None, 81.6, notes=5), Metrics(90.0, 99.0, 70.0, 80.0), 3.0)
    assert [c.text for c in panel.cards.values()] == ["93", "100", "—", "82"]
    assert panel.cards["timing_stability"].session_label.text() == "session 70"
    # trend: one point every 2 s of stream time, None values skipped
    assert [p[1] for p in panel.cards["pitch_accuracy"].trend] == [93.4]
    assert list(panel.cards["timing_stability"].trend) == []
    panel.enable_trends()  # pyqtgraph lines created on demand


def test_level_meter_clip_latch(qtbot):
    now = [10.0]
    meter = LevelMeter(clock=lambda: now[0])
    qtbot.addWidget(meter)
    meter.set_level(-20.0, -6.0, False)
    assert not meter.clipping
    meter.set_level(-3.0, 0.0, True)
    assert meter.clipping
    now[0] += 1.0
    meter.set_level(-20.0, -10.0, False)
    assert meter.clipping  # the warning stays on for a while
    now[0] += 2.5
    meter.set_level(-20.0, -10.0, False)
    assert not meter.clipping


# --------------------------------------------------------------------------- history


def _records(n: int) -> list[SessionRecord]:
    start = datetime(2026, 1, 1, 18, 0)
    return [
        SessionRecord(
            id=i,
            started_at=start + timedelta(days=i),
            key="A",
            scale="minor_pentatonic",
            bpm=90 + i,
            pitch_accuracy=80.0 + i,
            scale_conformity=None if i == 0 else 95.0,
            timing_stability=70.4,
            noise_control=88.0,
            notes_played=100 + i,
            duration_s=125.0,
            worst_notes=("C4 (22 cents sharp)",),
        )
        for i in range(n)
    ]


def test_session_table_model_rows(qtbot):
    model = SessionTableModel()
    assert model.rowCount() == 0
    model.set_sessions(_records(3))
    assert model.rowCount() == 3
    assert model.columnCount() == len(SessionTableModel.COLUMNS) == 10

    def cell(row, col):
        return model.data(model.index(row, col))

    assert cell(0, 0) == "2026-01-01 18:00"
    assert (cell(0, 1), cell(0, 2), cell(0, 3)) == ("A", "minor pentatonic", "90")
    assert (cell(0, 4), cell(0, 5), cell(0, 6), cell(0, 7)) == ("80", "—", "70", "88")
    assert (cell(2, 8), cell(2, 9)) == ("102", "2:05")
    assert model.headerData(4, __import__("PySide6.QtCore").QtCore.Qt.Orientation.Horizontal) == "Pitch"


def test_history_view_empty_state_and_charts(qtbot):
    view = HistoryView()
    qtbot.addWidget(view)
    view.set_sessions([])
    assert view.is_empty
    view.set_sessions(_records(4))
    assert not view.is_empty
    assert view.table.model().rowCount() == 4
    xs, ys = view._curves["pitch_accuracy"].getData()
    assert list(ys) == [80.0, 81.0, 82.0, 83.0]  # oldest first along x
    xs, ys = view._curves["scale_conformity"].getData()
    assert len(ys) == 3  # the session without a value is left out


# --------------------------------------------------------------------------- summary


def test_build_summary_weakest_and_worst_notes():
    notes = [
        note(name="A3", cents=1.0, offset_ms=2.0, onset=1.0),
        note(name="C4", midi=60, cents=30.0, offset_ms=60.0, onset=2.0),
        note(name="F4", midi=65, cents=0.0, offset_ms=0.0, in_scale=False, onset=3.0),
    ]
    s = build_summary(ExerciseSettings(), "Demo", notes, 12.0)
    assert s.notes_played == 3
    assert s.metrics.scale_conformity == pytest.approx(200 / 3)
    assert s.weakest == "scale_conformity"
    assert [w.note for w in s.worst_notes] == ["C4", "F4"]  # A3 was clean
    assert "30 cents sharp" in s.worst_notes[0].why and "60 ms late" in s.worst_notes[0].why
    empty = build_summary(ExerciseSettings(), "Demo", [], 5.0)
    assert empty.weakest is None and empty.worst_notes == ()
