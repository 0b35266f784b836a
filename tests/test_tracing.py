"""Tracing: off means no Opik at all; on means DESIGN.md's conventions reach the Opik server;
a dead Opik server never holds up the process. Opik runs in subprocesses (fresh state)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fretcoach_desktop.config import load_config
from fretcoach_desktop.tracing import NullTracer, OpikTracing, make_tracer
from fretcoach_desktop.tracing.conventions import ai_mode_plan, chat_agent, live_coach_speech, live_coach_text
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.opik_server import FailingOpik, FakeOpik, HangingServer, closed_port

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("opik", "langchain", "langchain_core", "langchain_openai", "langgraph", "openai", "litellm", "PySide6")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPIK_", "OPENAI_", "FRETCOACH_"))}
    env.update(extra)
    return env


def _scenario(mode: str, out_dir: Path, **env: str) -> tuple[dict, float, str]:
    """Run tests/fakes/traced_scenario.py; returns (result, seconds from END to exit, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.traced_scenario", mode, str(out_dir)],
        cwd=ROOT,
        env=_env(FRETCOACH_DATA_DIR=str(out_dir), **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return _finish(proc)


def _finish(proc: subprocess.Popen) -> tuple[dict, float, str]:
    result: dict = {}
    end = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
        elif line.startswith("END"):
            end = time.monotonic()
    proc.wait(timeout=60)
    stderr = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0, stderr[-2000:]
    assert end is not None
    return result, time.monotonic() - end, stderr


def test_conventions_match_design():
    plan = ai_mode_plan(7, "p1")
    assert (plan.tags, plan.metadata, plan.thread_id) == (
        ("ai-mode", "practice-plan"), {"user_id": "7", "practice_id": "p1"}, "user-7")  # fmt: skip
    text = live_coach_text("s3")
    assert (text.tags, text.metadata, text.thread_id) == (
        ("live-coach", "live-feedback"),
        {"session_id": "s3"},
        "session-s3",
    )
    speech = live_coach_speech("s3")
    assert (speech.tags, speech.thread_id) == (("live-coach", "tts"), "session-s3")
    chat = chat_agent("u", "hub-aicoach-chat-1700000000", plan_tool_ran=True)
    assert chat.tags == ("ai-coach", "web-chat", "practice-plan") and chat.metadata["thread_id"] == chat.thread_id


def test_null_tracer_is_a_no_op(tmp_path):
    tracer = make_tracer(load_config({"data_dir": tmp_path}, env={}))
    assert isinstance(tracer, NullTracer) and not tracer.enabled
    assert tracer.langchain_callback(["a"], {"x": 1}, "t") is None

    @tracer.track("f", tags=["live-coach", "tts"])
    def f(x):
        return x + 1

    assert f(1) == 2
    with tracer.track("g") as handle:
        handle.set_output({"ok": True})
    assert handle.trace_id is None
    tracer.feedback("id", "thumbs", 1.0)
    tracer.register_prompt("live_coach", "v1", "text")
    assert tracer.flush(0.1) is True


def test_opik_tracer_is_chosen_by_key_or_url(tmp_path):
    by_url = make_tracer(load_config({"data_dir": tmp_path, "opik_url_override": "http://127.0.0.1:9/api"}, env={}))
    by_key = make_tracer(load_config({"data_dir": tmp_path, "opik_api_key": "opik-secret"}, env={}))
    assert isinstance(by_url, OpikTracing) and isinstance(by_key, OpikTracing)
    assert "opik-secret" not in repr(by_key)


def test_importing_coach_and_tracing_is_light():
    code = (
        "import sys, json\n"
        "import fretcoach_desktop.coach, fretcoach_desktop.coach.live, fretcoach_desktop.coach.plans\n"
        "import fretcoach_desktop.coach.tts, fretcoach_desktop.tracing\n"
        "from fretcoach_desktop.config import load_config\n"
        "from fretcoach_desktop.tracing import make_tracer\n"
        "t = make_tracer(load_config())\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(FRETCOACH_DATA_DIR="/tmp"),
                         capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    loaded = set(json.loads(out.stdout))
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert out.stderr == ""


def test_no_request_leaves_without_key_or_url(tmp_path):
    with FakeOpenAI() as api, FakeOpik() as opik_server:
        # Only the base URLs are known: no OpenAI key, no Opik key or URL.
        result, _, stderr = _scenario("none", tmp_path, OPENAI_BASE_URL=api.base_url)
        time.sleep(0.2)
        assert api.requests == [] and opik_server.requests == []
    assert result["tracer"] == "NullTracer" and result["modules"] == []
    (msg,) = result["messages"]
    assert msg["mode"] == "offline" and msg["tts_engine"] == "espeak-ng" and msg["text"]
    assert "opik" not in stderr.lower()


def test_traces_reach_opik_with_design_conventions(tmp_path):
    with FakeOpenAI() as api, FakeOpik() as opik_server:
        result, _, stderr = _scenario(
            "coach",
            tmp_path,
            OPENAI_API_KEY="sk-secret-test-key",
            OPENAI_BASE_URL=api.base_url,
            OPIK_URL_OVERRIDE=opik_server.url,
        )
        assert opik_server.wait_for(lambda s: len(s.traces()) >= 3 and s.feedback_scores(), timeout=10)
        traces = {t["name"]: t for t in opik_server.traces()}
        spans = opik_server.spans()
        requests = list(opik_server.requests)
        prompts = dict(opik_server.prompt_versions)
    (msg,) = result["messages"]
    assert result["flushed"] is True

    text = traces["live-coach-tip"]
    assert text["id"] == msg["text_trace_id"]
    assert set(text["tags"]) == {"live-coach", "live-feedback"} and text["thread_id"] == "session-s42"
    assert text["metadata"]["session_id"] == "s42" and text["metadata"]["prompt_version"] == "live_coach.v1"
    assert text["project_name"] == "FretCoach"
    linked = text["metadata"]["opik_prompts"][0]
    assert linked["name"] == "fretcoach-live_coach" and linked["version"]["metadata"]["fretcoach_version"] == "v1"

    speech = traces["live-coach-speech"]
    assert speech["id"] == msg["speech_trace_id"] != msg["text_trace_id"]
    assert set(speech["tags"]) == {"live-coach", "tts"} and speech["thread_id"] == "session-s42"
    assert speech["metadata"]["session_id"] == "s42" and speech["output"]["engine"] == "openai"

    plan = traces["ai-mode-plan"]
    assert set(plan["tags"]) == {"ai-mode", "practice-plan"} and plan["thread_id"] == "user-u7"
    assert plan["metadata"]["user_id"] == "u7" and plan["metadata"]["practice_id"] == "p9"
    assert plan["id"] == result["plan"]["trace_id"] and result["plan"]["prompt_version"] == "ai_mode_plan.v1"

    llm_spans = [s for s in spans if s.get("type") == "llm"]
    assert llm_spans and all(s.get("usage") for s in llm_spans)  # stream_usage reached the trace

    assert {"id": msg["text_trace_id"], "name": "thumbs_up", "value": 1.0}.items() <= opik_server.feedback_scores()[
        0
    ].items()
    # Prompts registered with the same content as the files.
    from fretcoach_desktop.coach.prompts import load_prompt

    assert prompts["fretcoach-live_coach"][-1]["template"] == load_prompt("live_coach").text
    assert "fretcoach-ai_mode_plan" in prompts
    # Secrets never leave.
    assert all("sk-secret-test-key" not in json.dumps(r["body"], default=str) for r in requests)
    assert "sk-secret-test-key" not in stderr


@pytest.mark.parametrize("server", ["closed", "hanging", "http500"])
def test_opik_down_costs_at_most_a_second_at_exit(tmp_path, server):
    if server == "closed":
        url = f"http://127.0.0.1:{closed_port()}/api"
        result, exit_s, stderr = _scenario("track", tmp_path, OPIK_URL_OVERRIDE=url)
    elif server == "http500":
        with FailingOpik() as failing:
            result, exit_s, stderr = _scenario("track", tmp_path, OPIK_URL_OVERRIDE=failing.url)
    else:
        with HangingServer() as hang:
            result, exit_s, stderr = _scenario("track", tmp_path, OPIK_URL_OVERRIDE=hang.url)
    # The health check failed: tracing is off for the process, Opik never imported.
    assert result["tracer"] == "OpikTracing" and result["trace_id"] is None and result["modules"] == []
    (line,) = stderr.strip().splitlines()
    assert line.startswith("Opik tracing is off for this run: the Opik server at http://127.0.0.1:")
    assert exit_s < 1.5, f"exit took {exit_s:.2f} s after the last traced call"


# --------------------------------------------------------------------------- the health check


class _Unhealthy(FakeOpik):
    """Answers its ping with HTTP 200 and {"healthy": false}."""

    def _handle(self, handler, method, path, body):
        self.send(handler, 200, {"healthy": False})


def _down(kind: str):
    """A context giving the OPIK_URL_OVERRIDE of an Opik that is down in the way *kind* says."""
    import contextlib

    @contextlib.contextmanager
    def closed():
        yield f"http://127.0.0.1:{closed_port()}/api"

    @contextlib.contextmanager
    def running(server_class):
        with server_class() as server:
            yield server.url

    return closed() if kind == "closed" else running({"hanging": HangingServer, "http500": FailingOpik}[kind])


def test_health_check_tells_up_from_down():
    from fretcoach_desktop.tracing.tracer import PROBE_TIMEOUT_S, probe_opik

    with FakeOpik() as up:
        assert probe_opik(up.url) is None
        assert [(r["method"], r["path"]) for r in up.requests] == [("GET", "/api/is-alive/ping")]
    assert probe_opik(f"http://127.0.0.1:{closed_port()}/api") == "connection refused"
    with FailingOpik() as failing:
        assert probe_opik(failing.url) == "it answered HTTP 500 to its health check"
    with _Unhealthy() as unhealthy:
        assert probe_opik(unhealthy.url) == "it reports itself unhealthy"
    with HangingServer() as hang:
        start = time.monotonic()
        assert probe_opik(hang.url, timeout=0.3) == "no answer within 0.3 s"
        assert time.monotonic() - start < 0.3 + 0.5
    assert probe_opik("ftp://127.0.0.1/api") == "its URL is not http:// or https://"
    assert PROBE_TIMEOUT_S < 1.0


@pytest.mark.parametrize("kind", ["closed", "hanging", "http500"])
def test_opik_down_turns_tracing_off_without_importing_it(tmp_path, kind):
    """In this process: a traced call runs untraced, the tracer reports itself disabled,
    later calls do not ask the server again, and Opik is not imported for it."""
    from fretcoach_desktop.tracing.tracer import PROBE_TIMEOUT_S

    with _down(kind) as url:
        tracer = make_tracer(load_config({"data_dir": tmp_path, "opik_url_override": url}, env={}))
        assert tracer.enabled
        start = time.monotonic()
        with tracer.track("x") as handle:
            handle.set_output({"ok": True})
        assert time.monotonic() - start < PROBE_TIMEOUT_S + 0.5
        assert handle.trace_id is None and not tracer.enabled
        start = time.monotonic()
        assert tracer.langchain_callback(["a"]) is None and tracer.ensure_prompt("live_coach", "v9", "t") is None
        assert time.monotonic() - start < 0.2  # the answer is remembered
        assert tracer.flush(0.1) is True


def _session_cli(
    extra_env: dict[str, str], data_dir: Path, prelude: str = ""
) -> tuple[subprocess.CompletedProcess, float, list[str]]:
    """`fretcoach session` on the 10 s test take at --speed 20 in a fresh process: the
    process, its wall time and the top-level modules it had imported at exit."""
    take = Path(__file__).parent / "data" / "musescore_take000.flac"
    modules = data_dir / "modules.json"
    code = (
        "import atexit, json, runpy, sys\n"
        f"{prelude}\n"
        "out = sys.argv.pop(1)\n"
        "loaded = lambda: sorted({m.split('.')[0] for m in sys.modules})\n"
        "atexit.register(lambda: open(out, 'w').write(json.dumps(loaded())))\n"
        "runpy.run_module('fretcoach_desktop', run_name='__main__', alter_sys=True)\n"
    )
    args = ["session", str(take), "--bpm", "108", "--key", "B", "--scale", "major_pentatonic", "--subdivision", "2",
            "--speed", "20", "--no-audio", "--json"]  # fmt: skip
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", code, str(modules), *args],
        cwd=ROOT, env=_env(FRETCOACH_DATA_DIR=str(data_dir), **extra_env), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    seconds = time.monotonic() - start
    return proc, seconds, json.loads(modules.read_text()) if modules.exists() else []


@pytest.mark.parametrize("kind", ["closed", "hanging", "http500"])
def test_session_with_opik_down_is_as_fast_as_without_opik(tmp_path_factory, kind):
    """Issue 13, item 6: `session` with Opik configured but down takes at most ~1 s more
    than without Opik, even for a fast replay (2.5 s), because Opik's ~3 s import never
    happens; one warning line, no traceback, and the session is saved."""
    base, base_s, base_modules = _session_cli({}, tmp_path_factory.mktemp("base"))
    assert base.returncode == 0 and base.stderr == "", base.stderr
    with _down(kind) as url:
        proc, seconds, modules = _session_cli({"OPIK_URL_OVERRIDE": url}, tmp_path_factory.mktemp(kind))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["notes_played"] == json.loads(base.stdout)["notes_played"] > 0
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"Opik tracing is off for this run: the Opik server at {url} is unreachable (")
    assert "Traceback" not in proc.stderr
    assert "opik" not in modules and "opik" not in base_modules
    # The goal is +1 s; the margin is for a loaded machine (with Opik's import it was +2-2.5 s).
    assert seconds - base_s < 1.5, f"{seconds:.2f} s with Opik {kind} against {base_s:.2f} s without"


def test_session_with_opik_configured_but_not_installed_says_what_to_install(tmp_path):
    with FakeOpik() as opik_server:
        proc, _, modules = _session_cli(
            {"OPIK_URL_OVERRIDE": opik_server.url}, tmp_path, prelude="sys.modules['opik'] = None  # not installed"
        )
        requests = list(opik_server.requests)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["session_id"]
    assert proc.stderr.strip().splitlines() == [
        "Opik tracing is configured but the opik package is not installed: tracing is off "
        "(pip install 'fretcoach-desktop[tracing]')"
    ]
    assert requests == []  # nothing is asked of a server that could not be used anyway


# --------------------------------------------------------------------------- AI Mode from the CLI


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fretcoach_desktop", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )  # fmt: skip


@pytest.mark.parametrize("answer", ["usable", "unusable"])
def test_fretcoach_plan_leaves_an_ai_mode_trace_matching_its_json(answer, isolated_env):
    """`fretcoach plan --json` against a scripted model: one ai-mode-plan trace, tagged
    ai-mode / practice-plan, in thread user-{user_id}, with the user_id and practice_id the
    JSON printed; when the model's plan is unusable, the offline plan is used and the same
    trace says so."""
    from tests.fakes.openai_server import Reply

    take = Path(__file__).parent / "data" / "musescore_take000.flac"
    saved = _cli("analyze", str(take), "--bpm", "108", "--key", "B", "--scale", "major_pentatonic", "--save")
    assert saved.returncode == 0, saved.stderr
    with FakeOpenAI() as api, FakeOpik() as opik_server:
        if answer == "unusable":
            api.default("gpt-4o-mini", Reply("Practise more, I guess."))  # not the plan's JSON
            api.default("gpt-4.1-mini", Reply("Still not a plan."))
        proc = _cli(
            "plan", "--json",
            OPENAI_API_KEY="sk-test-key", OPENAI_BASE_URL=api.base_url, OPIK_URL_OVERRIDE=opik_server.url,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert opik_server.wait_for(lambda s: any(t.get("name") == "ai-mode-plan" for t in s.traces()), timeout=10)
        if answer == "unusable":
            assert opik_server.wait_for(
                lambda s: any((t.get("metadata") or {}).get("fell_back") for t in s.traces()), timeout=10
            )
        traces = [t for t in opik_server.traces() if t.get("name") == "ai-mode-plan"]
    (trace,) = traces
    assert trace["id"] == out["trace_id"]
    assert set(trace["tags"]) == {"ai-mode", "practice-plan"}
    assert trace["thread_id"] == f"user-{out['user_id']}"
    assert trace["metadata"]["user_id"] == str(out["user_id"])
    assert trace["metadata"]["practice_id"] == str(out["practice_id"])
    if answer == "usable":
        assert out["mode"] == "online" and trace["metadata"]["mode"] == "online"
    else:
        assert out["mode"] == "offline" and out["fell_back"] is True
        assert trace["metadata"]["mode"] == "offline" and trace["metadata"]["fell_back"] is True
        assert trace["metadata"]["error"] and trace["output"]["plan"]["exercises"]
