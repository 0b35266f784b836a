"""The window fed by the file-replay source (real streaming analyzer on its own thread)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from fretcoach_desktop.config import load_config  # noqa: E402
from fretcoach_desktop.ui.fakes import FakeAudioService, FakeCoach, InMemoryStore, synthetic_take  # noqa: E402
from fretcoach_desktop.ui.main_window import MainWindow  # noqa: E402
from fretcoach_desktop.ui.prefs import UiPrefs  # noqa: E402
from fretcoach_desktop.ui.services import ExerciseSettings, Services  # noqa: E402
from fretcoach_desktop.ui.settings_dialog import MemorySecretStore  # noqa: E402

TAKE = Path(__file__).parent / "data" / "musescore_take000.flac"


def test_window_shows_notes_from_a_replayed_take(qtbot):
    store = InMemoryStore()
    services = Services(
        config=load_config(),
        audio=FakeAudioService(TAKE, speed=4.0),
        store=store,
        coach=FakeCoach(store, interval_s=3600),
        secrets=MemorySecretStore(),
        initial_exercise=ExerciseSettings(key="B", scale="major_pentatonic", bpm=108, subdivision=2),
    )
    w = MainWindow(services, prefs=UiPrefs())
    qtbot.addWidget(w)
    w.show()
    assert w.input.currentText().startswith("Demo: musescore_take000")
    assert w.start_session()
    qtbot.waitUntil(lambda: len(w.last_notes.verdicts()) >= 3, timeout=15000)
    assert w.metrics.cards["pitch_accuracy"].text != "—"
    # the take ends: the session stops by itself, is summarised and stored
    qtbot.waitUntil(lambda: not w.running, timeout=20000)
    assert w.summary_dialog is not None and w.summary_dialog.summary.notes_played >= 15
    qtbot.waitUntil(lambda: len(store.finished) == 1, timeout=3000)
    w.close()


def test_synthetic_take_is_in_the_scale():
    from fretcoach_desktop.audio.analyzer import analyze_samples

    ex = ExerciseSettings(key="A", scale="minor_pentatonic", bpm=100, subdivision=2)
    samples, sr = synthetic_take(ex, seconds=12.0)
    result = analyze_samples(samples, sr, bpm=ex.bpm, key=ex.key, scale=ex.scale, subdivision=ex.subdivision)
    assert len(result.notes) >= 10
    assert result.metrics.scale_conformity is not None and result.metrics.scale_conformity > 70


def test_start_up_path_stays_light():
    code = (
        "import sys; import fretcoach_desktop.app, fretcoach_desktop.ui.main_window;"
        "heavy = [m for m in ('scipy', 'langchain', 'opik', 'librosa', 'sqlalchemy', 'keyring') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == ""
