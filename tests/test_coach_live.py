"""The live coach worker against the fake OpenAI server: fallbacks, offline, TTS, stop."""

from __future__ import annotations

import threading
import time
import wave
from pathlib import Path

import pytest

from fretcoach_desktop.coach.live import LiveCoach, summary_request
from fretcoach_desktop.coach.tts import SpeechResult, synthesize
from fretcoach_desktop.coach.types import CoachMessage, CoachWindow
from fretcoach_desktop.config import load_config
from tests.fakes.openai_server import DEFAULT_TIP, Error, FakeOpenAI, Reply

MODELS = ("gpt-4o-mini", "gpt-4.1-mini")


def window(t_s: float = 30.0, session_id: str = "s1") -> CoachWindow:
    return CoachWindow(
        session_id=session_id,
        t_s=t_s,
        metrics={"pitch_accuracy": 91.0, "scale_conformity": 97.0, "timing_stability": 62.0, "noise_control": 88.0},
        previous={"pitch_accuracy": 90.0, "scale_conformity": 97.0, "timing_stability": 70.0, "noise_control": 85.0},
        key="A",
        scale="minor_pentatonic",
        bpm=96,
    )


class Recorder:
    def __init__(self) -> None:
        self.texts: list[CoachMessage] = []
        self.done: list[CoachMessage] = []
        self.played: list[str] = []
        self.event = threading.Event()

    def on_text(self, m: CoachMessage) -> None:
        self.texts.append(m)

    def on_message(self, m: CoachMessage) -> None:
        self.done.append(m)
        self.event.set()

    def play_file(self, path: str) -> None:
        self.played.append(path)


@pytest.fixture
def api():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def config(api, tmp_path):
    return load_config(
        {"data_dir": tmp_path, "openai_api_key": "sk-test-key", "openai_base_url": api.base_url,
         "fallback_models": "gpt-4.1-mini"},
        env={},
    )  # fmt: skip


def run(coach: LiveCoach, *jobs, timeout: float = 30.0) -> None:
    coach.start()
    for job in jobs:
        if isinstance(job, CoachWindow):
            coach.submit(job)
        else:
            coach.summarize(job)
    assert coach.wait_idle(timeout)
    coach.stop()


def test_tip_with_fallback_then_speech_and_player(api, config, tmp_path):
    api.script("gpt-4o-mini", Error(429))
    api.script("gpt-4.1-mini", Reply("Drag less: start each note on the click. Also breathe. And smile."))
    rec = Recorder()
    coach = LiveCoach(config, player=rec, audio_dir=tmp_path / "clips", on_text=rec.on_text, on_message=rec.on_message)
    run(coach, window())
    (msg,) = rec.done
    assert msg.text == "Drag less: start each note on the click."  # one sentence, enforced
    assert (msg.model, msg.fell_back, msg.mode) == ("gpt-4.1-mini", True, "online")
    assert msg.prompt_version == "live_coach.v1" and msg.weakest_metric == "timing_stability"
    assert msg.llm_ms is not None and msg.tts_ms is not None and msg.tts_engine == "openai"
    assert rec.played == [msg.audio_path] and Path(msg.audio_path).read_bytes()[:4] == b"RIFF"
    assert rec.texts[0].audio_path is None and rec.texts[0].id == msg.id  # text came first
    speech = api.speech_requests()[0]["body"]
    assert speech["model"] == "gpt-4o-mini-tts" and speech["voice"] == "alloy"
    assert speech["response_format"] == "wav" and speech["input"] == msg.text
    system = api.chat_requests("gpt-4.1-mini")[0]["body"]["messages"][0]["content"]
    assert "A minor pentatonic at 96 BPM" in system and "timing" in system
    assert msg.to_json()["fell_back"] is True


def test_everything_failing_ends_in_offline_coach(api, config, tmp_path):
    for model in MODELS:
        api.default(model, Error(500))
    rec = Recorder()
    run(LiveCoach(config, audio_dir=None, on_message=rec.on_message), window())
    (msg,) = rec.done
    assert (msg.mode, msg.model, msg.fell_back) == ("offline", "offline", True)
    assert "500" in (msg.error or "") and msg.text and msg.prompt_version == "offline.rules.v1"
    assert any(w in msg.text.lower() for w in ("timing", "click", "beat"))


