"""Responsiveness of the practice window: start-up, event-loop stalls, CPU.

    python -m bench.gui [--seconds 45] [--runs 5]

* start-up: from launching ``python -m fretcoach_desktop`` (real services, offscreen Qt)
  to the window's first paint, median of ``--runs`` launches;
* longest event-loop gap: the window plays the demo take through the live pipeline (real
  analysis thread, database writes every 5 s, the coach at 30 s) while the coach's model
  is a fake OpenAI server that takes 5 s to answer; a 1 ms QTimer records the longest
  time the GUI thread was not free (target: <= 16 ms);
* CPU: the process's CPU time per wall second with the window idle (no session) and while
  playing (target idle: < 10% of one core).

Run it on a quiet machine: it measures the machine as much as the app.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def startup_times(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as data:
            env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FRETCOACH_DATA_DIR": data}
            env.pop("OPENAI_API_KEY", None)
            env["FRETCOACH_REPORT_SHOWN"] = "1"
            start = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "fretcoach_desktop"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            line = proc.stdout.readline() if proc.stdout else ""
            elapsed = time.perf_counter() - start
            proc.terminate()
            proc.wait(10)
            if not line.startswith("shown"):
                raise SystemExit(f"the window did not report being shown: {line!r}")
            times.append(elapsed)
    return times


def _stall_sampler(main_ident: int, last_tick: dict, stop, out: list) -> None:
    """While the GUI thread has not ticked for > 10 ms, sample where it is (--why)."""
    import traceback

    while not stop.is_set():
        time.sleep(0.002)
        if last_tick.get("t") and time.perf_counter() - last_tick["t"] > 0.010:
            frame = sys._current_frames().get(main_ident)
            if frame is not None:
                stack = traceback.extract_stack(frame)[-6:]
                out.append(" <- ".join(f"{Path(f.filename).name}:{f.lineno}:{f.name}" for f in reversed(stack)))


def responsiveness(seconds: float, why: bool = False) -> dict[str, float]:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from fretcoach_desktop.app import build_services, demo_take
    from fretcoach_desktop.config import load_config
    from fretcoach_desktop.ui.main_window import MainWindow
    from tests.fakes.openai_server import FakeOpenAI, Reply

    with tempfile.TemporaryDirectory() as data, FakeOpenAI() as api:
        api.default("gpt-4o-mini", Reply("Lock in with the click on the upbeats.", delay=5.0))
        os.environ["FRETCOACH_DATA_DIR"] = data
        config = load_config({"openai_api_key": "sk-bench", "openai_base_url": api.base_url})
        app = QApplication.instance() or QApplication(["bench"])
        services = build_services(config, demo_take())
        window = MainWindow(services)
        window.show()
        clock = QElapsedTimer()
        gaps: list[float] = []
        state = {"last": None, "phase": "idle"}
        cpu = {}

        wall = {"t": 0.0}

        def tick() -> None:
            wall["t"] = time.perf_counter()
            now = clock.nsecsElapsed() / 1e6
            if state["last"] is not None:
                gaps.append(now - state["last"])
            state["last"] = now

        timer = QTimer()
        timer.setInterval(1)
        timer.timeout.connect(tick)

        def phase(name: str) -> None:
            cpu[name] = (time.process_time(), time.perf_counter())

        def start_playing() -> None:
            cpu["idle"] = (time.process_time() - cpu["idle"][0]) / (time.perf_counter() - cpu["idle"][1])
            clock.start()
            timer.start()
            window.start_session()

        def measure_cpu() -> None:  # the 1 ms timer itself costs CPU: measure without it
            timer.stop()
            phase("playing")

        def finish() -> None:
            cpu["playing"] = (time.process_time() - cpu["playing"][0]) / (time.perf_counter() - cpu["playing"][1])
            window.stop_session()
            app.quit()

        import threading

        samples: list[str] = []
        stop = threading.Event()
        if why:
            threading.Thread(
                target=_stall_sampler, args=(threading.main_thread().ident, wall, stop, samples), daemon=True
            ).start()
        QTimer.singleShot(500, lambda: phase("idle"))
        QTimer.singleShot(10_500, start_playing)
        QTimer.singleShot(int((10.5 + seconds) * 1000), measure_cpu)
        QTimer.singleShot(int((20.5 + seconds) * 1000), finish)
        app.exec()
        stop.set()
        if why:
            from collections import Counter

            for stack, n in Counter(samples).most_common(8):
                print(f"  stalled {n * 2} ms in: {stack}")
        tips = len(api.chat_requests())
        window.close()
        services.store.close()
    ordered = sorted(gaps)
    return {
        "max_gap_ms": ordered[-1] if ordered else float("nan"),
        "p99_gap_ms": ordered[int(0.99 * (len(ordered) - 1))] if ordered else float("nan"),
        "ticks": len(gaps),
        "cpu_idle": 100 * cpu["idle"],
        "cpu_playing": 100 * cpu["playing"],
        "model_requests": tips,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=45.0, help="seconds of playing (>= 35 for a coach tip)")
    parser.add_argument("--runs", type=int, default=5, help="start-up launches")
    parser.add_argument("--why", action="store_true", help="sample where the GUI thread stalls")
    args = parser.parse_args(argv)
    times = startup_times(args.runs)
    median, low, high = statistics.median(times), min(times), max(times)
    print(f"start-up to first paint: median {median:.2f} s (min {low:.2f}, max {high:.2f}, {len(times)} runs; <= 1 s)")
    r = responsiveness(args.seconds, args.why)
    print(
        f"longest GUI event-loop gap while playing with a 5 s model: {r['max_gap_ms']:.1f} ms (p99 "
        f"{r['p99_gap_ms']:.1f} ms, {r['ticks']} ticks; target <= 16 ms; model requests {r['model_requests']})"
    )
    print(f"CPU: idle window {r['cpu_idle']:.1f}% of a core (target < 10%), playing the demo {r['cpu_playing']:.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
