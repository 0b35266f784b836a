"""Render the app icon's PNGs from its SVG (run after editing the SVG; the PNGs are committed).

    .venv/bin/python scripts/render-icons.py

Writes ``fretcoach_desktop/resources/icons/fretcoach-<N>.png`` for each size in
``fretcoach_desktop.desktop.ICON_SIZES``, drawn by Qt's SVG renderer (offscreen).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    from fretcoach_desktop.desktop import ICON_SIZES

    icons = Path(__file__).resolve().parents[1] / "fretcoach_desktop" / "resources" / "icons"
    app = QGuiApplication(sys.argv[:1])  # noqa: F841 - Qt's painting needs an application
    renderer = QSvgRenderer(str(icons / "fretcoach.svg"))
    if not renderer.isValid():
        print("render-icons: the SVG cannot be read", file=sys.stderr)
        return 1
    for size in ICON_SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        out = icons / f"fretcoach-{size}.png"
        image.save(str(out))
        print(out.relative_to(icons.parents[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
