"""Coach evaluation: metrics on known answers, datasets, prompt comparisons, Opik, feedback."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from fretcoach_desktop.audio.metrics import METRIC_NAMES
from fretcoach_desktop.coach import evaluation as ev
from fretcoach_desktop.coach.prompts import load_prompt
from fretcoach_desktop.coach.types import CoachWindow
from fretcoach_desktop.commands import evaluate
from fretcoach_desktop.config import load_config
from fretcoach_desktop.store import Store
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.opik_server import FakeOpik

ROOT = Path(__file__).resolve().parents[1]

FACTS = {
    "metrics": {"pitch_accuracy": 91.2, "scale_conformity": 95.0, "timing_stability": 62.4, "noise_control": 88.0},
    "weakest_metric": "timing_stability",
    "notes_played": 48,
    "noise_events": 1,
    "trend_vs_previous_window": {"timing_stability": -4.2},
    "mean_timing_offset_ms": 31.5,
    "most_missed_notes": ["F#"],
    "key": "A",
    "scale": "minor_pentatonic",
    "bpm": 96,
}


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fretcoach")
    parser.add_argument("--user")
    evaluate.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


def call(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = evaluate.run(parse(*argv), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


# --------------------------------------------------------------------------- metrics


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Lock every note onto the click and count out loud.", 1.0),
        ("Your pitch at 91.2 is fine, so focus on timing.", 1.0),  # a decimal does not end it
        ("Slow down. Count the beats out loud.", 0.0),
        ("Great job!\nNow relax your wrist", 0.0),
        ("", 0.0),
    ],
)
def test_one_sentence(text, expected):
    assert ev.one_sentence(text) == expected


@pytest.mark.parametrize(
    ("weakest", "text", "expected"),
    [
        ("timing_stability", "You are rushing; wait for the click before each note.", 1.0),
        ("timing_stability", "You are playing late, anticipate the beat.", 1.0),
        ("pitch_accuracy", "Your notes run sharp, so press more lightly.", 1.0),
        ("pitch_accuracy", "Keep them in tune by fretting right behind the wire.", 1.0),
        ("scale_conformity", "Stay in the key and avoid the notes outside the box.", 1.0),
        ("noise_control", "Mute the idle strings with your palm to stop the buzz.", 1.0),
        ("noise_control", "Lock every note onto the click.", 0.0),
        ("timing_stability", "Mute the idle strings with your palm.", 0.0),
    ],
)
def test_addresses_weakest(weakest, text, expected):
    assert ev.addresses_weakest(text, {**FACTS, "weakest_metric": weakest}) == expected


def test_addresses_weakest_missed_note_and_no_notes():
    facts = {**FACTS, "weakest_metric": "scale_conformity", "most_missed_notes": ["F#", "C"]}
    assert ev.addresses_weakest("Watch that F# when you climb up.", facts) == 1.0
    assert ev.addresses_weakest("Nice work.", {**FACTS, "weakest_metric": None}) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Count the beats out loud and tap your foot.", 1.0),
        ("Don't rush the fourth beat.", 1.0),
        ("Your timing was a bit uneven in that window.", 0.0),
        ("Nice playing overall.", 0.0),
    ],
)
def test_actionable(text, expected):
    assert ev.actionable(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Play 120 bpm", 0.0),  # 120 is not in the facts (96 is)
        ("Stay at 96 bpm and lock onto the click.", 1.0),
        ("Your timing dropped 4.2 points, you are 31.5 ms late.", 1.0),  # magnitude of a trend
        ("Timing is at 62, so slow down.", 1.0),  # rounding of 62.4
        ("Watch the F#4 and the A4 at 96 bpm.", 1.0),  # note names are not numbers
        ("Timing is at 75 percent.", 0.0),
        ("Count 1, 2, 3, 4 out loud.", 0.0),
        ("Lock onto the click.", 1.0),
    ],
)
def test_no_invented_numbers(text, expected):
    assert ev.no_invented_numbers(text, FACTS) == expected


def test_score_answer_good_and_bad():
    good = ev.score_answer("Wait for the click at 96 bpm and count each beat out loud.", FACTS, 12.0)
    assert good == {
        "one_sentence": 1.0,
        "addresses_weakest": 1.0,
        "actionable": 1.0,
        "no_invented_numbers": 1.0,
        "words": 13.0,
        "latency_ms": 12.0,
    }
    bad = ev.score_answer("Great session. Your pitch was 99 percent accurate!", FACTS)
    assert bad["one_sentence"] == 0.0 and bad["no_invented_numbers"] == 0.0
    assert bad["actionable"] == 0.0 and bad["addresses_weakest"] == 0.0


def test_offline_tips_score_well():
    items = ev.synthetic_windows(16)
    from fretcoach_desktop.coach.offline import offline_tip

    for item in items:
        text = offline_tip(item.window, seed=3)
        scores = ev.score_answer(text, item.facts)
        assert scores["one_sentence"] == scores["actionable"] == scores["no_invented_numbers"] == 1.0, text
        assert scores["addresses_weakest"] == 1.0, (item.window.weakest_metric, text)


# --------------------------------------------------------------------------- datasets


def test_synthetic_dataset_covers_every_case(isolated_env):
    status, out, _ = call("eval", "build-dataset", "--synthetic", "16", "--json")
    assert status == 0
    data = json.loads(out)
    path = Path(data["path"])
    assert path == isolated_env / "eval" / "dataset.jsonl" and data["opik_dataset"] is None
    assert set(data["weakest_metric"]) == set(METRIC_NAMES)
    items = ev.load_dataset(path)
    assert len(items) == 16
    for item in items:
        raw = json.loads(path.read_text().splitlines()[items.index(item)])
        assert raw["facts"] == item.window.facts()  # the exact coach input
        assert isinstance(item.window, CoachWindow) and item.window.weakest_metric
    trends = {(i.window.weakest_metric, i.window.trend[i.window.weakest_metric] > 0) for i in items}
    assert trends == {(m, up) for m in METRIC_NAMES for up in (True, False)}
    assert any(i.window.missed_notes for i in items)
    assert any(abs(i.window.timing_bias_ms or 0) >= 20 for i in items)
    assert {i.window.weakest_metric for i in ev.synthetic_windows(4)} == set(METRIC_NAMES)


def _seed_session(store: Store, user_id: int) -> int:
    from fretcoach_desktop.audio.types import Metrics
    from fretcoach_desktop.store.records import Window

    sid = store.start_session(user_id, key="A", scale="minor_pentatonic", bpm=90)

    class N:
        def __init__(self, onset, midi, cents, in_scale, offset):
            self.onset_s, self.midi, self.cents, self.in_scale, self.timing_offset_ms = (
                onset, midi, cents, in_scale, offset)  # fmt: skip

    notes = [N(0.5 + i, 57 + (i % 5), 4.0 if i % 3 else 30.0, i % 7 != 0, 35.0 if i % 2 else -5.0) for i in range(50)]
    windows = [
        Window(0.0, 30.0, Metrics(80.0, 85.0, 60.0, 90.0, notes=30, noise_events=1)),
        Window(30.0, 50.0, Metrics(82.0, 86.0, 65.0, 92.0, notes=20, noise_events=0)),
    ]
    store.finish_session(sid, windows=windows, notes=notes, duration_s=50.0)
    return sid


def test_dataset_from_sessions(isolated_env):
    config = load_config()
    with Store.open(config) as store:
        user = store.ensure_user(config.user)
        sid = _seed_session(store, user.id)
    status, out, _ = call("eval", "build-dataset", "--from-sessions", "--out", str(isolated_env / "s.jsonl"))
    assert status == 0 and "saved 2 windows" in out
    items = ev.load_dataset(isolated_env / "s.jsonl")
    assert [i.source for i in items] == [f"session:{sid}:window:0", f"session:{sid}:window:1"]
    assert items[0].window.notes == 30 and items[1].window.notes == 20
    assert items[1].window.previous == items[0].facts["metrics"]
    assert items[0].facts["key"] == "A" and items[0].facts["bpm"] == 90.0


def test_dataset_from_no_sessions_is_a_user_error():
    from fretcoach_desktop.cli import CliError

    with pytest.raises(CliError, match="--synthetic"):
        call("eval", "build-dataset")


# --------------------------------------------------------------------------- runs


def test_v2_prompt_exists_and_default_stays_v1():
    assert load_prompt("live_coach").id == "live_coach.v1"
    v2 = load_prompt("live_coach", "v2")
    assert set(v2.variables) == set(load_prompt("live_coach", "v1").variables)


def test_run_offline_two_versions_table(isolated_env):
    assert call("eval", "build-dataset", "--synthetic", "8")[0] == 0
    status, out, err = call("eval", "run", "--prompt", "v1", "--prompt", "live_coach.v2")
    assert status == 0 and "offline coach" in err
    header, *rows = out.splitlines()
    assert "live_coach.v1" in header and "live_coach.v2" in header
    names = [r.split()[0] for r in rows]
    for name in ("one_sentence", "addresses_weakest", "actionable", "no_invented_numbers", "words", "latency_ms"):
        assert name in names
    row = next(r for r in rows if r.startswith("one_sentence")).split()
    assert row[1:] == ["1.00", "1.00"]

    status, out, _ = call("eval", "run", "--prompt", "v1", "--json")
    data = json.loads(out)
    (rows,) = data["results"].values()
    assert len(rows) == 8 and all(r["mode"] == "offline" and r["text"] for r in rows)
    assert data["summary"]["live_coach.v1"]["no_invented_numbers"] == 1.0 and data["experiments"] == {}


def test_run_errors(isolated_env):
    from fretcoach_desktop.cli import CliError

    with pytest.raises(CliError, match="build-dataset"):
        call("eval", "run")
    call("eval", "build-dataset", "--synthetic", "2")
    with pytest.raises(CliError, match="v9"):
        call("eval", "run", "--prompt", "v9")


def test_run_against_fake_openai_scores_answers(isolated_env, monkeypatch):
    with FakeOpenAI() as api:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
        monkeypatch.setenv("OPENAI_BASE_URL", api.base_url)
        call("eval", "build-dataset", "--synthetic", "4")
        answers = [
            "Lock onto the click and count out loud.",  # timing? the dataset cycles metrics
            "Play 120 bpm. Then relax.",
            "Mute the idle strings.",
            "Your pitch was great.",
        ]
        judged = ['{"score": 5, "reason": "clear"}', "3", "3", "3"]
        for answer, grade in zip(answers, judged, strict=True):  # the judge grades each answer in turn
            api.script("gpt-4o-mini", Reply(answer), Reply(grade))
        status, out, _ = call("eval", "run", "--prompt", "v2", "--json", "--judge")
        requests = api.chat_requests()
    assert status == 0
    data = json.loads(out)
    rows = data["results"]["live_coach.v2"]
    assert [r["mode"] for r in rows] == ["online"] * 4 and rows[0]["answered_by"] == "live_coach.v2"
    # The coach cuts answers to one sentence, so "Play 120 bpm." remains and is caught.
    assert rows[1]["text"] == "Play 120 bpm." and rows[1]["scores"]["no_invented_numbers"] == 0.0
    assert rows[0]["scores"]["actionable"] == 1.0 and rows[3]["scores"]["actionable"] == 0.0
    assert rows[0]["scores"]["judge"] == 1.0 and rows[1]["scores"]["judge"] == 0.5
    assert all(r["scores"]["latency_ms"] > 0 for r in rows)
    system = requests[0]["body"]["messages"][0]["content"]
    assert "starts with a verb" in system  # the v2 prompt was used
    facts = json.loads(requests[0]["body"]["messages"][1]["content"])
    assert facts == ev.load_dataset(isolated_env / "eval" / "dataset.jsonl")[0].facts


# --------------------------------------------------------------------------- Opik

_OPIK_RUN = textwrap.dedent(
    """
    import argparse, io, json, sys
    from fretcoach_desktop.commands import evaluate
    parser = argparse.ArgumentParser(prog="fretcoach")
    parser.add_argument("--user")
    evaluate.add_parser(parser.add_subparsers(dest="command"))
    for argv in (["eval", "build-dataset", "--synthetic", "4"], ["eval", "run", "--prompt", "v1", "--prompt", "v2"]):
        out = io.StringIO()
        status = evaluate.run(parser.parse_args(argv), out=out)
        print("OUT", json.dumps({"status": status, "out": out.getvalue()}), flush=True)
    print("MODULES", json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
    """
)


class DatasetOpik(FakeOpik):
    """The fake Opik server, also remembering created datasets (the SDK retrieves them)."""

    def __init__(self) -> None:
        super().__init__()
        self.datasets: dict[str, dict] = {}

    def _handle(self, handler, method, path, body):
        route = path.split("?")[0]
        if route.endswith("/v1/private/datasets") and method == "POST":
            with self.lock:
                self.requests.append({"method": method, "path": path, "body": body})
                self.datasets[body["name"]] = {"id": body.get("id") or str(uuid.uuid4()), "name": body["name"]}
            self.send(handler, 201)
            return
        if route.endswith("/v1/private/datasets/retrieve") and method == "POST":
            with self.lock:
                self.requests.append({"method": method, "path": path, "body": body})
                found = self.datasets.get((body or {}).get("dataset_name"))
            self.send(handler, *((200, found) if found else (404, {"errors": ["not found"]})))
            return
        if route.endswith("/is-alive/ver"):
            self.send(handler, 200, {"version": "1.0.0"})
            return
        super()._handle(handler, method, path, body)

    def bodies(self, method: str, suffix: str) -> list:
        with self.lock:
            return [
                r["body"] for r in self.requests if r["method"] == method and r["path"].split("?")[0].endswith(suffix)
            ]


def _subprocess_run(tmp_path: Path, **env: str) -> tuple[list[dict], list[str]]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPIK_", "OPENAI_", "FRETCOACH_"))}
    clean.update(FRETCOACH_DATA_DIR=str(tmp_path), **env)
    proc = subprocess.run([sys.executable, "-c", _OPIK_RUN], cwd=ROOT, env=clean, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    outs = [json.loads(line[4:]) for line in proc.stdout.splitlines() if line.startswith("OUT ")]
    modules = next(json.loads(line[8:]) for line in proc.stdout.splitlines() if line.startswith("MODULES "))
    return outs, modules


def test_dataset_and_experiments_reach_fake_opik(tmp_path):
    with DatasetOpik() as server:
        outs, _ = _subprocess_run(tmp_path, OPIK_URL_OVERRIDE=server.url)
        assert server.wait_for(
            lambda s: sum(len(b["experiment_items"]) for b in s.bodies("POST", "/experiments/items")) >= 8, timeout=10
        )
        assert server.wait_for(lambda s: len(s.feedback_scores()) >= 8 * 5, timeout=10)
        inserted = [i for b in server.bodies("PUT", "/datasets/items") for i in b["items"]]
        experiments = server.bodies("POST", "/v1/private/experiments")
        refs = [i for b in server.bodies("POST", "/experiments/items") for i in b["experiment_items"]]
        scores = server.feedback_scores()
        traces = server.traces()
    assert [o["status"] for o in outs] == [0, 0]
    assert "Opik experiment for live_coach.v1" in outs[1]["out"]
    local = ev.load_dataset(tmp_path / "eval" / "dataset.jsonl")
    ids = {i.id for i in local}
    assert {i["id"] for i in inserted} == ids  # same ids on every upload: no duplicates
    first = next(i for i in inserted if i["id"] == local[0].id)
    assert first["data"]["input"] == local[0].facts
    assert {e["dataset_name"] for e in experiments} == {ev.DATASET_NAME}
    assert {e["metadata"]["prompt_version"] for e in experiments} == {"live_coach.v1", "live_coach.v2"}
    assert len(refs) == 8 and {r["dataset_item_id"] for r in refs} == ids
    assert {r["experiment_id"] for r in refs} == {e["id"] for e in experiments}
    assert {"one_sentence", "addresses_weakest", "actionable", "no_invented_numbers", "words"} <= {
        s["name"] for s in scores
    }
    eval_traces = [t for t in traces if t.get("name") == "live-coach-eval"]
    assert len(eval_traces) == 8 and {r["trace_id"] for r in refs} == {t["id"] for t in eval_traces}
    # Both prompt versions were registered before the experiments, and each experiment
    # links its own.
    versions = server.prompt_versions["fretcoach-live_coach"]
    by_text = {v["metadata"]["fretcoach_version"]: v["id"] for v in versions}
    assert set(by_text) == {"v1", "v2"} and len(versions) == 2, versions
    for e in experiments:
        linked = [p["id"] for p in e.get("prompt_versions") or []]
        assert linked == [by_text[e["metadata"]["prompt_version"].split(".")[1]]], e
    first_prompt = min(r["t"] for r in server.requests if "/prompts" in r["path"])
    first_experiment = min(r["t"] for r in server.requests if r["path"].split("?")[0].endswith("/experiments"))
    assert first_prompt < first_experiment


def test_nothing_is_sent_without_opik(tmp_path):
    with FakeOpik() as server:
        outs, modules = _subprocess_run(tmp_path)
        assert server.requests == []
    assert [o["status"] for o in outs] == [0, 0]
    assert "opik" not in modules and "Opik experiment" not in outs[1]["out"]


# --------------------------------------------------------------------------- feedback


def test_feedback_export(isolated_env):
    config = load_config()
    with Store.open(config) as store:
        user = store.ensure_user(config.user)
        other = store.ensure_user("someone-else")
        sid = _seed_session(store, user.id)
        ids = [
            store.add_coach_message(sid, t_s=30.0 * i, text=f"tip {i}", prompt_version=v, model="gpt-4o-mini")
            for i, v in enumerate(["live_coach.v1", "live_coach.v1", "live_coach.v2", "live_coach.v2", "live_coach.v1"])
        ]
        store.add_coach_message(sid, t_s=200.0, text="offline tip", mode="offline", prompt_version="offline.rules.v1")
        for mid, fb in zip(ids, [1, -1, 1, 1, None], strict=True):
            store.set_coach_feedback(user.id, mid, fb)
        foreign = store.add_coach_message(
            _seed_session(store, other.id), t_s=1.0, text="x", prompt_version="live_coach.v2"
        )
        store.set_coach_feedback(other.id, foreign, -1)
    status, out, _ = call("eval", "feedback", "--json")
    assert status == 0
    report = json.loads(out)
    assert report["versions"]["live_coach.v1"] == {"tips": 3, "rated": 2, "up": 1, "down": 1, "approval_rate": 0.5}
    assert report["versions"]["live_coach.v2"] == {"tips": 2, "rated": 2, "up": 2, "down": 0, "approval_rate": 1.0}
    assert report["versions"]["offline.rules.v1"]["approval_rate"] is None
    assert sorted(t["message_id"] for t in report["tips"]) == sorted(ids[:4])
    assert {t["feedback"] for t in report["tips"]} == {"up", "down"}
    status, out, _ = call("eval", "feedback")
    assert "live_coach.v2" in out and "100%" in out and "50%" in out
