"""The coach tip area: the latest tip, and thumbs up/down that emit a signal."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

from .services import CoachTip

__all__ = ["CoachBar", "TipText"]


class TipText(QWidget):
    """Two lines of word-wrapped text whose changes never re-lay out the window.

    A QLabel asks every layout up to the window to recompute on each ``setText``, and the
    main window then repaints all of itself (a 10-30 ms stall each time a tip arrived
    mid-session). This widget has a constant size hint and just repaints.
    """

    LINES = 2

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = text
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.LINES * self.fontMetrics().lineSpacing() + 4)
        self.setAccessibleName(text)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:  # noqa: N802 - QLabel's name
        if text != self._text:
            self._text = text
            self.setAccessibleName(text)
            self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(400, self.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(120, self.height())

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        flags = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextWordWrap
        p.drawText(self.contentsRect(), flags, self._text)
        p.end()


class CoachBar(QFrame):
    #: (tip, positive) when the player rates the tip shown
    rated = Signal(object, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("coachBar")
        self.tip: CoachTip | None = None
        self.title = QLabel("Coach")
        self.title.setObjectName("sectionTitle")
        self.text = TipText("Start a session: a tip arrives every 30 seconds of playing.")
        self.up = QToolButton()
        self.up.setText("+")
        self.up.setToolTip("This tip helped")
        self.down = QToolButton()
        self.down.setText("–")
        self.down.setToolTip("This tip did not help")
        for b in (self.up, self.down):
            b.setCheckable(True)
            b.setEnabled(False)
            b.setAutoRaise(True)
        self.up.clicked.connect(lambda: self._rate(True))
        self.down.clicked.connect(lambda: self._rate(False))
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 10, 6)
        lay.addWidget(self.title)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.up)
        lay.addWidget(self.down)

    def show_tip(self, tip: CoachTip) -> None:
        self.tip = tip
        self.text.setText(f"“{tip.text}”")
        for b in (self.up, self.down):
            b.setChecked(False)
            b.setEnabled(True)

    def show_message(self, text: str) -> None:
        """A note from the app (not a rateable tip)."""
        self.tip = None
        self.text.setText(text)
        for b in (self.up, self.down):
            b.setChecked(False)
            b.setEnabled(False)

    def _rate(self, positive: bool) -> None:
        if self.tip is None:
            return
        self.up.setChecked(positive)
        self.down.setChecked(not positive)
        self.up.setEnabled(False)
        self.down.setEnabled(False)
        self.rated.emit(self.tip, positive)
