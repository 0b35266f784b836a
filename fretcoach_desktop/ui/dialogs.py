"""The session summary (shown at stop) and the AI Mode plan dialog."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from fretcoach_desktop.audio.metronome import SUBDIVISIONS

from .services import METRIC_LABELS, ExerciseSettings, PracticePlanLike, SessionSummary
from .verdicts import format_metric, metric_label

__all__ = ["PlanDialog", "SessionSummaryDialog", "exercise_from_plan"]

_SUB_NAMES = {1: "1/4", 2: "1/8", 3: "1/8 triplets", 4: "1/16"}


class SessionSummaryDialog(QDialog):
    def __init__(self, summary: SessionSummary, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Session summary")
        self.summary = summary
        ex = summary.exercise
        minutes, seconds = divmod(int(round(summary.duration_s)), 60)
        head = QLabel(
            f"<h3>{ex.key} {ex.scale.replace('_', ' ')} · {ex.bpm:g} bpm · {minutes}:{seconds:02d}</h3>"
            f"{summary.notes_played} notes played"
            + (
                f" · <span style='color:#d93636'>{summary.overflows} input overflows</span>"
                if summary.overflows
                else ""
            )
        )
        head.setTextFormat(Qt.TextFormat.RichText)
        grid = QGridLayout()
        self.metric_labels: dict[str, QLabel] = {}
        for i, (name, label) in enumerate(METRIC_LABELS.items()):
            title = QLabel(label)
            value = QLabel(format_metric(getattr(summary.metrics, name)))
            font = value.font()
            font.setPointSizeF(font.pointSizeF() * 2)
            font.setBold(True)
            value.setFont(font)
            value.setAlignment(Qt.AlignmentFlag.AlignCenter)
            title.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(title, 0, i)
            grid.addWidget(value, 1, i)
            self.metric_labels[name] = value
        if summary.weakest:
            weakest = f"Weakest area: <b>{metric_label(summary.weakest)}</b>"
        else:
            weakest = "No notes were heard in this session."
        self.weakest_label = QLabel(weakest)
        lines = [f"<li><b>{w.note}</b> at {w.onset_s:.1f} s: {w.why}</li>" for w in summary.worst_notes]
        self.worst_label = QLabel(
            "<b>Worst notes</b><ul>" + "".join(lines) + "</ul>" if lines else "No problem notes: well played."
        )
        self.worst_label.setTextFormat(Qt.TextFormat.RichText)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        lay = QVBoxLayout(self)
        lay.addWidget(head)
        lay.addLayout(grid)
        lay.addWidget(self.weakest_label)
        lay.addWidget(self.worst_label)
        lay.addWidget(buttons)


def exercise_from_plan(item, count_in_beats: int = 4) -> ExerciseSettings:
    """Exercise-bar settings for one plan exercise (duck-typed, see PlanExerciseLike)."""
    sub = int(getattr(item, "subdivision", 1) or 1)
    return ExerciseSettings(
        key=str(item.key),
        scale=str(item.scale),
        bpm=float(item.bpm),
        subdivision=sub if sub in SUBDIVISIONS else 1,
        count_in_beats=count_in_beats,
    )


class PlanDialog(QDialog):
    """Shows an AI Mode plan; each exercise has a "Start this exercise" button."""

    #: ExerciseSettings of the chosen exercise
    exercise_chosen = Signal(object)

    def __init__(self, plan: PracticePlanLike, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("AI Mode: your practice plan")
        self.plan = plan
        self.resize(560, 480)
        focus = QLabel(f"<h3>Focus: {metric_label(plan.focus_metric)}</h3>")
        focus.setTextFormat(Qt.TextFormat.RichText)
        why = QLabel(plan.why)
        why.setWordWrap(True)
        body = QWidget()
        body_lay = QVBoxLayout(body)
        self.start_buttons: list[QPushButton] = []
        for i, item in enumerate(plan.exercises, 1):
            box = QFrame()
            box.setFrameShape(QFrame.Shape.StyledPanel)
            bl = QVBoxLayout(box)
            sub = _SUB_NAMES.get(int(getattr(item, "subdivision", 1) or 1), "")
            minutes = getattr(item, "minutes", None)
            title = QLabel(
                f"<b>{i}. {item.name}</b> — {item.key} {str(item.scale).replace('_', ' ')}, "
                f"{float(item.bpm):g} bpm {sub}" + (f", {float(minutes):g} min" if minutes else "")
            )
            title.setTextFormat(Qt.TextFormat.RichText)
            title.setWordWrap(True)
            desc = QLabel(getattr(item, "description", ""))
            desc.setWordWrap(True)
            button = QPushButton("Start this exercise")
            button.setToolTip("Set key, scale, tempo and subdivision in the exercise bar and start")
            button.clicked.connect(lambda _checked=False, it=item: self._choose(it))
            self.start_buttons.append(button)
            bl.addWidget(title)
            bl.addWidget(desc)
            bl.addWidget(button, 0, Qt.AlignmentFlag.AlignRight)
            body_lay.addWidget(box)
        body_lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(focus)
        lay.addWidget(why)
        lay.addWidget(scroll, 1)
        lay.addWidget(buttons)

    def _choose(self, item) -> None:
        self.exercise_chosen.emit(exercise_from_plan(item))
        self.accept()
