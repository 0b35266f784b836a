"""Input level meter (dBFS) with peak hold and a latched clipping warning."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from . import theme

__all__ = ["LevelMeter"]

FLOOR_DB = -60.0
CLIP_HOLD_S = 2.0
PEAK_HOLD_S = 1.2


class LevelMeter(QWidget):
    def __init__(self, parent: QWidget | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self._clock = clock
        self.rms_db = FLOOR_DB
        self.peak_db = FLOOR_DB
        self._hold_db, self._hold_at = FLOOR_DB, 0.0
        self._clip_at: float | None = None
        self.setMinimumSize(140, 22)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setToolTip(
            "Input level (dBFS). Aim for peaks around -12 dBFS.\n"
            "CLIP lights up red when the input is overloaded: turn the gain down on the interface."
        )
        self.setAccessibleName("Input level")

    def sizeHint(self) -> QSize:
        return QSize(190, 22)

    @property
    def clipping(self) -> bool:
        """True while the clip warning is shown (it stays on for 2 s after the last clip)."""
        return self._clip_at is not None and self._clock() - self._clip_at < CLIP_HOLD_S

    def set_level(self, rms_dbfs: float, peak_dbfs: float, clipping: bool) -> None:
        now = self._clock()
        rms = rms_dbfs if math.isfinite(rms_dbfs) else FLOOR_DB
        peak = peak_dbfs if math.isfinite(peak_dbfs) else FLOOR_DB
        self.rms_db, self.peak_db = max(FLOOR_DB, rms), max(FLOOR_DB, peak)
        if self.peak_db >= self._hold_db or now - self._hold_at > PEAK_HOLD_S:
            self._hold_db, self._hold_at = self.peak_db, now
        if clipping:
            self._clip_at = now
        self.update()

    def reset(self) -> None:
        self.rms_db = self.peak_db = self._hold_db = FLOOR_DB
        self._clip_at = None
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt API
        c = theme.colors()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        clip_w = 38.0
        bar = QRectF(self.rect()).adjusted(1, 4, -clip_w - 4, -4)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(self.palette().base())
        p.drawRoundedRect(bar, 3, 3)

        def x_of(db: float) -> float:
            return bar.left() + bar.width() * (db - FLOOR_DB) / -FLOOR_DB

        grad = QLinearGradient(bar.topLeft(), bar.topRight())
        grad.setColorAt(0.0, c.good)
        grad.setColorAt(0.72, c.good)  # -17 dB
        grad.setColorAt(0.88, c.warn)  # -7 dB
        grad.setColorAt(1.0, c.bad)
        fill = QRectF(bar.left(), bar.top(), x_of(self.peak_db) - bar.left(), bar.height())
        p.setBrush(grad)
        p.setOpacity(0.45)
        p.drawRoundedRect(fill, 3, 3)
        p.setOpacity(1.0)
        p.drawRoundedRect(QRectF(bar.left(), bar.top(), x_of(self.rms_db) - bar.left(), bar.height()), 3, 3)
        hold_x = x_of(self._hold_db)
        p.fillRect(QRectF(hold_x - 1, bar.top(), 2, bar.height()), self.palette().text())

        clip = QRectF(bar.right() + 4, bar.top(), clip_w, bar.height())
        on = self.clipping
        p.setBrush(c.bad if on else QColor(c.muted.red(), c.muted.green(), c.muted.blue(), 50))
        p.drawRoundedRect(clip, 3, 3)
        p.setPen(QColor("#ffffff") if on else c.muted)
        font = p.font()
        font.setBold(True)
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.8))
        p.setFont(font)
        p.drawText(clip, Qt.AlignmentFlag.AlignCenter, "CLIP")
        p.end()
