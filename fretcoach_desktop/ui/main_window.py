"""The practice window: practice first, everything else one click away (DESIGN.md, "The window").

A ~30 Hz QTimer reads the latest immutable snapshot from the running source and paints it;
it never blocks (no I/O, no locks). Database and AI calls run on a :class:`TaskRunner` pool
and come back as ``(result, error)`` on the GUI thread.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, QSignalBlocker, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QPushButton,
    QSlider,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fretcoach_desktop.audio.metronome import SUBDIVISIONS
from fretcoach_desktop.audio.theory import KEYS, SCALES

from . import theme
from .chat_panel import ChatPanel
from .coach_bar import CoachBar
from .fretboard import FretboardWidget
from .history import HistoryView
from .icon import app_icon
from .last_notes import LastNotesStrip
from .level_meter import LevelMeter
from .metrics_panel import MetricsPanel
from .prefs import UiPrefs
from .services import CoachTip, ExerciseSettings, InputDevice, ServiceError, Services, SnapshotSource, SourceRequest
from .settings_dialog import SettingsDialog
from .tuner import TunerWidget
from .verdicts import build_summary
from .workers import TaskRunner

if TYPE_CHECKING:  # imported when first shown (after the first paint): not needed to draw the window
    from .dialogs import PlanDialog, SessionSummaryDialog

__all__ = ["MainWindow"]

log = logging.getLogger(__name__)

FPS = 30
_SUB_LABELS = {1: "1/4", 2: "1/8", 3: "1/8T", 4: "1/16"}
_COUNT_IN = (("No count-in", 0), ("1 bar", 4), ("2 bars", 8))
_OPEN_FILE = "__open_file__"
_NEW_PROFILE = "__new_profile__"


@dataclass
class _Session:
    exercise: ExerciseSettings
    device: InputDevice
    started: float  # time.monotonic()
    id: Any = None
    stopped: bool = False
    summary: Any = None  # SessionSummary once stopped, waiting for the id to be stored


class MainWindow(QMainWindow):
    session_started = Signal(object)  # ExerciseSettings
    session_stopped = Signal(object)  # SessionSummary
    #: coach tips from any thread are re-posted here (queued to the GUI thread)
    tip_received = Signal(object)
    #: (CoachTip, positive): a thumbs up/down on a coach tip
    coach_feedback = Signal(object, bool)
    history_loaded = Signal(int)  # number of sessions shown
    #: the window's first paint is done (what start-up is measured to)
    first_painted = Signal()
    #: the input list is filled (at once, or after the first paint with ``deferred_start``)
    inputs_listed = Signal()
    #: ``deferred_start`` only: inputs, profiles and the session's libraries are loaded
    settled = Signal()
    #: the current device's stored latency was looked up (``latency_ms``; None: not calibrated)
    latency_known = Signal()

    def __init__(
        self,
        services: Services,
        parent: QWidget | None = None,
        prefs: UiPrefs | None = None,
        *,
        deferred_start: bool = False,
    ) -> None:
        """``deferred_start`` (the app): list the audio inputs (PortAudio), load the profiles
        (opens the database) and import what a session needs on the worker pool after the
        first paint, one after the other, then emit :attr:`settled`. Without it (tests) the
        inputs are listed at once and the profiles requested at once."""
        super().__init__(parent)
        self.services = services
        self._deferred_start = deferred_start
        self.inputs_ready = not deferred_start
        self._first_paint: _FirstPaintWatch | None = None
        self.prefs = prefs if prefs is not None else UiPrefs.load(services.config.data_dir)
        self.user = services.config.user
        self.runner = TaskRunner(self)
        self.source: SnapshotSource | None = None
        self.session: _Session | None = None
        self.summary_dialog: SessionSummaryDialog | None = None
        self.plan_dialog: PlanDialog | None = None
        self.settings_dialog: SettingsDialog | None = None
        self.calibration_dialog: Any = None
        self.latency_ms: float | None = None  # the current device's calibrated latency (ms)
        self.frames_painted = 0  # snapshots painted (tests, diagnostics)
        self.ticks = 0
        self._last_snap: Any = None
        self._notes_seen = 0
        self._history_loaded = False
        self._planning = False

        self.setWindowTitle("FretCoach")
        self.setWindowIcon(app_icon())
        self.resize(1280, 800)
        self.setMinimumSize(QSize(1024, 680))

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        practice = QWidget()
        self.history = HistoryView()
        self.tabs.addTab(practice, "Practice")
        self.tabs.addTab(self.history, "History")
        self.tabs.setTabToolTip(0, "Play and get live feedback")
        self.tabs.setTabToolTip(1, "Your sessions over time (Ctrl+H)")
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.setCentralWidget(self.tabs)

        lay = QVBoxLayout(practice)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.setSpacing(8)
        lay.addWidget(self._build_top_bar())
        lay.addWidget(self._build_exercise_bar())
        lay.addWidget(self._hline())

        self.fretboard = FretboardWidget()
        self.tuner = TunerWidget()
        self.tuner_frame = QFrame()
        self.tuner_frame.setFrameShape(QFrame.Shape.StyledPanel)
        tl = QHBoxLayout(self.tuner_frame)
        tl.setContentsMargins(6, 2, 6, 2)
        tl.addWidget(self.tuner)
        self.tuner_frame.hide()
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        self.last_notes = LastNotesStrip()
        ll.addWidget(self.tuner_frame)
        ll.addWidget(self.fretboard, 1)
        ll.addWidget(self.last_notes, 0)
        self.metrics = MetricsPanel()
        center = QSplitter(Qt.Orientation.Horizontal)
        center.addWidget(left)
        center.addWidget(self.metrics)
        center.setStretchFactor(0, 3)
        center.setStretchFactor(1, 2)
        center.setSizes([760, 480])
        center.setChildrenCollapsible(False)
        lay.addWidget(center, 1)

        self.coach_bar = CoachBar()
        self.coach_bar.rated.connect(self._on_tip_rated)
        lay.addWidget(self.coach_bar)

        self._build_status_bar()
        self._build_chat_dock()
        self._build_shortcuts()

        self.tip_received.connect(self._show_tip, Qt.ConnectionType.QueuedConnection)
        self.apply_exercise(self._initial_exercise())
        self._update_status()

        self.timer = QTimer(self)
        self.timer.setInterval(int(1000 / FPS))
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

        if not deferred_start:
            self.runner.run(self.services.store.profiles, self._on_profiles, owner=self)
            self.refresh_latency()

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _hline() -> QFrame:
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        return line

    def _build_top_bar(self) -> QWidget:
        bar = QWidget()
        row = QHBoxLayout(bar)
        row.setContentsMargins(0, 0, 0, 0)
        self.profile = QComboBox()
        self.profile.setToolTip("Player profile: each profile has its own sessions and plans")
        self.profile.addItem(self.user, self.user)
        self.profile.activated.connect(self._on_profile_activated)
        self.input = QComboBox()
        self.input.setToolTip("Input: your audio interface, the demo take, or an audio file (Ctrl+O)")
        self.input.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.input.setMinimumWidth(220)
        if self._deferred_start:
            self.input.addItem("Looking for audio inputs…", None)
            self.input.setEnabled(False)
        else:
            self._fill_inputs()
        self.input.activated.connect(self._on_input_activated)
        self.channel = QComboBox()
        self.channel.setToolTip("Input channel the guitar is plugged into (interfaces often put it on In 1 or In 2)")
        self.channel.currentIndexChanged.connect(self._on_channel_changed)
        self._fill_channels()
        self.latency_button = QToolButton()
        self.latency_button.setObjectName("latencyButton")
        self.latency_button.clicked.connect(self.open_calibration)
        self._show_latency()
        self.level = LevelMeter()
        self.tuner_button = QToolButton()
        self.tuner_button.setText("Tuner")
        self.tuner_button.setCheckable(True)
        self.tuner_button.setToolTip("Show the tuner (T)")
        self.tuner_button.toggled.connect(self.set_tuner_visible)
        self.ai_button = QPushButton("AI Mode")
        self.ai_button.setToolTip("Turn your last sessions into a practice plan")
        self.ai_button.clicked.connect(self.request_plan)
        self.chat_button = QToolButton()
        self.chat_button.setText("Chat")
        self.chat_button.setCheckable(True)
        self.chat_button.setToolTip("Ask the coach about your practice history (Ctrl+K)")
        self.settings_button = QToolButton()
        self.settings_button.setText("⚙")
        self.settings_button.setToolTip("Settings (Ctrl+,)")
        self.settings_button.clicked.connect(self.open_settings)
        row.addWidget(self.profile)
        row.addWidget(QLabel("Input"))
        row.addWidget(self.input)
        row.addWidget(self.channel)
        row.addWidget(self.latency_button)
        row.addWidget(self.level, 1)
        row.addSpacing(8)
        row.addWidget(self.tuner_button)
        row.addStretch(0)
        row.addWidget(self.ai_button)
        row.addWidget(self.chat_button)
        row.addWidget(self.settings_button)
        return bar

    def _build_exercise_bar(self) -> QWidget:
        bar = QWidget()
        row = QHBoxLayout(bar)
        row.setContentsMargins(0, 0, 0, 0)
        self.key = QComboBox()
        self.key.addItems(list(KEYS))
        self.key.setToolTip("Key (tonic) of the exercise")
        self.scale = QComboBox()
        for name in SCALES:
            self.scale.addItem(name.replace("_", " "), name)
        self.scale.setToolTip("Scale: its notes are marked on the fretboard; others count as out of scale")
        self.bpm = QDoubleSpinBox()
        self.bpm.setRange(20.0, 400.0)
        self.bpm.setDecimals(0)
        self.bpm.setSuffix(" bpm")
        self.bpm.setToolTip("Metronome tempo (beats per minute)")
        self.subdivision = QComboBox()
        for sub in SUBDIVISIONS:
            self.subdivision.addItem(_SUB_LABELS[sub], sub)
        self.subdivision.setToolTip("Grid your notes are timed against: 1/4 = quarter notes, 1/8 = eighth notes")
        self.count_in = QComboBox()
        for label, beats in _COUNT_IN:
            self.count_in.addItem(label, beats)
        self.count_in.setToolTip("Clicks before the first scored beat")
        self.mute = QToolButton()
        self.mute.setCheckable(True)
        self.mute.setText("Click")
        self.mute.setToolTip("Metronome click on/off (accented downbeat)")
        self.mute.setChecked(not self.prefs.click_muted)
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setValue(int(round(self.prefs.click_volume * 100)))
        self.volume.setFixedWidth(90)
        self.volume.setToolTip("Click volume")
        self.mute.toggled.connect(self._on_click_changed)
        self.volume.valueChanged.connect(self._on_click_changed)
        self.beat = QLabel("●")
        self.beat.setToolTip("Beat: flashes on every click, brighter on the downbeat")
        self.beat.setAlignment(Qt.AlignmentFlag.AlignCenter)
        theme.pin_size(self.beat, "●", extra_width=6)
        self.start_button = QPushButton("▶  Start")
        self.start_button.setToolTip("Start or stop a session (Space)")
        self.start_button.setMinimumWidth(110)
        self.start_button.clicked.connect(self.toggle_session)
        self.start_button.setDefault(True)
        for label, w in (("Key", self.key), ("Scale", self.scale), ("", self.bpm), ("", self.subdivision)):
            if label:
                row.addWidget(QLabel(label))
            row.addWidget(w)
        row.addWidget(QLabel("Count-in"))
        row.addWidget(self.count_in)
        row.addSpacing(8)
        row.addWidget(self.mute)
        row.addWidget(self.volume)
        row.addWidget(self.beat)
        row.addStretch(1)
        self.session_label = QLabel("")
        self.session_label.setObjectName("muted")
        self.session_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        theme.pin_size(self.session_label, "count-in 8", "88:88", "888:88")  # the clock never re-lays out
        row.addWidget(self.session_label)
        row.addWidget(self.start_button)
        for combo in (self.key, self.scale):
            combo.currentIndexChanged.connect(self._on_scale_changed)
        self._exercise_widgets = (self.key, self.scale, self.bpm, self.subdivision, self.count_in)
        return bar

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.audio_status = QLabel("—")
        self.audio_status.setToolTip("Sample rate and capture buffer of the running input")
        self.overflow_status = QLabel("0 overflows")
        self.overflow_status.setToolTip("Input overflows: audio blocks dropped because the app fell behind")
        self.coach_status = QLabel()
        self.coach_status.setToolTip("Online coach uses your OpenAI key; without one a rule-based coach answers")
        self.tracing_status = QLabel()
        self.tracing_status.setToolTip("Opik tracing of AI calls (configure in Settings)")
        for i, w in enumerate((self.audio_status, self.overflow_status, self.coach_status, self.tracing_status)):
            if i:
                sep = QFrame()
                sep.setFrameShape(QFrame.Shape.VLine)
                sep.setFrameShadow(QFrame.Shadow.Sunken)
                sb.addPermanentWidget(sep)
            w.setContentsMargins(6, 0, 6, 0)
            sb.addPermanentWidget(w)

    def _build_chat_dock(self) -> None:
        # With a deferred start, what the chat panel asks of the pool while it is built (its
        # conversation list: opening the database) waits until the profiles are loaded.
        self._chat_runner = _HeldRunner(self.runner) if self._deferred_start else None
        self.chat = ChatPanel(
            service=getattr(self.services, "chat", None),
            runner=self._chat_runner or self.runner,
            user=lambda: self.user,
        )
        self.chat_dock = QDockWidget("Chat", self)
        self.chat_dock.setObjectName("chatDock")
        self.chat_dock.setWidget(self.chat)
        self.chat_dock.setAllowedAreas(Qt.DockWidgetArea.RightDockWidgetArea | Qt.DockWidgetArea.LeftDockWidgetArea)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.chat_dock)
        self.chat_dock.hide()
        self.chat_dock.visibilityChanged.connect(self.chat_button.setChecked)
        self.chat_button.clicked.connect(lambda checked: self.chat_dock.setVisible(checked))

    def _build_shortcuts(self) -> None:
        def add(seq: QKeySequence | str, slot, name: str) -> QAction:
            action = QAction(name, self)
            action.setShortcut(QKeySequence(seq))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(slot)
            self.addAction(action)
            return action

        self.start_action = add(Qt.Key.Key_Space, self.toggle_session, "Start/stop session")
        self.tuner_action = add(Qt.Key.Key_T, self.tuner_button.toggle, "Tuner")
        self.settings_action = add("Ctrl+,", self.open_settings, "Settings")
        self.history_action = add("Ctrl+H", self.toggle_history, "History")
        self.chat_action = add("Ctrl+K", self.toggle_chat, "Chat")
        self.open_action = add("Ctrl+O", self.open_audio_file, "Open audio file")
        self.quit_action = add(QKeySequence.StandardKey.Quit, self.close, "Quit")
        # Space must reach the window even when a button has focus.
        for button in (self.start_button, self.ai_button, self.tuner_button, self.chat_button, self.mute):
            button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self._escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self._escape_pressed)

    # ------------------------------------------------------------------ exercise bar
    def _initial_exercise(self) -> ExerciseSettings:
        saved = self.prefs.exercise
        device = self.current_device()
        if saved and not (device is not None and device.kind == "demo"):  # the demo take has its own
            try:
                return ExerciseSettings(**saved)
            except TypeError:
                pass
        return self.services.initial_exercise

    def exercise(self) -> ExerciseSettings:
        return ExerciseSettings(
            key=self.key.currentText(),
            scale=self.scale.currentData(),
            bpm=float(self.bpm.value()),
            subdivision=int(self.subdivision.currentData()),
            count_in_beats=int(self.count_in.currentData()),
        )

    def apply_exercise(self, ex: ExerciseSettings) -> None:
        """Set the exercise bar (e.g. from an AI Mode plan)."""
        from fretcoach_desktop.audio.theory import TheoryError, normalize_key, normalize_scale

        try:
            key, scale = normalize_key(ex.key), normalize_scale(ex.scale)
        except TheoryError as exc:
            self.coach_bar.show_message(f"Cannot use that exercise: {exc}")
            return
        self.key.setCurrentText(key)
        self.scale.setCurrentIndex(max(0, self.scale.findData(scale)))
        self.bpm.setValue(ex.bpm)
        self.subdivision.setCurrentIndex(max(0, self.subdivision.findData(ex.subdivision)))
        i = self.count_in.findData(ex.count_in_beats)
        self.count_in.setCurrentIndex(i if i >= 0 else 1)
        self._on_scale_changed()

    def _on_scale_changed(self, *_args) -> None:
        scale = self.scale.currentData()
        if scale:
            self.fretboard.set_scale(self.key.currentText(), scale)

    def _on_click_changed(self, *_args) -> None:
        self.prefs.click_volume = self.volume.value() / 100.0
        self.prefs.click_muted = not self.mute.isChecked()
        self.volume.setEnabled(self.mute.isChecked())
        if self.source is not None:
            self.source.set_click(self.prefs.click_volume, self.prefs.click_muted)

    # ------------------------------------------------------------------ inputs and profiles
    def _fill_inputs(self, select: str | None = None, devices: list[InputDevice] | None = None) -> None:
        blocker = QSignalBlocker(self.input)
        self.input.clear()
        if devices is None:
            try:
                devices = list(self.services.audio.list_inputs())
            except Exception as exc:  # a broken audio stack must not stop the window from opening
                log.warning("listing inputs failed: %s", exc)
                devices = []
        for d in devices:
            self.input.addItem(d.label, d)
        self.input.insertSeparator(self.input.count())
        self.input.addItem("Open audio file…", _OPEN_FILE)
        wanted = select or self.prefs.input_device
        index = 0
        for i in range(self.input.count()):
            d = self.input.itemData(i)
            if isinstance(d, InputDevice) and d.name == wanted:
                index = i
        self.input.setCurrentIndex(index)
        del blocker

    def current_device(self) -> InputDevice | None:
        d = self.input.currentData()
        return d if isinstance(d, InputDevice) else None

    def current_channel(self) -> int:
        """The chosen input channel, 0-based."""
        return int(self.channel.currentData() or 0)

    def _source_request(self, device: InputDevice, exercise: ExerciseSettings, **extra: Any) -> SourceRequest:
        """What opening *device* needs: the chosen channel, A4, and the capture rate (interfaces only)."""
        return SourceRequest(
            device=device,
            channel=self.current_channel(),
            exercise=exercise,
            a4_hz=self.services.config.a4_hz,
            sample_rate=self.prefs.sample_rate if device.kind == "device" else None,
            **extra,
        )

    def _fill_channels(self) -> None:
        d = self.current_device()
        channels = d.channels if d is not None else 1
        blocker = QSignalBlocker(self.channel)
        self.channel.clear()
        for i in range(max(1, channels)):
            self.channel.addItem(f"In {i + 1}", i)
        self.channel.setCurrentIndex(min(self.prefs.input_channel, self.channel.count() - 1))
        self.channel.setEnabled(channels > 1)
        del blocker

    def _on_input_activated(self, index: int) -> None:
        if self.input.itemData(index) == _OPEN_FILE:
            self.open_audio_file()
            return
        d = self.current_device()
        if d is not None:
            self.prefs.input_device = d.name
        self.stop_monitor()
        self._fill_channels()
        self.refresh_latency()
        self.start_monitor()

    def _on_channel_changed(self, index: int) -> None:
        if index >= 0:
            self.prefs.input_channel = int(self.channel.itemData(index) or 0)
            if self.monitoring:
                self.stop_monitor()
                self.start_monitor()

    # ------------------------------------------------------------------ input monitor
    @property
    def monitoring(self) -> bool:
        """The input is open for the level meter and the tuner only (no session)."""
        return self.source is not None and self.session is None

    def start_monitor(self) -> None:
        """Open the audio interface for the level meter and the tuner while no session runs,
        so the gain can be set and the guitar tuned before playing. Not for the demo or
        files (nothing to set up), nor while a calibration has the input."""
        d = self.current_device()
        if self.running or self.source is not None or d is None or d.kind != "device" or not self.inputs_ready:
            return
        if self.calibration_dialog is not None and self.calibration_dialog.isVisible():
            return
        request = self._source_request(d, self.exercise(), monitor_only=True)
        try:
            source = self.services.audio.open_source(request)
            source.start()
        except (ServiceError, OSError, ValueError) as exc:
            self.statusBar().showMessage(f"{d.name}: {exc}", 10000)
            return
        self.source = source
        self._last_snap = None
        self._update_status()

    def stop_monitor(self) -> None:
        if self.monitoring:
            self._stop_source()
            self._last_snap = None
            self.level.reset()
            self.tuner.set_reading(None)
            self._update_status()

    # ------------------------------------------------------------------ latency calibration
    def _show_latency(self) -> None:
        d = self.current_device()
        button = self.latency_button
        if d is None or d.kind != "device":
            button.setText("Latency")
            button.setEnabled(False)
            button.setToolTip("Latency calibration is for audio interfaces (the demo and files have no delay)")
            return
        button.setEnabled(not self.running)
        if self.latency_ms is None:
            button.setText("Calibrate…")
            button.setToolTip(f"{d.name} is not calibrated: measure its latency so notes line up with the click")
        else:
            button.setText(f"Latency {self.latency_ms:.0f} ms")
            button.setToolTip(
                f"{d.name}: {self.latency_ms:.1f} ms is taken out of every note time. Click to measure again."
            )

    def refresh_latency(self) -> None:
        """Look up the current profile's stored latency for the current device (worker pool)."""
        d, user = self.current_device(), self.user
        self.latency_ms = None
        self._show_latency()
        lookup = getattr(self.services.store, "device_latency", None)
        if d is None or d.kind != "device" or lookup is None:
            return

        def got(value: Any, error: BaseException | None) -> None:
            if error is not None:
                self.statusBar().showMessage(f"Could not read the device's latency: {error}", 8000)
            elif self.current_device() == d and self.user == user:
                self.latency_ms = value
                self._show_latency()
                self.latency_known.emit()

        self.runner.run(lambda: lookup(user, d.name), got, owner=self)

    def open_calibration(self) -> None:
        d = self.current_device()
        if d is None or d.kind != "device" or self.running:
            return
        from .calibration_dialog import CalibrationDialog

        self.stop_monitor()  # the calibration records from the same input
        user, store = self.user, self.services.store

        def save(result: Any, done: Any) -> None:
            self.runner.run(lambda: store.save_calibration(user, d.name, result), lambda _r, err: done(err), owner=self)

        def saved(value: float) -> None:
            if self.current_device() == d and self.user == user:
                self.latency_ms = value
                self._show_latency()
            self.statusBar().showMessage(f"{d.name}: latency {value:.0f} ms saved; note times now subtract it.", 8000)

        dialog = CalibrationDialog(self.services.audio, d, self.current_channel(), self.latency_ms, save, self)
        dialog.saved.connect(saved)
        dialog.finished.connect(lambda _code: QTimer.singleShot(0, self.start_monitor))
        self.calibration_dialog = dialog
        dialog.open()

    def open_audio_file(self) -> None:
        """Pick a take and replay it through the live pipeline."""
        path, _ = QFileDialog.getOpenFileName(self, "Open audio file", "", "Audio (*.wav *.flac *.ogg);;All files (*)")
        if not path:
            self._fill_inputs(select=self.prefs.input_device)
            return
        self.add_file_input(Path(path))

    def add_file_input(self, path: Path) -> None:
        device = InputDevice(name=path.name, kind="file", path=path)
        self.input.insertItem(max(0, self.input.count() - 2), device.label, device)
        self.input.setCurrentIndex(self.input.findText(device.label))
        self._fill_channels()

    def _on_profiles(self, profiles: Any, error: BaseException | None) -> None:
        if error is not None:
            self.statusBar().showMessage(f"Could not load profiles: {error}", 8000)
            return
        blocker = QSignalBlocker(self.profile)
        self.profile.clear()
        names = list(dict.fromkeys([self.user, *(profiles or [])]))
        for name in names:
            self.profile.addItem(name, name)
        self.profile.addItem("New profile…", _NEW_PROFILE)
        self.profile.setCurrentIndex(self.profile.findData(self.user))
        del blocker

    def _on_profile_activated(self, index: int) -> None:
        data = self.profile.itemData(index)
        if data == _NEW_PROFILE:
            name, ok = QInputDialog.getText(self, "New profile", "Player name:")
            name = name.strip()
            if not ok or not name:
                self.profile.setCurrentIndex(self.profile.findData(self.user))
                return
            self.profile.insertItem(self.profile.count() - 1, name, name)
            data = name
        self.switch_profile(str(data))

    def switch_profile(self, name: str) -> None:
        self.user = name
        i = self.profile.findData(name)
        if i >= 0:
            self.profile.setCurrentIndex(i)
        self._history_loaded = False
        self.refresh_latency()
        self.history.set_sessions([])
        if self.tabs.currentWidget() is self.history:
            self.refresh_history()

    # ------------------------------------------------------------------ session
    @property
    def running(self) -> bool:
        return self.session is not None

    def toggle_session(self) -> None:
        if self.running:
            self.stop_session()
        else:
            self.start_session()

    def start_session(self, exercise: ExerciseSettings | None = None) -> bool:
        if self.running:
            return False
        if exercise is not None:
            self.apply_exercise(exercise)
        ex = self.exercise()
        device = self.current_device()
        if device is None:
            self.coach_bar.show_message("Choose an input first (or the Demo).")
            return False
        self._stop_source()
        request = self._source_request(
            device,
            ex,
            click_volume=self.prefs.click_volume,
            click_muted=self.prefs.click_muted,
            latency_ms=(self.latency_ms or 0.0) if device.kind == "device" else 0.0,
        )
        try:
            source = self.services.audio.open_source(request)
            source.start()
        except (ServiceError, OSError, ValueError) as exc:
            self.coach_bar.show_message(f"Could not start: {exc}")
            self.statusBar().showMessage(str(exc), 10000)
            self.start_monitor()
            return False
        self.source = source
        self.session = _Session(exercise=ex, device=device, started=time.monotonic())
        self._reset_live_view()
        self._set_running_ui(True)
        self.prefs.exercise = {
            "key": ex.key,
            "scale": ex.scale,
            "bpm": ex.bpm,
            "subdivision": ex.subdivision,
            "count_in_beats": ex.count_in_beats,
        }
        session = self.session
        self.coach_bar.show_message("Listening… the coach speaks up after 30 seconds of playing.")
        self.runner.run(
            lambda: self.services.store.start_session(self.user, ex, device.label, request.latency_ms),
            lambda sid, err: self._on_session_created(session, sid, err),
            owner=self,
        )
        self._update_status()
        self.session_started.emit(ex)
        return True

    def _on_session_created(self, session: _Session, session_id: Any, error: BaseException | None) -> None:
        if error is not None:
            self.statusBar().showMessage(f"The session is not being saved: {error}", 10000)
            return
        session.id = session_id
        if session.stopped:
            if session.summary is not None:
                self._store_summary(session)
            return
        if self.source is not None:
            try:
                self.services.coach.start_live(session_id, self.source, self.tip_received.emit)
            except Exception as exc:  # the session goes on without tips
                self.coach_bar.show_message(f"The coach is unavailable: {exc}")

    def stop_session(self, reason: str | None = None) -> None:
        """Stop, summarise, store (off the GUI thread) and show the summary."""
        session = self.session
        if session is None:
            return
        self.session = None
        source = self.source
        self._stop_source()
        try:
            self.services.coach.stop_live()
        except Exception as exc:
            log.warning("stopping the coach failed: %s", exc)
        snap = source.snapshot if source is not None else None
        if snap is not None and snap is not self._last_snap:
            self._paint(snap)
        notes = tuple(snap.notes) if snap is not None else ()
        duration = snap.time_s if snap is not None else time.monotonic() - session.started
        summary = build_summary(
            session.exercise,
            session.device.label,
            notes,
            duration,
            snap.session_metrics if snap is not None else None,
            snapshot_overflows(snap) if snap is not None else 0,
        )
        session.stopped = True
        session.summary = summary
        self._set_running_ui(False)
        if summary.notes_played and session.id is not None:
            self._store_summary(session)
        elif not summary.notes_played:
            self.statusBar().showMessage("No notes were heard: the session was not saved.", 8000)
        if reason:
            self.coach_bar.show_message(reason)
        if snap is None or not snap.error:  # a lost device is not reopened behind the player's back
            self.start_monitor()
        from .dialogs import SessionSummaryDialog

        self.summary_dialog = SessionSummaryDialog(summary, self)
        self.summary_dialog.open()
        self.session_stopped.emit(summary)

    def _store_summary(self, session: _Session) -> None:
        summary = session.summary
        session.summary = None
        if not summary.notes_played:
            return
        self.runner.run(
            lambda: self.services.store.finish_session(session.id, summary),
            self._on_session_stored,
            owner=self,
        )

    def _on_session_stored(self, _result: Any, error: BaseException | None) -> None:
        if error is not None:
            self.statusBar().showMessage(f"Saving the session failed: {error}", 15000)
            return
        self.statusBar().showMessage("Session saved.", 4000)
        self._history_loaded = False
        if self.tabs.currentWidget() is self.history:
            self.refresh_history()

    def _stop_source(self) -> None:
        source, self.source = self.source, None
        if source is not None:
            try:
                source.stop()
            except Exception as exc:
                log.warning("stopping the input failed: %s", exc)

    def _set_running_ui(self, running: bool) -> None:
        self.start_button.setText("■  Stop" if running else "▶  Start")
        self.start_button.setProperty("running", running)
        self.start_button.style().unpolish(self.start_button)
        self.start_button.style().polish(self.start_button)
        for w in (*self._exercise_widgets, self.input, self.channel, self.profile):
            w.setEnabled(not running)
        self._show_latency()
        if not running:
            self._fill_channels()
            self.session_label.setText("")
            self.level.reset()
            self.tuner.set_reading(None)

    def _reset_live_view(self) -> None:
        self._last_snap = None
        self._notes_seen = 0
        self.fretboard.clear()
        self.metrics.clear()
        self.last_notes.set_notes(())
        self.level.reset()

    # ------------------------------------------------------------------ painting (30 Hz)
    def _tick(self) -> None:
        self.ticks += 1
        self.fretboard.tick()
        source = self.source
        if source is None:
            return
        snap = source.snapshot
        if snap is None or snap is self._last_snap:
            return
        self._paint(snap)
        if self.session is None:
            if snap.error:  # the monitor lost its device
                self.stop_monitor()
                self.statusBar().showMessage(f"Input stopped: {snap.error}", 15000)
        elif snap.error:
            self.stop_session(reason=f"Input stopped: {snap.error}. Your session was saved; press Start to go on.")
        elif not snap.running and self.session is not None:
            self.stop_session(reason="The input ended.")

    def _paint(self, snap: Any) -> None:
        self._last_snap = snap
        self.frames_painted += 1
        self.level.set_level(snap.level_rms_dbfs, snap.level_peak_dbfs, snap.clipping)
        if self.tuner_frame.isVisible():
            self.tuner.set_reading(snap.tuner)
        if self.session is None:
            return  # monitoring: level and tuner only, nothing is being judged
        notes = snap.notes
        if len(notes) < self._notes_seen:
            self._notes_seen = 0
        if len(notes) > self._notes_seen:
            self.fretboard.light_notes(notes[self._notes_seen :])
            self._notes_seen = len(notes)
        self.last_notes.set_notes(notes)
        self.metrics.update_metrics(snap.window_metrics, snap.session_metrics, snap.time_s)
        self._show_overflows(snapshot_overflows(snap))
        self._show_clock(snap.time_s)

    def _show_overflows(self, count: int) -> None:
        text = f"{count} overflow{'s' if count != 1 else ''}"
        if text != self.overflow_status.text():
            self.overflow_status.setText(text)
            c = theme.colors()
            self.overflow_status.setStyleSheet(f"color: {c.bad.name()}; font-weight: bold;" if count else "")
            if count:
                self.overflow_status.setToolTip(
                    f"{count} input block(s) were dropped: the app fell behind the audio. Please report it."
                )

    def _show_clock(self, t: float) -> None:
        session = self.session
        if session is None:
            return
        ex = session.exercise
        beat_s = 60.0 / ex.bpm
        beat = int(t / beat_s)
        phase = (t / beat_s) - beat
        c = theme.colors()
        on = phase < 0.18
        color = (c.accent if beat % 4 == 0 else c.good) if on else c.muted
        theme.set_text_color(self.beat, color)  # a palette change: no re-polish 30 times a second
        if beat < ex.count_in_beats:
            self.session_label.setText(f"count-in {ex.count_in_beats - beat}")
        else:
            minutes, seconds = divmod(int(t), 60)
            self.session_label.setText(f"{minutes}:{seconds:02d}")

    def _update_status(self) -> None:
        source = self.source
        if source is not None:
            self.audio_status.setText(f"{source.sample_rate / 1000:.1f} kHz, {source.buffer_ms:.1f} ms buffer")
        else:
            self.audio_status.setText("input idle")
        coach = self.services.coach
        mode = "online coach" if coach.online else "offline coach"
        self.coach_status.setText(f"{mode} ({coach.model})")
        self.tracing_status.setText("tracing on" if self.services.config.tracing_enabled else "tracing off")

    # ------------------------------------------------------------------ coach, AI Mode, chat
    def _show_tip(self, tip: CoachTip) -> None:
        if self.running:
            self.coach_bar.show_tip(tip)

    def _on_tip_rated(self, tip: CoachTip, positive: bool) -> None:
        try:
            self.services.coach.rate_tip(tip, positive)
        except Exception as exc:
            log.warning("rating the tip failed: %s", exc)
        self.coach_feedback.emit(tip, positive)

    def request_plan(self) -> None:
        """AI Mode: the plan is made on the worker pool, then shown in a dialog."""
        if self._planning:
            return
        self._planning = True
        self.ai_button.setEnabled(False)
        self.ai_button.setText("Planning…")
        user = self.user
        self.runner.run(lambda: self.services.coach.make_plan(user), self._on_plan, owner=self)

    def _on_plan(self, plan: Any, error: BaseException | None) -> None:
        self._planning = False
        self.ai_button.setEnabled(True)
        self.ai_button.setText("AI Mode")
        if error is not None:
            self.coach_bar.show_message(f"AI Mode could not make a plan: {error}")
            self.statusBar().showMessage(f"AI Mode: {error}", 10000)
            return
        from .dialogs import PlanDialog

        self.plan_dialog = PlanDialog(plan, self)
        self.plan_dialog.exercise_chosen.connect(self._start_plan_exercise)
        self.plan_dialog.open()

    def _start_plan_exercise(self, ex: ExerciseSettings) -> None:
        if self.running:
            self.stop_session()
        self.tabs.setCurrentIndex(0)
        self.apply_exercise(ex)
        self.start_session()

    def toggle_chat(self) -> None:
        self.chat_dock.setVisible(not self.chat_dock.isVisible())
        if self.chat_dock.isVisible():
            self.chat.input.setFocus()

    # ------------------------------------------------------------------ tuner, history, settings
    def set_tuner_visible(self, visible: bool) -> None:
        if self.tuner_button.isChecked() != visible:
            self.tuner_button.setChecked(visible)
            return
        self.tuner_frame.setVisible(visible)
        if not visible:
            self.tuner.set_reading(None)
        elif self._last_snap is not None:
            self.tuner.set_reading(self._last_snap.tuner)

    def toggle_history(self) -> None:
        self.tabs.setCurrentIndex(0 if self.tabs.currentWidget() is self.history else 1)

    def _on_tab_changed(self, _index: int) -> None:
        if self.tabs.currentWidget() is self.history and not self._history_loaded:
            self.refresh_history()

    def refresh_history(self) -> None:
        self.history.show_loading()
        user = self.user

        def load() -> Any:
            rows = self.services.store.recent_sessions(user, 200)
            if rows:  # the chart's library (~1 s to import) is loaded here, not on the GUI thread
                import importlib

                importlib.import_module("pyqtgraph")
            return rows

        self.runner.run(
            load,
            lambda rows, err: self._on_sessions(user, rows, err),
            owner=self,
        )

    def _on_sessions(self, user: str, rows: Any, error: BaseException | None) -> None:
        if user != self.user:
            return  # the profile changed meanwhile
        if error is not None:
            self.history.show_error(str(error))
            return
        self._history_loaded = True
        self.history.set_sessions(rows or [])
        self.history_loaded.emit(len(rows or []))

    def open_settings(self) -> None:
        devices = [self.input.itemData(i) for i in range(self.input.count())]
        devices = [d for d in devices if isinstance(d, InputDevice)]
        dev = self.current_device()
        self.settings_dialog = SettingsDialog(
            self.services.config,
            self.services.secrets,
            devices,
            dev.name if dev else None,
            self.current_channel(),
            self,
            sample_rate=self.prefs.sample_rate,
        )
        self.settings_dialog.saved.connect(self._on_settings_saved)
        self.settings_dialog.open()

    def _on_settings_saved(self, config: Any, audio: dict) -> None:
        self.services.config = config
        if not self.running:
            self.prefs.input_device = audio.get("input_device") or self.prefs.input_device
            self.prefs.input_channel = int(audio.get("input_channel") or 0)
            self.prefs.sample_rate = audio.get("sample_rate")
            self._fill_inputs(select=self.prefs.input_device)
            self._fill_channels()
            self.refresh_latency()
        self.prefs.save(config.data_dir)
        self._update_status()
        self.statusBar().showMessage("Settings saved. AI and database changes apply at the next start.", 8000)

    def _escape_pressed(self) -> None:
        if self.chat_dock.isVisible() and self.chat.input.hasFocus():
            self.chat_dock.hide()

    # ------------------------------------------------------------------ lifecycle
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self._first_paint is None:
            self._first_paint = _FirstPaintWatch(self, self._after_first_paint)

    def _after_first_paint(self) -> None:
        """The window is on screen: now the work it did not need to draw itself."""
        self.first_painted.emit()
        QTimer.singleShot(0, self, self._warm_gui)
        if not self._deferred_start:
            return
        # One after the other, so a single pool thread competes with the GUI for the GIL.
        self.runner.run(self.services.audio.list_inputs, self._on_inputs_listed, owner=self)

    def _warm_gui(self) -> None:
        """GUI-thread warm-up after the first paint: the dialogs' module, and the characters the
        live view will show, drawn once in each of its fonts (the first use of a glyph, or of a
        fallback font for ✓ ✗ ●, cost 10-60 ms in the middle of a session; painting them into
        a scratch image loads and caches them now)."""
        from PySide6.QtGui import QImage, QPainter

        digits = "0123456789+-:.,—…%"
        row = self.last_notes.rows[0]
        card = next(iter(self.metrics.cards.values()))
        samples = (
            (row.name.font(), "ABCDEFG#b" + digits),
            (row.tuning.font(), "c in tune sharp flat on time ms early late" + digits),
            (row.why.font(), "✓✗ good note out of scale cents sharp flat ms early late" + digits),
            (card.value_label.font(), digits),
            (card.session_label.font(), "session " + digits),
            (self.session_label.font(), "count-in " + digits),
            (self.beat.font(), "●"),
            (self.coach_bar.text.font(), "“”‘’abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" + digits),
        )
        import importlib

        importlib.import_module(f"{__package__}.dialogs")  # the session summary's, when Stop is pressed
        image = QImage(32, 32, QImage.Format.Format_ARGB32_Premultiplied)
        painter = QPainter(image)
        for font, text in samples:
            painter.setFont(font)
            painter.drawText(0, 24, text)
        painter.end()

    def _on_inputs_listed(self, devices: Any, error: BaseException | None) -> None:
        if error is not None:
            log.warning("listing inputs failed: %s", error)
        self._fill_inputs(devices=list(devices or []))
        self._fill_channels()
        self.input.setEnabled(not self.running)
        if not self.running:
            self.apply_exercise(self._initial_exercise())  # the demo take brings its own
        self.refresh_latency()
        self.inputs_ready = True
        self.start_monitor()
        self.inputs_listed.emit()
        if self._deferred_start:

            def profiles(result: Any, error: BaseException | None) -> None:
                self._on_profiles(result, error)
                if self._chat_runner is not None:
                    self._chat_runner.release()
                self.runner.run(self._warm_up, lambda _r, _e: self.settled.emit(), owner=self)

            self.runner.run(self.services.store.profiles, profiles, owner=self)

    def _warm_up(self) -> None:
        """Worker pool: the coach service imports what a session and its first tip need."""
        warm_up = getattr(self.services.coach, "warm_up", None)
        if warm_up is not None:
            warm_up()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if self.running:
            self.stop_session()
            if self.summary_dialog is not None:
                self.summary_dialog.close()
        self.timer.stop()
        self._stop_source()  # the monitor
        try:
            self.services.coach.stop_live()
        except Exception:
            pass
        self.prefs.save(self.services.config.data_dir)
        self.runner.shutdown(1000)
        super().closeEvent(event)


