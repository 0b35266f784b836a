"""Entry points: ``python -m fretcoach_desktop`` and ``fretcoach-desktop`` (the window).

``python -m fretcoach_desktop`` with no arguments (or only the window's options, e.g.
``--demo FILE``) opens the practice window; with a sub-command it runs the ``fretcoach``
command line (``cli.py``). ``fretcoach-desktop`` (the gui-scripts entry, and what the
desktop entry starts) always opens the window.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

WINDOW_USAGE = """\
usage: fretcoach-desktop [--demo TAKE] [--theme dark|light|system] [--autostart] [Qt options]

Open FretCoach's practice window. --demo TAKE replays TAKE as the Demo input (its .json
sidecar, if any, sets key, scale and tempo). The command line is 'fretcoach --help'.
"""


def open_window(argv: Sequence[str]) -> int:
    """Open the practice window with the window's options *argv*; return the exit status."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")):
        print(
            "fretcoach: error: no display found: run the window on a desktop session (or under "
            "`xvfb-run`), or use the command line: fretcoach --help",
            file=sys.stderr,
        )
        return 1
    # No pydantic plugin is installed with FretCoach: skip scanning every installed package's
    # entry points for one when the settings model is built (~35 ms of start-up).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from fretcoach_desktop.app import run_app

    return run_app(list(argv))


def window_main() -> int:
    """``fretcoach-desktop``: the window, whatever the arguments (``--help`` aside)."""
    args = sys.argv[1:]
    if args and args[0] in ("-h", "--help"):
        sys.stdout.write(WINDOW_USAGE)
        return 0
    return open_window(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Open the window, or dispatch to the command line."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args:  # the command line (and its sub-commands' imports) only when asked for: start-up
        from fretcoach_desktop import cli

        if set(args) & (set(cli.command_names()) | {"-h", "--help", "--version"}):
            return cli.main(args)
    return open_window(args)


if __name__ == "__main__":
    sys.exit(main())
