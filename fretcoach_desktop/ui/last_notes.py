"""The "last notes" list: each note with name, cents and timing, and why it was wrong.

Its geometry never changes while playing: every row exists from the start (empty until a
note arrives), each label has a fixed size, and colours go through the palette, so a new
note only repaints the strip instead of re-laying out the window.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QSizePolicy, QWidget

from fretcoach_desktop.audio.types import Note

from . import theme
from .verdicts import IN_TUNE, ON_TIME, NoteVerdict, describe_note

__all__ = ["LastNotesStrip", "NoteRow"]

MAX_NOTES = 6


_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
#: the widest text each column can show (sizes the fixed labels)
_WIDEST = (
    ("C#8", "Bb8"),
    ("+50c in tune", "-50c sharp", "-50c flat"),
    ("on time", "100 ms early", "100 ms late"),
    ("✓ good note", "✗ out of scale, 50 cents sharp, 100 ms early"),
)


class NoteRow:
    """One line of the list: name | cents + in tune/sharp/flat | timing | why."""

    def __init__(self, grid: QGridLayout, row: int) -> None:
        self.name, self.tuning, self.timing, self.why = QLabel(), QLabel(), QLabel(), QLabel()
        self.why.setObjectName("muted")
        bold = QFont(self.name.font())
        bold.setBold(True)
        self.name.setFont(bold)
        for col, label in enumerate(self.labels):
            theme.pin_size(label, *_WIDEST[col])
            grid.addWidget(label, row, col, _LEFT)
        self.verdict: NoteVerdict | None = None

    @property
    def labels(self) -> tuple[QLabel, ...]:
        return self.name, self.tuning, self.timing, self.why

    def set_visible(self, visible: bool) -> None:
        """Empty the row when hidden: hiding the labels would re-lay out the window."""
        if not visible:
            self.verdict = None
            for label in self.labels:
                label.setText("")
                label.setToolTip("")

    def show_note(self, note: Note) -> None:
        c = theme.colors()
        v = describe_note(note)
        self.verdict = v
        tune_col = c.good if v.tuning == IN_TUNE else (c.warn if abs(note.cents) < 25 else c.bad)
        time_col = c.good if v.timing == ON_TIME else (c.warn if abs(note.timing_offset_ms) < 40 else c.bad)
        name_col = c.good if v.in_scale else c.bad
        self.name.setText(v.name)
        theme.set_text_color(self.name, name_col)
        self.tuning.setText(f"{v.cents_text} {v.tuning}")
        theme.set_text_color(self.tuning, tune_col)
        self.timing.setText(v.timing_text)
        theme.set_text_color(self.timing, time_col)
        self.why.setText("✓ good note" if v.good else "✗ " + v.why)
        tip = (
            f"{v.name}: {note.cents:+.1f} cents ({v.tuning}), {note.timing_offset_ms:+.0f} ms from the click "
            f"({v.timing}), {'in' if v.in_scale else 'out of'} scale."
        )
        for label in self.labels:
            label.setToolTip(tip)

    def text(self) -> str:
        return " | ".join(label.text() for label in self.labels)


class LastNotesStrip(QFrame):
    """Newest note first; only updates when the notes it shows change."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        grid = QGridLayout(self)
        grid.setContentsMargins(10, 6, 10, 6)
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(2)
        self.title = QLabel("Last notes")
        self.title.setObjectName("sectionTitle")
        grid.addWidget(self.title, 0, 0, 1, 4)
        self._hint = "Play something: each note shows here with its pitch, its timing and what to fix."
        self.placeholder = QLabel(self._hint)
        self.placeholder.setObjectName("muted")
        theme.pin_size(self.placeholder, self._hint)
        grid.addWidget(self.placeholder, 1, 0, 1, 4, _LEFT)
        self.rows = [NoteRow(grid, 2 + i) for i in range(MAX_NOTES)]
        for row in self.rows:
            row.set_visible(False)
        grid.setColumnStretch(3, 1)
        grid.setRowStretch(2 + MAX_NOTES, 1)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._shown: tuple[Note, ...] = ()

    def set_notes(self, notes: Sequence[Note]) -> None:
        """Show the newest notes of *notes* (oldest first, as the engine reports them)."""
        recent = tuple(reversed(notes[-MAX_NOTES:]))
        if recent == self._shown:
            return
        self._shown = recent
        self.placeholder.setText("" if recent else self._hint)
        for row, note in zip(self.rows, recent):
            row.show_note(note)
            row.set_visible(True)
        for row in self.rows[len(recent) :]:
            row.set_visible(False)

    def verdicts(self) -> list[NoteVerdict]:
        """What the visible rows say, newest first (for tests and accessibility)."""
        return [row.verdict for row in self.rows[: len(self._shown)] if row.verdict is not None]

    def texts(self) -> list[str]:
        return [row.text() for row in self.rows[: len(self._shown)]]
