"""Print pip constraints that pin every dependency of FretCoach to its lower bound.

    python scripts/lower-bounds.py > constraints.txt
    pip install -c constraints.txt -e '.[dev]'        # what `make test-oldest` does

Reads ``pyproject.toml``: the base dependencies and the extras a player installs (``ai``,
``tracing``, ``postgres``), each ``name>=X`` becoming ``name==X``. The dev tools and the
benchmark's packages are left free.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

EXTRAS = ("ai", "tracing", "postgres")
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)$")


def lower_bounds(pyproject: Path) -> dict[str, str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in EXTRAS:
        requirements += project["optional-dependencies"][extra]
    bounds: dict[str, str] = {}
    for requirement in requirements:
        match = _REQUIREMENT.match(requirement.split(";")[0])
        if match is None or match.group(1) == project["name"]:
            continue
        floor = re.search(r">=\s*([0-9][0-9A-Za-z.]*)", match.group(3))
        if floor is None:
            sys.exit(f"lower-bounds: {requirement!r} has no lower bound")
        bounds[match.group(1)] = floor.group(1)
    return bounds


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    for name, version in sorted(lower_bounds(root / "pyproject.toml").items(), key=lambda kv: kv[0].lower()):
        print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
