"""Speed as a user meets it: whole processes, start-up imports included.

Times, in one run and side by side:

* ``fretcoach --help`` (the parser, and nothing else, is loaded);
* ``fretcoach analyze TAKE --bpm .. --key .. --scale .. --json``, the console script a user types;
* aubio as a whole Python process (``import aubio``, read the file with soundfile, the
  onset("default", 1024, 256) + pitch("yinfft", 2048, 256) loop over 256-sample blocks and
  the median pitch per onset, as ``AubioEngine`` in ``bench/analysis.py`` does); skipped with
  a message when aubio is not installed (``pip install -e '.[bench]'``).

The take defaults to a 3-minute concatenation of the corpus takes (``../shared/corpus`` next
to the repository), written to a temporary folder; ``--take FILE`` times a file of your own.
The commands run in rounds (each command once per round, after one untimed warm-up round),
so a busy machine slows them alike; the median and fastest wall times are printed, x real
time from the median, and the median CPU time (user + system; steadier on a loaded machine).

    python -m bench.startup                       # 3-minute take from ../shared/corpus, 5 rounds
    python -m bench.startup /path/to/corpus --runs 9 --seconds 300
    python -m bench.startup --take my_take.flac --bpm 90 --key E --scale minor_pentatonic
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = (REPO_ROOT / ".." / "shared" / "corpus").resolve()
TIMEOUT_S = 600

#: The aubio engine of bench/analysis.py as a user would run it: one Python process.
AUBIO_SCRIPT = r"""
import sys
import numpy as np
import soundfile as sf
import aubio

