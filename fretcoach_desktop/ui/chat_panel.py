"""The chat dock: ask the coach about your own practice history.

Every question goes to the :class:`~.services.ChatService` on the window's worker pool
(:class:`~.workers.TaskRunner`); the GUI thread never waits for a model, the database or
the LangChain imports. Streamed tokens arrive on the worker thread through ``on_token`` and
are re-posted to the GUI thread with a queued signal; the conversation is re-rendered as
Markdown (tables included) at most every ~40 ms while an answer streams in.

Without a service (the fakes, or no database) the panel shows a "not available" banner.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from . import theme
from .services import METRIC_LABELS, ServiceError

__all__ = ["SUGGESTED_QUESTIONS", "ChatPanel", "Turn"]

log = logging.getLogger(__name__)

SUGGESTED_QUESTIONS = (
    "What should I practice next?",
    "Show me my progress trends",
    "How did my timing improve this week?",
    "Which notes do I miss most in A minor pentatonic?",
)

OFFLINE_NOTICE = (
    "No OpenAI key: the coach answers from your practice data offline (progress, weakest metric, "
    "last session, what to practice next). Add a key in Settings for any other question."
)

_RENDER_MS = 40


@dataclass
class Turn:
    """One message of the conversation as shown."""

    role: str  # "user" or "assistant"
    text: str
    model: str | None = None
    pending: bool = False  # an answer still streaming in


class ChatPanel(QWidget):
    """Ask the coach about your own history. ``question_submitted`` carries the text."""

    question_submitted = Signal(str)
    #: (answer_id, positive) for a thumbs up/down on an answer
    answer_rated = Signal(object, bool)
    #: the ChatAnswer once it is shown
    answer_shown = Signal(object)
    #: a notice line was shown (offline, rate limits, failures)
    notice_shown = Signal(str)
    #: past conversations listed (their number)
    threads_loaded = Signal(int)
    #: a past conversation was reloaded (its thread id)
    thread_loaded = Signal(str)
    #: internal: (request id, text) from the worker thread, delivered queued on the GUI thread
    _token = Signal(object)

    def __init__(
        self,
        parent: QWidget | None = None,
        enabled: bool = False,
        *,
        service: Any = None,
        runner: Any = None,
        user: Callable[[], str] | str | None = None,
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.runner = runner
        self._user = user
        self.turns: list[Turn] = []
        self.thread_id: str | None = None
        self.busy = False
        self.last_answer: Any = None
        self.graph_dialog: Any = None
        self._request = 0  # id of the question in flight; answers of older ones are dropped
        self._shown_user: str | None = None
        self._chart_plot: Any = None

        self.banner = QLabel(
            "<b>Chat with your coach is not available.</b><br>"
            "It needs the practice database. Ask things like <i>“Which notes do I miss most in A minor?”</i> "
            "or <i>“Has my timing improved this week?”</i> and get answers from your own sessions."
        )
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)

        self.new_button = QPushButton("New conversation")
        self.new_button.setToolTip("Start a new conversation (past ones stay listed below)")
        self.new_button.clicked.connect(self.new_conversation)
        self.graph_button = QPushButton("How the coach thinks")
        self.graph_button.setToolTip("The steps the coach goes through to answer, drawn as a diagram")
        self.graph_button.clicked.connect(self.show_graph)
        top = QHBoxLayout()
        top.addWidget(self.new_button)
        top.addStretch(1)
        top.addWidget(self.graph_button)

        self.threads_label = QLabel("Past conversations")
        self.threads_label.setObjectName("muted")
        self.threads_list = QListWidget()
        self.threads_list.setMaximumHeight(110)
        self.threads_list.setToolTip("Click a conversation to reload it")
        self.threads_list.itemClicked.connect(self._on_thread_clicked)

        self.transcript = QTextBrowser()
        self.transcript.setOpenExternalLinks(False)
        self.transcript.setPlaceholderText("Ask a question, or pick one below.")

        self.chart_frame = QFrame()
        self.chart_frame.setFrameShape(QFrame.Shape.StyledPanel)
        self.chart_title = QLabel()
        self.chart_title.setObjectName("sectionTitle")
        self._chart_layout = QVBoxLayout(self.chart_frame)
        self._chart_layout.setContentsMargins(4, 2, 4, 2)
        self._chart_layout.addWidget(self.chart_title)
        self.chart_frame.hide()

        self.notice = QLabel()
        self.notice.setObjectName("chatNotice")
        self.notice.setWordWrap(True)
        self.notice.hide()

        self.chips: list[QPushButton] = []
        chips = QVBoxLayout()
        chips.setSpacing(2)
        for question in SUGGESTED_QUESTIONS:
            chip = QPushButton(question)
            chip.setObjectName("chatChip")
            chip.setFlat(True)
            chip.setCursor(Qt.CursorShape.PointingHandCursor)
            chip.setFocusPolicy(Qt.FocusPolicy.TabFocus)
            chip.setStyleSheet("text-align: left; padding: 2px 8px;")
            chip.setToolTip("Ask this question")
            chip.clicked.connect(lambda _=False, q=question: self.ask(q))
            chips.addWidget(chip)
            self.chips.append(chip)

        self.input = QLineEdit()
        self.input.setPlaceholderText("Ask about your practice…")
        self.input.setMaxLength(2000)
        self.send = QPushButton("Send")
        self.send.setToolTip("Send the question (Enter)")
        self.input.returnPressed.connect(self._submit)
        self.send.clicked.connect(self._submit)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addWidget(self.send)

        lay = QVBoxLayout(self)
        lay.addWidget(self.banner)
        lay.addLayout(top)
        lay.addWidget(self.threads_label)
        lay.addWidget(self.threads_list)
        lay.addWidget(self.transcript, 1)
        lay.addWidget(self.chart_frame)
        lay.addLayout(self._rating_row())
        lay.addWidget(self.notice)
        lay.addLayout(chips)
        lay.addLayout(row)

        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(_RENDER_MS)
        self._render_timer.timeout.connect(self._render)
        self._token.connect(self._on_token, Qt.ConnectionType.QueuedConnection)

        self.set_available(enabled or (service is not None and runner is not None))
        if self.available:
            if not self._online():
                self.show_notice(OFFLINE_NOTICE)
            self.refresh_threads()

    def _rating_row(self) -> QHBoxLayout:
        """Thumbs up/down on the answer just shown (stored with it, sent to Opik as feedback)."""
        self.rate_label = QLabel("Was this answer helpful?")
        self.rate_up = QPushButton("Yes")  # words, not emoji: many desktops lack an emoji font
        self.rate_down = QPushButton("No")
        row = QHBoxLayout()
        row.addWidget(self.rate_label)
        for button, positive in ((self.rate_up, True), (self.rate_down, False)):
            button.setToolTip("Tell the coach whether this answer helped (kept with the conversation)")
            button.clicked.connect(lambda _=False, p=positive: self.rate_answer(p))
            row.addWidget(button)
        row.addStretch(1)
        self._show_rating(False)
        return row

    def _show_rating(self, visible: bool) -> None:
        for widget in (self.rate_label, self.rate_up, self.rate_down):
            widget.setVisible(visible)
            widget.setEnabled(visible)

    def rate_answer(self, positive: bool) -> None:
        """Thumbs up/down on the last answer: stored with it (on the worker pool)."""
        answer = self.last_answer
        message_id = getattr(answer, "message_id", None)
        if answer is None or message_id is None:
            return
        self._show_rating(False)
        self.answer_rated.emit(answer, positive)
        if self.service is None or self.runner is None or not hasattr(self.service, "rate_answer"):
            return
        service, user = self.service, self.user

        def done(_: Any, error: BaseException | None) -> None:
            if error is not None:
                self.show_notice(f"Could not save your rating: {_one_line(error)}", kind="error")
            else:
                self.show_notice("Thanks: your rating is saved with this answer.", kind="info")

        self.runner.run(lambda: service.rate_answer(user, message_id, positive), done, owner=self)

    # ------------------------------------------------------------------ state

    def set_available(self, available: bool) -> None:
        self.available = available
        self.banner.setVisible(not available)
        for w in (self.input, self.transcript, self.new_button, self.graph_button, self.threads_list, *self.chips):
            w.setEnabled(available)
        self._update_busy()

    @property
    def user(self) -> str:
        value = self._user() if callable(self._user) else self._user
        return str(value or "")

    def _online(self) -> bool:
        try:
            return bool(getattr(self.service, "online", False))
        except Exception:
            return False

    def _update_busy(self) -> None:
        can_ask = self.available and not self.busy
        self.send.setEnabled(can_ask)
        for chip in self.chips:
            chip.setEnabled(can_ask)

    def _check_user(self) -> None:
        """A profile switch starts a new conversation and lists the new player's ones."""
        user = self.user
        if self._shown_user is not None and user != self._shown_user:
            self._shown_user = user
            self.new_conversation()
            self.refresh_threads()
        self._shown_user = user

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self.available:
            self._check_user()

    # ------------------------------------------------------------------ asking

    def _submit(self) -> None:
        text = self.input.text().strip()
        if not text or not self.available or self.busy:
            return
        self.input.clear()
        self.ask(text)

    def ask(self, question: str) -> None:
        """Send *question* to the coach on the worker pool; the answer streams into the view."""
        question = question.strip()
        if not question or not self.available or self.busy:
            return
        self._check_user()
        self.question_submitted.emit(question)
        if self.service is None or self.runner is None:
            self.turns.append(Turn("user", question))
            self._render()
            return
        self._request += 1
        request = self._request
        self.busy = True
        self._update_busy()
        self.hide_chart()
        self.turns.append(Turn("user", question))
        self.turns.append(Turn("assistant", "", pending=True))
        self._render()
        self.show_notice("The coach is thinking…", kind="info", signal=False)
        self._show_rating(False)

        service, user, thread_id, emit = self.service, self.user, self.thread_id, self._token.emit

        def on_token(piece: str) -> None:  # worker thread: only a queued signal
            emit((request, piece))

        self.runner.run(
            lambda: service.ask(user, question, thread_id, on_token),
            lambda answer, error: self._on_answer(request, answer, error),
            owner=self,
        )

    def _on_token(self, payload: tuple) -> None:
        request, piece = payload
        if request != self._request or not self.turns or not self.turns[-1].pending:
            return
        self.turns[-1].text += piece
        if not self._render_timer.isActive():
            self._render_timer.start()

    def _on_answer(self, request: int, answer: Any, error: BaseException | None) -> None:
        if request != self._request:
            return  # a new conversation was started meanwhile
        self.busy = False
        self._update_busy()
        pending = self.turns[-1] if self.turns and self.turns[-1].pending else None
        if error is not None:
            if pending is not None:
                self.turns.pop()
            self._render()
            self.show_notice(_error_text(error), kind="error")
            return
        self.last_answer = answer
        self.thread_id = answer.thread_id
        if pending is not None:
            pending.text, pending.model, pending.pending = answer.answer, answer.model, False
        else:
            self.turns.append(Turn("assistant", answer.answer, answer.model))
        self._render()
        note, kind = _answer_notice(answer, self._online())
        if note:
            self.show_notice(note, kind=kind)
        else:
            self.clear_notice()
        if chart_has_series(answer.chart):
            self.show_chart(answer.chart)
        self._show_rating(getattr(answer, "message_id", None) is not None)
        self.answer_shown.emit(answer)
        self.refresh_threads()

    # ------------------------------------------------------------------ compatibility helpers

    def show_answer(self, text: str) -> None:
        self.turns.append(Turn("assistant", text))
        self._render()

    def show_error(self, text: str) -> None:
        self.show_notice(text, kind="error")

    # ------------------------------------------------------------------ conversations

    def new_conversation(self) -> None:
        """Clear the view; the next question starts a new thread."""
        self._show_rating(False)
        self._request += 1  # a late answer of the old conversation is dropped
        self.busy = False
        self._update_busy()
        self.turns.clear()
        self.thread_id = None
        self.last_answer = None
        self.hide_chart()
        self.transcript.clear()
        if self.available and not self._online():
            self.show_notice(OFFLINE_NOTICE)
        else:
            self.clear_notice()
        self.threads_list.clearSelection()
        self.input.setFocus()

    def refresh_threads(self) -> None:
        if self.service is None or self.runner is None:
            return
        service, user = self.service, self.user
        self.runner.run(lambda: service.threads(user), lambda rows, err: self._on_threads(user, rows, err), owner=self)

    def _on_threads(self, user: str, rows: Any, error: BaseException | None) -> None:
        if user != self.user:
            return
        if error is not None:
            log.info("chat threads: %s", error)
            self.threads_label.setText("Past conversations (could not be loaded)")
            return
        self.threads_list.clear()
        for info in rows or ():
            when = _local(getattr(info, "last_at", None))
            title = getattr(info, "title", "") or info.thread_id
            item = QListWidgetItem(f"{when} · {title}" if when else title)
            item.setData(Qt.ItemDataRole.UserRole, info.thread_id)
            item.setToolTip(f"{getattr(info, 'messages', 0)} messages · {info.thread_id}")
            self.threads_list.addItem(item)
            if info.thread_id == self.thread_id:
                item.setSelected(True)
        count = self.threads_list.count()
        self.threads_label.setText(f"Past conversations ({count})" if count else "Past conversations: none yet")
        self.threads_loaded.emit(count)

    def _on_thread_clicked(self, item: QListWidgetItem) -> None:
        thread_id = item.data(Qt.ItemDataRole.UserRole)
        if thread_id:
            self.load_thread(str(thread_id))

    def load_thread(self, thread_id: str) -> None:
        """Reload a past conversation from the store (on the worker pool)."""
        if self.service is None or self.runner is None:
            return
        self._request += 1
        request = self._request
        self.busy = False
        self._update_busy()
        service, user = self.service, self.user
        self.runner.run(
            lambda: service.thread(user, thread_id),
            lambda rows, err: self._on_thread(request, thread_id, rows, err),
            owner=self,
        )

    def _on_thread(self, request: int, thread_id: str, rows: Any, error: BaseException | None) -> None:
        if request != self._request:
            return
        if error is not None:
            self.show_notice(f"Could not load the conversation: {_one_line(error)}", kind="error")
            return
        self.turns = [
            Turn(m.role, m.content or "", getattr(m, "model", None))
            for m in rows or ()
            if m.role in ("user", "assistant")
        ]
        self.thread_id = thread_id
        self.last_answer = None
        self.hide_chart()
        self._show_rating(False)
        # the chart the conversation last showed comes back with it
        chart = next(
            (m.chart for m in reversed(rows or ()) if m.role == "assistant" and getattr(m, "chart", None)), None
        )
        if chart_has_series(chart):
            self.show_chart(chart)
        self._render()
        if self._online():
            self.clear_notice()
        else:
            self.show_notice(OFFLINE_NOTICE)
        self.thread_loaded.emit(thread_id)

    # ------------------------------------------------------------------ rendering

    def markdown(self) -> str:
        """The conversation as Markdown (what the view renders)."""
        parts = []
        for turn in self.turns:
            if turn.role == "user":
                parts.append(f"**You:** {_md_escape(turn.text)}")
            else:
                head = "**Coach**" + (f" <small>({turn.model})</small>" if turn.model else "")
                body = turn.text if turn.text else ("_thinking…_" if turn.pending else "")
                parts.append(f"{head}\n\n{body}")
        return "\n\n---\n\n".join(parts)

    def _render(self) -> None:
        self._render_timer.stop()
        self.transcript.setMarkdown(self.markdown())
        bar = self.transcript.verticalScrollBar()
        bar.setValue(bar.maximum())

    # ------------------------------------------------------------------ notices

    def show_notice(self, text: str, kind: str = "warn", *, signal: bool = True) -> None:
        c = theme.colors()
        color = {"error": c.bad, "info": c.muted}.get(kind, c.warn)
        self.notice.setStyleSheet(f"QLabel#chatNotice {{ color: {color.name()}; }}")
        self.notice.setProperty("kind", kind)
        self.notice.setText(text)
        self.notice.show()
        if signal:
            self.notice_shown.emit(text)

    def clear_notice(self) -> None:
        self.notice.clear()
        self.notice.hide()

    # ------------------------------------------------------------------ chart

    def show_chart(self, chart: dict) -> None:
        """A small plot of the answer's series (metric over time)."""
        import pyqtgraph as pg

        if self._chart_plot is None:
            axis = pg.DateAxisItem(orientation="bottom")
            plot = pg.PlotWidget(background=None, axisItems={"bottom": axis})
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(False, False)
            plot.showGrid(x=False, y=True, alpha=0.2)
            plot.setMinimumHeight(120)
            plot.setMaximumHeight(160)
            plot.addLegend(offset=(6, 6))
            self._chart_layout.addWidget(plot)
            self._chart_plot = plot
        plot = self._chart_plot
        plot.clear()
        c = theme.colors()
        palette = {
            "pitch_accuracy": c.accent,
            "scale_conformity": c.good,
            "timing_stability": c.warn,
            "noise_control": c.bad,
        }
        self.chart_curves: dict[str, Any] = {}
        for name, points in _series(chart).items():
            xs, ys = [], []
            for when, value in points:
                try:
                    xs.append(datetime.fromisoformat(str(when)).timestamp())
                    ys.append(float(value))
                except (TypeError, ValueError):
                    continue
            if not xs:
                continue
            color = palette.get(name, c.accent)
            self.chart_curves[name] = plot.plot(
                xs, ys, name=METRIC_LABELS.get(name, name), pen=pg.mkPen(color, width=2),
                symbol="o", symbolSize=5, symbolBrush=color,
            )  # fmt: skip
        self.chart_title.setText(str(chart.get("title") or "Trend"))
        self.chart_frame.setVisible(bool(self.chart_curves))

    def hide_chart(self) -> None:
        self.chart_frame.hide()

    # ------------------------------------------------------------------ how the coach thinks

    def show_graph(self) -> None:
        """Open the diagram dialog at once; the layout is computed on the worker pool."""
        from .agent_graph_view import AgentGraphDialog

        self.graph_dialog = dialog = AgentGraphDialog(self.window())
        dialog.open()
        if self.service is None or self.runner is None:
            dialog.show_error("the chat coach is not available")
            return
        service, user = self.service, self.user

        def done(result: Any, error: BaseException | None) -> None:
            if error is not None:
                dialog.show_error(_one_line(error))
            else:
                dialog.set_graph(*result)

        self.runner.run(lambda: service.graph(user), done, owner=dialog)


