"""``python -m fretcoach_desktop``: the app's entry point.

With no arguments (or only the window's options, e.g. ``--demo FILE``) it opens the
practice window; with a sub-command it runs the ``fretcoach`` command line (``cli.py``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Open the window, or dispatch to the command line."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args:  # the command line (and its sub-commands' imports) only when asked for: start-up
        from fretcoach_desktop import cli

        if set(args) & (set(cli.command_names()) | {"-h", "--help", "--version"}):
            return cli.main(args)
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

    return run_app(args)


if __name__ == "__main__":
    sys.exit(main())
