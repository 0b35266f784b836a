"""The latency calibration dialog (pytest-qt, offscreen) on the fake audio service."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("PySide6")

from fretcoach_desktop.ui.calibration_dialog import CalibrationDialog  # noqa: E402
from fretcoach_desktop.ui.fakes import FakeAudioService, InMemoryStore  # noqa: E402
from fretcoach_desktop.ui.services import InputDevice, ServiceError  # noqa: E402

DEVICE = InputDevice(name="Scarlett 2i2 USB", kind="device", index=3, channels=2)


def make_dialog(qtbot, audio, store, current=None):
    saves = []

    def save(result, done):  # off the GUI thread, as the window's worker pool does it
        def work():
            try:
                store.save_calibration("default", DEVICE.name, result)
            except Exception as exc:  # noqa: BLE001
                saves.append(exc)
                return
            saves.append(result)

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        done(saves[-1] if isinstance(saves[-1], Exception) else None)

    dialog = CalibrationDialog(audio, DEVICE, 1, current, save)
    qtbot.addWidget(dialog)
    return dialog, saves


def test_a_play_along_is_measured_shown_and_saved(qtbot):
    audio = FakeAudioService(speed=0, calibration_latency_ms=31.0)  # the simulated take as fast as possible
    store = InMemoryStore()
    dialog, saves = make_dialog(qtbot, audio, store)
    assert "Not calibrated yet" in dialog.current.text()
    assert "input 2" in dialog.findChild(type(dialog.current)).text()  # the title names the input
    assert not dialog.save_button.isEnabled()

    dialog.toggle()
    assert dialog.start_button.text() == "Stop" and not dialog.method.isEnabled()
    qtbot.waitUntil(lambda: dialog.run is None, timeout=20000)
    assert dialog.result is not None, dialog.outcome.text()
    assert dialog.result.latency_ms == pytest.approx(31.0, abs=4.0)
    assert dialog.progress.value() == 16
    assert dialog.offsets.text().endswith("ms") and dialog.offsets.text().count("+") == 16
    assert "Measured latency" in dialog.outcome.text() and dialog.save_button.isEnabled()

    with qtbot.waitSignal(dialog.saved, timeout=5000) as signal:
        dialog.save_button.click()
    assert signal.args[0] == pytest.approx(dialog.result.latency_ms)
    assert store.device_latency("default", DEVICE.name) == pytest.approx(dialog.result.latency_ms)
    assert dialog.current.text().startswith("In use now: ")
    assert not dialog.save_button.isEnabled()


def test_stopping_early_measures_nothing_and_closing_stops_the_run(qtbot):
    audio = FakeAudioService(speed=1.0)  # real time: the run lasts ~15 s
    dialog, saves = make_dialog(qtbot, audio, InMemoryStore(), current=12.0)
    assert dialog.current.text() == "In use now: 12 ms"
    dialog.toggle()
    run = dialog.run
    qtbot.wait(200)
    dialog.toggle()  # Stop
    assert dialog.run is None and "nothing was measured" in dialog.status.text()
    assert run.thread.wait(2.0) and not dialog.save_button.isEnabled()
    dialog.toggle()
    run = dialog.run
    dialog.reject()  # closing the dialog stops a running calibration
    assert dialog.run is None and run.thread.wait(2.0)
    assert saves == []


def test_errors_are_shown_in_one_line(qtbot):
    class NoCalibration(FakeAudioService):
        def open_calibration(self, request):
            raise ServiceError("calibration measures an audio interface's delay: choose your input device")

    dialog, _ = make_dialog(qtbot, NoCalibration(), InMemoryStore())
    dialog.toggle()
    assert dialog.run is None and "choose your input device" in dialog.outcome.text()
    assert dialog.start_button.text() == "Start again" and dialog.method.isEnabled()
