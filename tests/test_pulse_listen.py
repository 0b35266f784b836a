"""Live equals offline (issue 12): a take played into a PulseAudio null sink and heard by
``fretcoach listen --json`` (the real CLI, recording the sink's monitor through PortAudio)
against ``fretcoach analyze --json`` on the same file.

The documented constant offset: listen's t = 0 is its first captured sample (``"t0":
"first captured sample"``), so the take's own time 0 lies at the moment playback started,
``offset`` seconds after listen's t = 0; every note of the take comes out ``offset`` later
than ``analyze`` reports it. The offset differs from run to run (start-up, PulseAudio), so
it is measured, not assumed: the median difference of the matched onsets, checked against
the sample position of the take in what listen recorded and against ``t0_utc``.

What must hold, per take, and why a failure means what it says:

1. ``--record`` wrote exactly what the engine analyzed; that recording holds every sample
   of the take, bit for bit, at one position (no sample lost, repeated or altered by the
   live path), and no overflow was reported.
2. listen's notes are ``analyze``'s notes on that recording: the live path feeds the engine
   the stream as captured.
3. Against ``analyze`` on the original file: the same notes (same MIDI numbers, onset F1
   at least 0.99, i.e. an F1 gap of at most 0.01) and every matched onset within 3 ms of
   the one offset. When this fails although 1 and 2 hold, the test checks whether
   ``analyze`` on the take delayed by the same number of samples (silence prepended) gives
   listen's notes: then the difference is the engine's answer to a time shift (its frames
   lie on a fixed ~5.8 ms grid, so the take's position relative to that grid changes what it
   hears), not the live path, and the test is marked xfail with the figures; otherwise it
   fails.

Skipped (with the reason) when PulseAudio or its tools are missing; with ``CI`` set it fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from .pulse import PulseServer, missing_tools, unavailable

DATA = Path(__file__).parent / "data"
TAKES = sorted(p for p in DATA.glob("*.flac") if p.with_suffix(".json").exists())
MATCH_S = 0.050  # notes closer than this (after the offset) are the same note
ONSET_TOLERANCE_MS = 3.0
F1_MIN = 0.99
HEAD_S = 0.05  # paplay may leave out the very first samples of a stream (measured: ~120)


@pytest.fixture(scope="module")
def pulse(tmp_path_factory: pytest.TempPathFactory):
    missing = missing_tools()
    if missing:
        unavailable(f"PulseAudio end-to-end test needs {', '.join(missing)}")
    server = PulseServer(tmp_path_factory.mktemp("pulse-listen"))
    try:
        server.start()
    except RuntimeError as exc:
        unavailable(f"cannot start pulseaudio: {exc}")
    try:
        yield server
    finally:
        server.stop()


def _fretcoach(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "fretcoach_desktop", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"fretcoach {' '.join(args)}: {proc.stderr}"
    return json.loads(proc.stdout)


def _exercise(meta: dict) -> list[str]:
    return ["--bpm", str(meta["bpm"]), "--key", meta["key"], "--scale", meta["scale"]] + [
        "--subdivision",
        str(meta["subdivision"]),
    ]


def _match(reference: np.ndarray, live: np.ndarray, offset: float) -> list[tuple[int, int]]:
    """Pairs (i, j): reference onset i + offset and live onset j within MATCH_S, nearest
    first, each note used once."""
    candidates = sorted(
        (abs(live[j] - reference[i] - offset), i, j)
        for i in range(reference.size)
        for j in range(live.size)
        if abs(live[j] - reference[i] - offset) <= MATCH_S
    )
    used_i: set[int] = set()
    used_j: set[int] = set()
    pairs = []
    for _, i, j in candidates:
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
            pairs.append((i, j))
    return sorted(pairs)


def _offset(reference: np.ndarray, live: np.ndarray) -> float:
    """The one constant offset: the shift that pairs the most notes (tried from every pair
    among the first notes), refined to the median difference of the pairs it makes."""
    guesses = [live[j] - reference[i] for i in range(min(8, reference.size)) for j in range(min(8, live.size))]
    best = max(guesses, key=lambda g: len(_match(reference, live, g)))
    pairs = _match(reference, live, best)
    return float(np.median([live[j] - reference[i] for i, j in pairs]))


def _compare(offline: list[dict], live: list[dict], offset: float) -> tuple[float, np.ndarray, list[tuple[int, int]]]:
    """Onset F1 counting only pairs with the same MIDI number; errors (ms) after the offset."""
    reference = np.array([n["onset_s"] for n in offline])
    heard = np.array([n["onset_s"] for n in live])
    pairs = _match(reference, heard, offset)
    same = [(i, j) for i, j in pairs if offline[i]["midi"] == live[j]["midi"]]
    f1 = 2 * len(same) / (len(offline) + len(live)) if offline or live else 1.0
    errors = np.array([(heard[j] - reference[i] - offset) * 1000.0 for i, j in same])
    return f1, errors, same


def _take_position(recording: np.ndarray, take: np.ndarray, rate: int) -> int:
    """Sample index of the take's sample 0 in the recording (cross-correlation on its first
    loud second)."""
    loud = int(np.flatnonzero(np.abs(take) > 0.05)[0])
    probe = take[loud : loud + rate // 2]
    spectrum = np.fft.rfft
    n = 1 << int(np.ceil(np.log2(recording.size + probe.size)))
    corr = np.fft.irfft(spectrum(recording, n) * np.conj(spectrum(probe, n)), n)[: recording.size - probe.size + 1]
    return int(np.argmax(corr)) - loud


@pytest.mark.parametrize("take", TAKES, ids=[p.stem for p in TAKES])
def test_listen_through_pulseaudio_hears_what_analyze_hears(pulse: PulseServer, take: Path, tmp_path: Path):
    import soundfile as sf

    meta = json.loads(take.with_suffix(".json").read_text())
    samples, rate = sf.read(take, dtype="float32")
    duration = samples.size / rate
    env = pulse.client_env()
    env["FRETCOACH_DATA_DIR"] = str(tmp_path / "data")  # no stored calibration: latency 0
    env.pop("FRETCOACH_DB_URL", None)
    offline = _fretcoach("analyze", str(take), *_exercise(meta), "--json", env=env)

    recorded = tmp_path / "heard.wav"
    lead_s, tail_s = 0.5, 2.0
    listen = subprocess.Popen(
        [sys.executable, "-m", "fretcoach_desktop", "listen", "--device", "pulse", "--sample-rate", str(rate)]
        + _exercise(meta)
        + ["--seconds", f"{lead_s + duration + tail_s + 1.0:.2f}", "--json", "--record", str(recorded)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # the recording file appears with the first analyzed block: the capture is running
        deadline = time.monotonic() + 30.0
        while not (recorded.exists() and recorded.stat().st_size > 0) and time.monotonic() < deadline:
            assert listen.poll() is None, listen.communicate()[1]
            time.sleep(0.02)
        assert recorded.exists(), "listen never started recording"
        time.sleep(lead_s)
        played_at = time.time()
        player = pulse.play(take)
        _, player_err = player.communicate(timeout=60)
        assert player.returncode == 0, f"paplay failed: {player_err.decode(errors='replace')}"
        out, err = listen.communicate(timeout=60)
    finally:
        if listen.poll() is None:
            listen.kill()
            listen.communicate()
    assert listen.returncode == 0, err
    live = json.loads(out)

    # the analyze contract, plus what t = 0 is and what was lost
    assert set(offline) <= set(live)
    assert live["sample_rate"] == offline["sample_rate"] == rate
    assert live["t0"] == "first captured sample"
    t0_utc = datetime.fromisoformat(live["t0_utc"].replace("Z", "+00:00"))
    assert live["latency_ms"] == 0 and live["click_offset_ms"] is None
    lost = {k: live[k] for k in ("input_overflows", "ring_overflows", "dropped_samples")}
    assert lost == {"input_overflows": 0, "ring_overflows": 0, "dropped_samples": 0}, lost

    # 1. the recording is what the engine analyzed, and it holds the take sample for sample
    heard, heard_rate = sf.read(recorded, dtype="float32")
    assert heard_rate == rate
    assert heard.size / rate == pytest.approx(live["duration_s"], abs=1e-3)
    k = _take_position(heard, samples, rate)
    assert k > 0, f"the take started {-k / rate:.3f} s before listen's t = 0"
    assert k + samples.size <= heard.size, "listen stopped before the take ended"
    head = int(HEAD_S * rate)
    diff = np.abs(heard[k + head : k + samples.size] - samples[head:])
    bad = np.flatnonzero(diff > 1e-6)
    assert bad.size == 0, (
        f"{bad.size} samples of the take were not heard as played (first at {(head + bad[0]) / rate:.4f} s "
        f"of the take, off by {diff[bad[0]]:.4f}): the live path lost, repeated or altered samples"
    )

    # 2. listen reports what analyze reports on that very audio
    again = _fretcoach("analyze", str(recorded), *_exercise(meta), "--json", env=env)
    assert [n["midi"] for n in live["notes"]] == [n["midi"] for n in again["notes"]]
    np.testing.assert_allclose([n["onset_s"] for n in live["notes"]], [n["onset_s"] for n in again["notes"]], atol=2e-4)

    # 3. against analyze on the original file, after one constant offset
    reference = np.array([n["onset_s"] for n in offline["notes"]])
    offset = _offset(reference, np.array([n["onset_s"] for n in live["notes"]]))
    f1, errors, pairs = _compare(offline["notes"], live["notes"], offset)
    # the offset is where the take starts in listen's stream, and t0_utc dates that stream
    assert offset == pytest.approx(k / rate, abs=0.003), (offset, k / rate)
    started = (t0_utc.timestamp() + offset) - played_at
    assert -0.05 < started < 0.5, f"t0_utc + offset is {started:+.3f} s from when playback was started"
    report = (
        f"{take.name}: offset {offset * 1000:.1f} ms (take at sample {k}), F1 {f1:.3f} "
        f"({len(pairs)} same-pitch pairs, {len(offline['notes'])} offline, {len(live['notes'])} live), "
        f"onset error median {np.median(np.abs(errors)):.2f} ms, max {np.max(np.abs(errors)):.2f} ms"
    )
    print(report)
    if f1 >= F1_MIN and np.all(np.abs(errors) <= ONSET_TOLERANCE_MS):
        return

    # not the same: is it the live path, or the engine's answer to the take starting at sample k?
    delayed = tmp_path / "delayed.wav"
    sf.write(delayed, np.concatenate([np.zeros(k, np.float32), samples]), rate, subtype="FLOAT")
    shifted = _fretcoach("analyze", str(delayed), *_exercise(meta), "--json", env=env)
    f1_shift, errors_shift, _ = _compare(shifted["notes"], live["notes"], 0.0)
    same_as_shifted = (
        len(shifted["notes"]) == len(live["notes"])
        and f1_shift == 1.0
        and np.all(np.abs(errors_shift) <= 0.2)  # ms: the JSON's rounding
    )
    assert same_as_shifted, f"listen differs from analyze on the same take delayed by {k} samples: {report}"
    pytest.xfail(
        f"the engine is not shift-invariant: analyze on the take delayed by {k} samples reports exactly "
        f"what listen heard, which differs from analyze on the take itself ({report})"
    )
