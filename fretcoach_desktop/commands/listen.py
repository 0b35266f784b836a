"""``fretcoach listen``: the headless live mode.

Records from an audio input (or replays a file through the live path), runs the same
:class:`~fretcoach_desktop.audio.live.AnalysisThread` as the window, and prints the same
result as ``fretcoach analyze`` (``--json``: the same JSON object, plus the fields below).

What t = 0 is (``"t0"`` in the JSON), where the metronome grid starts:

* ``"first captured sample"``: the first sample the input device delivered. Every sample
  after it keeps its place (samples lost to an overflow become silence where they were
  lost), so a note's ``onset_s`` is its sample position / rate, minus ``latency_ms`` when a
  latency is set (``--latency-ms`` or the device's calibration). ``"t0_utc"`` is the
  wall-clock time of that sample (ISO 8601, UTC), estimated from the input's callback
  clock (the median over >= 32 callbacks of "now - samples so far / rate", so it includes
  the input's buffering, a few ms).
* ``"first click as heard"`` (``--click``): the click's first beat, as it reaches the
  input: the measured gap between the click's and the capture's streams
  (``click_offset_ms``) and the calibrated latency are taken out of every note time;
  ``"t0_utc"`` is the capture's t0 plus that gap and the latency.
* ``"first sample of the file"`` (``--file``/``--demo``): as ``fretcoach analyze``;
  ``"t0_utc"`` is null.

The extra JSON fields: ``t0``, ``t0_utc``, ``device``, ``latency_ms`` (subtracted from
every time), ``click_offset_ms`` (null without a click), ``input_overflows`` (blocks the
driver reported as overflowed: samples lost before they reached FretCoach),
``ring_overflows`` (writes the analysis could not keep up with) and ``dropped_samples``
(the samples replaced by silence, in place: those the ring dropped, and those an input
overflow lost when the driver's ADC times tell how many). Play a file into the input
only once ``listen`` runs: whatever played before t = 0 is not heard.

Stop it with ``--seconds N`` or Ctrl-C; either way the result so far is printed. A device
lost mid-way prints the result so far, then the error (exit status 1).

Storing the session: :func:`run` takes ``save_session``, a callable given a
:class:`ListenSession` once the stream has ended (the CLI passes the store's writer).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["ListenSession", "add_parser", "run"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
POLL_S = 0.05


@dataclass(frozen=True)
class ListenSession:
    """Everything a session store needs from one ``listen`` run."""

    started_at: datetime
    ended_at: datetime
    device: str  # "Scarlett 2i2 - In 1", or "file: take.flac"
    key: str
    scale: str
    bpm: float
    subdivision: int
    a4_hz: float
    latency_ms: float
    result: Any  # AnalysisResult
    windows: tuple[Any, ...] = ()  # WindowClosed events, 30 s each (the last may be shorter)
    input_overflows: int = 0
    ring_overflows: int = 0
    error: str | None = None
    user: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``listen`` sub-command to *subparsers* (its handler is :func:`run`)."""
    from fretcoach_desktop.commands.options import add_exercise_args, add_input_args

    p = subparsers.add_parser(
        "listen",
        help="analyze live playing from the audio input (or replay a file through the live path)",
        description=(
            "Listen to the audio input and judge every note live: pitch, key and scale, timing "
            "against a metronome grid that starts when recording starts, and string noise. Stops "
            "after --seconds or on Ctrl-C, then prints the same result as 'fretcoach analyze'."
        ),
    )
    src = p.add_argument_group("input")
    add_input_args(src)
    src.add_argument(
        "--file",
        metavar="PATH",
        help="replay an audio file through the live path instead of recording from a device",
    )
    src.add_argument("--demo", action="store_true", help="replay the bundled demo take (no input device needed)")
    src.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="with --file/--demo: replay X times faster than real time; 0 = as fast as possible (default 1)",
    )
    src.add_argument(
        "--latency-ms",
        type=float,
        default=None,
        metavar="MS",
        help="input latency subtracted from note times (default: the device's stored calibration, else 0)",
    )
    p.add_argument(
        "--click",
        action="store_true",
        help="play the metronome click through the output device (the grid starts at its first click)",
    )
    p.add_argument("--seconds", type=float, default=None, metavar="N", help="stop after N seconds (default: Ctrl-C)")
    p.add_argument(
        "--record",
        metavar="PATH",
        help="also write the audio exactly as analyzed to PATH (.wav: 32-bit float, .flac: 24-bit); "
        "'fretcoach analyze PATH' then reports the same notes",
    )
    add_exercise_args(p, required=False, unless="--demo")
    p.add_argument("--json", action="store_true", help="print one JSON object (the 'analyze --json' format)")
    p.set_defaults(handler=run)
    return p


