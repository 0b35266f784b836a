"""A long session through the window's real services: does anything grow, drop or stall?

    python -m bench.soak [--minutes 60] [--trace-malloc]

Opens the window as the app does (offscreen Qt, real services, a fresh data folder), then
plays the demo take, looped, at real time through the live path for ``--minutes``: the
analysis thread, database checkpoints every 5 s, the live coach every 30 s (offline coach:
no key, so no network). Every 10 s it records the process's resident memory; a 10 ms
QTimer records every gap of the GUI thread. At the end it prints the RSS after warm-up
(the first 2 minutes) and at the end, its growth, the input and ring overflows, the
checkpoints written and the longest GUI gaps. ``--trace-malloc`` also lists the Python
allocations that grew most between warm-up and the end (slower; use it to find a leak).
It is not part of the test suite (it takes an hour); its figures are in the README.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARM_UP_S = float(os.environ.get("SOAK_WARM_UP_S", "120"))


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def soak(minutes: float, trace_malloc: bool) -> dict:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from fretcoach_desktop.app import build_services, demo_take
    from fretcoach_desktop.config import load_config
    from fretcoach_desktop.ui.launch import open_window, tune_interpreter

    with tempfile.TemporaryDirectory() as data:
        os.environ["FRETCOACH_DATA_DIR"] = data
        for name in ("OPENAI_API_KEY", "OPIK_API_KEY", "OPIK_URL_OVERRIDE"):
            os.environ.pop(name, None)
        config = load_config()
        app = QApplication.instance() or QApplication(["soak"])
        services = build_services(config, demo_take())
        tune_interpreter()
        checkpoints = [0]
        checkpoint = services.store.checkpoint

        def counted(*args, **kwargs):
            checkpoints[0] += 1
            return checkpoint(*args, **kwargs)

        services.store.checkpoint = counted
        window = open_window(services)
        window.show()
        rss: list[tuple[float, float]] = []
        gaps: list[float] = []
        state = {"last": 0.0, "t0": 0.0, "snapshot": None}

        def tick() -> None:
            now = time.perf_counter()
            if state["last"]:
                gaps.append((now - state["last"]) * 1000.0)
            state["last"] = now

        def sample() -> None:
            t = time.perf_counter() - state["t0"]
            rss.append((t, rss_mb()))
            source = window.source
            if source is not None:
                state["snapshot"] = source.snapshot  # a property of the live source
            if trace_malloc and "malloc_base" not in state and t >= WARM_UP_S:
                import tracemalloc

                state["malloc_base"] = tracemalloc.take_snapshot()
            print(f"[soak] {t / 60:5.1f} min  RSS {rss[-1][1]:6.1f} MB  checkpoints {checkpoints[0]}", flush=True)

        def finish() -> None:
            sample()
            if trace_malloc:
                import tracemalloc

                state["malloc_end"] = tracemalloc.take_snapshot()
            window.stop_session()
            QTimer.singleShot(2000, app.quit)

        def start() -> None:
            if state["t0"]:
                return
            if trace_malloc:
                import tracemalloc

                tracemalloc.start(1)
            state["t0"] = time.perf_counter()
            window.start_session()
            ticker.start()
            sampler.start()
            QTimer.singleShot(int(minutes * 60_000), finish)

        ticker = QTimer()
        ticker.setInterval(10)
        ticker.setTimerType(Qt.TimerType.PreciseTimer)
        ticker.timeout.connect(tick)
        sampler = QTimer()
        sampler.setInterval(10_000)
        sampler.timeout.connect(sample)
        window.settled.connect(start)
        QTimer.singleShot(30_000, start)  # never settled: start anyway
        app.exec()
        ticker.stop()
        sampler.stop()
        window.close()
        services.store.close()
    warm = next((mb for t, mb in rss if t >= WARM_UP_S), rss[0][1] if rss else float("nan"))
    snap = state["snapshot"]
    result = {
        "minutes": minutes,
        "rss_start_mb": rss[0][1] if rss else float("nan"),
        "rss_warm_mb": warm,
        "rss_end_mb": rss[-1][1] if rss else float("nan"),
        "input_overflows": getattr(snap, "input_overflows", None),
        "ring_overflows": getattr(snap, "ring_overflows", None),
        "checkpoints": checkpoints[0],
        "longest_gaps_ms": sorted(gaps)[-5:],
        "gaps_over_16_ms": sum(1 for g in gaps if g > 26.0),  # a 10 ms timer: > 16 ms late
    }
    if "malloc_base" in state and "malloc_end" in state:
        stats = state["malloc_end"].compare_to(state["malloc_base"], "lineno")
        result["grew"] = [str(s) for s in stats[:12]]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--trace-malloc", action="store_true", help="list the Python allocations that grew most")
    args = parser.parse_args(argv)
    r = soak(args.minutes, args.trace_malloc)
    print(f"\nsoak: {r['minutes']:g} minutes of the demo take through the window's services (offscreen)")
    growth = r["rss_end_mb"] - r["rss_warm_mb"]
    print(f"  RSS: {r['rss_start_mb']:.1f} MB at the start, {r['rss_warm_mb']:.1f} MB after warm-up (2 min), "
          f"{r['rss_end_mb']:.1f} MB at the end: {growth:+.1f} MB (goal <= 20 MB)")  # fmt: skip
    print(f"  overflows: input {r['input_overflows']}, ring {r['ring_overflows']} (goal 0)")
    print(f"  checkpoints written: {r['checkpoints']}")
    print(f"  longest GUI gaps (ms): {', '.join(f'{g:.0f}' for g in r['longest_gaps_ms'])}; "
          f"{r['gaps_over_16_ms']} ticks more than 16 ms late")  # fmt: skip
    for line in r.get("grew", []):
        print(f"  grew: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
