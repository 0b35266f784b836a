"""The chat dock: a placeholder with its signals ready for the chat agent."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QTextBrowser, QVBoxLayout, QWidget

__all__ = ["ChatPanel"]


class ChatPanel(QWidget):
    """Ask the coach about your own history. ``question_submitted`` carries the text."""

    question_submitted = Signal(str)
    #: (answer_id, positive) for a thumbs up/down on an answer
    answer_rated = Signal(object, bool)

    def __init__(self, parent: QWidget | None = None, enabled: bool = False) -> None:
        super().__init__(parent)
        self.transcript = QTextBrowser()
        self.transcript.setOpenExternalLinks(False)
        self.banner = QLabel(
            "<b>Chat with your coach — coming soon.</b><br>"
            "Ask things like <i>“Which notes do I miss most in A minor?”</i> or "
            "<i>“Has my timing improved this week?”</i> and get answers from your own sessions."
        )
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.input = QLineEdit()
        self.input.setPlaceholderText("Ask about your practice…")
        self.send = QPushButton("Send")
        self.send.setToolTip("Send the question (Enter)")
        self.input.returnPressed.connect(self._submit)
        self.send.clicked.connect(self._submit)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addWidget(self.send)
        lay = QVBoxLayout(self)
        lay.addWidget(self.banner)
        lay.addWidget(self.transcript, 1)
        lay.addLayout(row)
        self.set_available(enabled)

    def set_available(self, available: bool) -> None:
        self.available = available
        self.banner.setVisible(not available)
        self.input.setEnabled(available)
        self.send.setEnabled(available)
        self.transcript.setEnabled(available)

    def _submit(self) -> None:
        text = self.input.text().strip()
        if not text or not self.available:
            return
        self.input.clear()
        self.transcript.append(f"<p><b>You:</b> {_escape(text)}</p>")
        self.question_submitted.emit(text)

    def show_answer(self, text: str) -> None:
        self.transcript.append(f"<p><b>Coach:</b> {_escape(text)}</p>")

    def show_error(self, text: str) -> None:
        self.transcript.append(f"<p><i>{_escape(text)}</i></p>")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>")