def test_tts_failure_keeps_the_text(api, config, tmp_path):
    api.speech_default = Error(500)
    rec = Recorder()
    run(LiveCoach(config, player=rec, audio_dir=tmp_path, on_message=rec.on_message), window())
    (msg,) = rec.done
    assert msg.text == DEFAULT_TIP and msg.mode == "online"
    assert msg.tts_engine == "espeak-ng" and "500" in (msg.tts_error or "")  # local fallback speech
    with wave.open(msg.audio_path) as w:
        assert w.getnframes() > 0

    def broken_tts(text, path, cfg):
        raise RuntimeError("no speech at all")

    rec2 = Recorder()
    run(LiveCoach(config, player=rec2, audio_dir=tmp_path, on_message=rec2.on_message, tts=broken_tts), window())
    (msg2,) = rec2.done
    assert msg2.text == DEFAULT_TIP and msg2.audio_path is None and "no speech" in msg2.tts_error
    assert rec2.played == []


def test_text_is_delivered_before_speech_finishes(api, config, tmp_path):
    release = threading.Event()

    def slow_tts(text, path, cfg):
        release.wait(10)
        return SpeechResult(None, None, 1.0, "skipped")

    rec = Recorder()
    coach = LiveCoach(config, audio_dir=tmp_path, on_text=rec.on_text, on_message=rec.on_message, tts=slow_tts)
    coach.start()
    coach.submit(window())
    deadline = time.monotonic() + 20
    while not rec.texts and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rec.texts and not rec.done
    release.set()
    assert rec.event.wait(10)
    coach.stop()


def test_stop_is_immediate_with_a_request_in_flight(api, config, tmp_path):
    api.default("gpt-4o-mini", Reply("late", delay=5.0))
    rec = Recorder()
    coach = LiveCoach(config, audio_dir=tmp_path, on_text=rec.on_text, on_message=rec.on_message)
    coach.start()
    coach.submit(window())
    deadline = time.monotonic() + 20
    while not api.chat_requests() and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.perf_counter()
    coach.stop()
    coach.submit(window(60.0))  # ignored after stop
    assert time.perf_counter() - start < 0.1
    assert coach.wait_idle(0.1)
    time.sleep(0.2)
    assert rec.texts == [] and rec.done == []


def test_offline_without_key_sends_nothing(api, tmp_path):
    config = load_config({"data_dir": tmp_path, "openai_base_url": api.base_url}, env={})
    rec = Recorder()
    coach = LiveCoach(config, player=rec, audio_dir=tmp_path, on_message=rec.on_message, drop_stale=False)
    assert coach.mode == "offline"
    run(coach, window(30.0), window(60.0), summary_request("s1", 75.0, window().metrics))
    assert [m.kind for m in rec.done] == ["tip", "tip", "summary"]
    assert all(m.mode == "offline" and not m.fell_back and m.tts_engine == "espeak-ng" for m in rec.done)
    assert rec.done[0].text != rec.done[1].text  # varied wording
    assert len(rec.played) == 3 and api.requests == []


def test_session_summary_online_is_short(api, config):
    api.script("gpt-4o-mini", Reply("Great pitch today. Next time, lock in with the click. Also stretch. More."))
    rec = Recorder()
    run(LiveCoach(config, on_message=rec.on_message), summary_request("s1", 90.0, window().metrics, [window().metrics]))
    (msg,) = rec.done
    assert msg.kind == "summary" and msg.prompt_version == "session_summary.v1"
    assert msg.text == "Great pitch today. Next time, lock in with the click."


def test_stale_windows_are_dropped_when_live(api, config):
    api.default("gpt-4o-mini", Reply("Slow one.", delay=0.5))
    rec = Recorder()
    coach = LiveCoach(config, on_message=rec.on_message).start()
    for t in (30.0, 60.0, 90.0, 120.0):
        coach.submit(window(t))
    assert coach.wait_idle(20)
    coach.stop()
    assert [m.t_s for m in rec.done][-1] == 120.0 and len(rec.done) < 4


def test_synthesize_without_key_uses_espeak(tmp_path):
    config = load_config({"data_dir": tmp_path}, env={})
    result = synthesize("Count the beats.", tmp_path / "a.wav", config)
    assert result.engine == "espeak-ng" and Path(result.path).stat().st_size > 44
