"""Desktop integration: the app id, the icon set, and ``fretcoach install-desktop``.

:func:`install` puts FretCoach in the desktop's application menu for the current user, in
the XDG data directory (``$XDG_DATA_HOME``, by default ``~/.local/share``)::

    applications/<APP_ID>.desktop                 the launcher, running this installation
    metainfo/<APP_ID>.metainfo.xml                AppStream metadata, for software centres
    icons/hicolor/scalable/apps/<APP_ID>.svg      the icon, and PNGs of it in
    icons/hicolor/<N>x<N>/apps/<APP_ID>.png       every size of ICON_SIZES

The files come from the package's resources (``resources/desktop``, ``resources/icons``);
only the launcher's ``Exec`` line is written here, as the absolute path of this
installation's ``fretcoach-desktop`` (a pipx install keeps it in its own venv, which need
not be on the desktop session's PATH). :func:`uninstall` removes exactly these files.
Qt-free: the command line installs it without opening a window.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "APP_ID",
    "ICON_SIZES",
    "data_home",
    "desktop_entry",
    "icon_files",
    "install",
    "installed_files",
    "launcher_command",
    "uninstall",
]

#: The reverse-DNS id of the desktop entry, the AppStream component and the icon.
APP_ID = "io.github.fretcoach.FretCoach"
#: The PNG sizes of the icon (resources/icons/fretcoach-<N>.png; scripts/render-icons.py).
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
GUI_SCRIPT = "fretcoach-desktop"

_SAFE_ARG = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


def data_home() -> Path:
    """The user's XDG data directory: ``$XDG_DATA_HOME``, else ``~/.local/share``."""
    value = os.environ.get("XDG_DATA_HOME", "").strip()
    return Path(value).expanduser() if value and Path(value).is_absolute() else Path.home() / ".local" / "share"


def launcher_command() -> list[str]:
    """How the desktop starts this installation's window (an absolute command line)."""
    beside = Path(sys.executable).parent / GUI_SCRIPT  # the venv's bin (pipx, pip, make venv)
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which(GUI_SCRIPT)
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "fretcoach_desktop"]


def _quote(arg: str) -> str:
    """One argument of a desktop entry's ``Exec`` key (the spec's quoting, then string escaping)."""
    arg = arg.replace("%", "%%")
    if _SAFE_ARG.match(arg):
        return arg
    quoted = re.sub(r'(["`$\\])', r"\\\1", arg)
    return '"' + quoted.replace("\\", "\\\\") + '"'


def desktop_entry(command: Sequence[str] | None = None) -> str:
    """The launcher's text: the packaged entry with ``Exec`` set to *command*."""
    from fretcoach_desktop import resources

    template = resources.path("desktop", f"{APP_ID}.desktop").read_text(encoding="utf-8")
    exec_line = "Exec=" + " ".join(_quote(a) for a in (command or launcher_command()))
    text, count = re.subn(r"(?m)^Exec=.*$", lambda _m: exec_line, template, count=1)
    if count != 1:
        raise ValueError("the packaged desktop entry has no Exec line")
    return text


def icon_files() -> dict[str, Path]:
    """hicolor theme folder (``scalable`` or ``<N>x<N>``) -> the packaged icon file for it."""
    from fretcoach_desktop import resources

    icons = {"scalable": resources.path("icons", "fretcoach.svg")}
    for size in ICON_SIZES:
        icons[f"{size}x{size}"] = resources.path("icons", f"fretcoach-{size}.png")
    return icons


def installed_files(home: Path | None = None) -> list[Path]:
    """Every file :func:`install` writes under *home* (default :func:`data_home`)."""
    home = home or data_home()
    files = [home / "applications" / f"{APP_ID}.desktop", home / "metainfo" / f"{APP_ID}.metainfo.xml"]
    for folder, source in icon_files().items():
        files.append(home / "icons" / "hicolor" / folder / "apps" / f"{APP_ID}{source.suffix}")
    return files


def install(home: Path | None = None, command: Sequence[str] | None = None) -> list[Path]:
    """Install the launcher, the metainfo and the icons under *home*; return the files written.

    Raises:
        OSError: a folder cannot be created or a file written (nothing is rolled back: run
            it again, or :func:`uninstall`).
    """
    from fretcoach_desktop import resources

    home = home or data_home()
    desktop_file, metainfo_file, *icon_targets = installed_files(home)
    contents: list[tuple[Path, bytes]] = [
        (desktop_file, desktop_entry(command).encode("utf-8")),
        (metainfo_file, resources.path("desktop", f"{APP_ID}.metainfo.xml").read_bytes()),
    ]
    contents += [(target, source.read_bytes()) for target, source in zip(icon_targets, icon_files().values())]
    for target, data in contents:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_bytes(data)
        partial.replace(target)
    _touch_icon_theme(home)
    return [target for target, _ in contents]


def uninstall(home: Path | None = None) -> list[Path]:
    """Remove what :func:`install` wrote under *home*; return the files removed."""
    home = home or data_home()
    removed = []
    for path in installed_files(home):
        if path.is_file():
            path.unlink()
            removed.append(path)
    _touch_icon_theme(home)
    return removed


def _touch_icon_theme(home: Path) -> None:
    """Tell icon caches the user's hicolor theme changed (desktops re-read a newer folder)."""
    theme = home / "icons" / "hicolor"
    if theme.is_dir():
        try:
            os.utime(theme)
        except OSError:
            pass
