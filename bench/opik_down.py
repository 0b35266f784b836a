"""What Opik costs a `fretcoach session` when it is configured, healthy or not.

Runs the same session (a take replayed through the live path, offline coach) as whole
processes with Opik not configured, up (the fake server of tests/fakes), refusing
connections, accepting them and never answering, and answering HTTP 500; prints the median
wall time of each and its difference from "not configured". The goal is at most 1 s more
whatever the failure.

    python -m bench.opik_down [--take FILE] [--speed 1] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.fakes.opik_server import FailingOpik, FakeOpik, HangingServer, closed_port

ROOT = Path(__file__).resolve().parents[1]
TAKE = ROOT / "tests" / "data" / "musescore_take000.flac"  # B major pentatonic, 108 bpm, eighths


@contextlib.contextmanager
def opik(kind: str) -> Iterator[dict[str, str]]:
    if kind == "not configured":
        yield {}
    elif kind == "refused":
        yield {"OPIK_URL_OVERRIDE": f"http://127.0.0.1:{closed_port()}/api"}
    else:
        server = {"up": FakeOpik, "hanging": HangingServer, "HTTP 500": FailingOpik}[kind]()
        with server:
            yield {"OPIK_URL_OVERRIDE": server.url}


def run_session(take: Path, speed: float, extra: dict[str, str]) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPIK_", "OPENAI_", "FRETCOACH_"))}
    env.update(FRETCOACH_DATA_DIR=tempfile.mkdtemp(prefix="fc-opik-bench-"), **extra)
    args = ["session", str(take), "--bpm", "108", "--key", "B", "--scale", "major_pentatonic", "--subdivision", "2"]
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "fretcoach_desktop", *args, "--speed", str(speed), "--no-audio", "--json"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"session failed: {proc.stderr.strip()[-500:]}")
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--take", type=Path, default=TAKE, help="a take in B major pentatonic at 108 bpm")
    parser.add_argument("--speed", type=float, default=1.0, help="replay speed (1 = real time, as a player plays)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    kinds = ("not configured", "up", "refused", "hanging", "HTTP 500")
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(args.runs):  # interleaved, so machine load falls on every kind alike
        for kind in kinds:
            with opik(kind) as extra:
                times[kind].append(run_session(args.take, args.speed, extra))
    base = statistics.median(times["not configured"])
    print(f"fretcoach session, {args.take.name} at speed {args.speed:g}, median of {args.runs} runs")
    for kind in kinds:
        median = statistics.median(times[kind])
        print(f"  Opik {kind:<15} {median:6.2f} s  ({median - base:+.2f} s)")


if __name__ == "__main__":
    main()
