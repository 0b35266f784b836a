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


def test_a_latency_that_jumps_mid_run_is_explained_and_cannot_be_saved(qtbot):
    audio = FakeAudioService(speed=0, calibration_latency_ms=45.0, calibration_jump=(6, 67.0))
    dialog, saves = make_dialog(qtbot, audio, InMemoryStore())
    dialog.toggle()
    qtbot.waitUntil(lambda: dialog.run is None, timeout=20000)
    assert dialog.result is not None and dialog.result.quality == "unstable"
    text = dialog.outcome.text()
    assert "not saved" in text and "jumped from" in text and "after click 6" in text, text
    assert "good" not in text and not dialog.save_button.isEnabled()
    dialog.save()
    assert saves == []


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


# --------------------------------------------------------------------------- in the window


class DeviceAudio(FakeAudioService):
    """An interface and the demo; sources are scripted, calibrations simulated (fast)."""

    def __init__(self) -> None:
        super().__init__(speed=0, calibration_latency_ms=19.0)
        from fretcoach_desktop.ui.fakes import ScriptedSource

        self.source = ScriptedSource()
        self.requests = []

    def list_inputs(self):
        return [DEVICE, InputDevice(name="demo.flac", kind="demo")]

    def open_source(self, request):
        self.requests.append(request)
        return self.source


@pytest.fixture
def window(qtbot):
    from fretcoach_desktop.config import load_config
    from fretcoach_desktop.ui.fakes import FakeCoach
    from fretcoach_desktop.ui.main_window import MainWindow
    from fretcoach_desktop.ui.prefs import UiPrefs
    from fretcoach_desktop.ui.services import Services
    from fretcoach_desktop.ui.settings_dialog import MemorySecretStore

    store = InMemoryStore()
    store.latencies[("default", DEVICE.name)] = 27.5
    services = Services(
        config=load_config(),
        audio=DeviceAudio(),
        store=store,
        coach=FakeCoach(store, interval_s=3600),
        secrets=MemorySecretStore(),
    )
    w = MainWindow(services, prefs=UiPrefs(sample_rate=48000))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w.latency_ms is not None, timeout=5000)
    yield w
    w.close()


def test_the_window_uses_the_devices_stored_latency_and_rate(window):
    assert window.latency_button.text() == "Latency 28 ms" and window.latency_button.isEnabled()
    assert window.start_session()
    request = window.services.audio.requests[-1]
    assert request.latency_ms == 27.5 and request.sample_rate == 48000
    assert not window.latency_button.isEnabled()  # no calibrating while a session runs
    window.stop_session()


def test_the_demo_has_no_latency_and_other_profiles_have_their_own(qtbot, window):
    window.input.setCurrentIndex(1)  # the demo
    window._on_input_activated(1)
    assert not window.latency_button.isEnabled() and window.latency_ms is None
    assert window.start_session()
    request = window.services.audio.requests[-1]
    assert request.latency_ms == 0.0 and request.sample_rate is None
    window.stop_session()

    window.input.setCurrentIndex(0)
    window._on_input_activated(0)
    qtbot.waitUntil(lambda: window.latency_ms == 27.5, timeout=5000)
    window.switch_profile("ben")  # never calibrated
    qtbot.waitUntil(lambda: window.latency_button.text() == "Calibrate\u2026", timeout=5000)
    assert window.latency_ms is None


def test_calibrating_from_the_window_stores_and_uses_the_new_value(qtbot, window):
    window.latency_button.click()
    dialog = window.calibration_dialog
    assert dialog is not None and dialog.isVisible() and dialog.current.text() == "In use now: 28 ms"
    dialog.toggle()
    qtbot.waitUntil(lambda: dialog.save_button.isEnabled(), timeout=20000)
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        dialog.save_button.click()
    measured = dialog.result.latency_ms
    assert measured == pytest.approx(19.0, abs=4.0)
    assert window.latency_ms == measured and window.latency_button.text() == f"Latency {measured:.0f} ms"
    assert window.services.store.device_latency("default", DEVICE.name) == measured
    dialog.accept()
    assert window.start_session()
    assert window.services.audio.requests[-1].latency_ms == measured
    window.stop_session()


def test_the_sample_rate_is_a_setting_kept_in_the_ui_prefs(qtbot, window):
    from fretcoach_desktop.ui.prefs import UiPrefs

    window.open_settings()
    dialog = window.settings_dialog
    assert dialog.sample_rate.currentData() == 48000
    dialog.sample_rate.setCurrentIndex(dialog.sample_rate.findData(96000))
    with qtbot.waitSignal(dialog.saved, timeout=1000):
        dialog._save()
    assert window.prefs.sample_rate == 96000
    assert UiPrefs.load(window.services.config.data_dir).sample_rate == 96000
    assert window.start_session()
    assert window.services.audio.requests[-1].sample_rate == 96000
    window.stop_session()


# --------------------------------------------------------------------------- the input monitor


def test_the_interface_is_monitored_for_level_and_tuner_before_and_after_a_session(qtbot, window):
    from fretcoach_desktop.audio.types import Note
    from fretcoach_desktop.ui.fakes import TunerReading, UiSnapshot

    audio, source = window.services.audio, window.services.audio.source
    window._on_input_activated(0)  # the interface is chosen: the monitor opens
    assert window.monitoring and not window.running
    request = audio.requests[-1]
    assert request.monitor_only and request.sample_rate == 48000 and request.channel == 0
    assert window.audio_status.text().startswith("44.1 kHz")
    window.channel.setCurrentIndex(1)  # the guitar is on In 2: the monitor follows
    assert window.monitoring and audio.requests[-1].channel == 1 and audio.requests[-1].monitor_only

    window.set_tuner_visible(True)
    note = Note(1.0, 1.03, 40, "E2", 3.0, True, 1.0, 0.0)
    source.publish(
        UiSnapshot(level_peak_dbfs=-6.0, level_rms_dbfs=-18.0, tuner=TunerReading("E2", -4.0, 82.2), notes=(note,))
    )
    window._tick()
    assert window.level.peak_db == -6.0 and window.tuner.note == "E2" and window.tuner.cents == -4.0
    assert window.last_notes._shown == ()  # tuning is not judged: no notes, no metrics

    stopped = source.stopped
    assert window.start_session()  # the session takes the input over...
    assert source.stopped == stopped + 1 and not audio.requests[-1].monitor_only and not window.monitoring
    window.stop_session()
    assert window.monitoring and audio.requests[-1].monitor_only  # ...and gives it back

    window.latency_button.click()  # the calibration records from the same input
    assert not window.monitoring
    window.calibration_dialog.reject()
    qtbot.waitUntil(lambda: window.monitoring, timeout=2000)

    source.publish(UiSnapshot(error="no audio from Scarlett 2i2 USB for 2 s: is the device still connected?"))
    window._tick()
    assert not window.monitoring and "is the device still connected" in window.statusBar().currentMessage()
    qtbot.wait(50)
    assert not window.monitoring  # a lost device is not reopened behind the player's back

    window.input.setCurrentIndex(1)  # the demo: nothing to monitor
    window._on_input_activated(1)
    assert not window.monitoring
