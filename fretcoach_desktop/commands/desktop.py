"""``fretcoach install-desktop [--uninstall] [--data-home DIR]``: FretCoach in the app menu.

Installs, for the current user, the launcher (a desktop entry that starts this
installation's window), the AppStream metainfo and the icon (SVG and PNGs) into the XDG
data directory (``$XDG_DATA_HOME``, by default ``~/.local/share``). ``--uninstall`` removes
them again. See :mod:`fretcoach_desktop.desktop`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]

EXIT_OK, EXIT_FAILURE = 0, 1
HELP = "add FretCoach (launcher, icon, AppStream metainfo) to your desktop's application menu"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "install-desktop",
        help=HELP,
        description=(
            "Install the desktop entry, the AppStream metainfo and the icon for the current user, "
            "so FretCoach shows in the application menu and starts this installation's window. "
            "Run it again after moving or reinstalling FretCoach; --uninstall removes the files."
        ),
    )
    p.add_argument("--uninstall", action="store_true", help="remove the files instead")
    p.add_argument(
        "--data-home",
        metavar="DIR",
        type=Path,
        default=None,
        help="install under DIR instead of $XDG_DATA_HOME (default ~/.local/share)",
    )
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace, *, out: Any = None) -> int:
    from fretcoach_desktop import desktop
    from fretcoach_desktop.cli import CliError

    out = out or sys.stdout
    home = args.data_home.expanduser().absolute() if args.data_home is not None else desktop.data_home()
    try:
        if args.uninstall:
            removed = desktop.uninstall(home)
            out.write(f"removed {len(removed)} file{'s' if len(removed) != 1 else ''} from {home}\n")
            return EXIT_OK
        command = desktop.launcher_command()
        written = desktop.install(home, command)
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        raise CliError(f"cannot install the desktop files: {exc.strerror or exc}{where}", EXIT_FAILURE) from None
    for path in written:
        out.write(f"installed {path}\n")
    out.write(f"the launcher runs: {' '.join(command)}\n")
    return EXIT_OK
