"""The window's real services end to end, headless: demo take -> live pipeline -> coach -> store."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from fretcoach_desktop.audio.demo import demo_take_path
from fretcoach_desktop.config import load_config
from fretcoach_desktop.services import AudioService, CoachService, StoreService
from fretcoach_desktop.store import Store
from fretcoach_desktop.store.writer import StoreWriter
from fretcoach_desktop.ui.services import ExerciseSettings, SourceRequest
from fretcoach_desktop.ui.verdicts import build_summary


@pytest.fixture()
def services(isolated_env):
    config = load_config()
    store = StoreService(Store.open(config), StoreWriter())
    audio = AudioService(config, Path(demo_take_path()), replay_speed=10.0)
    coach = CoachService(config, store, user=lambda: config.user)
    yield config, audio, store, coach
    store.close()


def test_a_demo_session_is_heard_coached_checkpointed_and_stored(services):
    config, audio, store, coach = services
    demo = [d for d in audio.list_inputs() if d.kind == "demo"]
    assert len(demo) == 1
    exercise = ExerciseSettings(key="C#", scale="major", bpm=120, subdivision=1, count_in_beats=0)
    source = audio.open_source(SourceRequest(device=demo[0], channel=0, exercise=exercise, monitor_only=True))
    session_id = store.start_session(config.user, exercise, demo[0].label)
    tips = []
    coach.start_live(session_id, source, tips.append)
    source.start()
    deadline = time.monotonic() + 60
    while (source.snapshot.time_s < 36 or not tips or not coach._rated) and time.monotonic() < deadline:
        time.sleep(0.1)
    coach.rate_tip(tips[0], positive=True)
    snap = source.snapshot
    source.stop()
    spoken = len(tips)
    coach.stop_live()  # returns at once; a short session summary still comes
    deadline = time.monotonic() + 30
    while len(tips) == spoken and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(tips) == spoken + 1 and tips[-1].text.strip()
    assert snap.time_s >= 36 and len(snap.notes) > 40  # the 19 s demo loops
    assert tips and tips[0].text.strip()  # the 30 s window brought a tip (offline: no key)
    # a checkpoint reached the database while it played
    live = store.store.history(store.user_id(config.user), include_in_progress=True)
    assert live and live[0].notes_played > 0
    summary = build_summary(exercise, demo[0].label, snap.notes, snap.time_s, snap.session_metrics)
    store.finish_session(session_id, summary)
    store.writer.flush(10)
    records = store.recent_sessions(config.user)
    assert [r.id for r in records] == [session_id]
    assert records[0].notes_played == len(snap.notes)
    assert records[0].pitch_accuracy == pytest.approx(snap.session_metrics.pitch_accuracy, abs=0.1)
    detail = store.store.session_detail(store.user_id(config.user), session_id)
    rated = [m for m in detail.coach_messages if m.text == tips[0].text]
    assert rated and rated[0].feedback == 1  # the thumbs up is kept with the message


def test_ai_mode_plan_is_stored_and_startable(services):
    config, audio, store, coach = services
    plan = coach.make_plan(config.user)  # no sessions, no key: a starter plan
    assert 2 <= len(plan.exercises) <= 4
    assert all(e.bpm > 0 and e.key and e.scale for e in plan.exercises)
    assert store.store.latest_plan(store.user_id(config.user)).id == plan.practice_id


def test_a_device_source_gets_the_rate_and_calibrated_latency_asked_for(isolated_env):
    from fretcoach_desktop.ui.services import CalibrationRequest, InputDevice, ServiceError

    audio = AudioService(load_config(), demo_take_path())
    device = InputDevice(name="Scarlett 2i2 USB", kind="device", index=3, channels=2)
    request = SourceRequest(
        device=device, channel=1, exercise=ExerciseSettings(), latency_ms=27.5, sample_rate=48000, monitor_only=True
    )
    thread = audio.open_source(request)  # not started: no device is touched
    assert thread.latency_ms == 27.5
    assert thread.source.channel == 2 and thread.source._requested_rate == 48000
    assert thread.source.blocksize == 1024  # monitoring only: bigger blocks, less CPU
    session = audio.open_source(replace(request, monitor_only=False))
    assert session.source.blocksize == 256 and session.latency_ms == 27.5

    run = audio.open_calibration(CalibrationRequest(device=device, channel=0, sample_rate=96000, beats=8))
    assert run.beats == 8 and run.thread.source._requested_rate == 96000 and run.thread.latency_ms == 0.0
    demo = InputDevice(name="demo_take.flac", kind="demo", path=demo_take_path())
    with pytest.raises(ServiceError, match="choose your input device"):
        audio.open_calibration(CalibrationRequest(device=demo, channel=0))


def test_the_coach_warms_up_what_a_session_needs(isolated_env, monkeypatch):
    import importlib

    imported, calls = [], []
    real = importlib.import_module

    def recording(name, *args):
        imported.append(name)
        return real(name, *args)

    class Tracer:
        def warm_up(self) -> None:
            calls.append("tracer")

    monkeypatch.setattr(importlib, "import_module", recording)
    coach = CoachService(load_config(), StoreService(lambda: None), tracer=Tracer(), user=lambda: "default")
    coach.warm_up()
    assert {"fretcoach_desktop.coach.live", "fretcoach_desktop.audio.calibration"} <= set(imported)
    assert "langchain_core.messages" not in imported  # offline: no LangChain
    assert calls == ["tracer"]


def test_the_window_store_records_the_sessions_latency(services):
    config, _audio, store, _coach = services
    sid = store.start_session(config.user, ExerciseSettings(), "Scarlett 2i2 USB", 31.0)
    uid = store.user_id(config.user)
    (row,) = [s for s in store.store.history(uid, include_in_progress=True) if s.session_id == sid]
    assert row.latency_ms == 31.0 and row.audio_device == "Scarlett 2i2 USB" and row.source == "live"


def test_the_history_shows_each_stored_sessions_worst_notes(services, qtbot):
    """The window's history (real store, not the fake) lists the worst notes of every
    session as the end-of-session summary judged them; a clean session says so."""
    from fretcoach_desktop.audio.metrics import compute_metrics
    from fretcoach_desktop.audio.types import AnalysisResult, Note
    from fretcoach_desktop.ui.history import HistoryView

    config, _audio, store, _coach = services
    uid = store.user_id(config.user)

    def note(t, midi, name, cents=0.0, offset_ms=0.0, in_scale=True):
        return Note(t, t, midi, name, cents, in_scale, t - offset_ms / 1000, offset_ms)

    bad = [
        note(1.0, 60, "C4"),
        note(1.5, 61, "C#4", in_scale=False),
        note(2.0, 62, "D4", cents=31.0),
        note(2.5, 64, "E4", offset_ms=-48.0),
        note(3.0, 65, "F4", cents=10.4, offset_ms=15.3),  # reads as in tune and on time
    ]
    clean = [note(1.0, 60, "C4"), note(1.5, 62, "D4", cents=-4.0, offset_ms=6.0)]
    for notes in (bad, clean):
        result = AnalysisResult(tuple(notes), (), compute_metrics(notes, ()), 4.0, 44100)
        store.store.save_analysis(uid, result, key="C", scale="major", bpm=120)
    records = store.recent_sessions(config.user)
    assert records[0].worst_notes == ()
    worst = records[1].worst_notes
    assert worst[0] == "C#4 (out of scale)" and len(worst) == 3
    assert set(worst[1:]) == {"D4 (31 cents sharp)", "E4 (48 ms early)"}

    panel = HistoryView()
    qtbot.addWidget(panel)
    panel.set_sessions(records)
    panel.table.setCurrentIndex(panel.model.index(1, 0))
    assert "C#4 (out of scale)" in panel.detail.text() and "none" not in panel.detail.text()
    panel.table.setCurrentIndex(panel.model.index(0, 0))
    assert "every note was clean" in panel.detail.text()
