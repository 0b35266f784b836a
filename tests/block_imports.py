"""Run a FretCoach command as if some packages were not installed (an extra left out).

    python -m tests.block_imports langchain,openai -- fretcoach ARGS...

Every import of a blocked top-level package (and ``importlib.util.find_spec`` of it) fails
as it does when the package is missing: ``ModuleNotFoundError``. Then the ``fretcoach``
command line runs with ARGS.
"""

from __future__ import annotations

import importlib.abc
import sys


class _Blocker(importlib.abc.MetaPathFinder):
    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001 - importlib's signature
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def block(names: set[str]) -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in names:
            del sys.modules[name]
    sys.meta_path.insert(0, _Blocker(names))


def main(argv: list[str]) -> int:
    names, _, rest = argv[0], argv[1], argv[2:]
    block({n for n in names.split(",") if n})
    if rest[:1] == ["fretcoach"]:
        from fretcoach_desktop.cli import main as cli_main

        return cli_main(rest[1:])
    raise SystemExit(f"block_imports: unknown target {rest[:1]}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