data, sr = sf.read(sys.argv[1], dtype="float32", always_2d=True)
samples = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
hop, window_s = 256, 0.060
onset = aubio.onset("default", 1024, hop, sr)
pitch = aubio.pitch("yinfft", 2048, hop, sr)
pitch.set_unit("Hz")
pitch.set_tolerance(0.8)
n_blocks = -(-len(samples) // hop)
padded = np.zeros(n_blocks * hop, dtype=np.float32)
padded[: len(samples)] = samples
events, pending = [], None
for i in range(n_blocks):
    block = padded[i * hop : (i + 1) * hop]
    now = (i + 1) * hop / sr
    is_onset = onset(block)[0] != 0
    f0 = float(pitch(block)[0])
    if is_onset:
        if pending is not None and pending[2]:
            events.append((pending[0], float(np.median(pending[2]))))
        pending = [onset.get_last_s(), now, []]
        continue
    if pending is not None:
        if f0 > 0:
            pending[2].append(f0)
        if now - pending[1] >= window_s - 1e-9:
            if pending[2]:
                events.append((pending[0], float(np.median(pending[2]))))
            pending = None
if pending is not None and pending[2]:
    events.append((pending[0], float(np.median(pending[2]))))
print(len(events))
"""


@dataclass
class Command:
    name: str
    argv: list[str]
    audio_s: float | None  # seconds of audio it processes (None: no x real time)
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + system seconds of the process
    error: str | None = None


def fretcoach_argv() -> list[str]:
    """The ``fretcoach`` console script next to this interpreter, else ``python -m fretcoach_desktop``."""
    script = Path(sys.executable).with_name("fretcoach")
    if script.is_file():
        return [str(script)]
    found = shutil.which("fretcoach")
    return [found] if found else [sys.executable, "-m", "fretcoach_desktop"]


def build_take(corpus: Path, seconds: float, out: Path) -> dict:
    """Concatenate the corpus takes (sorted, repeated as needed) into *out*, cut at *seconds*.

    Returns the exercise (bpm, key, scale, subdivision) of the first take, from its JSON.
    """
    import numpy as np
    import soundfile as sf

    flacs = sorted(corpus.rglob("*.flac"))
    if not flacs:
        raise SystemExit(f"no .flac takes under {corpus}; give a corpus folder or --take FILE")
    parts, total, rate = [], 0, None
    while rate is None or total < seconds * rate:
        for path in flacs:
            data, sr = sf.read(path, dtype="float32", always_2d=True)
            if rate is None:
                rate = sr
            if sr != rate:
                continue  # one sample rate per take
            parts.append(data.mean(axis=1, dtype=np.float32))
            total += len(parts[-1])
            if total >= seconds * rate:
                break
    samples = np.concatenate(parts)[: int(round(seconds * rate))]
    sf.write(out, samples, rate, format="FLAC")
    exercise = {"bpm": 120, "key": "A", "scale": "minor", "subdivision": 1}
    meta = flacs[0].with_suffix(".json")
    if meta.is_file():
        info = json.loads(meta.read_text(encoding="utf-8"))
        exercise.update({k: info[k] for k in exercise if k in info})
    return exercise


def take_seconds(path: Path) -> float:
    import soundfile as sf

    info = sf.info(str(path))
    return info.frames / info.samplerate


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(command: Command) -> None:
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(
        command.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=TIMEOUT_S
    )
    elapsed = time.perf_counter() - start
    cpu = _children_cpu() - cpu
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines() or ["(no message)"]
        command.error = f"exit status {proc.returncode}: {lines[-1]}"
    else:
        command.times.append(elapsed)
        command.cpu.append(cpu)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS, help=f"default {DEFAULT_CORPUS}")
    ap.add_argument("--take", type=Path, help="time this audio file instead of a concatenation of the corpus")
    ap.add_argument("--seconds", type=float, default=180.0, help="length of the concatenated take (default 180)")
    ap.add_argument("--runs", type=int, default=5, help="timed rounds (default 5)")
    ap.add_argument("--bpm", type=float, help="exercise for analyze (default: the first corpus take's, else 120)")
    ap.add_argument("--key", help="default: the first corpus take's, else A")
    ap.add_argument("--scale", help="default: the first corpus take's, else minor")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    with tempfile.TemporaryDirectory(prefix="fretcoach-startup-") as tmp:
        exercise = {"bpm": 120, "key": "A", "scale": "minor", "subdivision": 1}
        if args.take is None:
            take = Path(tmp) / f"take_{args.seconds:g}s.flac"
            exercise = build_take(args.corpus.resolve(), args.seconds, take)
        else:
            take = args.take
            if not take.is_file():
                ap.error(f"no such file: {take}")
        for name in ("bpm", "key", "scale"):
            if getattr(args, name) is not None:
                exercise[name] = getattr(args, name)
        duration = take_seconds(take)
        analyze = [
            "analyze", str(take), "--bpm", f"{exercise['bpm']:g}", "--key", str(exercise["key"]),
            "--scale", str(exercise["scale"]), "--subdivision", str(exercise["subdivision"]), "--json",
        ]  # fmt: skip
        commands = [
            Command("fretcoach --help", [*fretcoach_argv(), "--help"], None),
            Command("fretcoach analyze --json", [*fretcoach_argv(), *analyze], duration),
        ]
        aubio_missing = subprocess.run([sys.executable, "-c", "import aubio"], capture_output=True).returncode != 0
        if aubio_missing:
            print("aubio is not installed: its whole process is not timed (pip install -e '.[bench]')", file=sys.stderr)
        else:
            commands.append(Command("aubio (whole process)", [sys.executable, "-c", AUBIO_SCRIPT, str(take)], duration))

        print(
            f"take: {take.name if args.take is None else take}, {duration:.1f} s; "
            f"{args.runs} rounds after a warm-up round",
            file=sys.stderr,
        )
        for round_ in range(args.runs + 1):
            for command in commands:
                if command.error is None:
                    run_once(command)
            if round_ == 0:
                for command in commands:
                    command.times.clear()  # the warm-up round: caches, compiled bytecode
                    command.cpu.clear()
            print(f"round {round_}/{args.runs} done", file=sys.stderr)

    print(f"{'command':<28} {'median s':>9} {'fastest s':>9} {'x real time':>12} {'cpu s':>7}")
    for command in commands:
        if command.error is not None or not command.times:
            print(f"{command.name:<28} failed: {command.error}")
            continue
        median = statistics.median(command.times)
        fastest = min(command.times)
        speed = "" if command.audio_s is None else f"{command.audio_s / median:11.1f}x"
        cpu = statistics.median(command.cpu)
        print(f"{command.name:<28} {median:>9.3f} {fastest:>9.3f} {speed:>12} {cpu:>7.3f}")
    return 0 if all(c.error is None for c in commands) else 1


if __name__ == "__main__":
    sys.exit(main())
