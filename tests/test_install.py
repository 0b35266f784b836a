"""The app as a player installs it: build the wheel, install it into a fresh venv outside the
checkout, and run it from there (``fretcoach analyze``, ``session``, ``plan``, ``eval run``,
the window's Demo input).

Fast and offline: the wheel is built from a copy of the sources with the dev venv's own
setuptools (no build isolation, no download), and the new venv gets the *base*
requirements only (the wheel's ``Requires-Dist`` without extras, followed through every
dependency's own metadata) as symlinks into the dev venv's site-packages. So it runs
exactly what ``pip install fretcoach-desktop`` would give, without LangChain, Opik or
psycopg unless the base install asks for them, and ``pip check`` proves the set is
complete. The package itself is a real install of the wheel (``pip install --no-deps``),
and every command runs with its working directory outside the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fretcoach_desktop"
#: Sources the wheel is built from (anything else in the checkout is not part of it).
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "fretcoach_desktop")
DEMO_BPM, DEMO_KEY, DEMO_SCALE = "120", "C#", "major"

pytestmark = pytest.mark.timeout(300)


@dataclass
class Installed:
    root: Path  # the folder holding the venv, the wheel and the data
    venv: Path
    wheel: Path
    env: dict[str, str]

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def site_packages(self) -> Path:
        return next((self.venv / "lib").glob("python3*/site-packages"))

    def run(self, *args: str, timeout: float = 120, check: bool = True, env: dict | None = None):
        proc = subprocess.run(
            list(args), cwd=self.root, env={**self.env, **(env or {})}, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
        if check and proc.returncode != 0:
            pytest.fail(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def fretcoach(self, *args: str, **kwargs):
        return self.run(str(self.bin / "fretcoach"), *args, **kwargs)


# --------------------------------------------------------------------------- building


def build_wheel(out: Path) -> Path:
    """The wheel of the working tree, built from a copy of its sources."""
    src = out / "src"
    src.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif path.exists():
            shutil.copy2(path, src / name)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(out / "dist"), str(src)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (out / "dist").glob("fretcoach_desktop-*.whl")
    return wheel


def wheel_metadata(wheel: Path) -> dict:
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(z.read(name).decode("utf-8"))


def _wanted(req: Requirement, extras: set[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({"extra": extra}) for extra in extras | {""})


def base_closure(requires: list[str]) -> dict[str, metadata.Distribution]:
    """Every distribution the base install needs (requirements without extras, recursively),
    as installed in this (the dev) environment."""
    found: dict[str, metadata.Distribution] = {}
    todo = [(Requirement(r), set()) for r in requires]
    todo = [(r, e) for r, e in todo if _wanted(r, e)]
    while todo:
        req, _ = todo.pop()
        key = req.name.lower().replace("_", "-")
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{req} (a base requirement) is not installed in the dev venv: run 'make venv'")
        if not req.specifier.contains(dist.version, prereleases=True):
            pytest.fail(f"the dev venv has {req.name} {dist.version}, the wheel asks for {req}")
        if key in found:
            continue
        found[key] = dist
        for dep in dist.requires or ():
            sub = Requirement(dep)
            if _wanted(sub, set(req.extras)):
                todo.append((sub, set(sub.extras)))
    return found


def link_distributions(dists: dict[str, metadata.Distribution], site: Path) -> None:
    """Symlink each distribution's top-level files and folders into *site*."""
    for dist in dists.values():
        tops = {f.parts[0] for f in dist.files or () if f.parts and f.parts[0] not in ("..", "__pycache__")}
        for top in sorted(tops):
            target = Path(dist.locate_file(top))
            link = site / top
            if target.exists() and not link.exists():
                link.symlink_to(target, target_is_directory=target.is_dir())


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("installed")
    wheel = build_wheel(root)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python3*/site-packages"))
    requires = wheel_metadata(wheel).get_all("Requires-Dist") or []
    link_distributions(base_closure(requires), site)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    for args in (["install", "--no-deps", "--no-index", "-q", str(wheel)], ["check"]):
        proc = subprocess.run([*pip, *args], capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, f"pip {args[0]}: {proc.stdout}{proc.stderr}"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(root / "home"),
        FRETCOACH_DATA_DIR=str(root / "data"),
        XDG_DATA_HOME=str(root / "home" / ".local" / "share"),
        XDG_CONFIG_HOME=str(root / "home" / ".config"),
        XDG_STATE_HOME=str(root / "home" / ".local" / "state"),
        XDG_CACHE_HOME=str(root / "home" / ".cache"),
        QT_QPA_PLATFORM="offscreen",
        PYTHONDONTWRITEBYTECODE="1",
    )
    (root / "home").mkdir()
    return Installed(root=root, venv=venv, wheel=wheel, env=env)


# --------------------------------------------------------------------------- the wheel


