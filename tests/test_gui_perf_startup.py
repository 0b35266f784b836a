"""Start-up: the window is drawn before the heavy libraries load, which then load off the GUI thread.

Timings belong in ``bench/gui.py``; these tests check the order of things.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from fretcoach_desktop.config import load_config  # noqa: E402
from fretcoach_desktop.ui.fakes import FakeCoach, InMemoryStore  # noqa: E402
from fretcoach_desktop.ui.main_window import MainWindow  # noqa: E402
from fretcoach_desktop.ui.prefs import UiPrefs  # noqa: E402
from fretcoach_desktop.ui.services import ExerciseSettings, InputDevice, Services  # noqa: E402
from fretcoach_desktop.ui.settings_dialog import MemorySecretStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

#: Nothing the first paint needs: each of these took 50-1000 ms before the window showed.
HEAVY = (
    "numpy",  # the analysis
    "sounddevice",  # PortAudio: listing the inputs
    "sqlalchemy",  # the database
    "alembic",
    "keyring",
    "langchain_core",  # the coach
    "openai",
    "opik",
    "pyqtgraph",  # charts
    "fretcoach_desktop.cli",  # the command line, when no sub-command is given
    "fretcoach_desktop.store",
)

_LAUNCH = textwrap.dedent(
    """
    import gc, json, sys
    from fretcoach_desktop.ui import launch

    opened = launch.open_window

    def open_window(services, report_shown=False):
        window = opened(services, report_shown)

        def painted():
            print(json.dumps({"first_paint": sorted(sys.modules)}), flush=True)

        def settled():
            items = [window.input.itemText(i) for i in range(window.input.count())]
            print(json.dumps({"settled": items, "frozen": gc.get_freeze_count()}), flush=True)
            window.close()  # the last window: the app quits

        window.first_painted.connect(painted)
        window.settled.connect(settled)
        return window

    launch.open_window = open_window
    from fretcoach_desktop.__main__ import main

    sys.exit(main([]))
    """
)


def test_the_window_is_painted_before_the_heavy_libraries_load_then_they_load(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FRETCOACH_DATA_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", _LAUNCH], cwd=ROOT, env=env, capture_output=True, text=True, timeout=110
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    first = next(line["first_paint"] for line in lines if "first_paint" in line)
    loaded = [name for name in HEAVY if name in first]
    assert loaded == [], f"imported before the first paint: {loaded}"
    qt = {name for name in first if name.startswith("PySide6.Qt")}
    assert qt <= {"PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets"}
    settled = next(line for line in lines if "settled" in line)
    assert any(item.startswith("Demo") for item in settled["settled"])  # the inputs came later
    assert settled["frozen"] > 0  # the start-up heap is out of the collector's way


class CountingAudio:
    def __init__(self) -> None:
        self.listed = 0
        self.opened = []

    def list_inputs(self):
        self.listed += 1
        return [InputDevice(name="Scarlett 2i2", kind="device", index=3, channels=2), InputDevice("demo.flac", "demo")]

    def open_source(self, request):  # the input monitor (level meter, tuner) once inputs are known
        from fretcoach_desktop.ui.fakes import ScriptedSource

        self.opened.append(request)
        return ScriptedSource()


class CountingStore(InMemoryStore):
    def __init__(self) -> None:
        super().__init__(profiles=("default", "ana"))
        self.asked = 0

    def profiles(self) -> list[str]:
        self.asked += 1
        return super().profiles()


def test_deferred_start_lists_inputs_and_profiles_after_the_first_paint(qtbot):
    store = CountingStore()
    audio = CountingAudio()
    services = Services(
        config=load_config(),
        audio=audio,
        store=store,
        coach=FakeCoach(store, interval_s=3600),
        secrets=MemorySecretStore(),
        initial_exercise=ExerciseSettings(key="E", scale="minor", bpm=120),
    )
    window = MainWindow(services, prefs=UiPrefs(), deferred_start=True)
    qtbot.addWidget(window)
    assert audio.listed == 0 and store.asked == 0  # nothing slow before the window is up
    assert not window.inputs_ready and not window.input.isEnabled()
    assert not window.start_session()  # no input yet: nothing starts
    with qtbot.waitSignals([window.first_painted, window.inputs_listed, window.settled], timeout=30_000):
        window.show()
    assert audio.listed == 1 and store.asked == 1
    assert window.inputs_ready and window.input.isEnabled()
    assert window.input.currentText() == "Scarlett 2i2"
    assert [r.monitor_only for r in audio.opened] == [True] and window.monitoring  # after the inputs, not before
    assert [window.profile.itemText(i) for i in range(window.profile.count())][:2] == ["default", "ana"]
    window.close()


def test_open_window_freezes_the_heap_once_settled(qtbot, monkeypatch):
    from fretcoach_desktop.ui import launch

    frozen = []
    monkeypatch.setattr(launch.gc, "freeze", lambda: frozen.append(True))
    store = InMemoryStore()
    services = Services(
        config=load_config(),
        audio=CountingAudio(),
        store=store,
        coach=FakeCoach(store, interval_s=3600),
        secrets=MemorySecretStore(),
        initial_exercise=ExerciseSettings(),
    )
    window = launch.open_window(services)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.settled, timeout=30_000):
        window.show()
    assert frozen == [True]
    window.close()
    assert gc.isenabled()
