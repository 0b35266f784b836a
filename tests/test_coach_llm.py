"""The LLM factory, fallbacks and AI Mode plans against the loopback fake OpenAI server."""

from __future__ import annotations

import time

import pytest

from fretcoach_desktop.coach.llm import invoke_recorded, make_chat_model
from fretcoach_desktop.coach.plans import PracticePlan, analyze_sessions, make_practice_plan
from fretcoach_desktop.config import load_config
from tests.fakes.openai_server import Error, FakeOpenAI, Reply

PLAN = {
    "focus_metric": "timing_stability",
    "why": "Timing was the weakest metric in the last sessions.",
    "exercises": [
        {"title": "Slow click", "key": "A", "scale": "minor_pentatonic", "bpm": 70, "subdivision": 1,
         "minutes": 5, "goal": "Every note on the click"},
        {"title": "Eighths", "key": "A", "scale": "minor_pentatonic", "bpm": 500, "subdivision": 2,
         "minutes": 6, "goal": "Even eighth notes"},
    ],
    "targets": {"pitch_accuracy": 92, "scale_conformity": 97, "timing_stability": 80, "noise_control": 130},
}  # fmt: skip


def sessions(n: int) -> list[dict]:
    return [
        {"id": f"s{i}", "started_at": f"2026-01-{i + 10}", "key": "A", "scale": "minor_pentatonic", "bpm": 90,
         "pitch_accuracy": 90.0, "scale_conformity": 95.0, "timing_stability": 70.0 + 2 * i, "noise_control": 88.0}
        for i in range(n)
    ]  # fmt: skip


@pytest.fixture
def api():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def config(api, tmp_path):
    return load_config(
        {
            "data_dir": tmp_path,
            "openai_api_key": "sk-test-key",
            "openai_base_url": api.base_url,
            "fallback_models": "gpt-4.1-mini,gpt-4.1-nano",
        },
        env={},
    )


def test_no_key_means_no_model(tmp_path):
    assert make_chat_model(load_config({"data_dir": tmp_path}, env={}), purpose="live_coach") is None


def test_rate_limit_on_primary_ends_in_fallback_answer(api, config):
    api.script("gpt-4o-mini", Error(429))
    api.script("gpt-4.1-mini", Reply("Fallback says: relax your wrist."))
    llm = make_chat_model(config, purpose="live_coach")
    start = time.perf_counter()
    answer = invoke_recorded(llm, "tip please", primary_model=config.model)
    assert answer.text == "Fallback says: relax your wrist."
    assert answer.model == "gpt-4.1-mini" and answer.fell_back
    assert answer.errors and "429" in answer.errors[0]
    assert len(api.chat_requests("gpt-4o-mini")) == 1  # no SDK retries on the primary
    assert time.perf_counter() - start < 5.0  # no SDK back-off (~2 s per retry) before the fallback
    body = api.chat_requests("gpt-4.1-mini")[0]["body"]
    assert body.get("max_tokens") or body.get("max_completion_tokens")


def test_server_errors_and_timeouts_fall_back_in_order(api, config):
    api.script("gpt-4o-mini", Reply("too late", delay=2.0))
    api.script("gpt-4.1-mini", Error(500))
    api.script("gpt-4.1-nano", Reply("Nano answers."))
    llm = make_chat_model(config, purpose="live_coach", timeout=0.5)
    answer = invoke_recorded(llm, "tip", primary_model=config.model)
    assert (answer.model, answer.fell_back, answer.text) == ("gpt-4.1-nano", True, "Nano answers.")


def test_primary_answer_is_not_a_fallback(api, config):
    answer = invoke_recorded(make_chat_model(config, purpose="chat"), "hi", primary_model=config.model)
    assert answer.model == "gpt-4o-mini" and not answer.fell_back
    assert api.chat_requests()[0]["body"]["model"] == "gpt-4o-mini"


def test_everything_failing_raises_for_the_caller(api, config):
    for model in ("gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1-nano"):
        api.default(model, Error(503))
    with pytest.raises(Exception, match="503|InternalServer|Service"):
        invoke_recorded(make_chat_model(config, purpose="chat"), "hi", primary_model=config.model)


def test_structured_plan_parses_from_fake_server(api, config):
    api.structured_reply = PLAN
    result = make_practice_plan(sessions(7), config, user_id="u1", practice_id="p1")
    assert result.mode == "online" and result.model == "gpt-4o-mini" and not result.fell_back
    assert isinstance(result.plan, PracticePlan)
    assert result.plan.focus_metric == "timing_stability"
    assert result.plan.exercises[1].bpm == 240  # clamped after parsing
    assert result.plan.targets.noise_control == 100.0
    assert result.prompt_version == "ai_mode_plan.v1"
    assert result.source_session_ids == ("s2", "s3", "s4", "s5", "s6")  # the last 5
    assert result.weakest_metric == "timing_stability" and result.trend == "improving"
    request = api.chat_requests()[0]["body"]
    fmt = request["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(schema["properties"])
    for sub in schema["$defs"].values():
        assert sub["additionalProperties"] is False and set(sub["required"]) == set(sub["properties"])
    assert "2026-01-16" in request["messages"][1]["content"]


def test_plan_falls_back_to_offline(api, config):
    for model in ("gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1-nano"):
        api.default(model, Error(429))
    result = make_practice_plan(sessions(2), config, user_id="u1", practice_id="p2")
    assert result.mode == "offline" and result.fell_back and result.model == "offline"
    assert result.plan.focus_metric == "timing_stability" and "429" in (result.error or "")
    assert result.prompt_version == "offline.plan.v1"


def test_plan_with_fallback_model_and_starter(api, config):
    api.structured_reply = PLAN
    api.script("gpt-4o-mini", Error(500))
    result = make_practice_plan([], config, user_id="u1", practice_id="p3")
    assert result.starter and result.model == "gpt-4.1-mini" and result.fell_back and result.mode == "online"


def test_plan_offline_without_key(tmp_path):
    result = make_practice_plan([], load_config({"data_dir": tmp_path}, env={}), "u", "p")
    assert result.starter and result.mode == "offline" and not result.fell_back
    assert 2 <= len(result.plan.exercises) <= 4


def test_analyze_sessions_trend():
    assert analyze_sessions(sessions(5))[:2] == ("timing_stability", "improving")
    assert analyze_sessions([])[:2] == (None, "unknown")