def run(
    args: argparse.Namespace,
    *,
    save_session: Callable[[ListenSession], Any] | None = None,
    stored_latency: Callable[[str, str], float | None] | None = None,
    out: Any = None,
    err: Any = None,
) -> int:
    """Run ``fretcoach listen`` with parsed *args*; return the exit status.

    ``stored_latency(user, device_name)`` gives the device's calibrated latency (None when it
    was never calibrated); it is used when ``--latency-ms`` is not given.

    User errors raise :class:`fretcoach_desktop.cli.CliError` (one line, exit status 2, or
    1 when the command ran but could not record).
    """
    from fretcoach_desktop.audio.capture import CaptureError
    from fretcoach_desktop.audio.demo import FileSource, demo_take_info, demo_take_path
    from fretcoach_desktop.audio.live import AnalysisThread, WindowClosed
    from fretcoach_desktop.audio.metronome import Grid
    from fretcoach_desktop.audio.sources import AudioFileError
    from fretcoach_desktop.audio.theory import TheoryError, normalize_key, normalize_scale
    from fretcoach_desktop.cli import CliError
    from fretcoach_desktop.commands.options import check_input_args, open_capture
    from fretcoach_desktop.config import ConfigError, load_config

    out = out or sys.stdout
    err = err or sys.stderr

    # ---- validate everything typed before touching any device
    if args.file and args.demo:
        raise CliError("use either --file or --demo, not both")
    demo = demo_take_info() if args.demo else {}
    bpm = args.bpm if args.bpm is not None else demo.get("bpm")
    key_in = args.key if args.key is not None else demo.get("key")
    scale_in = args.scale if args.scale is not None else demo.get("scale")
    subdivision = args.subdivision if args.subdivision is not None else demo.get("subdivision", 1)
    missing = [flag for flag, v in (("--bpm", bpm), ("--key", key_in), ("--scale", scale_in)) if v is None]
    if missing:
        raise CliError(f"the following arguments are required: {', '.join(missing)}")
    try:
        key = normalize_key(key_in)
        scale = normalize_scale(scale_in)
        grid = Grid(bpm, subdivision)
    except (TheoryError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if args.seconds is not None and not (math.isfinite(args.seconds) and args.seconds > 0):
        raise CliError(f"--seconds must be a positive number, got {args.seconds:g}")
    if not (math.isfinite(args.speed) and args.speed >= 0):
        raise CliError(f"--speed must be 0 (as fast as possible) or a positive number, got {args.speed:g}")
    if args.latency_ms is not None and not (math.isfinite(args.latency_ms) and abs(args.latency_ms) <= 1000):
        raise CliError(f"--latency-ms must be from -1000 to 1000, got {args.latency_ms:g}")
    if not (math.isfinite(args.count_in) and args.count_in >= 0):
        raise CliError(f"--count-in must be a number of beats >= 0, got {args.count_in:g}")
    check_input_args(args)
    record = getattr(args, "record", None)
    if record is not None:
        _check_record_path(record)
    if args.a4 is not None and not (math.isfinite(args.a4) and 400.0 <= args.a4 <= 480.0):
        raise CliError(f"--a4 must be from 400 to 480 Hz, got {args.a4:g}")
    try:
        config = load_config({"user": getattr(args, "user", None), "a4_hz": args.a4})
    except ConfigError as exc:
        raise CliError(str(exc)) from None

    # ---- the source
    path = demo_take_path() if args.demo else args.file
    latency_ms, calibrated = args.latency_ms or 0.0, False
    try:
        if path is not None:
            source: Any = FileSource(path, speed=args.speed or None)
            device_name = f"file: {source.name}"
        else:
            source, device = open_capture(args)
            device_name = ""
            if args.latency_ms is None and stored_latency is not None:
                found = stored_latency(config.user, device.name)
                if found is not None:
                    latency_ms, calibrated = float(found), True
    except AudioFileError as exc:
        raise CliError(str(exc)) from None
    except CaptureError as exc:
        raise CliError(str(exc), EXIT_FAILURE) from None
    click = player = None
    if args.click:
        from fretcoach_desktop.audio.player import AudioPlayer

        player = AudioPlayer.instance()
        click = player.make_click(grid.bpm)

    recorder = _Recorder(record) if record is not None else None
    thread = AnalysisThread(
        source,
        bpm=grid.bpm,
        key=key,
        scale=scale,
        subdivision=grid.subdivision,
        a4=config.a4_hz,
        latency_ms=latency_ms,
        count_in_beats=args.count_in,
        click=click,
        player=player,
        tap=recorder.write if recorder is not None else None,
    )
    if recorder is not None:
        recorder.rate = lambda: thread.sample_rate
    events = thread.subscribe()
    started_at = datetime.now(UTC)
    try:
        thread.start()
    except CaptureError as exc:
        raise CliError(str(exc), EXIT_FAILURE) from None
    if not device_name:
        device_name = source.name
    if not args.json:
        what = "replaying" if path is not None else "listening to"
        if args.seconds:
            limit = f"for {args.seconds:g} s"
        else:
            limit = "to the end (Ctrl-C stops)" if path is not None else "until Ctrl-C"
        latency = f", latency {latency_ms:.0f} ms{' (calibrated)' if calibrated else ''}" if latency_ms else ""
        print(
            f"{what} {device_name} ({thread.sample_rate / 1000:g} kHz, {thread.buffer_ms:.1f} ms buffer{latency}) "
            f"{limit}",
            file=err,
            flush=True,
        )

    # ---- wait for the end (time limit, end of file, device lost, Ctrl-C)
    printed = 0
    origin = _Origin(source if path is None else None)
    try:
        while not thread.wait(POLL_S):
            origin.poll()
            snap = thread.snapshot
            if not args.json:
                printed = _print_new_notes(snap.notes, printed, out)
            if args.seconds is not None and snap.time_s >= args.seconds:
                break
    except KeyboardInterrupt:
        pass
    finally:
        thread.stop()
    thread.wait(5.0)
    origin.poll()
    if recorder is not None:
        recorder.close()
    snap = thread.snapshot
    result = snap.result()

    # ---- the result
    if args.json:
        doc = result.to_json()
        if path is not None:
            t0, t0_utc = "first sample of the file", None
        elif args.click:
            # the first click reaches the input at capture time gap + latency
            gap = ((snap.click_offset_ms or 0.0) + latency_ms) / 1000.0
            t0, t0_utc = "first click as heard", origin.iso(gap)
        else:
            t0, t0_utc = "first captured sample", origin.iso(0.0)
        doc.update(
            t0=t0,
            t0_utc=t0_utc,
            device=device_name,
            latency_ms=latency_ms,
            click_offset_ms=snap.click_offset_ms,
            input_overflows=snap.input_overflows,
            ring_overflows=snap.ring_overflows,
            dropped_samples=snap.dropped_samples,
        )
        json.dump(doc, out, allow_nan=False)
        out.write("\n")
    else:
        from fretcoach_desktop.cli import print_report

        print(file=out)
        header = {
            "take": device_name,
            "key": key,
            "scale": scale,
            "bpm": grid.bpm,
            "subdivision": grid.subdivision,
            "a4": config.a4_hz,
            "count_in": args.count_in,
        }
        print_report(result, header, out)
    out.flush()
    if snap.overflows:
        print(
            f"fretcoach: warning: {snap.input_overflows} input overflow(s) and {snap.ring_overflows} "
            f"ring overflow(s); {snap.dropped_samples} lost samples were replaced by silence",
            file=err,
        )

    if save_session is not None:
        windows = []
        while not events.empty():
            event = events.get_nowait()
            if isinstance(event, WindowClosed):
                windows.append(event)
        save_session(
            ListenSession(
                started_at=started_at,
                ended_at=datetime.now(UTC),
                device=device_name,
                key=key,
                scale=scale,
                bpm=grid.bpm,
                subdivision=grid.subdivision,
                a4_hz=config.a4_hz,
                latency_ms=latency_ms,
                result=result,
                windows=tuple(windows),
                input_overflows=snap.input_overflows,
                ring_overflows=snap.ring_overflows,
                error=snap.error,
                user=config.user,
            )
        )
    if snap.error:
        raise CliError(snap.error, EXIT_FAILURE)
    return EXIT_OK


RECORD_SUBTYPES = {".wav": "FLOAT", ".flac": "PCM_24"}


def _check_record_path(record: str) -> None:
    """``--record``: a .wav or .flac path in an existing directory (checked before recording)."""
    from pathlib import Path

    from fretcoach_desktop.cli import CliError

    target = Path(record)
    if target.suffix.lower() not in RECORD_SUBTYPES:
        raise CliError(f"--record: the file must end in .wav or .flac, got {record!r}")
    if not target.parent.is_dir():
        raise CliError(f"--record: no directory {str(target.parent)!r}")
    if target.is_dir():
        raise CliError(f"--record: {record!r} is a directory")


class _Recorder:
    """Writes every block the engine analyzes (called on the analysis thread)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.rate: Callable[[], int] = lambda: 0
        self._file: Any = None

    def write(self, block: Any) -> None:
        if self._file is None:
            from pathlib import Path

            import soundfile

            subtype = RECORD_SUBTYPES[Path(self.path).suffix.lower()]
            self._file = soundfile.SoundFile(self.path, "w", samplerate=self.rate(), channels=1, subtype=subtype)
        self._file.write(block)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class _Origin:
    """When the capture's sample 0 was, on the wall clock: its callback clock's first steady
    estimate (monotonic), converted once it is known."""

    def __init__(self, source: Any) -> None:
        self._source = source
        self.utc: datetime | None = None

    def poll(self) -> None:
        if self.utc is not None or self._source is None:
            return
        get = getattr(self._source, "clock_origin", None)
        origin = get() if callable(get) else None
        if origin is None:
            return
        import time

        self.utc = datetime.fromtimestamp(time.time() - (time.monotonic() - origin), UTC)

    def iso(self, plus_s: float) -> str | None:
        if self.utc is None:
            return None
        return (self.utc + timedelta(seconds=plus_s)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _print_new_notes(notes: tuple[Any, ...], printed: int, out: Any) -> int:
    """One line per note as it is heard (the settled values are in the final report)."""
    for note in notes[printed:]:
        if abs(note.cents) <= 10:
            pitch = "in tune"
        else:
            pitch = "sharp" if note.cents > 0 else "flat"
        if abs(note.timing_offset_ms) <= 15:
            timing = "on time"
        else:
            timing = "late" if note.timing_offset_ms > 0 else "early"
        scale = "" if note.in_scale else "  OUT OF SCALE"
        print(
            f"{note.onset_s:8.3f}s  {note.note:<4} {round(note.cents, 1) + 0.0:+6.1f}c {pitch:<7}  "
            f"{timing:<7} {round(note.timing_offset_ms, 1) + 0.0:+6.1f} ms{scale}",
            file=out,
            flush=True,
        )
    return len(notes)
