"""How much disk a player's install takes, per extra: ``python -m bench.install_size``.

Builds the wheel of the working tree, then for the base install and each extra creates a
fresh venv the way pipx does (no pip inside it), installs the wheel with its dependencies
from the package index, and measures the whole venv (``du``). Prints a Markdown table;
``--json`` prints the figures. Needs the network (or a warm pip cache); takes minutes.

The README's install sizes come from this. Targets (issue 14): base under 400 MB, every
extra together under 1 GB.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("", "ai", "tracing", "postgres", "all")
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "fretcoach_desktop")


def build_wheel(out: Path) -> Path:
    src = out / "src"
    src.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif path.exists():
            shutil.copy2(path, src / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        check=True,
    )
    return next(out.glob("fretcoach_desktop-*.whl"))


def du_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sk", str(path)], check=True, capture_output=True, text=True).stdout
    return int(out.split()[0]) / 1024


def measure(wheel: Path, extra: str, work: Path) -> dict:
    venv = work / f"venv-{extra or 'base'}"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    target = f"{wheel}[{extra}]" if extra else str(wheel)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q", target],
        check=True,
    )
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "list", "--format", "json"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    size = du_mb(venv)
    shutil.rmtree(venv)
    return {"extra": extra or "base", "mb": round(size), "distributions": len(json.loads(listing))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("extras", nargs="*", default=list(TARGETS), help="'' for the base install, ai, tracing...")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fretcoach-size-") as tmp:
        work = Path(tmp)
        wheel = build_wheel(work)
        rows = [measure(wheel, "" if extra == "base" else extra, work) for extra in args.extras]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print("| install | size | distributions |")
    print("|---|---:|---:|")
    for row in rows:
        name = "`fretcoach-desktop`" if row["extra"] == "base" else f"`fretcoach-desktop[{row['extra']}]`"
        print(f"| {name} | {row['mb']} MB | {row['distributions']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
