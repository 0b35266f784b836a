"""CLI sub-commands that live in their own module (Qt-free).

Each module offers ``add_parser(subparsers)`` (which sets ``handler=run`` on its parser) and
``run(args) -> int``; :mod:`fretcoach_desktop.cli` registers them.
"""
