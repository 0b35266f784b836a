"""Input level meter (dBFS) with peak hold and a latched clipping warning."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QLinearGradient, QPainter, QPixmap
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

    def _layer(self, c) -> tuple:
        """What only changes with the size, the palette or the theme: the empty bar, the
        CLIP box (off and on) as pixmaps, the gradient and the bar's geometry."""
        ratio = self.devicePixelRatioF()
        palette = self.palette()
        key = (self.width(), self.height(), ratio, id(c), palette.cacheKey(), self.font().key())
        cached = self.__dict__.get("_layer_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        clip_w = 38.0
        bar = QRectF(self.rect()).adjusted(1, 4, -clip_w - 4, -4)
        clip = QRectF(bar.right() + 4, bar.top(), clip_w, bar.height())
        base = self._pixmap(ratio)
        p = QPainter(base)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(palette.base())
        p.drawRoundedRect(bar, 3, 3)
        p.end()
        clip_boxes = []
        for on in (False, True):
            box = self._pixmap(ratio)
            p = QPainter(box)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(c.bad if on else QColor(c.muted.red(), c.muted.green(), c.muted.blue(), 50))
            p.drawRoundedRect(clip, 3, 3)
            p.setPen(QColor("#ffffff") if on else c.muted)
            font = QFont(self.font())
            font.setBold(True)
            font.setPointSizeF(max(6.5, font.pointSizeF() * 0.8))
            p.setFont(font)
            p.drawText(clip, Qt.AlignmentFlag.AlignCenter, "CLIP")
            p.end()
            clip_boxes.append(box)
        grad = QLinearGradient(bar.topLeft(), bar.topRight())
        grad.setColorAt(0.0, c.good)
        grad.setColorAt(0.72, c.good)  # -17 dB
        grad.setColorAt(0.88, c.warn)  # -7 dB
        grad.setColorAt(1.0, c.bad)
        layer = (base, clip_boxes, QBrush(grad), bar, palette.text())
        self._layer_cache = (key, layer)
        return layer

    def _pixmap(self, ratio: float) -> QPixmap:
        pixmap = QPixmap(self.size() * ratio)
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(Qt.GlobalColor.transparent)
        return pixmap

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt API
        # 30 times a second while playing: two cached pixmaps, two bars and a line.
        base, clip_boxes, grad, bar, text = self._layer(theme.colors())
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.drawPixmap(0, 0, base)
        p.drawPixmap(0, 0, clip_boxes[self.clipping])
        left, width, span = bar.left(), bar.width(), -FLOOR_DB
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(grad)
        p.setOpacity(0.45)
        p.drawRoundedRect(QRectF(left, bar.top(), width * (self.peak_db - FLOOR_DB) / span, bar.height()), 3, 3)
        p.setOpacity(1.0)
        p.drawRoundedRect(QRectF(left, bar.top(), width * (self.rms_db - FLOOR_DB) / span, bar.height()), 3, 3)
        hold_x = left + width * (self._hold_db - FLOOR_DB) / span
        p.fillRect(QRectF(hold_x - 1, bar.top(), 2, bar.height()), text)
        p.end()
