"""Starting FretCoach by name: the launcher, the icon, the AppStream metainfo, and
``fretcoach`` alone on a desktop opening the window."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fretcoach_desktop import __version__, cli, desktop, resources

ROOT = Path(__file__).resolve().parents[1]
DESKTOP_FILE = resources.path("desktop", f"{desktop.APP_ID}.desktop")
METAINFO_FILE = resources.path("desktop", f"{desktop.APP_ID}.metainfo.xml")


def tool(name: str) -> str:
    """The path of a validator; skip without it, but fail under CI (install-system-deps.sh has it)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian: desktop-file-utils, appstream; make venv installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def desktop_file_validate(path: Path) -> None:
    proc = subprocess.run([tool("desktop-file-validate"), str(path)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "error" not in proc.stdout.lower(), proc.stdout + proc.stderr
    assert "warning" not in proc.stdout.lower(), proc.stdout


def appstream_validate(path: Path) -> None:
    proc = subprocess.run([tool("appstreamcli"), "validate", "--no-net", str(path)], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    issues = [line for line in proc.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert proc.returncode == 0 and not issues, proc.stdout + proc.stderr


def entry(text: str) -> dict[str, str]:
    lines = [line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")]
    return {key: value for key, value in lines}


def test_the_packaged_desktop_entry_and_metainfo_are_valid():
    desktop_file_validate(DESKTOP_FILE)
    appstream_validate(METAINFO_FILE)


def test_the_metainfo_names_this_app_and_release():
    root = ET.parse(METAINFO_FILE).getroot()
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == desktop.APP_ID
    assert root.findtext("launchable") == DESKTOP_FILE.name
    assert root.findtext("project_license") == "MIT"
    newest = root.find("releases/release")
    assert newest is not None and newest.get("version") == __version__
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {__version__} ({newest.get('date')})" in changelog
    fields = entry(DESKTOP_FILE.read_text(encoding="utf-8"))
    assert fields["Icon"] == desktop.APP_ID and fields["Exec"] == desktop.GUI_SCRIPT


def test_every_icon_size_is_packaged_and_square():
    import struct

    for folder, path in desktop.icon_files().items():
        assert path.is_file(), folder
        if path.suffix == ".png":
            width, height = struct.unpack(">II", path.read_bytes()[16:24])  # the PNG's IHDR
            assert f"{width}x{height}" == folder
    assert ET.parse(resources.path("icons", "fretcoach.svg")).getroot().tag.endswith("svg")


def test_install_desktop_puts_a_valid_launcher_metainfo_and_icons_in_the_data_home(tmp_path, capsys):
    home = tmp_path / "share"
    assert cli.main(["install-desktop", "--data-home", str(home)]) == 0
    out = capsys.readouterr().out
    files = desktop.installed_files(home)
    assert all(path.is_file() for path in files) and len(files) == 2 + 1 + len(desktop.ICON_SIZES)
    assert all(str(path) in out for path in files)
    launcher = home / "applications" / f"{desktop.APP_ID}.desktop"
    desktop_file_validate(launcher)
    appstream_validate(home / "metainfo" / f"{desktop.APP_ID}.metainfo.xml")
    program = entry(launcher.read_text(encoding="utf-8"))["Exec"].split()[0]
    assert Path(program).is_absolute() and os.access(program, os.X_OK)  # this installation's, not PATH's
    assert (home / "icons/hicolor/256x256/apps" / f"{desktop.APP_ID}.png").read_bytes() == (
        resources.path("icons", "fretcoach-256.png").read_bytes()
    )

    assert cli.main(["install-desktop", "--uninstall", "--data-home", str(home)]) == 0
    assert not any(path.exists() for path in files)


def test_install_desktop_defaults_to_xdg_data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert cli.main(["install-desktop"]) == 0
    assert (tmp_path / "xdg" / "applications" / f"{desktop.APP_ID}.desktop").is_file()


def test_a_launcher_path_with_spaces_and_quotes_is_quoted_for_the_desktop(tmp_path):
    odd = '/opt/my apps/fretcoach "beta"/bin/fretcoach-desktop'
    launcher = tmp_path / f"{desktop.APP_ID}.desktop"
    launcher.write_text(desktop.desktop_entry([odd, "--theme", "dark"]), encoding="utf-8")
    desktop_file_validate(launcher)
    quoted = r'"/opt/my apps/fretcoach \\"beta\\"/bin/fretcoach-desktop"'
    assert entry(launcher.read_text())["Exec"] == f"{quoted} --theme dark"


def test_the_window_has_the_app_icon(qtbot):
    from fretcoach_desktop.config import load_config
    from fretcoach_desktop.ui.fakes import FakeAudioService, FakeCoach, InMemoryStore
    from fretcoach_desktop.ui.main_window import MainWindow
    from fretcoach_desktop.ui.prefs import UiPrefs
    from fretcoach_desktop.ui.services import Services
    from fretcoach_desktop.ui.settings_dialog import MemorySecretStore

    store = InMemoryStore()
    services = Services(config=load_config(), audio=FakeAudioService(None), store=store, coach=FakeCoach(store),
                        secrets=MemorySecretStore())  # fmt: skip
    window = MainWindow(services, prefs=UiPrefs())
    qtbot.addWidget(window)
    sizes = {s.width() for s in window.windowIcon().availableSizes()}
    assert set(desktop.ICON_SIZES) <= sizes


def _without_display() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return env


def test_fretcoach_alone_without_a_display_prints_the_help():
    code = "import sys; from fretcoach_desktop.cli import main; sys.argv = ['fretcoach']; sys.exit(main())"
    proc = subprocess.run([sys.executable, "-c", code], env=_without_display(), cwd=ROOT, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0 and "usage: fretcoach" in proc.stdout


def test_fretcoach_alone_on_a_desktop_opens_the_window():
    code = "import sys; from fretcoach_desktop.cli import main; sys.argv = ['fretcoach']; sys.exit(main())"
    env = {**_without_display(), "DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen", "FRETCOACH_REPORT_SHOWN": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line.strip() == "shown", line + proc.stderr.read()
    finally:
        proc.terminate()
        proc.wait(30)
