"""The four live metrics as big numbers, each with a small trend line.

The big number is the current 30 s window; the small line under it is the whole session.
The trend line is a :class:`Sparkline` painted with one ``QPainter.drawPolyline``: a
pyqtgraph plot per card cost an import of ~1 s and a graphics scene whose Python item
paints stalled the window while a session played.

Nothing here changes the window's layout while playing: the numbers' labels have a fixed
size and their colour changes through the palette (see :func:`theme.pin_size`).
"""

from __future__ import annotations

from collections import deque

from PySide6.QtCore import QPointF, QSize, Qt
from PySide6.QtGui import QFont, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from fretcoach_desktop.audio.types import Metrics

from . import theme
from .services import METRIC_LABELS
from .verdicts import format_metric

__all__ = ["MetricCard", "MetricsPanel", "Sparkline", "TREND_SPAN_S"]

TREND_SPAN_S = 300.0  # the trend line shows the last 5 minutes
TREND_STEP_S = 2.0  # one trend point every 2 s of stream time

_TIPS = {
    "pitch_accuracy": "Pitch accuracy: full marks within 10 cents of the note, zero at 50 cents.",
    "scale_conformity": "Scale conformity: share of notes in the selected key and scale.",
    "timing_stability": "Timing stability: full marks within 15 ms of the click grid, zero at 100 ms.",
    "noise_control": "Noise control: notes versus unwanted noises (string scrapes, fret buzz, pick noise).",
}


def _grade_color(value: float | None):
    c = theme.colors()
    if value is None:
        return c.muted
    if value >= 85:
        return c.good
    if value >= 65:
        return c.warn
    return c.bad


class Sparkline(QWidget):
    """A 0-100 line over the last :data:`TREND_SPAN_S` seconds, with a dotted 85 guide."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[tuple[float, float]] = []
        self._polygon: QPolygonF | None = None  # in widget coordinates, rebuilt on change
        self.setMinimumHeight(40)
        self.setMaximumHeight(220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(160, 60)

    def set_points(self, points) -> None:
        self.points = list(points)
        self._polygon = None
        self.update()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self._polygon = None
        super().resizeEvent(event)

    def _y(self, value: float) -> float:
        h = self.height() - 4
        return 2 + h * (1 - (0.05 + 0.9 * max(0.0, min(100.0, value)) / 100))

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt API
        c = theme.colors()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        guide = QPen(c.muted, 1, Qt.PenStyle.DotLine)
        p.setPen(guide)
        y85 = self._y(85)
        p.drawLine(QPointF(0, y85), QPointF(self.width(), y85))
        if len(self.points) >= 2:
            if self._polygon is None:
                t1 = self.points[-1][0]
                t0 = max(self.points[0][0], t1 - TREND_SPAN_S)
                span = max(t1 - t0, 1e-6)
                w = self.width() - 4
                self._polygon = QPolygonF([QPointF(2 + w * (t - t0) / span, self._y(v)) for t, v in self.points])
            p.setPen(QPen(c.accent, 2))
            p.drawPolyline(self._polygon)
        p.end()


class MetricCard(QFrame):
    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setToolTip(_TIPS.get(name, name) + "\nBig number: last 30 s. Line: the last minutes.")
        self.title = QLabel(METRIC_LABELS.get(name, name))
        self.title.setObjectName("sectionTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.value_label = QLabel("—")
        big = QFont(self.font())
        big.setPointSizeF(big.pointSizeF() * 2.6)
        big.setBold(True)
        self.value_label.setFont(big)
        self.value_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        theme.pin_size(self.value_label, "100", "88", "—", extra_width=8)
        self.session_label = QLabel("session —")
        self.session_label.setObjectName("muted")
        theme.pin_size(self.session_label, "session 100", "session —", extra_width=8)
        self.trend: deque[tuple[float, float]] = deque()
        self.sparkline = Sparkline()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 6, 10, 6)
        lay.setSpacing(0)
        lay.addWidget(self.title)
        lay.addWidget(self.value_label)
        lay.addWidget(self.session_label)
        lay.addWidget(self.sparkline, 1)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    @property
    def text(self) -> str:
        return self.value_label.text()

    def set_value(self, window: float | None, session: float | None) -> None:
        text = format_metric(window)
        if text != self.value_label.text():
            self.value_label.setText(text)
            theme.set_text_color(self.value_label, _grade_color(window))
        self.session_label.setText(f"session {format_metric(session)}")

    def add_point(self, t: float, value: float | None) -> None:
        if value is None:
            return
        self.trend.append((t, value))
        while self.trend and self.trend[0][0] < t - TREND_SPAN_S:
            self.trend.popleft()
        self.sparkline.set_points(self.trend)

    def clear(self) -> None:
        self.trend.clear()
        self.value_label.setText("—")
        theme.reset_text_color(self.value_label)
        self.session_label.setText("session —")
        self.sparkline.set_points(())

    def enable_trend(self) -> None:
        """Kept for callers of the pyqtgraph version: the sparkline is always on."""


class MetricsPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cards = {name: MetricCard(name) for name in METRIC_LABELS}
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(6)
        for i, card in enumerate(self.cards.values()):
            grid.addWidget(card, i // 2, i % 2)
        self._last_trend_t: float | None = None

    def update_metrics(self, window: Metrics | None, session: Metrics | None, t: float | None = None) -> None:
        for name, card in self.cards.items():
            w = getattr(window, name) if window is not None else None
            s = getattr(session, name) if session is not None else None
            card.set_value(w, s)
        if t is not None and window is not None:
            if self._last_trend_t is None or t - self._last_trend_t >= TREND_STEP_S or t < self._last_trend_t:
                self._last_trend_t = t
                for name, card in self.cards.items():
                    card.add_point(t, getattr(window, name))

    def clear(self) -> None:
        self._last_trend_t = None
        for card in self.cards.values():
            card.clear()

    def enable_trends(self) -> None:
        """Kept for callers of the pyqtgraph version: the sparklines are always on."""
