"""Speed of the practice database: insert and read back 10,000 sessions, time the app's queries.

    python -m bench.store [--postgres] [--sessions N] [--users U] [--notes K] [--repeat R] [--json OUT]

Fills a fresh database through the repository (``Store.save_analysis``: one session with
its 30 s windows and every note per call, as ``fretcoach analyze --save`` does), spread
over U profiles; reads every session back (``session_detail``) and checks it; then times

* the history view query -- ``Store.history(user_id, limit=50)``, a profile's newest 50;
* AI Mode's query -- ``Store.recent_sessions(user_id, limit=5)``, the last 5 sessions;
* the whole history of one profile -- ``Store.history(user_id)`` (about N / U rows);

each repeated R times over every profile (median and 95th percentile). SQLite always
runs (a file in a temporary directory); ``--postgres`` also starts a throwaway PostgreSQL
cluster the way the tests do (``tests/pg.py``: initdb in a temporary directory, 127.0.0.1,
a free port; ``fsync=off``, so the insert figure is an upper bound for a real server).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from fretcoach_desktop.audio.metrics import compute_metrics
from fretcoach_desktop.audio.types import AnalysisResult, NoiseEvent, Note
from fretcoach_desktop.store import Store

SCALES = ("minor_pentatonic", "major", "blues", "dorian")
KEYS = ("A", "E", "G", "C", "D")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_take(rng: random.Random, notes: int) -> AnalysisResult:
    """A plausible analyzed take: *notes* notes at ~2 per second, a few noise events."""
    out = []
    t = 0.5
    for _ in range(notes):
        t += rng.uniform(0.3, 0.7)
        grid = round(t * 4) / 4
        out.append(
            Note(
                onset_s=t,
                emitted_s=t + 0.03,
                midi=rng.randint(40, 76),
                note="",
                cents=rng.gauss(0, 12),
                in_scale=rng.random() < 0.9,
                grid_s=grid,
                timing_offset_ms=(t - grid) * 1000,
            )  # fmt: skip
        )
    noise = [NoiseEvent(s, s + 0.05) for s in sorted(rng.uniform(0, t) for _ in range(notes // 10))]
    duration = t + 1.0
    return AnalysisResult(tuple(out), tuple(noise), compute_metrics(out, noise), duration, 44100)


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"median_ms": statistics.median(ordered) * 1000, "p95_ms": p95 * 1000}


def run(url: str, label: str, args: argparse.Namespace) -> dict:
    rng = random.Random(42)
    takes = [make_take(rng, args.notes) for _ in range(50)]  # reused: generation is not measured
    result: dict = {"backend": label, "sessions": args.sessions, "users": args.users, "notes_per_session": args.notes}
    with Store(url) as store:
        users = [store.ensure_user(f"player{u:03d}").id for u in range(args.users)]
        log(f"[{label}] inserting {args.sessions} sessions ...")
        t0 = time.perf_counter()
        ids = []
        for i in range(args.sessions):
            take = takes[i % len(takes)]
            ids.append(
                store.save_analysis(
                    users[i % len(users)],
                    take,
                    key=KEYS[i % len(KEYS)],
                    scale=SCALES[i % len(SCALES)],
                    bpm=60 + i % 100,
                    subdivision=1 + i % 2,
                )  # fmt: skip
            )
        insert_s = time.perf_counter() - t0
        result["insert_s"] = insert_s
        result["insert_sessions_per_s"] = args.sessions / insert_s

        log(f"[{label}] reading back {args.sessions} sessions ...")
        t0 = time.perf_counter()
        notes_read = windows_read = 0
        for i, sid in enumerate(ids):
            detail = store.session_detail(users[i % len(users)], sid)
            expected = takes[i % len(takes)]
            if len(detail.notes) != len(expected.notes) or detail.session.notes_played != len(expected.notes):
                raise SystemExit(f"session {sid}: read back {len(detail.notes)} notes, expected {len(expected.notes)}")
            notes_read += len(detail.notes)
            windows_read += len(detail.windows)
        read_s = time.perf_counter() - t0
        result["read_back_s"] = read_s
        result["notes_read"] = notes_read
        result["windows_read"] = windows_read
        total = sum(len(store.history(u)) for u in users)
        if total != args.sessions:
            raise SystemExit(f"history lists {total} sessions, expected {args.sessions}")

        log(f"[{label}] timing queries ...")
        for name, query in (
            ("history_50", lambda u: store.history(u, limit=50)),
            ("last_5", lambda u: store.recent_sessions(u, limit=5)),
            ("history_all", lambda u: store.history(u)),
        ):
            samples: list[float] = []
            for u in users:
                query(u)  # warm
                samples += timed(lambda u=u, q=query: q(u), args.repeat)
            result[name] = ms(samples)
    return result


def markdown(results: list[dict]) -> str:
    lines = [
        "| backend | sessions (notes each) | insert | read back all | history view (50) | last 5 sessions | "
        "one profile's full history |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        per_user = r["sessions"] // r["users"]
        lines.append(
            f"| {r['backend']} | {r['sessions']:,} ({r['notes_per_session']}) | {r['insert_s']:.1f} s "
            f"({r['insert_sessions_per_s']:.0f}/s) | {r['read_back_s']:.1f} s | "
            f"{r['history_50']['median_ms']:.2f} ms (p95 {r['history_50']['p95_ms']:.2f}) | "
            f"{r['last_5']['median_ms']:.2f} ms (p95 {r['last_5']['p95_ms']:.2f}) | "
            f"{r['history_all']['median_ms']:.1f} ms ({per_user} rows) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.store", description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help="also run on a throwaway PostgreSQL cluster")
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--notes", type=int, default=40, help="notes per session (default 40)")
    parser.add_argument("--repeat", type=int, default=20, help="timings per profile and query")
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.users < 1 or args.sessions < args.users:
        parser.error("need sessions >= users >= 1")

    results = []
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fretcoach-bench-")))
        results.append(run(f"sqlite:///{folder / 'bench.db'}", "SQLite (WAL)", args))
        if args.postgres:
            try:
                from tests.pg import PostgresCluster
            except ImportError:
                parser.error("--postgres needs the repository's tests/pg.py (run from the repository root)")
            cluster = stack.enter_context(PostgresCluster())
            results.append(run(cluster.create_database("bench"), "PostgreSQL", args))
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
