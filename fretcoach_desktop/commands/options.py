"""Command-line options several commands share: the exercise (key, scale, tempo, grid, A4)
and the audio input (device, channel, sample rate)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_exercise_args", "add_input_args", "check_input_args", "open_capture"]


def add_input_args(parser: Any) -> None:
    """Add ``--device --channel --sample-rate`` to *parser* (a parser or an argument group)."""
    parser.add_argument("--device", metavar="NAME", help="input device name (or part of it) or index; default: system")
    parser.add_argument(
        "--channel", type=int, default=1, metavar="N", help="input number on the interface, from 1 (default 1)"
    )
    parser.add_argument("--sample-rate", type=int, default=None, metavar="HZ", help="default: the device's rate")


def check_input_args(args: argparse.Namespace) -> None:
    """The input options' ranges, checked before any device is touched (CliError, exit 2)."""
    from fretcoach_desktop.cli import CliError

    if args.channel < 1:
        raise CliError(f"--channel must be 1 or more (inputs are numbered from 1), got {args.channel}")
    if args.sample_rate is not None and not 8000 <= args.sample_rate <= 192000:
        raise CliError(f"--sample-rate must be from 8000 to 192000 Hz, got {args.sample_rate}")


def open_capture(args: argparse.Namespace) -> tuple[Any, Any]:
    """A (not started) Capture of the input the options name, and its InputDevice.

    Raises CaptureError when there is no such device.
    """
    from fretcoach_desktop.audio.capture import Capture, find_input_device

    device = find_input_device(args.device)
    return Capture(device, channel=args.channel, sample_rate=args.sample_rate), device


def add_exercise_args(
    parser: argparse.ArgumentParser, *, required: bool = True, count_in: bool = True, unless: str = ""
) -> None:
    """Add ``--bpm --key --scale --subdivision [--count-in] --a4`` to *parser*.

    Args:
        required: whether --bpm/--key/--scale must be given; when not, ``--subdivision``
            defaults to None so the caller can fill the exercise from elsewhere (the demo take).
        count_in: add ``--count-in BEATS``.
        unless: appended to the help of the optional ones, e.g. ``"--demo"``.
    """
    needed = "" if required or not unless else f"; required unless {unless}"
    parser.add_argument("--bpm", type=float, required=required, help=f"metronome tempo (20-400){needed}")
    parser.add_argument("--key", required=required, help=f"key: C C# Db D D# Eb E F F# Gb G G# Ab A A# Bb B{needed}")
    parser.add_argument(
        "--scale",
        required=required,
        help=f"scale, e.g. major, minor, major_pentatonic, minor_pentatonic, blues, dorian{needed}",
    )
    parser.add_argument(
        "--subdivision",
        type=int,
        default=1 if required else None,
        help="grid points per beat: 1 = quarters (default), 2 = eighths, 3 = triplets, 4 = 16ths",
    )
    if count_in:
        parser.add_argument(
            "--count-in",
            type=float,
            default=0.0,
            metavar="BEATS",
            help="beats of count-in before the playing starts (informational; nothing is skipped)",
        )
    parser.add_argument(
        "--a4",
        type=float,
        default=None,
        metavar="HZ",
        help="tuning reference for A4 in Hz, 400-480 (default: settings, else 440)",
    )
