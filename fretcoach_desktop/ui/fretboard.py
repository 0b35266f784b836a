"""The fretboard: scale notes marked, played notes lit (green in scale, red out of it) and fading."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

from fretcoach_desktop.audio.theory import key_prefers_flats, note_name, pitch_class, scale_pitch_classes
from fretcoach_desktop.audio.types import Note

from . import theme

__all__ = ["STANDARD_TUNING", "FretboardWidget", "LitNote", "positions_for_midi"]

#: Open-string MIDI notes, low E (string index 0) to high E: E2 A2 D3 G3 B3 E4.
STANDARD_TUNING: tuple[int, ...] = (40, 45, 50, 55, 59, 64)
FRETS = 15
FADE_S = 2.0  # a played note fades out over this long
_INLAYS = (3, 5, 7, 9, 12, 15, 17, 19, 21)


def positions_for_midi(
    midi: int, tuning: tuple[int, ...] = STANDARD_TUNING, frets: int = FRETS
) -> list[tuple[int, int]]:
    """Every (string, fret) that sounds *midi*; string 0 is the low E. Lowest fret first."""
    spots = [(s, midi - open_) for s, open_ in enumerate(tuning) if 0 <= midi - open_ <= frets]
    return sorted(spots, key=lambda p: (p[1], p[0]))


@dataclass(slots=True)
class LitNote:
    midi: int
    string: int
    fret: int
    in_scale: bool
    lit_at: float  # time.monotonic() when lit


class FretboardWidget(QWidget):
    """Paints a guitar neck in standard tuning with the current scale and recent notes."""

    def __init__(
        self,
        parent: QWidget | None = None,
        frets: int = FRETS,
        tuning: tuple[int, ...] = STANDARD_TUNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(parent)
        self.frets = frets
        self.tuning = tuning
        self._clock = clock
        self._key, self._scale = "A", "minor_pentatonic"
        self._pcs: frozenset[int] = scale_pitch_classes(self._key, self._scale)
        self._root = pitch_class(self._key)
        self._flats = False
        self._lit: list[LitNote] = []
        self._hand_fret = 5.0  # where the hand was: chooses among several positions of a note
        self._scale_serial = 0  # bumped by set_scale: part of the cached board's key
        self.setMinimumSize(560, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip(
            "Fretboard (standard tuning). Dots: notes of the scale (blue = root).\n"
            "Played notes light up green when in the scale, red when not, then fade."
        )

    # ------------------------------------------------------------------ model
    def set_scale(self, key: str, scale: str) -> None:
        self._key, self._scale = key, scale
        self._pcs = scale_pitch_classes(key, scale)
        self._root = pitch_class(key)
        self._flats = key_prefers_flats(key, scale)
        self._scale_serial += 1
        self.update()

    def scale_positions(self) -> set[tuple[int, int]]:
        """(string, fret) of every marked scale note."""
        return {
            (s, f)
            for s, open_ in enumerate(self.tuning)
            for f in range(self.frets + 1)
            if (open_ + f) % 12 in self._pcs
        }

    def position_for(self, midi: int) -> tuple[int, int] | None:
        """Where a note was most likely played: the position nearest the hand's last fret."""
        spots = positions_for_midi(midi, self.tuning, self.frets)
        if not spots:
            return None
        return min(spots, key=lambda p: (abs(p[1] - self._hand_fret), p[1]))

    def light_notes(self, notes: Iterable[Note]) -> None:
        now = self._clock()
        for note in notes:
            pos = self.position_for(note.midi)
            if pos is None:
                continue
            self._hand_fret = 0.7 * self._hand_fret + 0.3 * pos[1] if pos[1] else self._hand_fret
            self._lit.append(LitNote(note.midi, pos[0], pos[1], note.in_scale, now))
        self._lit = self._lit[-24:]
        self.update()

    def lit(self) -> list[LitNote]:
        """Notes still visible (not fully faded)."""
        now = self._clock()
        return [n for n in self._lit if now - n.lit_at < FADE_S]

    def clear(self) -> None:
        self._lit.clear()
        self.update()

    def tick(self) -> None:
        """Called by the GUI timer: repaint only while something is fading."""
        if self._lit:
            now = self._clock()
            self._lit = [n for n in self._lit if now - n.lit_at < FADE_S]
            self.update()

    # ------------------------------------------------------------------ painting
    def sizeHint(self) -> QSize:
        return QSize(820, 220)

    def _geometry(self) -> tuple[QRectF, float, float]:
        r = QRectF(self.rect()).adjusted(34, 16, -14, -28)
        fret_w = r.width() / (self.frets + 0.6)  # the nut column is a little narrower
        # keep a neck's proportions: strings at most ~0.75 fret widths (and 44 px) apart
        string_gap = min(r.height() / (len(self.tuning) - 1), 0.75 * fret_w, 44.0)
        height = string_gap * (len(self.tuning) - 1)
        r = QRectF(r.left(), r.center().y() - height / 2, r.width(), height)
        return r, fret_w, string_gap

    def _point(self, string: int, fret: int) -> QPointF:
        r, fw, gap = self._geometry()
        x = r.left() + 0.3 * fw if fret == 0 else r.left() + 0.6 * fw + (fret - 0.5) * fw
        y = r.bottom() - string * gap  # low E at the bottom, as a player looks down at it
        return QPointF(x, y)

    def _static_layer(self, c) -> tuple[QPixmap, float, QFont, dict[tuple[int, int], QPointF]]:
        """The board and the scale's notes (drawn once into a pixmap), the dot radius, the
        note-label font and every (string, fret) position: all of which change only with the
        size, the scale or the theme, so a 30 Hz repaint reuses them."""
        ratio = self.devicePixelRatioF()
        key = (self.width(), self.height(), ratio, self._scale_serial, id(c), self.font().key())
        cached = self.__dict__.get("_static_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        r, fw, gap = self._geometry()
        radius = max(6.0, min(11.0, gap * 0.36, fw * 0.3))
        pixmap = QPixmap(self.size() * ratio)
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        self._paint_static(painter, c, r, fw, gap, radius)
        painter.end()
        label_font = QFont(self.font())
        label_font.setPointSizeF(max(6.5, radius * 0.72))
        label_font.setBold(True)
        points = {(s, f): self._point(s, f) for s in range(len(self.tuning)) for f in range(self.frets + 1)}
        layer = (pixmap, radius, label_font, points)
        self._static_cache = (key, layer)
        self._sprites: dict[tuple[int, bool], QPixmap] = {}
        # Right after this paint, draw every note's sprite: the first one drawn during a
        # session cost 20-60 ms (text layout, glyphs of a new font size rasterized).
        QTimer.singleShot(0, self, lambda: self._prerender(c, radius, label_font, key))
        return layer

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt API
        # The board and the scale's notes only change with the size, the scale or the
        # theme: they are drawn once into a pixmap, and each 30 Hz repaint only adds the
        # fading played notes on top (a full repaint costs several ms of Python).
        c = theme.colors()
        pixmap, radius, label_font, points = self._static_layer(c)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.drawPixmap(0, 0, pixmap)
        if self._lit:
            self._paint_lit(p, c, radius, label_font, points)
        p.end()

    def _paint_static(self, p: QPainter, c, r: QRectF, fw: float, gap: float, radius: float) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        board = QRectF(r.left() + 0.6 * fw, r.top() - gap * 0.35, r.width() - 0.6 * fw, r.height() + gap * 0.7)
        p.fillRect(board, c.board)

        # inlays
        p.setPen(Qt.PenStyle.NoPen)
        inlay = QColor(c.string)
        inlay.setAlpha(60)
        p.setBrush(inlay)
        mid_y = r.center().y()
        for f in _INLAYS:
            if f > self.frets:
                continue
            x = self._point(0, f).x()
            if f % 12 == 0:
                for dy in (-gap, gap):
                    p.drawEllipse(QPointF(x, mid_y + dy), 5, 5)
            else:
                p.drawEllipse(QPointF(x, mid_y), 5, 5)
        # frets and nut
        for f in range(0, self.frets + 1):
            x = r.left() + 0.6 * fw + f * fw
            p.setPen(QPen(c.fret, 4 if f == 0 else 1.5))
            p.drawLine(QPointF(x, board.top()), QPointF(x, board.bottom()))
        # strings (thicker for the low ones)
        for s in range(len(self.tuning)):
            y = r.bottom() - s * gap
            p.setPen(QPen(c.string, 2.4 - s * 0.3))
            p.drawLine(QPointF(r.left() + 0.6 * fw, y), QPointF(r.right(), y))

        # fret numbers and string names
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
        p.setFont(small)
        p.setPen(c.muted)
        for f in (1, 3, 5, 7, 9, 12, 15, 17, 19, 21):
            if f <= self.frets:
                pt = self._point(0, f)
                p.drawText(QRectF(pt.x() - 15, board.bottom() + 2, 30, 16), Qt.AlignmentFlag.AlignCenter, str(f))
        for s, open_ in enumerate(self.tuning):
            y = r.bottom() - s * gap
            name = note_name(open_)[:-1]
            p.drawText(QRectF(2, y - 8, 22, 16), Qt.AlignmentFlag.AlignCenter, name)

        # scale notes
        label_font = QFont(self.font())
        label_font.setPointSizeF(max(6.5, radius * 0.72))
        label_font.setBold(True)
        p.setFont(label_font)
        for s, open_ in enumerate(self.tuning):
            for f in range(self.frets + 1):
                midi = open_ + f
                if midi % 12 not in self._pcs:
                    continue
                pt = self._point(s, f)
                root = midi % 12 == self._root
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(c.root_dot if root else c.scale_dot)
                p.drawEllipse(pt, radius * 0.78, radius * 0.78)
                p.setPen(QColor("#ffffff"))
                p.drawText(
                    QRectF(pt.x() - radius, pt.y() - radius, 2 * radius, 2 * radius),
                    Qt.AlignmentFlag.AlignCenter,
                    note_name(midi, self._flats)[:-1],
                )

    def _paint_lit(self, p: QPainter, c, radius: float, font: QFont, points: dict[tuple[int, int], QPointF]) -> None:
        """The played notes, fading. Each (note, colour) is drawn once into a small pixmap
        (text layout is the costly part of a paint) and then blitted with its opacity."""
        now = self._clock()
        for n in self._lit:
            age = now - n.lit_at
            if age >= FADE_S:
                continue
            sprite = self._sprite(n.midi % 12, n.in_scale, c, radius, font)
            pt = points[(n.string, n.fret)]
            p.setOpacity(1.0 - age / FADE_S)
            half = sprite.width() / sprite.devicePixelRatio() / 2
            p.drawPixmap(QPointF(pt.x() - half, pt.y() - half), sprite)
        p.setOpacity(1.0)

    def _prerender(self, c, radius: float, font: QFont, key: tuple) -> None:
        cached = self.__dict__.get("_static_cache")
        if cached is None or cached[0] != key:  # resized again meanwhile
            return
        for pc in range(12):
            for in_scale in (True, False):
                self._sprite(pc, in_scale, c, radius, font)

    def _sprite(self, pc: int, in_scale: bool, c, radius: float, font: QFont) -> QPixmap:
        key = (pc, in_scale)  # the rest (size, theme, scale, font) empties the cache: _static_layer
        cache = self.__dict__.setdefault("_sprites", {})
        sprite = cache.get(key)
        if sprite is None:
            ratio = self.devicePixelRatioF()
            size = int(radius * 3.6) + 2
            sprite = QPixmap(int(size * ratio), int(size * ratio))
            sprite.setDevicePixelRatio(ratio)
            sprite.fill(Qt.GlobalColor.transparent)
            q = QPainter(sprite)
            q.setRenderHint(QPainter.RenderHint.Antialiasing)
            q.setFont(font)
            centre = QPointF(size / 2, size / 2)
            color = QColor(c.good if in_scale else c.bad)
            glow = QColor(color)
            glow.setAlphaF(0.35)
            q.setPen(Qt.PenStyle.NoPen)
            q.setBrush(glow)
            q.drawEllipse(centre, radius * 1.7, radius * 1.7)
            q.setBrush(color)
            q.drawEllipse(centre, radius * 1.1, radius * 1.1)
            q.setPen(QColor(255, 255, 255))
            q.drawText(
                QRectF(centre.x() - radius * 1.5, centre.y() - radius, 3 * radius, 2 * radius),
                Qt.AlignmentFlag.AlignCenter,
                note_name(60 + pc, self._flats)[:-1],
            )
            q.end()
            cache[key] = sprite
        return sprite
