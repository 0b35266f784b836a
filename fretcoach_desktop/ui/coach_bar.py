"""The coach tip area: the latest tip, and thumbs up/down that emit a signal."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

from .services import CoachTip

__all__ = ["CoachBar"]


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
        self.text = QLabel("Start a session: a tip arrives every 30 seconds of playing.")
        self.text.setWordWrap(True)
        self.text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        # Room for two lines, always: a tip arriving mid-session then only repaints the label
        # instead of resizing the bar and repainting the whole window under it.
        self.text.setFixedHeight(2 * self.text.fontMetrics().lineSpacing() + 4)
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
