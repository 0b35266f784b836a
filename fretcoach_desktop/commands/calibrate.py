"""``fretcoach calibrate``: measure an input device's latency and store it for the profile.

The metronome clicks through the output device; after a 4-click count-in the player plays
one short note on each click (``--method play-along``, the default), or the click itself is
fed back into the input (``--method loopback``: a cable from the output to the input, or a
microphone by the speaker). The median offset of the attacks from the clicks is the
latency ``fretcoach listen`` and the window then subtract on that device (see
:mod:`fretcoach_desktop.audio.calibration`). ``--latency-ms MS`` stores a value typed in
instead of measuring one.

Exit status: 0 measured (and stored unless ``--no-save`` or the result was too scattered
to trust), 1 the measurement failed (no device, no output, too few clicks heard, too
scattered), 2 bad options.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

__all__ = ["add_parser", "run"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
POLL_S = 0.02


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    from fretcoach_desktop.audio.calibration import DEFAULT_BEATS, DEFAULT_BPM
    from fretcoach_desktop.commands.options import add_input_args

    p = subparsers.add_parser(
        "calibrate",
        help="measure the input latency of an audio device (play along with the click) and store it",
        description=(
            "Play one short note on every click after the 4-click count-in (or loop the output back "
            "into the input with --method loopback). The median delay of your notes behind the clicks "
            "is stored for this device and profile, and subtracted from note times from then on."
        ),
    )
    add_input_args(p)
    p.add_argument("--method", choices=("play-along", "loopback"), default="play-along")
    p.add_argument("--bpm", type=float, default=DEFAULT_BPM, help=f"click tempo (default {DEFAULT_BPM:g})")
    p.add_argument(
        "--beats", type=int, default=DEFAULT_BEATS, help=f"clicks to play along with (default {DEFAULT_BEATS})"
    )
    p.add_argument("--volume", type=float, default=0.9, help="click volume 0-1 (default 0.9)")
    p.add_argument(
        "--latency-ms", type=float, default=None, metavar="MS", help="store this latency instead of measuring one"
    )
    p.add_argument("--show", action="store_true", help="only print the stored latencies of the profile")
    p.add_argument("--no-save", action="store_true", help="measure and print, but do not store")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run)
    return p


def _make_source(args: argparse.Namespace) -> tuple[Any, str]:
    """The capture to calibrate and the device's name (tests replace this)."""
    from fretcoach_desktop.commands.options import open_capture

    capture, device = open_capture(args)
    return capture, device.name


def _player() -> Any:
    from fretcoach_desktop.audio.player import AudioPlayer

    return AudioPlayer.instance()


