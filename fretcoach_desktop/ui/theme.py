"""Dark and light palettes that follow the system colour scheme (Qt 6.5+ ``colorScheme``)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

__all__ = ["Colors", "apply_palette", "colors", "is_dark"]


@dataclass(frozen=True)
class Colors:
    good: QColor
    bad: QColor
    warn: QColor
    accent: QColor
    muted: QColor
    board: QColor
    fret: QColor
    string: QColor
    scale_dot: QColor
    root_dot: QColor
    text: QColor


_DARK = Colors(
    good=QColor("#3ecf6e"),
    bad=QColor("#ff5c5c"),
    warn=QColor("#f0b429"),
    accent=QColor("#4aa3ff"),
    muted=QColor("#8a919e"),
    board=QColor("#2b2118"),
    fret=QColor("#9aa0a6"),
    string=QColor("#d8d2c4"),
    scale_dot=QColor("#5a6b85"),
    root_dot=QColor("#4aa3ff"),
    text=QColor("#e8eaed"),
)
_LIGHT = Colors(
    good=QColor("#1e9e4a"),
    bad=QColor("#d93636"),
    warn=QColor("#b7791f"),
    accent=QColor("#1769d1"),
    muted=QColor("#6b7280"),
    board=QColor("#e9dcc8"),
    fret=QColor("#8d8d8d"),
    string=QColor("#5b5347"),
    scale_dot=QColor("#9fb3cf"),
    root_dot=QColor("#1769d1"),
    text=QColor("#1f2328"),
)


def is_dark() -> bool:
    app = QGuiApplication.instance()
    if app is None:
        return True
    scheme = QGuiApplication.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    # Unknown (e.g. offscreen / bare X server): judge by the current window colour.
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def colors() -> Colors:
    return _DARK if is_dark() else _LIGHT


def _dark_palette() -> QPalette:
    p = QPalette()
    window, base, text = QColor("#1e2126"), QColor("#16181c"), QColor("#e8eaed")
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor("#23272e"),
        QPalette.ColorRole.ToolTipBase: QColor("#2d3139"),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: QColor("#7d8590"),
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor("#2a2e35"),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor("#ff5c5c"),
        QPalette.ColorRole.Link: QColor("#4aa3ff"),
        QPalette.ColorRole.Highlight: QColor("#2f6fd0"),
        QPalette.ColorRole.HighlightedText: QColor("#ffffff"),
        QPalette.ColorRole.Light: QColor("#3a3f47"),
        QPalette.ColorRole.Midlight: QColor("#30343b"),
        QPalette.ColorRole.Mid: QColor("#2a2e35"),
        QPalette.ColorRole.Dark: QColor("#121418"),
        QPalette.ColorRole.Shadow: QColor("#000000"),
    }
    for role, color in roles.items():
        p.setColor(role, color)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b717b"))
    return p


def apply_palette(app: QApplication, dark: bool | None = None) -> bool:
    """Use the Fusion style with a palette matching the system scheme; return True if dark.

    With ``dark=None`` the system decides: Qt's colour scheme when the platform reports
    one, else the standard palette's window colour.
    """
    app.setStyle("Fusion")
    if dark is None:
        scheme = QGuiApplication.styleHints().colorScheme()
        if scheme == Qt.ColorScheme.Unknown:
            dark = app.style().standardPalette().color(QPalette.ColorRole.Window).lightness() < 128
        else:
            dark = scheme == Qt.ColorScheme.Dark
    app.setPalette(_dark_palette() if dark else app.style().standardPalette())
    return dark


def follow_system(app: QApplication) -> None:
    """Re-apply the palette whenever the system switches between dark and light."""
    QGuiApplication.styleHints().colorSchemeChanged.connect(lambda _scheme: apply_palette(app))
