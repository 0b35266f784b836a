"""``python -m fretcoach_desktop``: the app's entry point.

With no arguments it will open the desktop window; until the GUI exists it shows the
command-line help. With arguments it runs the ``fretcoach`` command line (see ``cli.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the command line; with no arguments, show its help."""
    from fretcoach_desktop import cli

    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        cli.build_parser().print_help()
        return cli.EXIT_OK
    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main())
