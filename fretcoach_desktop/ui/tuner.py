"""Tuner view: the note heard, and a cents needle from -50 to +50."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QFont, QPainter, QPen
from PySide6.QtWidgets import QWidget

from . import theme

__all__ = ["TunerWidget"]

IN_TUNE_CENTS = 5.0  # a tuner is stricter than the pitch metric


class TunerWidget(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.note: str | None = None
        self.cents = 0.0
        self.freq_hz = 0.0
        self.setMinimumSize(260, 76)
        self.setToolTip("Tuner: play one open string at a time. Green = within 5 cents. (T toggles the tuner)")

    def sizeHint(self) -> QSize:
        return QSize(360, 84)

    def set_reading(self, reading) -> None:
        """*reading* has ``note``, ``cents``, ``freq_hz``; None when nothing pitched is heard."""
        if reading is None:
            self.note = None
        else:
            self.note, self.cents, self.freq_hz = reading.note, float(reading.cents), float(reading.freq_hz)
        self.update()

    @property
    def text(self) -> str:
        if self.note is None:
            return "—"
        return f"{self.note} {self.cents:+.0f}c"

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt API
        c = theme.colors()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(6, 4, -6, -4)
        name_r = QRectF(r.left(), r.top(), 90, r.height())
        big = QFont(self.font())
        big.setPointSizeF(big.pointSizeF() * 2.2)
        big.setBold(True)
        p.setFont(big)
        ok = self.note is not None and abs(self.cents) <= IN_TUNE_CENTS
        p.setPen(c.good if ok else (c.text if self.note else c.muted))
        p.drawText(name_r, Qt.AlignmentFlag.AlignCenter, self.note or "—")

        scale = QRectF(name_r.right() + 8, r.top() + 8, r.width() - name_r.width() - 8, r.height() - 26)
        mid = scale.center().x()
        p.setPen(QPen(c.muted, 1))
        for cents in range(-50, 51, 10):
            x = mid + scale.width() / 2 * cents / 50
            h = 12 if cents % 50 == 0 or cents == 0 else 6
            p.drawLine(QPointF(x, scale.bottom()), QPointF(x, scale.bottom() - h))
        band = scale.width() / 2 * IN_TUNE_CENTS / 50
        good = c.good.lighter(100)
        good.setAlpha(60)
        p.fillRect(QRectF(mid - band, scale.top(), 2 * band, scale.height()), good)
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
        p.setFont(small)
        p.drawText(QRectF(scale.left() - 20, scale.bottom() + 2, 40, 14), Qt.AlignmentFlag.AlignCenter, "-50")
        p.drawText(QRectF(mid - 20, scale.bottom() + 2, 40, 14), Qt.AlignmentFlag.AlignCenter, "0")
        p.drawText(QRectF(scale.right() - 20, scale.bottom() + 2, 40, 14), Qt.AlignmentFlag.AlignCenter, "+50")
        if self.note is not None:
            x = mid + scale.width() / 2 * max(-50.0, min(50.0, self.cents)) / 50
            p.setPen(QPen(c.good if ok else (c.bad if abs(self.cents) > 20 else c.warn), 3))
            p.drawLine(QPointF(x, scale.top()), QPointF(x, scale.bottom()))
            p.setPen(c.muted)
            p.drawText(
                QRectF(scale.right() - 110, scale.top() - 8, 110, 14),
                Qt.AlignmentFlag.AlignRight,
                f"{self.cents:+.0f} cents  {self.freq_hz:.1f} Hz",
            )
        p.end()
