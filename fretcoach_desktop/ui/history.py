"""The History tab: the four metrics over sessions (pyqtgraph) and the session list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from . import theme
from .services import METRIC_LABELS, SessionRecord
from .verdicts import format_metric

__all__ = ["HistoryView", "SessionTableModel"]

_Index = QModelIndex | QPersistentModelIndex


def _scale_label(scale: str) -> str:
    return scale.replace("_", " ")


class SessionTableModel(QAbstractTableModel):
    """Sessions, newest first: date, exercise, the four metrics, notes, length."""

    COLUMNS: tuple[str, ...] = ("Date", "Key", "Scale", "BPM", *METRIC_LABELS.values(), "Notes", "Length")
    _METRIC_COLS = {4 + i: name for i, name in enumerate(METRIC_LABELS)}

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[SessionRecord] = []

    def set_sessions(self, sessions: Sequence[SessionRecord]) -> None:
        self.beginResetModel()
        self._rows = list(sessions)
        self.endResetModel()

    def session(self, row: int) -> SessionRecord:
        return self._rows[row]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt API
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        rec = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return rec.started_at.strftime("%Y-%m-%d %H:%M")
            if col == 1:
                return rec.key
            if col == 2:
                return _scale_label(rec.scale)
            if col == 3:
                return f"{rec.bpm:g}"
            if col in self._METRIC_COLS:
                return format_metric(getattr(rec, self._METRIC_COLS[col]))
            if col == 8:
                return str(rec.notes_played)
            if col == 9:
                minutes, seconds = divmod(int(round(rec.duration_s)), 60)
                return f"{minutes}:{seconds:02d}"
        if role == Qt.ItemDataRole.UserRole:  # sortable raw values
            if col in self._METRIC_COLS:
                return getattr(rec, self._METRIC_COLS[col])
            return rec.started_at
        if role == Qt.ItemDataRole.TextAlignmentRole and col >= 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and rec.worst_notes:
            return "Worst notes: " + ", ".join(rec.worst_notes)
        return None


class HistoryView(QWidget):
    """Charts on top, session list below; an empty state when there are no sessions."""

    refresh_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = SessionTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setToolTip("Your finished sessions, newest first. Hover a row to see its worst notes.")
        self.detail = QLabel("Select a session to see its worst notes.")
        self.detail.setObjectName("muted")
        self.detail.setWordWrap(True)
        self.table.selectionModel().currentRowChanged.connect(self._show_detail)

        self.empty = QLabel(
            "<h2>No sessions yet</h2><p>Press <b>Space</b> (or Start) on the Practice tab to play your first "
            "session.<br>Each finished session appears here with its four metrics.</p>"
        )
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setTextFormat(Qt.TextFormat.RichText)
        self.loading = QLabel("Loading sessions…")
        self.loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.error = QLabel()
        self.error.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.error.setWordWrap(True)

        self.charts_host = QWidget()
        self._charts_layout = QVBoxLayout(self.charts_host)
        self._charts_layout.setContentsMargins(0, 0, 0, 0)
        self._plot = None
        self._curves: dict[str, Any] = {}

        content = QSplitter(Qt.Orientation.Vertical)
        content.addWidget(self.charts_host)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self.table, 1)
        bl.addWidget(self.detail)
        content.addWidget(bottom)
        content.setSizes([320, 280])

        self.stack = QStackedWidget()
        for w in (self.loading, self.empty, self.error, content):
            self.stack.addWidget(w)
        self.content = content
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addWidget(self.stack)

    @property
    def is_empty(self) -> bool:
        return self.stack.currentWidget() is self.empty

    def show_loading(self) -> None:
        if self.model.rowCount() == 0:
            self.stack.setCurrentWidget(self.loading)

    def show_error(self, message: str) -> None:
        self.error.setText(f"Could not load your sessions: {message}")
        self.stack.setCurrentWidget(self.error)

    def set_sessions(self, sessions: Sequence[SessionRecord]) -> None:
        self.model.set_sessions(sessions)
        if not sessions:
            self.stack.setCurrentWidget(self.empty)
            return
        self.stack.setCurrentWidget(self.content)
        self._ensure_plot()
        ordered = sorted(sessions, key=lambda r: r.started_at)  # oldest first along x
        xs = list(range(1, len(ordered) + 1))
        for name, curve in self._curves.items():
            pts = [(x, getattr(r, name)) for x, r in zip(xs, ordered) if getattr(r, name) is not None]
            curve.setData([p[0] for p in pts], [p[1] for p in pts])
        self._plot.setXRange(0.5, max(xs) + 0.5, padding=0)

    def _show_detail(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        rec = self.model.session(current.row())
        worst = ", ".join(rec.worst_notes) if rec.worst_notes else "none: every note was clean"
        self.detail.setText(
            f"{rec.started_at:%Y-%m-%d %H:%M} · {rec.key} {_scale_label(rec.scale)} at {rec.bpm:g} bpm · "
            f"{rec.notes_played} notes · worst notes: {worst}"
        )

    def _ensure_plot(self) -> None:
        if self._plot is not None:
            return
        import pyqtgraph as pg

        c = theme.colors()
        plot = pg.PlotWidget(background=None)
        plot.setMenuEnabled(False)
        plot.showGrid(x=False, y=True, alpha=0.2)
        plot.setYRange(0, 100, padding=0.02)
        plot.setLabel("bottom", "session")
        plot.setLabel("left", "score")
        plot.addLegend(offset=(10, 10))
        palette = {
            "pitch_accuracy": c.accent,
            "scale_conformity": c.good,
            "timing_stability": c.warn,
            "noise_control": c.bad,
        }
        for name, label in METRIC_LABELS.items():
            self._curves[name] = plot.plot(
                [], [], name=label, pen=pg.mkPen(palette[name], width=2), symbol="o", symbolSize=6,
                symbolBrush=palette[name],
            )  # fmt: skip
        plot.setToolTip("The four metrics of each session, oldest on the left.")
        self._plot = plot
        self._charts_layout.addWidget(plot)
