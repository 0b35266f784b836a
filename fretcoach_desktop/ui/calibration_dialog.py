"""Latency calibration: play along with the click, see each note's delay, store the median.

The dialog drives an ``audio.calibration.CalibrationRun`` (made by the audio service): it
starts it, polls its progress from a ~30 Hz timer (a cheap read of the analysis thread's
snapshot) and, when the last click has been heard, shows the measured latency and how
consistent it was. "Save" stores it for the profile and device on the worker pool; the
window then subtracts it from every note time on that device.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .services import AudioService, CalibrationRequest, InputDevice, ServiceError

__all__ = ["CalibrationDialog"]

POLL_MS = 33
_METHODS = {
    "play-along": (
        "Play along",
        "After four count-in clicks, play one short note (a muted-string scratch works too) exactly on "
        "each of the next {beats} clicks. Your notes' delay behind the clicks is measured and taken "
        "out of every note time on this device.",
    ),
    "loopback": (
        "Loopback",
        "Connect the output to the input (a cable, or hold the guitar's pickup or a microphone to the "
        "speaker): the clicks themselves are heard and their round trip measured.",
    ),
}


class CalibrationDialog(QDialog):
    """Measures *device*'s input latency; emits :attr:`saved` with the stored value (ms).

    Args:
        audio: the audio service (``open_calibration``).
        device, channel: the input to measure (channel 0-based).
        current_ms: the value in use now (None: never calibrated).
        save: ``save(result, done)`` stores a result off the GUI thread and calls
            ``done(error_or_None)`` back on it.
    """

    saved = Signal(float)

    def __init__(
        self,
        audio: AudioService,
        device: InputDevice,
        channel: int,
        current_ms: float | None,
        save: Callable[[Any, Callable[[BaseException | None], None]], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Latency calibration")
        self.setMinimumWidth(480)
        self._audio, self._device, self._channel, self._save = audio, device, channel, save
        self.run: Any = None
        self.result: Any = None

        title = QLabel(f"<h3>{device.label} \u2013 input {channel + 1}</h3>")
        title.setTextFormat(Qt.TextFormat.RichText)
        self.current = QLabel()
        self._show_current(current_ms)
        self.method = QComboBox()
        for key, (label, _) in _METHODS.items():
            self.method.addItem(label, key)
        self.method.currentIndexChanged.connect(self._explain)
        self.explain = QLabel()
        self.explain.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.status = QLabel("Press Start, then listen for the count-in.")
        self.status.setWordWrap(True)
        self.offsets = QLabel()
        self.offsets.setWordWrap(True)
        self.offsets.setObjectName("calibrationOffsets")
        self.outcome = QLabel()
        self.outcome.setWordWrap(True)
        self.outcome.setTextFormat(Qt.TextFormat.RichText)

        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.toggle)
        self.save_button = QPushButton("Save")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(close)

        method_row = QHBoxLayout()
        method_row.addWidget(QLabel("Method"))
        method_row.addWidget(self.method, 1)
        layout = QVBoxLayout(self)
        for widget in (title, self.current):
            layout.addWidget(widget)
        layout.addLayout(method_row)
        for widget in (self.explain, self.progress, self.status, self.offsets, self.outcome):
            layout.addWidget(widget)
        layout.addLayout(buttons)

        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        self._explain()

    # ------------------------------------------------------------------ running
    def _request(self) -> CalibrationRequest:
        return CalibrationRequest(device=self._device, channel=self._channel, method=self.method.currentData())

    def _explain(self) -> None:
        beats = self._request().beats
        self.explain.setText(_METHODS[self.method.currentData()][1].format(beats=beats))
        self.progress.setRange(0, beats)
        self.progress.setValue(0)
        self.progress.setFormat(f"%v of {beats} clicks")

    def _show_current(self, value: float | None) -> None:
        self.current.setText(
            "Not calibrated yet: note times are used as heard (0 ms)."
            if value is None
            else f"In use now: {value:.0f} ms"
        )

    def toggle(self) -> None:
        if self.run is not None:
            self.stop("Stopped: nothing was measured.")
            return
        self.result = None
        self.save_button.setEnabled(False)
        self.outcome.clear()
        self.offsets.clear()
        try:
            self.run = self._audio.open_calibration(self._request())
            self.run.start()
        except (ServiceError, ValueError) as exc:
            self.run = None
            self._fail(str(exc))
            return
        except Exception as exc:  # CaptureError, CalibrationError (no output): one line
            self.run = None
            self._fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return
        self.method.setEnabled(False)
        self.start_button.setText("Stop")
        self.status.setText("Count-in: listen to four clicks\u2026")
        self.timer.start()

    def stop(self, message: str) -> None:
        self.timer.stop()
        run, self.run = self.run, None
        if run is not None:
            run.cancel()
        self.method.setEnabled(True)
        self.start_button.setText("Start again")
        self.status.setText(message)

    def poll(self) -> None:
        run = self.run
        if run is None:
            return
        progress = run.poll()
        self.progress.setValue(progress.beat)
        if progress.offsets_ms:
            self.offsets.setText(
                "  ".join("\u2013" if x is None else f"{x:+.0f}" for x in progress.offsets_ms) + "  ms"
            )
        if progress.counting_in:
            self.status.setText("Count-in: listen to four clicks\u2026")
        elif not progress.done:
            self.status.setText(f"Click {progress.beat} of {progress.beats}: {progress.hits} heard so far")
        if not progress.done:
            return
        self.timer.stop()
        self.run = None
        self.method.setEnabled(True)
        self.start_button.setText("Start again")
        try:
            result = run.result()
        except Exception as exc:  # CalibrationError: says why and what to do
            self._fail(str(exc))
            return
        self.result = result
        self.status.setText("Done.")
        if result.usable:
            self.outcome.setText(f"Measured latency: <b>{result.describe()}</b>")
            self.save_button.setEnabled(True)
        else:
            problem = html.escape(result.problem() or "")
            self.outcome.setText(
                f"Measured {html.escape(result.describe())}: not saved, "
                f"<span style='color:#d93636'>{problem[:1].upper() + problem[1:]}.</span>"
            )

    def _fail(self, message: str) -> None:
        self.status.setText("Could not measure the latency.")
        self.outcome.setText(f"<span style='color:#d93636'>{message}</span>")
        self.start_button.setText("Start again")
        self.method.setEnabled(True)

    # ------------------------------------------------------------------ saving
    def save(self) -> None:
        result = self.result
        if result is None or not result.usable:
            return
        self.save_button.setEnabled(False)

        def done(error: BaseException | None) -> None:
            if error is not None:
                self.save_button.setEnabled(True)
                self.outcome.setText(f"<span style='color:#d93636'>Not saved: {error}</span>")
                return
            self._show_current(result.latency_ms)
            self.outcome.setText(f"Saved: <b>{result.latency_ms:.0f} ms</b> is now used on this device.")
            self.saved.emit(float(result.latency_ms))

        self._save(result, done)

    def done(self, code: int) -> None:  # noqa: D401 - QDialog.done: closing stops a running calibration
        if self.run is not None:
            self.stop("Stopped.")
        super().done(code)
