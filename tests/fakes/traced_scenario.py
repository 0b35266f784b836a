"""Run the coach with tracing in a fresh process (tests start it with subprocess).

``python -m tests.fakes.traced_scenario MODE OUT_DIR``; configuration from the environment
(OPENAI_*, OPIK_*, FRETCOACH_*). Prints one JSON line ``RESULT {...}`` then ``END``; the
parent measures the time from ``END`` to process exit.

Modes: ``coach`` (one tip with speech, a feedback score, a plan), ``track`` (one traced
no-op call only, for exit timing), ``none`` (make the tracer and a tip, no Opik expected).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    mode, out_dir = sys.argv[1], Path(sys.argv[2])
    from fretcoach_desktop.coach.live import LiveCoach
    from fretcoach_desktop.coach.types import CoachWindow
    from fretcoach_desktop.config import load_config
    from fretcoach_desktop.tracing import make_tracer

    config = load_config()
    tracer = make_tracer(config)
    result: dict = {"tracer": type(tracer).__name__}
    if mode == "track":
        with tracer.track("exit-probe", tags=["live-coach", "tts"], metadata={"session_id": "s0"}) as handle:
            pass
        result["trace_id"] = handle.trace_id
    else:
        done: list = []
        coach = LiveCoach(config, tracer=tracer, audio_dir=out_dir, on_message=done.append, drop_stale=False)
        window = CoachWindow(
            session_id="s42",
            t_s=30.0,
            metrics={"pitch_accuracy": 91.0, "scale_conformity": 97.0, "timing_stability": 72.5, "noise_control": 88.0},
            previous={
                "pitch_accuracy": 90.0,
                "scale_conformity": 95.0,
                "timing_stability": 75.0,
                "noise_control": 86.0,
            },
            key="A",
            scale="minor_pentatonic",
            bpm=96,
        )
        coach.start()
        if hasattr(tracer, "wait_prompts"):
            tracer.wait_prompts(10)
        coach.submit(window)
        coach.wait_idle(30)
        coach.stop()
        result["messages"] = [m.to_json() for m in done]
        if mode == "coach":
            tracer.feedback(done[0].text_trace_id, "thumbs_up", 1.0)
            from fretcoach_desktop.coach.plans import make_practice_plan

            sessions = [
                {"id": f"x{i}", "started_at": f"2026-01-0{i + 1}", "key": "A", "scale": "minor_pentatonic", "bpm": 90,
                 "pitch_accuracy": 90, "scale_conformity": 95, "timing_stability": 60 + i, "noise_control": 85}
                for i in range(3)
            ]  # fmt: skip
            plan = make_practice_plan(sessions, config, "u7", "p9", tracer=tracer)
            result["plan"] = plan.to_json()
        result["flushed"] = tracer.flush(3.0)
    result["modules"] = sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in ("opik", "langchain_core")})
    print("RESULT " + json.dumps(result), flush=True)
    print("END", time.time(), flush=True)


if __name__ == "__main__":
    main()
