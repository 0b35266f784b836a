"""Responsiveness of the practice window: start-up, event-loop stalls, CPU.

    python -m bench.gui [--seconds 45] [--runs 5] [--why] [--only startup|gaps]

* start-up: from launching ``python -m fretcoach_desktop`` (real services, offscreen Qt)
  to the end of the window's first paint (``MainWindow.first_painted``), median of
  ``--runs`` launches;
* event-loop gaps: the window, opened as the app opens it (``ui.launch.open_window``),
  plays the demo take through the live pipeline (real analysis thread, database writes
  every 5 s, the coach at 30 s) while the coach's model is a fake OpenAI server that
  takes 5 s to answer; a 1 ms QTimer records every gap in which the GUI thread was not
  free: max, p99, p99.9 and how many exceed 16 ms (target: none). ``--why`` attributes
  the long gaps (slow event dispatches, garbage collections, Python stacks);
* CPU: the process's CPU time per wall second with the window idle (no session, after
  start-up's background work) and while playing (target idle: < 10% of one core).

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
IDLE_S = 8  # seconds of idle window measured (after start-up's background work)


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


def _stall_sampler(main_ident: int, last_tick: dict, stop, out: list, others: list) -> None:
    """While the GUI thread has not ticked for > 10 ms, sample where it is (--why).

    A pure Python stack misses native work (painting, layout, fonts) and time spent
    waiting for the GIL: the event and GC records of :class:`_Attribution` cover those.
    """
    import threading
    import traceback

    while not stop.is_set():
        time.sleep(0.002)
        t = last_tick.get("t")
        if t and last_tick.get("on") and time.perf_counter() - t > 0.010:
            frames = sys._current_frames()
            frame = frames.get(main_ident)
            if frame is not None:
                stack = traceback.extract_stack(frame)[-6:]
                out.append(" <- ".join(f"{Path(f.filename).name}:{f.lineno}:{f.name}" for f in reversed(stack)))
            # where the other Python threads are: one of them may hold the GIL in C code
            me = threading.get_ident()
            for ident, other in frames.items():
                if ident not in (main_ident, me):
                    stack = traceback.extract_stack(other)[-3:]
                    name = next((t.name for t in threading.enumerate() if t.ident == ident), str(ident))
                    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno}:{f.name}" for f in reversed(stack))
                    others.append(f"[{name}] {where}")


class _Attribution:
    """--why: what the GUI thread did during each long gap.

    * every event dispatch on the GUI thread that takes >= 2 ms (receiver, event type,
      nesting depth: a window repaint shows each widget's paint event under it), timed by
      overriding ``QApplication.notify``;
    * every garbage collection, on any thread (a collection holds the GIL, so one run by
      the analysis thread stalls the GUI thread just as well);
    * the longest gaps with what overlapped them.
    """

    def __init__(self) -> None:
        import gc
        import threading

        self.events: list[tuple[float, float, int, str]] = []  # start, ms, depth, what
        self.gcs: list[tuple[float, float, int, str]] = []  # start, ms, generation, thread
        self.names: dict[int, str] = {}
        self.depth = 0
        self._gc_start: dict[int, float] = {}
        self._threading = threading
        gc.callbacks.append(self._on_gc)

    def close(self) -> None:
        import gc

        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        ident = self._threading.get_ident()
        now = time.perf_counter()
        if phase == "start":
            self._gc_start[ident] = now
        elif ident in self._gc_start:
            began = self._gc_start.pop(ident)
            thread = self._threading.current_thread().name
            self.gcs.append((began, (now - began) * 1000, info.get("generation", -1), thread))

    def describe(self, receiver, event) -> str:
        name = self.names.get(id(receiver))
        if name is None:
            name = type(receiver).__name__
            try:
                if receiver.objectName():
                    name += f"#{receiver.objectName()}"
            except Exception:
                pass
        try:
            kind = event.type().name
        except Exception:
            kind = "?"
        return f"{name} {kind}"

    def app_class(self, base):
        attribution = self

        class TimedApplication(base):
            def notify(self, receiver, event):  # noqa: N802 - Qt API
                what = None
                start = time.perf_counter()
                attribution.depth += 1
                try:
                    return super().notify(receiver, event)
                finally:
                    attribution.depth -= 1
                    ms = (time.perf_counter() - start) * 1000
                    if ms >= 2.0:
                        what = attribution.describe(receiver, event)
                        attribution.events.append((start, ms, attribution.depth, what))

        return TimedApplication

    def report(self, gap_ends: list, limit: float = 16.0, top: int = 12, t0: float = 0.0) -> None:
        """Print each of the *top* longest gaps over *limit* ms with what overlapped it."""
        from collections import Counter

        long_gaps = sorted((g for g in gap_ends if g[1] > limit), key=lambda g: -g[1])
        causes: Counter = Counter()
        for end, ms, _cpu in long_gaps:
            begin = end - ms / 1000
            inside = [e for e in self.events if e[0] < end and e[0] + e[1] / 1000 > begin]
            gcs = [g for g in self.gcs if g[0] < end and g[0] + g[1] / 1000 > begin]
            top_level = [e for e in inside if e[2] == 0]
            causes[(top_level[0][3] if top_level else "no slow event") + (" + GC" if gcs else "")] += 1
        print(f"  gaps > {limit:g} ms by cause (longest event in the gap):")
        for cause, n in causes.most_common():
            print(f"    {n:4d}  {cause}")
        for end, ms, on_cpu in long_gaps[:top]:
            begin = end - ms / 1000
            print(f"  gap {ms:.1f} ms, {begin - t0:.2f} s into the session, GUI thread on CPU {on_cpu:.1f} ms:")
            for start, ems, depth, what in self.events:
                if start < end and start + ems / 1000 > begin:
                    print(f"    {'  ' * depth}{ems:6.1f} ms  {what}")
            for start, gms, gen, thread in self.gcs:
                if start < end and start + gms / 1000 > begin:
                    print(f"    GC gen {gen} {gms:.1f} ms on {thread}")
        for label, gcs in (
            ("before the session", [g for g in self.gcs if g[0] < t0]),
            ("during the session", [g for g in self.gcs if g[0] >= t0]),
        ):
            slow = [g for g in gcs if g[1] > 2.0]
            longest = max((g[1] for g in gcs), default=0.0)
            print(f"  GC {label}: {len(gcs)} collections, {len(slow)} over 2 ms, longest {longest:.1f} ms")


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def responsiveness(seconds: float, why: bool = False, why_over: float = 16.0) -> dict:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from fretcoach_desktop.app import build_services, demo_take
    from fretcoach_desktop.config import load_config
    from fretcoach_desktop.ui.launch import open_window, tune_interpreter
    from tests.fakes.openai_server import FakeOpenAI, Reply

    attribution = _Attribution() if why else None
    with tempfile.TemporaryDirectory() as data, FakeOpenAI() as api:
        api.default("gpt-4o-mini", Reply("Lock in with the click on the upbeats.", delay=5.0))
        os.environ["FRETCOACH_DATA_DIR"] = data
        config = load_config({"openai_api_key": "sk-bench", "openai_base_url": api.base_url})
        app_class = attribution.app_class(QApplication) if attribution else QApplication
        app = QApplication.instance() or app_class(["bench"])
        services = build_services(config, demo_take())
        tune_interpreter()
        window = open_window(services)  # as the app opens it: inputs, database, warm-up after the first paint
        window.show()
        gaps: list[float] = []
        gap_ends: list[tuple[float, float, float]] = []  # gaps > 16 ms: (perf_counter at the end, ms, CPU ms)
        cpu = {}
        wall = {"t": 0.0, "cpu": 0.0, "on": False}

        def tick() -> None:
            now, on_cpu = time.perf_counter(), time.thread_time()
            last, last_cpu = wall["t"], wall["cpu"]
            wall["t"], wall["cpu"] = now, on_cpu
            if wall["on"]:
                ms = (now - last) * 1000
                gaps.append(ms)
                if ms > min(8.0, why_over):  # how much of it the GUI thread spent running (vs waiting)
                    gap_ends.append((now, ms, (on_cpu - last_cpu) * 1000))
            wall["on"] = True

        timer = QTimer()
        timer.setInterval(1)
        timer.setTimerType(Qt.TimerType.PreciseTimer)
        timer.timeout.connect(tick)
        if attribution:
            attribution.names[id(timer)] = "bench 1 ms QTimer"
            attribution.names[id(window.timer)] = "window 30 Hz QTimer"

        def phase(name: str) -> None:
            cpu[name] = (time.process_time(), time.perf_counter())

        def start_playing() -> None:
            cpu["play_t0"] = time.perf_counter()
            cpu["idle"] = (time.process_time() - cpu["idle"][0]) / (time.perf_counter() - cpu["idle"][1])
            timer.start()
            window.start_session()

        def measure_cpu() -> None:  # the 1 ms timer itself costs CPU: measure without it
            timer.stop()
            wall["on"] = False
            phase("playing")

        def finish() -> None:
            cpu["playing"] = (time.process_time() - cpu["playing"][0]) / (time.perf_counter() - cpu["playing"][1])
            window.stop_session()
            app.quit()

        import threading

        samples: list[str] = []
        other_samples: list[str] = []
        stop = threading.Event()
        if why:
            threading.Thread(
                target=_stall_sampler,
                args=(threading.main_thread().ident, wall, stop, samples, other_samples),
                daemon=True,
            ).start()

        def settled() -> None:  # start-up's background work is done: idle, then play
            if "settled" in cpu:
                return
            cpu["settled"] = time.perf_counter() - shown_at
            QTimer.singleShot(500, lambda: phase("idle"))
            QTimer.singleShot(IDLE_S * 1000 + 500, start_playing)
            QTimer.singleShot(int((IDLE_S + 0.5 + seconds) * 1000), measure_cpu)
            QTimer.singleShot(int((IDLE_S + 10.5 + seconds) * 1000), finish)

        shown_at = time.perf_counter()
        window.settled.connect(settled)
        QTimer.singleShot(30_000, settled)  # never settled: measure anyway
        app.exec()
        stop.set()
        if attribution:
            from collections import Counter

            attribution.close()
            print("Python stacks of the GUI thread during gaps > 10 ms (2 ms samples):")
            for stack, n in Counter(samples).most_common(8):
                print(f"  stalled {n * 2} ms in: {stack}")
            print("Other threads meanwhile (one may hold the GIL in C code):")
            for stack, n in Counter(other_samples).most_common(10):
                print(f"  {n * 2:5d} ms  {stack}")
            attribution.report(gap_ends, limit=why_over, t0=cpu.get("play_t0", 0.0))
        tips = len(api.chat_requests())
        window.close()
        services.store.close()
    ordered = sorted(gaps)
    return {
        "max_gap_ms": ordered[-1] if ordered else float("nan"),
        "p99_gap_ms": _percentile(ordered, 0.99),
        "p999_gap_ms": _percentile(ordered, 0.999),
        "over_16_ms": sum(1 for g in ordered if g > 16.0),
        "ticks": len(gaps),
        "cpu_idle": 100 * cpu["idle"],
        "cpu_playing": 100 * cpu["playing"],
        "model_requests": tips,
        "settled_s": cpu["settled"],
        "long_gaps": gap_ends,
        "play_t0": cpu.get("play_t0", 0.0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=45.0, help="seconds of playing (>= 35 for a coach tip)")
    parser.add_argument("--runs", type=int, default=5, help="start-up launches")
    parser.add_argument("--why", action="store_true", help="attribute the GUI thread's long gaps (events, GC, stacks)")
    parser.add_argument("--why-over", type=float, default=16.0, metavar="MS", help="--why: gaps longer than this")
    parser.add_argument("--only", choices=("startup", "gaps"), help="run one of the two measurements")
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f} (1 min)")
    if args.only != "gaps":
        times = startup_times(args.runs)
        median, low, high = statistics.median(times), min(times), max(times)
        print(
            f"start-up to first paint: median {median:.2f} s (min {low:.2f}, max {high:.2f}, {len(times)} runs; <= 1 s)"
        )
    if args.only == "startup":
        return 0
    r = responsiveness(args.seconds, args.why, args.why_over)
    print(
        f"GUI event-loop gaps while playing with a 5 s model: max {r['max_gap_ms']:.1f} ms, p99 "
        f"{r['p99_gap_ms']:.1f} ms, p99.9 {r['p999_gap_ms']:.1f} ms, {r['over_16_ms']} over 16 ms "
        f"({r['ticks']} ticks; target: none over 16 ms; model requests {r['model_requests']})"
    )
    top = sorted(r["long_gaps"], key=lambda g: -g[1])[:5]
    if top:
        print(
            "  longest: "
            + ", ".join(
                f"{ms:.1f} ms at {end - ms / 1000 - r['play_t0']:.1f} s (GUI on CPU {c:.1f})" for end, ms, c in top
            )
        )
    over_16 = [g for g in r["long_gaps"] if g[1] > 16.0]
    if over_16:
        ran = sum(g[2] for g in over_16) / sum(g[1] for g in over_16)
        print(
            f"  in the gaps over 16 ms the GUI thread ran {100 * ran:.0f}% of the time (the rest it waited: "
            "for the GIL, or for a CPU when other processes load the machine)"
        )
    print(f"CPU: idle window {r['cpu_idle']:.1f}% of a core (target < 10%), playing the demo {r['cpu_playing']:.1f}%")
    print(f"start-up's background work (inputs, database, warm-up) done {r['settled_s']:.1f} s after show()")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