def test_the_wheel_ships_every_file_of_the_package(installed: Installed):
    """Nothing in fretcoach_desktop/ is left out of the wheel (prompts, demo, icons, templates)."""
    with zipfile.ZipFile(installed.wheel) as z:
        shipped = {n for n in z.namelist() if n.startswith("fretcoach_desktop/")}
    on_disk = {
        p.relative_to(ROOT).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    assert on_disk - shipped == set()
    assert "fretcoach_desktop/resources/prompts/registry.json" in shipped
    assert "fretcoach_desktop/resources/demo/demo_take.flac" in shipped
    assert "fretcoach_desktop/store/migrations/script.py.mako" in shipped


def test_the_installed_copy_is_the_one_that_runs(installed: Installed):
    code = "import json, sys, fretcoach_desktop; print(json.dumps([fretcoach_desktop.__file__, sys.path]))"
    where, path = json.loads(installed.run(str(installed.bin / "python"), "-c", code).stdout)
    assert Path(where).is_relative_to(installed.site_packages)
    assert not any(entry and Path(entry).resolve().is_relative_to(ROOT) for entry in path)


def test_analyze_from_the_installed_wheel(installed: Installed):
    take = installed.site_packages / "fretcoach_desktop" / "resources" / "demo" / "demo_take.flac"
    proc = installed.fretcoach("analyze", str(take), "--bpm", DEMO_BPM, "--key", DEMO_KEY, "--scale", DEMO_SCALE,
                               "--json")  # fmt: skip
    result = json.loads(proc.stdout)
    assert len(result["notes"]) >= 20
    assert result["metrics"]["pitch_accuracy"] is not None


def test_session_plan_and_eval_from_the_installed_wheel(installed: Installed):
    take = installed.site_packages / "fretcoach_desktop" / "resources" / "demo" / "demo_take.flac"
    proc = installed.fretcoach("session", str(take), "--bpm", DEMO_BPM, "--key", DEMO_KEY, "--scale", DEMO_SCALE,
                               "--no-audio", "--speed", "8", "--json")  # fmt: skip
    session = json.loads(proc.stdout)
    assert session["status"] == "complete" and session["notes_played"] >= 20
    assert [m["kind"] for m in session["coach_messages"]] == ["summary"]  # the offline coach spoke
    assert session["coach_messages"][0]["text"]

    plan = json.loads(installed.fretcoach("plan", "--json").stdout)
    assert plan["mode"] == "offline" and plan["plan"]["exercises"]
    assert str(session["session_id"]) in map(str, plan["source_session_ids"])

    installed.fretcoach("eval", "build-dataset", "--synthetic", "4")
    proc = installed.fretcoach("eval", "run", "--prompt", "v1", "--json")
    report = json.loads(proc.stdout)
    assert report["versions"] == ["live_coach.v1"]
    assert report["results"]["live_coach.v1"]


def test_the_window_plays_the_demo_from_the_installed_wheel(installed: Installed):
    script = ROOT / "tests" / "installed_window.py"
    proc = installed.run(str(installed.bin / "python"), str(script), timeout=150)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(report["package"]).is_relative_to(installed.site_packages)
    assert report["inputs_listed"], report
    assert any(label.startswith("Demo") for label in report["inputs"]), report["inputs"]
    assert report["started"] and report["judged"], report
    assert "unavailable" not in report["coach_bar"], report["coach_bar"]
    assert 256 in report["window_icon_sizes"], report  # the packaged icon
    history = json.loads(installed.fretcoach("history", "--json").stdout)
    assert any(s["notes_played"] >= 3 for s in history), history


def test_the_installed_launcher_starts_this_installation(installed: Installed):
    assert "usage: fretcoach-desktop" in installed.run(str(installed.bin / "fretcoach-desktop"), "--help").stdout
    installed.fretcoach("install-desktop")
    share = Path(installed.env["XDG_DATA_HOME"])
    launcher = (share / "applications" / "io.github.fretcoach.FretCoach.desktop").read_text(encoding="utf-8")
    assert f"Exec={installed.bin / 'fretcoach-desktop'}\n" in launcher
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / "io.github.fretcoach.FretCoach.svg").is_file()
    assert (share / "metainfo" / "io.github.fretcoach.FretCoach.metainfo.xml").is_file()


def test_the_base_install_leaves_the_extras_out_and_names_them(installed: Installed):
    code = (
        "import importlib.util, json\n"
        "names = ('langchain', 'openai', 'opik', 'psycopg', 'sqlglot', 'keyring', 'scipy')\n"
        "print(json.dumps([n for n in names if importlib.util.find_spec(n)]))"
    )
    assert json.loads(installed.run(str(installed.bin / "python"), "-c", code).stdout) == []
    key = {"OPENAI_API_KEY": "sk-test-not-used", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    proc = installed.fretcoach("plan", "--json", env=key)
    assert json.loads(proc.stdout)["mode"] == "offline"
    assert proc.stderr.count("[ai] extra") == 1 and "Traceback" not in proc.stderr
    answer = json.loads(installed.fretcoach("ask", "What should I practice next?", "--json").stdout)
    assert answer["answer"] and answer["model"] == "offline"  # the offline chat needs no extra
    proc = installed.fretcoach("history", check=False, env={"FRETCOACH_DB_URL": "postgresql+psycopg://h:9/x"})
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "[postgres] extra" in proc.stderr
