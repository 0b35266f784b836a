"""The app's icon as a :class:`QIcon`: the packaged PNGs, one per size (resources/icons)."""

from __future__ import annotations

import functools

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon

from fretcoach_desktop import resources
from fretcoach_desktop.desktop import ICON_SIZES

__all__ = ["app_icon"]


@functools.cache
def app_icon() -> QIcon:
    """FretCoach's icon at every packaged size (Qt picks or scales the nearest one).

    PNGs rather than the SVG: no SVG plugin to load before the window shows, and the same
    pixels the desktop's launcher shows (``fretcoach install-desktop`` installs both).
    """
    icon = QIcon()
    for size in ICON_SIZES:
        path = resources.path("icons", f"fretcoach-{size}.png")
        if path.is_file():
            icon.addFile(str(path), QSize(size, size))
    return icon
