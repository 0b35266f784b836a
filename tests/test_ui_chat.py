"""The chat panel, headless: offline answers from seeded data, conversations, streaming, the graph."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QTextCursor, QTextTable

from fretcoach_desktop.coach.chat import ChatAnswer
from fretcoach_desktop.config import load_config
from fretcoach_desktop.services import ChatService, StoreService
from fretcoach_desktop.store.writer import StoreWriter
from fretcoach_desktop.ui.chat_panel import OFFLINE_NOTICE, SUGGESTED_QUESTIONS, ChatPanel
from fretcoach_desktop.ui.workers import TaskRunner
from tests.test_chat_offline import BO_METRICS, seed_store

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture()
def chat_service(tmp_path):
    path = tmp_path / "fc.db"
    store, ana, bo = seed_store(f"sqlite:///{path}", now=datetime.now(UTC))
    config = load_config({"db_url": f"sqlite:///{path}", "data_dir": str(tmp_path)}, env={})
    service = ChatService(config, StoreService(store, StoreWriter()))
    yield service
    service.close()
    service.store.close()


@pytest.fixture()
def runner(qtbot):
    runner = TaskRunner()
    yield runner
    runner.shutdown(5000)


def _panel(qtbot, service, runner, user="ana") -> ChatPanel:
    panel = ChatPanel(service=service, runner=runner, user=lambda: user)
    qtbot.addWidget(panel)
    panel.resize(420, 760)
    panel.show()
    return panel


def _tables(panel: ChatPanel) -> list[QTextTable]:
    doc = panel.transcript.document()
    found = []
    block = doc.begin()
    while block.isValid():
        cursor = QTextCursor(doc)
        cursor.setPosition(block.position())
        table = cursor.currentTable()
        if table is not None and table not in found:
            found.append(table)
        block = block.next()
    return found


def test_a_suggested_question_is_answered_offline_from_the_players_data(qtbot, chat_service, runner):
    panel = _panel(qtbot, chat_service, runner)
    assert panel.available and panel.notice.text() == OFFLINE_NOTICE  # no key: said up front
    chip = next(c for c in panel.chips if c.text() == "Show me my progress trends")
    with qtbot.waitSignal(panel.answer_shown, timeout=30000) as answer:
        chip.click()
    result = answer.args[0]
    assert result.model == "offline" and result.thread_id.startswith("hub-aicoach-chat-")
    text = panel.transcript.toPlainText()
    assert "Show me my progress trends" in text
    # ana's timing went 60 -> 80 over her 6 sessions; shown as a real table
    tables = _tables(panel)
    assert tables, panel.transcript.toHtml()[:2000]
    assert tables[0].columns() >= 5 and tables[0].rows() >= 5
    assert "timing" in text.lower() and "60.0" in text and "80.0" in text and "+20.0" in text
    for value in BO_METRICS:  # never the other player's numbers
        assert f"{value:.1f}" not in text
    # a trend comes with a small chart of the four metrics
    assert panel.chart_frame.isVisible()
    xs, ys = panel.chart_curves["timing_stability"].getData()
    assert list(ys) == [60.0, 64.0, 68.0, 72.0, 76.0, 80.0]
    assert xs[0] < xs[-1]
    # still offline: the notice says so
    assert panel.notice.isVisible() and "No OpenAI key" in panel.notice.text()
    assert panel.send.isEnabled() and not panel.busy


def test_new_conversation_clears_and_past_conversations_reload(qtbot, chat_service, runner):
    panel = _panel(qtbot, chat_service, runner)
    qtbot.waitUntil(lambda: "none yet" in panel.threads_label.text(), timeout=10000)
    panel.input.setText("What should I practice next?")
    with qtbot.waitSignal(panel.answer_shown, timeout=30000):
        qtbot.keyClick(panel.input, "\r")  # Enter sends
    first = panel.thread_id
    assert first and "timing" in panel.transcript.toPlainText().lower()
    qtbot.waitUntil(lambda: panel.threads_list.count() == 1, timeout=10000)

    panel.new_button.click()
    assert panel.transcript.toPlainText().strip() == "" and panel.turns == []
    assert panel.thread_id is None and not panel.chart_frame.isVisible()
    with qtbot.waitSignal(panel.answer_shown, timeout=30000):
        panel.ask("Show me my progress trends")
    assert panel.thread_id != first
    qtbot.waitUntil(lambda: panel.threads_list.count() == 2, timeout=10000)
    assert "Show me my progress trends" in panel.threads_list.item(0).text()  # newest first

    # a fresh panel (e.g. the next start) lists both and reloads the first from the store
    other = _panel(qtbot, chat_service, runner)
    qtbot.waitUntil(lambda: other.threads_list.count() == 2, timeout=10000)
    item = next(
        other.threads_list.item(i)
        for i in range(2)
        if other.threads_list.item(i).text().endswith("What should I practice next?")
    )
    with qtbot.waitSignal(other.thread_loaded, timeout=10000):
        other.threads_list.itemClicked.emit(item)
    assert other.thread_id == first
    assert [t.role for t in other.turns] == ["user", "assistant"]
    assert "What should I practice next?" in other.transcript.toPlainText()
    assert "timing" in other.transcript.toPlainText().lower()
    # the reloaded conversation goes on in the same thread
    with qtbot.waitSignal(other.answer_shown, timeout=30000) as answer:
        other.ask("Show me my progress trends")
    assert answer.args[0].thread_id == first
    assert len(chat_service.thread("ana", first)) == 4


class _RecordingTracer:
    """Stands in for Opik: records the feedback scores the window sends."""

    enabled = False

    def __init__(self) -> None:
        self.scores: list[tuple] = []

    def feedback(self, trace_id, name, value, reason=None):
        self.scores.append((trace_id, name, value))

    def __getattr__(self, name):  # every other tracer call: a no-op
        return lambda *a, **k: None


def test_an_answer_is_rated_and_a_reloaded_conversation_shows_its_chart(qtbot, chat_service, runner):
    tracer = _RecordingTracer()
    chat_service.tracer = tracer
    panel = _panel(qtbot, chat_service, runner)
    assert not panel.rate_up.isVisible()  # nothing to rate yet
    with qtbot.waitSignal(panel.answer_shown, timeout=30000) as shown:
        panel.ask("Show me my progress trends")
    answer = shown.args[0]
    assert answer.message_id is not None and panel.rate_up.isVisible() and panel.rate_down.isVisible()
    # the answer's trace id is what Opik's feedback score must land on (offline here: give it one)
    uid = chat_service.store.user_id("ana")
    with chat_service.store.store.engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("UPDATE chat_messages SET trace_id = 'trace-1' WHERE id = :i"), {"i": answer.message_id})
    with qtbot.waitSignal(panel.notice_shown, timeout=10000, check_params_cb=lambda t: "rating" in t):
        panel.rate_down.click()
    assert not panel.rate_up.isVisible()  # one rating per answer
    (stored,) = [m for m in chat_service.thread("ana", answer.thread_id) if m.role == "assistant"]
    assert stored.feedback == -1 and stored.chart and stored.chart == answer.chart
    assert tracer.scores == [("trace-1", "thumbs_up", 0.0)]
    with pytest.raises(Exception, match="no chat answer"):  # only the player's own answers
        chat_service.store.store.set_chat_feedback(uid + 1, answer.message_id, 1)

    other = _panel(qtbot, chat_service, runner)  # next start: the conversation comes back with its chart
    with qtbot.waitSignal(other.thread_loaded, timeout=10000):
        other.load_thread(answer.thread_id)
    assert other.chart_frame.isVisible()
    xs, ys = other.chart_curves["timing_stability"].getData()
    assert list(ys) == [60.0, 64.0, 68.0, 72.0, 76.0, 80.0]


@dataclass
class _Info:
    thread_id: str
    last_at: datetime
    messages: int
    title: str


class SlowChat:
    """A ChatService that streams a few tokens, then answers after ~2 s."""

    online = True

    def __init__(self, delay: float = 2.0, error: BaseException | None = None, answer_error: str | None = None):
        self.delay, self.error, self.answer_error = delay, error, answer_error
        self.threads_seen: list[threading.Thread] = []

    def ask(self, user, question, thread_id, on_token):
        self.threads_seen.append(threading.current_thread())
        if self.error is not None:
            time.sleep(0.2)
            raise self.error
        parts = ["Your **timing** ", "rose ", "steadily.\n\n", "| metric | change |\n|---|---|\n| Timing | +20 |\n"]
        for part in parts:
            time.sleep(self.delay / len(parts))
            on_token(part)
        return ChatAnswer(
            answer="".join(parts),
            thread_id=thread_id or "hub-aicoach-chat-1",
            model="gpt-test",
            fell_back=False,
            error=self.answer_error,
        )

    def threads(self, user):
        return []

    def thread(self, user, thread_id):
        return []

    def graph(self, user):
        raise RuntimeError("no graph here")

    def close(self):
        pass


def test_a_slow_answer_streams_and_never_blocks_the_gui(qtbot, runner):
    service = SlowChat(delay=2.0)
    panel = _panel(qtbot, service, runner)
    assert not panel.notice.isVisible()  # online: no offline notice
    ticks = []
    timer = QTimer()
    timer.setInterval(20)
    shown: list[str] = []
    timer.timeout.connect(lambda: (ticks.append(time.monotonic()), shown.append(panel.transcript.toPlainText())))
    timer.start()
    streamed: list[tuple[str, bool]] = []
    panel._token.connect(lambda payload: streamed.append((panel.turns[-1].text, panel.turns[-1].pending)))
    start = time.monotonic()
    panel.ask("How did my timing improve this week?")
    asked = time.monotonic() - start
    assert asked < 0.3  # returned at once; the answer comes later
    assert panel.busy and not panel.send.isEnabled() and not panel.chips[0].isEnabled()
    with qtbot.waitSignal(panel.answer_shown, timeout=10000):
        pass
    timer.stop()
    elapsed = time.monotonic() - start
    assert elapsed >= 1.9
    # the event loop ran all along: ~50 ticks/s, never a gap near the 2 s wait
    assert len(ticks) >= 0.5 * elapsed / 0.02
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert max(gaps) < 0.5
    assert service.threads_seen and service.threads_seen[0] is not threading.main_thread()
    # tokens showed up before the answer was complete
    assert [text for text, _ in streamed][:2] == ["Your **timing** ", "Your **timing** rose "]
    assert all(pending for _, pending in streamed)
    assert any("Your timing rose" in text and "steadily" not in text for text in shown)  # rendered partially
    assert _tables(panel)  # the final markdown table is rendered as a table
    assert not panel.busy and panel.send.isEnabled()


def test_a_late_answer_of_a_cleared_conversation_is_dropped(qtbot, runner):
    service = SlowChat(delay=0.6)
    panel = _panel(qtbot, service, runner)
    panel.ask("What should I practice next?")
    panel.new_conversation()
    assert not panel.busy
    qtbot.wait(1200)
    assert panel.turns == [] and panel.transcript.toPlainText().strip() == ""


@pytest.mark.parametrize(
    ("error", "answer_error", "expected"),
    [
        (RuntimeError("connection refused"), None, "The coach could not answer: connection refused"),
        (ValueError("the question is too long"), None, "the question is too long"),
        (None, "rate limited on every model (gpt-4o-mini)", "rate limited"),
    ],
)
def test_errors_are_explained_in_the_panel(qtbot, runner, error, answer_error, expected):
    panel = _panel(qtbot, SlowChat(delay=0.1, error=error, answer_error=answer_error), runner)
    with qtbot.waitSignal(panel.notice_shown, timeout=10000, check_params_cb=lambda t: expected in t):
        panel.ask("Show me my progress trends")
    assert panel.notice.isVisible() and expected in panel.notice.text()
    assert not panel.busy and panel.send.isEnabled()
    if error is not None:  # no half answer left behind
        assert [t.role for t in panel.turns] == ["user"]


def test_without_a_service_the_panel_says_it_is_unavailable(qtbot):
    panel = ChatPanel()
    qtbot.addWidget(panel)
    panel.show()
    assert not panel.available and panel.banner.isVisible()
    assert not panel.send.isEnabled() and not panel.chips[0].isEnabled()
    assert [c.text() for c in panel.chips] == list(SUGGESTED_QUESTIONS)


def test_how_the_coach_thinks_draws_the_agent_graph(qtbot, chat_service, runner):
    panel = _panel(qtbot, chat_service, runner)
    panel.graph_button.click()
    dialog = panel.graph_dialog
    assert dialog is not None and dialog.isVisible()  # shown at once, drawn when ready
    qtbot.waitUntil(lambda: "model" in dialog.view.boxes, timeout=60000)
    boxes = dialog.view.boxes
    assert {"__start__", "model", "tools", "__end__"} <= set(boxes)
    assert len(dialog.view.edges) >= 3
    labels = [child.text() for box in boxes.values() for child in box.childItems() if hasattr(child, "text")]
    assert "Coach model" in labels and "Tools" in labels
    assert "execute_sql_query" in boxes["tools"].toolTip()
    # laid out top-down: the question above the model above the answer
    y = {k: boxes[k].rect().top() for k in ("__start__", "model", "__end__")}
    assert y["__start__"] < y["model"] < y["__end__"]
    dialog.close()


def test_the_graph_dialog_explains_a_failure(qtbot, runner):
    panel = _panel(qtbot, SlowChat(), runner)
    panel.graph_button.click()
    qtbot.waitUntil(lambda: "no graph here" in panel.graph_dialog.status.text(), timeout=5000)
    assert panel.graph_dialog.view.boxes == {}


TIMING_SQL = "SELECT timing_stability FROM sessions ORDER BY started_at"


def _online_service(tmp_path, api):
    path = tmp_path / "fc.db"
    store, ana, bo = seed_store(f"sqlite:///{path}", now=datetime.now(UTC))
    values = {
        "openai_api_key": "sk-test",
        "openai_base_url": api.base_url,
        "model": "gpt-4o-mini",
        "fallback_models": ["gpt-4.1-mini"],
        "db_url": f"sqlite:///{path}",
        "data_dir": str(tmp_path),
    }
    return ChatService(load_config(values, env={}), StoreService(store, StoreWriter()))


def test_online_answers_stream_from_the_model_with_the_real_tools(qtbot, tmp_path, runner):
    from tests.fakes.openai_server import Error, FakeOpenAI, Reply

    with FakeOpenAI() as api:
        service = _online_service(tmp_path, api)
        try:
            api.script(
                "gpt-4o-mini",
                Reply(tool_calls=[{"name": "execute_sql_query", "arguments": {"query": TIMING_SQL}}]),
                Reply("Your timing went **up**:\n\n| first | last |\n|---|---|\n| 60 | 80 |\n"),
            )  # fmt: skip
            panel = _panel(qtbot, service, runner)
            assert not panel.notice.isVisible()  # a key: no offline notice
            tokens: list[str] = []
            panel._token.connect(lambda payload: tokens.append(payload[1]))
            with qtbot.waitSignal(panel.answer_shown, timeout=60000) as answer:
                panel.ask("How did my timing improve this week?")
            result = answer.args[0]
            assert result.model == "gpt-4o-mini" and result.error is None
            assert [(c["name"], c["ok"]) for c in result.tool_calls] == [("execute_sql_query", True)]
            assert "".join(tokens).strip() == result.answer  # streamed token by token
            assert _tables(panel) and "Your timing went up" in panel.transcript.toPlainText()
            assert not panel.notice.isVisible()

            # every model rate limited: the offline matcher answers and the panel says why
            api.default("gpt-4o-mini", Error(429))
            api.default("gpt-4.1-mini", Error(429))
            with qtbot.waitSignal(panel.answer_shown, timeout=60000) as answer:
                panel.ask("Show me my progress trends")
            assert answer.args[0].model == "offline"
            assert panel.notice.isVisible() and "rate limited" in panel.notice.text()
            assert panel.chart_frame.isVisible()  # the offline trend still comes with its chart
        finally:
            runner.shutdown(10000)
            service.close()
            service.store.close()
