"""Command-line options several commands share: the exercise (key, scale, tempo, grid, A4)."""

from __future__ import annotations

import argparse

__all__ = ["add_exercise_args"]


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