def run(args: argparse.Namespace, *, out: Any = None, err: Any = None) -> int:
    """Run ``fretcoach calibrate``; user errors raise :class:`~fretcoach_desktop.cli.CliError`."""
    from fretcoach_desktop.audio.calibration import CalibrationError, CalibrationRun
    from fretcoach_desktop.audio.capture import CaptureError
    from fretcoach_desktop.cli import CliError
    from fretcoach_desktop.commands.options import check_input_args
    from fretcoach_desktop.config import ConfigError, load_config

    out = out or sys.stdout
    err = err or sys.stderr
    if not (math.isfinite(args.bpm) and 30 <= args.bpm <= 200):
        raise CliError(f"--bpm must be from 30 to 200, got {args.bpm:g}")
    if not 4 <= args.beats <= 128:
        raise CliError(f"--beats must be from 4 to 128, got {args.beats}")
    if not (math.isfinite(args.volume) and 0 < args.volume <= 1):
        raise CliError(f"--volume must be above 0 and at most 1, got {args.volume:g}")
    if args.latency_ms is not None and not (math.isfinite(args.latency_ms) and abs(args.latency_ms) <= 1000):
        raise CliError(f"--latency-ms must be from -1000 to 1000, got {args.latency_ms:g}")
    check_input_args(args)
    try:
        config = load_config({"user": getattr(args, "user", None)})
    except ConfigError as exc:
        raise CliError(str(exc)) from None

    if args.show:
        return _show(config, out, as_json=args.json)

    try:
        source, device = _make_source(args)
    except CaptureError as exc:
        raise CliError(str(exc), EXIT_FAILURE) from None

    if args.latency_ms is not None:  # typed in: nothing to measure
        saved = None if args.no_save else _save(config, device, args.latency_ms, None, method="manual")
        _report({"device": device, "latency_ms": args.latency_ms, "method": "manual"}, saved, config, out, args.json)
        return EXIT_OK

    try:
        calibration = CalibrationRun(
            source, player=_player(), bpm=args.bpm, beats=args.beats, method=args.method, click_volume=args.volume
        )
        calibration.start()
    except CalibrationError as exc:
        raise CliError(str(exc), EXIT_FAILURE) from None
    except CaptureError as exc:
        raise CliError(str(exc), EXIT_FAILURE) from None
    if not args.json:
        what = "play one short note on each click" if args.method == "play-along" else "listening for the clicks"
        print(
            f"calibrating {device} (input {args.channel}): 4 clicks count-in, then {what} "
            f"({args.beats} clicks at {args.bpm:g} bpm, Ctrl-C stops)",
            file=err,
            flush=True,
        )
    shown = 0
    try:
        while True:
            progress = calibration.poll()
            if not args.json:
                for i in range(shown, len(progress.offsets_ms)):
                    offset = progress.offsets_ms[i]
                    heard = "not heard" if offset is None else f"{offset:+.0f} ms"
                    print(f"click {i + 1:2d}/{progress.beats}: {heard}", file=err, flush=True)
                shown = len(progress.offsets_ms)
            if progress.done:
                break
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        calibration.cancel()
        raise CliError("calibration stopped: nothing was stored", EXIT_FAILURE) from None
    try:
        result = calibration.result()
    except CalibrationError as exc:
        raise CliError(str(exc), EXIT_FAILURE) from None

    payload = {"device": device, **result.to_json()}
    saved = None
    if result.usable and not args.no_save:
        saved = _save(config, device, result.latency_ms, result, method=args.method)
    _report(payload, saved, config, out, args.json)
    if not result.usable:
        print(f"fretcoach: not stored: {result.problem()}", file=err)
        return EXIT_FAILURE
    return EXIT_OK


def _save(config: Any, device: str, latency_ms: float, result: Any, *, method: str) -> int:
    from fretcoach_desktop.cli import _open_store

    store, user = _open_store(config)
    try:
        return store.save_calibration(
            user.id,
            device,
            latency_ms,
            spread_ms=None if result is None else result.spread_ms,
            hits=None if result is None else result.hits,
            clicks=None if result is None else result.clicks,
            bpm=None if result is None else result.bpm,
            method=method,
        )
    finally:
        store.close()


def _report(payload: dict[str, Any], saved: int | None, config: Any, out: Any, as_json: bool) -> None:
    if as_json:
        json.dump({**payload, "user": config.user, "saved": saved is not None, "calibration_id": saved}, out)
        out.write("\n")
        return
    quality = (
        f" ({payload.get('quality')}: \u00b1{payload.get('spread_ms', 0):.0f} ms over "
        f"{payload.get('hits')} of {payload.get('clicks')} clicks)"
    )
    line = f"{payload['device']}: input latency {payload['latency_ms']:.0f} ms"
    print(line + (quality if "quality" in payload else " (typed in)"), file=out)
    if saved is not None:
        print(f"stored for profile '{config.user}': sessions on this device subtract it from note times", file=out)


def _show(config: Any, out: Any, *, as_json: bool) -> int:
    from fretcoach_desktop.cli import _open_store

    store, user = _open_store(config)
    try:
        rows = store.calibrations(user.id)
    finally:
        store.close()
    latest: dict[str, Any] = {}
    for row in rows:  # newest first: the first row per device is the one in use
        latest.setdefault(row.device, row)
    if as_json:
        items = [
            {
                "device": r.device,
                "latency_ms": r.latency_ms,
                "spread_ms": r.spread_ms,
                "method": r.method,
                "measured_at": r.created_at.isoformat(),
            }
            for r in latest.values()
        ]
        json.dump({"user": config.user, "calibrations": items}, out)
        out.write("\n")
    elif not latest:
        print(f"no device calibrated for profile '{config.user}' yet: run 'fretcoach calibrate'", file=out)
    else:
        for r in latest.values():
            spread = "" if r.spread_ms is None else f" \u00b1{r.spread_ms:.0f} ms"
            print(f"{r.device}: {r.latency_ms:.0f} ms{spread} ({r.method}, {r.created_at:%Y-%m-%d})", file=out)
    return EXIT_OK