# --------------------------------------------------------------------------- helpers


def _series(chart: Any) -> dict[str, list]:
    if not isinstance(chart, dict):
        return {}
    series = chart.get("series")
    if isinstance(series, dict):
        return {str(k): list(v or ()) for k, v in series.items()}
    return {}


def chart_has_series(chart: Any) -> bool:
    return any(len(points) > 0 for points in _series(chart).values())


def _one_line(error: Any, limit: int = 240) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_text(error: BaseException) -> str:
    if isinstance(error, (ValueError, ServiceError)):
        return _one_line(error)
    text = _one_line(error)
    status = getattr(error, "status_code", None)
    if status == 429 or "rate limit" in text.lower():
        return f"The coach is rate limited right now; try again in a minute. ({text})"
    return f"The coach could not answer: {text}"


def _answer_notice(answer: Any, online: bool) -> tuple[str | None, str]:
    error = getattr(answer, "error", None)
    model = getattr(answer, "model", "")
    if error:
        if "rate limited" in error:
            return f"The online coach is rate limited ({error}); this answer comes from your data offline.", "warn"
        if model == "offline":
            return f"The online coach is unavailable ({error}); this answer comes from your data offline.", "warn"
        return f"The coach had a problem: {error}", "warn"
    if getattr(answer, "fell_back", False) and model != "offline":
        return f"Answered by the fallback model {model} (the main model was busy or down).", "info"
    if model == "offline" and not online:
        return OFFLINE_NOTICE, "warn"
    return None, "info"


def _local(when: Any) -> str:
    if not isinstance(when, datetime):
        return ""
    if when.tzinfo is None:  # the store keeps UTC
        when = when.replace(tzinfo=UTC)
    try:
        return when.astimezone().strftime("%b %d %H:%M")
    except (ValueError, OSError):
        return when.strftime("%b %d %H:%M")


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~])")


def _md_escape(text: str) -> str:
    """The player's own text shown literally (no markdown from a question)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))