class _HeldRunner:
    """A :class:`TaskRunner` whose ``run`` calls wait until :meth:`release`."""

    def __init__(self, runner: TaskRunner) -> None:
        self._runner = runner
        self._held: list[tuple[tuple, dict]] | None = []

    def run(self, *args: Any, **kwargs: Any) -> None:
        if self._held is None:
            self._runner.run(*args, **kwargs)
        else:
            self._held.append((args, kwargs))

    def release(self) -> None:
        held, self._held = self._held or [], None
        for args, kwargs in held:
            self._runner.run(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runner, name)


class _FirstPaintWatch(QObject):
    """Calls *callback* once, right after the window's first paint has been delivered."""

    def __init__(self, window: QWidget, callback) -> None:
        super().__init__(window)
        self._window, self._callback = window, callback
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Paint:
            self._window.removeEventFilter(self)
            QTimer.singleShot(0, self._callback)
        return False


def snapshot_overflows(snap: Any) -> int:
    """Dropped blocks of a snapshot: ``overflows``, or audio.live's input + ring overflows."""
    count = getattr(snap, "overflows", None)
    if count is None:
        count = getattr(snap, "input_overflows", 0) + getattr(snap, "ring_overflows", 0)
    return int(count)


def stylesheet() -> str:
    c = theme.colors()
    return (
        f"QLabel#muted {{ color: {c.muted.name()}; }}"
        "QLabel#sectionTitle { font-weight: bold; }"
        f"QPushButton[running='true'] {{ background: {c.bad.name()}; color: white; font-weight: bold; }}"
        "QFrame#coachBar { border-radius: 6px; }"
        "QFrame#noteChip { border-radius: 4px; }"
    )
