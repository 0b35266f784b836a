"""Dark and light palettes that follow the system colour scheme (Qt 6.5+ ``colorScheme``)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QWidget

__all__ = ["Colors", "apply_palette", "colors", "is_dark", "pin_size", "reset_text_color", "set_text_color"]


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


def _scheme_and_palette_key() -> tuple:
    hints = QGuiApplication.styleHints()
    return (hints.colorScheme(), QGuiApplication.palette().cacheKey())


_cache: dict[tuple, bool] = {}


def is_dark() -> bool:
    """Whether the app is dark: Qt's colour scheme when known, else the window colour.

    Widgets ask on every paint, so the answer is cached per (scheme, palette): two cheap
    calls instead of a palette lookup and a colour conversion each time.
    """
    app = QGuiApplication.instance()
    if app is None:
        return True
    key = _scheme_and_palette_key()
    dark = _cache.get(key)
    if dark is None:
        scheme = key[0]
        if scheme == Qt.ColorScheme.Dark:
            dark = True
        elif scheme == Qt.ColorScheme.Light:
            dark = False
        else:  # Unknown (e.g. offscreen / bare X server): judge by the current window colour.
            dark = QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128
        if len(_cache) > 8:
            _cache.clear()
        _cache[key] = dark
    return dark


def colors() -> Colors:
    """The colour set of the current scheme (the same object until the scheme changes)."""
    return _DARK if is_dark() else _LIGHT


def set_text_color(widget: QWidget, color: QColor) -> None:
    """Colour a label's text through its palette, and only when it changes.

    Unlike ``setStyleSheet``, which re-polishes the widget (and can re-lay out the window)
    each time it is called, a palette change only repaints the widget.
    """
    rgba = color.rgba()
    if getattr(widget, "_fc_text_rgba", None) == rgba:
        return
    widget._fc_text_rgba = rgba  # type: ignore[attr-defined]
    palette = widget.palette()
    palette.setColor(QPalette.ColorRole.WindowText, color)
    widget.setPalette(palette)


def reset_text_color(widget: QWidget) -> None:
    """Back to the inherited text colour (undoes :func:`set_text_color`)."""
    if getattr(widget, "_fc_text_rgba", None) is None:
        return
    widget._fc_text_rgba = None  # type: ignore[attr-defined]
    widget.setPalette(QPalette())


def pin_size(widget: QWidget, *samples: str, extra_width: int = 4) -> None:
    """Fix *widget*'s size to fit the widest of *samples* in its font.

    A label whose text changes asks its parents to re-lay out the window on every change,
    unless its minimum and maximum sizes are equal: then Qt knows nothing can move.
    """
    metrics = widget.fontMetrics()
    width = max(metrics.horizontalAdvance(text) for text in samples) + extra_width
    margins = widget.contentsMargins()
    widget.setFixedSize(width + margins.left() + margins.right(), metrics.height() + margins.top() + margins.bottom())


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
