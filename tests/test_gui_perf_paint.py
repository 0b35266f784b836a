"""Painting while a session plays: no re-layout of the window, cached board and colours.

A label whose text changes re-lays out the whole window unless its size is fixed; the
window's live view changes several labels 30 times a second. Timings are in bench/gui.py.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QEvent, QObject  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from fretcoach_desktop.audio.types import Metrics, Note  # noqa: E402
from fretcoach_desktop.config import load_config  # noqa: E402
from fretcoach_desktop.ui import theme  # noqa: E402
from fretcoach_desktop.ui.fakes import FakeCoach, InMemoryStore, ScriptedSource, UiSnapshot  # noqa: E402
from fretcoach_desktop.ui.fretboard import FretboardWidget  # noqa: E402
from fretcoach_desktop.ui.level_meter import LevelMeter  # noqa: E402
from fretcoach_desktop.ui.main_window import MainWindow  # noqa: E402
from fretcoach_desktop.ui.metrics_panel import Sparkline  # noqa: E402
from fretcoach_desktop.ui.prefs import UiPrefs  # noqa: E402
from fretcoach_desktop.ui.services import CoachTip, ExerciseSettings, InputDevice, Services  # noqa: E402
from fretcoach_desktop.ui.settings_dialog import MemorySecretStore  # noqa: E402


def N(onset, midi=57, name="A3", cents=0.0, offset_ms=0.0, in_scale=True) -> Note:
    return Note(onset, onset + 0.03, midi, name, cents, in_scale, onset - offset_ms / 1000, offset_ms)


class LayoutRequests(QObject):
    """Counts the LayoutRequest events delivered anywhere in the application."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


class Audio:
    def __init__(self) -> None:
        self.source = ScriptedSource()

    def list_inputs(self):
        return [InputDevice(name="demo.flac", kind="demo")]

    def open_source(self, request):
        return self.source


@pytest.fixture
def window(qtbot):
    store = InMemoryStore()
    services = Services(
        config=load_config(),
        audio=Audio(),
        store=store,
        coach=FakeCoach(store, interval_s=3600),
        secrets=MemorySecretStore(),
        initial_exercise=ExerciseSettings(key="A", scale="minor_pentatonic", bpm=120, count_in_beats=4),
    )
    w = MainWindow(services, prefs=UiPrefs())
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def test_the_live_view_repaints_without_relaying_out_the_window(qtbot, window):
    src = window.services.audio.source
    assert window.start_session()
    metrics = Metrics(93.0, 100.0, 81.0, 90.0, notes=2)
    src.publish(UiSnapshot(time_s=0.5, level_rms_dbfs=-30.0, level_peak_dbfs=-20.0))  # count-in
    qtbot.waitUntil(lambda: window.frames_painted >= 1, timeout=2000)
    qtbot.wait(100)  # the start's own re-layout (the Stop button) settles
    counter = LayoutRequests()
    app = QApplication.instance()
    app.installEventFilter(counter)
    try:
        notes: tuple[Note, ...] = ()
        texts = set()
        for i in range(12):  # notes arrive, scores change, the clock and the beat move on
            notes = (*notes, N(2.0 + i * 0.5, 57 + i, f"N{i}", cents=(-1) ** i * 7.0 * i, offset_ms=9.0 * i))
            metrics = replace(metrics, pitch_accuracy=50.0 + 4 * i, timing_stability=95.0 - 3 * i)
            painted = window.frames_painted
            src.publish(
                UiSnapshot(
                    notes=notes,
                    window_metrics=metrics,
                    session_metrics=metrics,
                    level_rms_dbfs=-30.0 + i,
                    level_peak_dbfs=-20.0 + i,
                    time_s=1.0 + 5.3 * i,
                )
            )
            qtbot.waitUntil(lambda p=painted: window.frames_painted > p, timeout=2000)
            texts.add((window.session_label.text(), window.metrics.cards["pitch_accuracy"].text))
        qtbot.wait(100)  # let any posted layout request be delivered
    finally:
        app.removeEventFilter(counter)
    assert len(texts) == 12  # the labels really changed every time
    assert len(window.last_notes.verdicts()) == 6
    assert counter.count == 0


def test_a_coach_tip_arriving_mid_session_does_not_relayout_the_window(qtbot, window):
    assert window.start_session()
    qtbot.wait(100)
    counter = LayoutRequests()
    app = QApplication.instance()
    app.installEventFilter(counter)
    try:
        window.tip_received.emit(CoachTip(text="Keep your picking hand loose on the upbeats.", id=1))
        qtbot.waitUntil(lambda: "picking hand" in window.coach_bar.text.text(), timeout=2000)
        window.coach_bar.show_message("A longer note from the app, " * 6)
        qtbot.wait(100)
    finally:
        app.removeEventFilter(counter)
    assert window.coach_bar.up.isEnabled() is False  # a message is not rateable
    assert counter.count == 0
    window.coach_bar.text.grab()  # paints (word-wrapped, clipped to its two lines)


def test_theme_colours_follow_the_palette(qapp):
    before = qapp.palette()
    try:
        assert theme.apply_palette(qapp, True)
        assert theme.colors() is theme.colors()  # cached
        assert theme.is_dark() and theme.colors().board == theme._DARK.board
        assert not theme.apply_palette(qapp, False)
        assert not theme.is_dark() and theme.colors().board == theme._LIGHT.board
    finally:
        qapp.setPalette(before)


def test_fretboard_draws_its_board_once_and_again_when_the_scale_or_size_changes(qtbot, monkeypatch):
    now = [10.0]
    board = FretboardWidget(clock=lambda: now[0])
    qtbot.addWidget(board)
    board.resize(800, 240)
    drawn = []
    original = FretboardWidget._paint_static
    monkeypatch.setattr(FretboardWidget, "_paint_static", lambda self, *a: (drawn.append(1), original(self, *a)))
    board.grab()
    assert len(drawn) == 1
    board.light_notes([N(1.0, 45), N(1.2, 46, "A#2", in_scale=False)])
    for _ in range(5):  # the notes fade: repaints reuse the board
        now[0] += 0.3
        board.tick()
        board.grab()
    assert len(drawn) == 1
    board.set_scale("E", "major")
    board.grab()
    assert len(drawn) == 2
    board.resize(700, 240)
    board.grab()
    assert len(drawn) == 3


def test_level_meter_and_sparkline_paint(qtbot):
    now = [5.0]
    meter = LevelMeter(clock=lambda: now[0])
    qtbot.addWidget(meter)
    meter.resize(200, 22)
    meter.set_level(-20.0, -6.0, False)
    quiet = meter.grab().toImage()
    meter.set_level(-3.0, 0.0, True)
    loud = meter.grab().toImage()
    assert quiet != loud
    x, y = 200 - 20, 11  # the CLIP box lights up
    assert loud.pixelColor(x, y) != quiet.pixelColor(x, y)
    line = Sparkline()
    qtbot.addWidget(line)
    line.resize(160, 60)
    empty = line.grab().toImage()
    line.set_points([(0.0, 20.0), (2.0, 90.0), (4.0, 60.0)])
    assert line.grab().toImage() != empty
