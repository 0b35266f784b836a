"""The practice window: 30 Hz painting, sessions, AI Mode, shortcuts, workers, settings."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QKeySequence  # noqa: E402

from fretcoach_desktop.audio.types import Metrics, Note  # noqa: E402
from fretcoach_desktop.config import load_config  # noqa: E402
from fretcoach_desktop.ui.fakes import (  # noqa: E402
    FakeCoach,
    FakePlan,
    FakePlanExercise,
    InMemoryStore,
    ScriptedSource,
    TunerReading,
    UiSnapshot,
    sample_sessions,
)
from fretcoach_desktop.ui.main_window import MainWindow  # noqa: E402
from fretcoach_desktop.ui.prefs import UiPrefs  # noqa: E402
from fretcoach_desktop.ui.services import (  # noqa: E402
    CoachTip,
    ExerciseSettings,
    InputDevice,
    ServiceError,
    Services,
    SourceRequest,
)
from fretcoach_desktop.ui.settings_dialog import MemorySecretStore  # noqa: E402
from fretcoach_desktop.ui.workers import TaskRunner  # noqa: E402


class ScriptedAudio:
    def __init__(self) -> None:
        self.source = ScriptedSource()
        self.requests: list[SourceRequest] = []
        self.fail: str | None = None

    def list_inputs(self):
        return [
            InputDevice(name="Scarlett 2i2", kind="device", index=3, channels=2),
            InputDevice(name="demo.flac", kind="demo"),
        ]

    def open_source(self, request):
        if self.fail:
            raise ServiceError(self.fail)
        self.requests.append(request)
        return self.source


def N(onset, midi=57, name="A3", cents=0.0, offset_ms=0.0, in_scale=True) -> Note:
    return Note(onset, onset + 0.03, midi, name, cents, in_scale, onset - offset_ms / 1000, offset_ms)


@pytest.fixture
def services():
    store = InMemoryStore()
    return Services(
        config=load_config(),
        audio=ScriptedAudio(),
        store=store,
        coach=FakeCoach(store, interval_s=3600),
        secrets=MemorySecretStore(),
        initial_exercise=ExerciseSettings(key="A", scale="minor_pentatonic", bpm=96, subdivision=2),
    )


@pytest.fixture
def window(qtbot, services):
    w = MainWindow(services, prefs=UiPrefs())
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def test_window_has_the_practice_layout(window):
    assert window.tabs.tabText(0) == "Practice" and window.tabs.tabText(1) == "History"
    assert window.key.currentText() == "A"
    assert window.scale.currentData() == "minor_pentatonic"
    assert window.bpm.value() == 96
    assert window.subdivision.currentText() == "1/8"
    assert window.input.currentText() == "Scarlett 2i2"
    assert window.channel.count() == 2 and window.channel.isEnabled()  # In 1 / In 2
    assert "offline coach" in window.coach_status.text()
    assert window.tracing_status.text() == "tracing off"
    assert not window.chat_dock.isVisible()
    assert window.timer.interval() == 33


def test_timer_paints_from_the_snapshot_source(qtbot, window, services):
    src = services.audio.source
    assert window.start_session()
    assert src.started == 1
    notes = (N(1.0, cents=-3), N(1.5, 60, "C4", cents=22, offset_ms=40))
    src.publish(
        UiSnapshot(
            notes=notes,
            window_metrics=Metrics(93.0, 100.0, 81.0, 90.0, notes=2),
            session_metrics=Metrics(92.0, 99.0, 80.0, 89.0, notes=2),
            level_rms_dbfs=-18.0,
            level_peak_dbfs=-0.01,
            clipping=True,
            tuner=TunerReading("C4", 22.0, 264.0),
            time_s=2.0,
            overflows=3,
        )
    )
    qtbot.waitUntil(lambda: window.metrics.cards["pitch_accuracy"].text == "93", timeout=2000)
    assert [c.text for c in window.metrics.cards.values()] == ["93", "100", "81", "90"]
    assert [v.name for v in window.last_notes.verdicts()] == ["C4", "A3"]
    assert window.last_notes.verdicts()[0].timing == "late"
    assert {n.midi for n in window.fretboard.lit()} == {57, 60}
    assert window.level.clipping
    assert window.overflow_status.text() == "3 overflows"
    assert "bold" in window.overflow_status.styleSheet()
    assert "44.1 kHz" in window.audio_status.text()
    painted = window.frames_painted
    src.publish(replace(src.snapshot, notes=(*notes, N(2.0, 62, "D4")), time_s=2.5))
    qtbot.waitUntil(lambda: window.frames_painted > painted, timeout=2000)
    assert window.last_notes.verdicts()[0].name == "D4"


def test_tuner_toggle_shows_the_reading(qtbot, window, services):
    src = services.audio.source
    window.start_session()
    src.publish(UiSnapshot(tuner=TunerReading("A2", -4.0, 109.7), time_s=0.5))
    qtbot.waitUntil(lambda: window.frames_painted > 0, timeout=2000)
    assert window.tuner.text == "—"  # hidden tuner is not updated
    window.set_tuner_visible(True)
    assert window.tuner_frame.isVisible()
    assert window.tuner.text == "A2 -4c"


def test_start_stop_goes_through_the_services(qtbot, window, services):
    store: InMemoryStore = services.store
    src = services.audio.source
    with qtbot.waitSignal(window.session_started, timeout=1000):
        window.toggle_session()
    assert window.running and window.start_button.text().endswith("Stop")
    req = services.audio.requests[0]
    assert req.exercise == ExerciseSettings(key="A", scale="minor_pentatonic", bpm=96.0, subdivision=2)
    assert req.device.name == "Scarlett 2i2" and req.channel == 0
    assert not window.key.isEnabled()  # no exercise changes mid-session
    qtbot.waitUntil(lambda: window.session is not None and window.session.id is not None, timeout=2000)
    src.publish(
        UiSnapshot(
            notes=(N(1.0), N(1.5, 60, "C4", cents=30, offset_ms=60)),
            session_metrics=Metrics(80.0, 100.0, 60.0, 100.0, notes=2),
            time_s=3.0,
        )
    )
    qtbot.waitUntil(lambda: window.frames_painted > 0, timeout=2000)
    with qtbot.waitSignal(window.session_stopped, timeout=1000) as stopped:
        window.toggle_session()
    summary = stopped.args[0]
    assert not window.running and src.stopped == 1
    assert summary.notes_played == 2 and summary.weakest == "timing_stability"
    assert summary.worst_notes[0].note == "C4"
    assert window.summary_dialog is not None and window.summary_dialog.isVisible()
    assert window.summary_dialog.metric_labels["timing_stability"].text() == "60"
    window.summary_dialog.close()
    qtbot.waitUntil(lambda: len(store.finished) == 1, timeout=2000)
    assert store.recent_sessions("default")[0].notes_played == 2
    assert window.key.isEnabled()


def test_stream_error_stops_and_saves_the_session(qtbot, window, services):
    src = services.audio.source
    window.start_session()
    qtbot.waitUntil(lambda: window.session is not None and window.session.id is not None, timeout=2000)
    src.publish(UiSnapshot(notes=(N(1.0),), time_s=2.0, error="input device disconnected", running=False))
    qtbot.waitUntil(lambda: not window.running, timeout=2000)
    assert "input device disconnected" in window.coach_bar.text.text()
    qtbot.waitUntil(lambda: len(services.store.finished) == 1, timeout=2000)
    window.summary_dialog.close()
    src.publish(UiSnapshot(time_s=0.0))
    assert window.start_session()  # capture can be restarted without restarting the app


def test_open_failure_is_told_to_the_user(window, services):
    services.audio.fail = "no input device found"
    assert not window.start_session()
    assert not window.running
    assert "no input device found" in window.coach_bar.text.text()


def test_coach_tip_from_another_thread_and_feedback(qtbot, window, services):
    window.start_session()
    tip = CoachTip("Mute the strings you are not playing.", id=7, metric="noise_control")
    threading.Thread(target=window.tip_received.emit, args=(tip,)).start()
    qtbot.waitUntil(lambda: window.coach_bar.tip is tip, timeout=2000)
    assert "Mute the strings" in window.coach_bar.text.text()
    with qtbot.waitSignal(window.coach_feedback, timeout=1000) as rated:
        window.coach_bar.up.click()
    assert rated.args == [tip, True]
    assert services.coach.ratings == [(tip, True)]


def test_ai_mode_plan_exercise_sets_the_exercise_bar(qtbot, window, services):
    plan = FakePlan(
        focus_metric="timing_stability",
        why="Timing averaged 64 over your last 5 sessions.",
        exercises=[
            FakePlanExercise("Slow eighths", "Every note on the click.", "E", "minor", 72, 2),
            FakePlanExercise("Quarter targets", "Roots on the downbeat.", "G", "major_pentatonic", 84, 1),
        ],
    )
    services.coach.make_plan = lambda user: plan
    window.ai_button.click()
    qtbot.waitUntil(lambda: window.plan_dialog is not None and window.plan_dialog.isVisible(), timeout=2000)
    assert window.ai_button.isEnabled()
    dialog = window.plan_dialog
    assert len(dialog.start_buttons) == 2
    dialog.start_buttons[1].click()
    assert window.key.currentText() == "G"
    assert window.scale.currentData() == "major_pentatonic"
    assert window.bpm.value() == 84
    assert window.subdivision.currentData() == 1
    assert window.running  # one click starts the session
    assert services.audio.requests[-1].exercise.key == "G"
    assert not dialog.isVisible()


def test_ai_mode_error_is_shown(qtbot, window):
    window.request_plan()  # the fake coach needs sessions first
    qtbot.waitUntil(lambda: window.ai_button.isEnabled(), timeout=2000)
    assert "play at least one session" in window.coach_bar.text.text()
    assert window.plan_dialog is None


def _trigger(window, seq: str) -> None:
    for action in window.actions():
        if action.shortcut() == QKeySequence(seq):
            action.trigger()
            return
    raise AssertionError(f"no action for {seq}")


def test_shortcuts(qtbot, window):
    assert {a.shortcut().toString() for a in window.actions()} >= {"Space", "T", "Ctrl+,", "Ctrl+H", "Ctrl+K"}
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.running
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not window.running
    window.summary_dialog.close()
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_T)
    assert window.tuner_button.isChecked() and window.tuner_frame.isVisible()
    _trigger(window, "Ctrl+H")
    assert window.tabs.currentWidget() is window.history
    _trigger(window, "Ctrl+H")
    assert window.tabs.currentIndex() == 0
    _trigger(window, "Ctrl+K")
    assert window.chat_dock.isVisible() and window.chat_button.isChecked()
    _trigger(window, "Ctrl+K")
    assert not window.chat_dock.isVisible()
    _trigger(window, "Ctrl+,")
    assert window.settings_dialog is not None and window.settings_dialog.isVisible()
    window.settings_dialog.reject()


def test_history_tab_loads_from_the_store(qtbot, services):
    services.store = InMemoryStore(sessions=sample_sessions(5))
    w = MainWindow(services, prefs=UiPrefs())
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.history_loaded, timeout=2000) as loaded:
        w.toggle_history()
    assert loaded.args == [5]
    assert w.history.table.model().rowCount() == 5 and not w.history.is_empty
    w.switch_profile("someone else")
    qtbot.waitUntil(lambda: w.history.is_empty, timeout=2000)


def test_gui_keeps_painting_while_a_slow_job_runs(qtbot, window, services):
    src = services.audio.source
    window.start_session()
    results = []
    window.runner.run(lambda: time.sleep(2.0) or "plan", lambda r, e: results.append((r, e)))
    start_frames = window.frames_painted
    t0 = time.monotonic()
    t = 0.0
    while time.monotonic() - t0 < 1.5:  # publish fresh snapshots while the job sleeps
        t += 0.1
        src.publish(UiSnapshot(time_s=t))
        qtbot.wait(50)
    assert results == []  # still running
    assert window.frames_painted - start_frames >= 15  # ~30 Hz painting went on
    qtbot.waitUntil(lambda: bool(results), timeout=3000)
    assert results == [("plan", None)]


def test_worker_delivers_errors_on_the_gui_thread(qtbot):
    runner = TaskRunner()
    got = []
    main = threading.get_ident()

    def boom():
        raise ServiceError("database is locked")

    runner.run(boom, lambda r, e: got.append((r, e, threading.get_ident())))
    qtbot.waitUntil(lambda: bool(got), timeout=2000)
    result, error, thread = got[0]
    assert result is None and isinstance(error, ServiceError) and thread == main
    assert runner.shutdown(1000)


def test_settings_keep_keys_out_of_the_file(qtbot, window, services):
    window.open_settings()
    dialog = window.settings_dialog
    dialog.openai_key.setText("sk-test-secret-123")
    dialog.model.setText("gpt-4.1-mini")
    dialog.a4.setValue(442.0)
    dialog.db_url.setText("sqlite:///" + str(services.config.data_dir / "x.db"))
    with qtbot.waitSignal(dialog.saved, timeout=1000):
        dialog._save()
    settings = services.config.data_dir / "settings.json"
    text = settings.read_text()
    assert "sk-test-secret-123" not in text and "openai_api_key" not in text
    saved = json.loads(text)
    assert saved["model"] == "gpt-4.1-mini" and saved["a4_hz"] == 442.0
    assert services.secrets.get("openai_api_key") == "sk-test-secret-123"
    assert window.services.config.online_coach and window.services.config.a4_hz == 442.0
    assert load_config().model == "gpt-4.1-mini"  # the app reads it back
    assert dialog.openai_key.echoMode() == dialog.openai_key.EchoMode.Password


def test_settings_reject_invalid_values(qtbot, window):
    window.open_settings()
    dialog = window.settings_dialog
    dialog.model.setText("   ")
    dialog._save()
    assert dialog.isVisible() and "model" in dialog.error.text()
    dialog.reject()
