"""The four live metrics as big numbers, each with a small trend line (pyqtgraph).

The big number is the current 30 s window; the small line under it is the whole session.
pyqtgraph is imported only when :meth:`MetricsPanel.enable_trends` is called (right after the
window is shown), so it does not delay start-up.
"""

from __future__ import annotations

from collections import deque

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from fretcoach_desktop.audio.types import Metrics

from . import theme
from .services import METRIC_LABELS
from .verdicts import format_metric

__all__ = ["MetricCard", "MetricsPanel", "TREND_SPAN_S"]

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
        self.session_label = QLabel("session —")
        self.session_label.setObjectName("muted")
        self._trend_host = QVBoxLayout()
        self._trend_host.setContentsMargins(0, 0, 0, 0)
        self.trend: deque[tuple[float, float]] = deque()
        self._plot = None
        self._curve = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 6, 10, 6)
        lay.setSpacing(0)
        lay.addWidget(self.title)
        lay.addWidget(self.value_label)
        lay.addWidget(self.session_label)
        lay.addLayout(self._trend_host, 1)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    @property
    def text(self) -> str:
        return self.value_label.text()

    def set_value(self, window: float | None, session: float | None) -> None:
        text = format_metric(window)
        if text != self.value_label.text():
            self.value_label.setText(text)
            color = _grade_color(window)
            self.value_label.setStyleSheet(f"color: {color.name()};")
        self.session_label.setText(f"session {format_metric(session)}")

    def add_point(self, t: float, value: float | None) -> None:
        if value is None:
            return
        self.trend.append((t, value))
        while self.trend and self.trend[0][0] < t - TREND_SPAN_S:
            self.trend.popleft()
        if self._curve is not None:
            xs = [p[0] for p in self.trend]
            ys = [p[1] for p in self.trend]
            self._curve.setData(xs, ys)

    def clear(self) -> None:
        self.trend.clear()
        self.value_label.setText("—")
        self.value_label.setStyleSheet("")
        self.session_label.setText("session —")
        if self._curve is not None:
            self._curve.setData([], [])

    def enable_trend(self) -> None:
        if self._plot is not None:
            return
        import pyqtgraph as pg

        c = theme.colors()
        plot = pg.PlotWidget(background=None)
        plot.setMinimumHeight(40)
        plot.setMaximumHeight(220)
        plot.hideButtons()
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideAxis("bottom")
        plot.hideAxis("left")
        plot.setYRange(0, 100, padding=0.05)
        item = plot.getPlotItem()
        item.layout.setContentsMargins(0, 0, 0, 0)
        guide = pg.InfiniteLine(pos=85, angle=0, pen=pg.mkPen(c.muted, width=1, style=Qt.PenStyle.DotLine))
        plot.addItem(guide)
        self._curve = plot.plot([], [], pen=pg.mkPen(c.accent, width=2))
        self._plot = plot
        self._trend_host.addWidget(plot)
        if self.trend:
            self._curve.setData([p[0] for p in self.trend], [p[1] for p in self.trend])


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
        for card in self.cards.values():
            card.enable_trend()
