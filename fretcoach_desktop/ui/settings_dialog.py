"""The settings dialog: typed config, persisted per user; API keys go to the OS keyring.

Non-secret fields are written to the settings file (``<data_dir>/settings.json``), which
:func:`fretcoach_desktop.config.load_config` reads; environment variables still override it.
API keys are handed to a :class:`~fretcoach_desktop.ui.services.SecretStore` (the keyring)
and never written to a file, shown in plain text or logged.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from fretcoach_desktop import extras
from fretcoach_desktop.config import SETTINGS_FILE_NAME, Config

from .services import InputDevice, SecretStore

__all__ = ["SECRET_FIELDS", "SettingsDialog", "KeyringSecretStore", "MemorySecretStore", "save_settings"]

log = logging.getLogger(__name__)

KEYRING_SERVICE = "FretCoach"
SECRET_FIELDS = ("openai_api_key", "opik_api_key")
#: Config fields the dialog edits (besides the secrets).
PLAIN_FIELDS = (
    "a4_hz",
    "openai_base_url",
    "model",
    "fallback_models",
    "tts_model",
    "tts_voice",
    "opik_workspace",
    "opik_project_name",
    "opik_url_override",
    "db_url",
)


class KeyringSecretStore:
    """API keys in the OS keyring (``keyring`` package); unavailable when it is missing."""

    def __init__(self, service: str = KEYRING_SERVICE) -> None:
        self.service = service
        self._available: bool | None = None  # probed on first use: importing keyring costs time

    @property
    def available(self) -> bool:
        if self._available is None:
            try:
                import keyring
                from keyring.backends import fail

                self._available = not isinstance(keyring.get_keyring(), fail.Keyring)
            except Exception:  # ImportError, or a broken backend
                self._available = False
        return self._available

    def get(self, name: str) -> str | None:
        if not self.available:
            return None
        import keyring

        try:
            return keyring.get_password(self.service, name)
        except Exception as exc:
            log.warning("keyring read failed for %s: %s", name, type(exc).__name__)
            return None

    def set(self, name: str, value: str | None) -> None:
        if not self.available:
            raise RuntimeError("no keyring available")
        import keyring

        if value:
            keyring.set_password(self.service, name, value)
        else:
            try:
                keyring.delete_password(self.service, name)
            except Exception:  # not stored: nothing to delete
                pass


class MemorySecretStore:
    """Secrets in memory (tests, or a session without a keyring)."""

    def __init__(self, available: bool = True, **values: str) -> None:
        self.available = available
        self.values: dict[str, str] = dict(values)

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, value: str | None) -> None:
        if value:
            self.values[name] = value
        else:
            self.values.pop(name, None)


def save_settings(
    config: Config, changes: dict[str, Any], secrets: dict[str, str | None], store: SecretStore
) -> Config:
    """Validate, persist and return the new Config.

    *changes* are plain fields (written to the settings file); *secrets* maps a secret field
    to a new value, ``""``/``None`` to remove it; fields not in *secrets* are kept as they are.

    Raises:
        ValueError: a field is invalid (one line naming the field, never the value), or a
            secret was given but there is no keyring to keep it in.
    """
    data = config.model_dump()
    data.update(changes)
    for name, value in secrets.items():
        data[name] = SecretStr(value) if value else None
    try:
        new = Config.model_validate(data)
    except ValidationError as exc:
        parts = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)]
        raise ValueError("; ".join(parts)) from None
    if secrets and not store.available:
        raise ValueError("no OS keyring is available to store API keys; set them as environment variables instead")
    path = Path(config.data_dir) / SETTINGS_FILE_NAME
    try:
        current = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        if not isinstance(current, dict):
            current = {}
    except (OSError, ValueError):
        current = {}
    for name in PLAIN_FIELDS:
        if name in changes:
            value = getattr(new, name)
            current[name] = value
    for name in SECRET_FIELDS:  # never in the file
        current.pop(name, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(current, indent=1, default=str), encoding="utf-8")
    tmp.replace(path)
    for name, value in secrets.items():
        store.set(name, value or None)
    return new


SAMPLE_RATES = (44100, 48000, 88200, 96000)


def _keyring_note(available: bool) -> str:
    if available:
        return "API keys are kept in the OS keyring, never in a file."
    if not (extras.installed("ai") or extras.installed("tracing")):
        return (
            "API keys are kept in the OS keyring, which comes with the [ai] extra "
            f"({extras.install_hint('ai')}); until then, set them as environment variables."
        )
    return "No OS keyring found: set API keys as environment variables."


def _extra_row(form: QFormLayout, extra: str) -> None:
    """A line at the top of a settings group whose extra is not installed, saying how to get it."""
    if extras.installed(extra):
        return
    label = QLabel(f"Needs the [{extra}] extra: {extras.install_hint(extra)}")
    label.setWordWrap(True)
    label.setObjectName("muted")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    form.addRow(label)


class SettingsDialog(QDialog):
    """Edit the settings; ``saved(Config, prefs)`` after a successful save."""

    #: new Config, {"input_device": str|None, "input_channel": int, "sample_rate": int|None}
    saved = Signal(object, object)

    def __init__(
        self,
        config: Config,
        secrets: SecretStore,
        devices: list[InputDevice],
        current_device: str | None = None,
        current_channel: int = 0,
        parent: QWidget | None = None,
        sample_rate: int | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.config, self.secrets = config, secrets
        self.resize(560, 600)

        # audio
        self.device = QComboBox()
        for d in devices:
            self.device.addItem(d.label, d.name)
        if current_device is not None:
            i = self.device.findData(current_device)
            if i >= 0:
                self.device.setCurrentIndex(i)
        self.channel = QSpinBox()
        self.channel.setRange(1, 32)
        self.channel.setValue(current_channel + 1)
        self.channel.setToolTip("Which input of the interface the guitar is plugged into (1 = first)")
        self.sample_rate = QComboBox()
        self.sample_rate.addItem("Device default", None)
        for rate in SAMPLE_RATES:
            self.sample_rate.addItem(f"{rate / 1000:g} kHz", rate)
        self.sample_rate.setCurrentIndex(max(0, self.sample_rate.findData(sample_rate)))
        self.sample_rate.setToolTip("Capture rate (the analysis works the same at every rate)")
        self.a4 = QDoubleSpinBox()
        self.a4.setRange(400.0, 480.0)
        self.a4.setDecimals(1)
        self.a4.setSuffix(" Hz")
        self.a4.setValue(config.a4_hz)
        self.a4.setToolTip("Tuning reference for A4 (usually 440 Hz)")
        audio = QGroupBox("Audio")
        af = QFormLayout(audio)
        af.addRow("Input device", self.device)
        af.addRow("Input channel", self.channel)
        af.addRow("Sample rate", self.sample_rate)
        af.addRow("A4 reference", self.a4)

        # OpenAI
        self.openai_key = self._secret_field("openai_api_key", config.openai_api_key)
        self.base_url = QLineEdit(config.openai_base_url or "")
        self.base_url.setPlaceholderText("https://api.openai.com/v1 (or any compatible server)")
        self.model = QLineEdit(config.model)
        self.fallbacks = QLineEdit(", ".join(config.fallback_models))
        self.fallbacks.setPlaceholderText("comma-separated, tried in order on rate limits")
        self.tts_model = QLineEdit(config.tts_model)
        self.tts_voice = QLineEdit(config.tts_voice)
        ai = QGroupBox("AI coach (OpenAI)")
        of = QFormLayout(ai)
        _extra_row(of, "ai")
        of.addRow("API key", self._with_clear(self.openai_key, "openai_api_key"))
        of.addRow("Base URL", self.base_url)
        of.addRow("Model", self.model)
        of.addRow("Fallback models", self.fallbacks)
        of.addRow("Speech model", self.tts_model)
        of.addRow("Voice", self.tts_voice)

        # Opik
        self.opik_key = self._secret_field("opik_api_key", config.opik_api_key)
        self.opik_workspace = QLineEdit(config.opik_workspace or "")
        self.opik_project = QLineEdit(config.opik_project_name)
        self.opik_url = QLineEdit(config.opik_url_override or "")
        self.opik_url.setPlaceholderText("self-hosted Opik, e.g. http://localhost:5173/api")
        opik = QGroupBox("Tracing (Opik, optional)")
        pf = QFormLayout(opik)
        _extra_row(pf, "tracing")
        pf.addRow("API key", self._with_clear(self.opik_key, "opik_api_key"))
        pf.addRow("Workspace", self.opik_workspace)
        pf.addRow("Project", self.opik_project)
        pf.addRow("URL override", self.opik_url)

        # database
        self.db_url = QLineEdit(config.db_url)
        self.db_url.setToolTip("Any SQLAlchemy URL; SQLite in the data directory by default")
        db = QGroupBox("Data")
        df = QFormLayout(db)
        df.addRow("Database URL", self.db_url)
        df.addRow("Data directory", QLabel(str(config.data_dir)))

        self.note = QLabel(_keyring_note(secrets.available))
        self.note.setWordWrap(True)
        self.note.setObjectName("muted")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d93636;")
        self.error.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        for w in (audio, ai, opik, db, self.note, self.error, buttons):
            lay.addWidget(w)
        self._cleared: set[str] = set()
        self.new_config: Config | None = None

    def _secret_field(self, name: str, current: SecretStr | None) -> QLineEdit:
        field = QLineEdit()
        field.setEchoMode(QLineEdit.EchoMode.Password)
        field.setObjectName(name)
        stored = current is not None and bool(current.get_secret_value())
        field.setPlaceholderText("•••••••• set (type to replace)" if stored else "not set")
        field.setEnabled(self.secrets.available)
        field.setToolTip("Stored in the OS keyring; never shown or written to a file")
        return field

    def _with_clear(self, field: QLineEdit, name: str) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        clear = QPushButton("Remove")
        clear.setToolTip("Forget the stored key")
        clear.setEnabled(self.secrets.available)

        def on_clear() -> None:
            self._cleared.add(name)
            field.clear()
            field.setPlaceholderText("will be removed")

        clear.clicked.connect(on_clear)
        row.addWidget(field, 1)
        row.addWidget(clear)
        return box

    def values(self) -> tuple[dict[str, Any], dict[str, str | None]]:
        changes: dict[str, Any] = {
            "a4_hz": self.a4.value(),
            "openai_base_url": self.base_url.text().strip() or None,
            "model": self.model.text(),
            "fallback_models": self.fallbacks.text(),
            "tts_model": self.tts_model.text(),
            "tts_voice": self.tts_voice.text(),
            "opik_workspace": self.opik_workspace.text().strip() or None,
            "opik_project_name": self.opik_project.text(),
            "opik_url_override": self.opik_url.text().strip() or None,
            "db_url": self.db_url.text(),
        }
        secrets: dict[str, str | None] = {}
        for name, field in (("openai_api_key", self.openai_key), ("opik_api_key", self.opik_key)):
            if field.text():
                secrets[name] = field.text()
            elif name in self._cleared:
                secrets[name] = None
        return changes, secrets

    def _save(self) -> None:
        changes, secrets = self.values()
        try:
            new = save_settings(self.config, changes, secrets, self.secrets)
        except (ValueError, OSError) as exc:
            self.error.setText(f"Not saved: {exc}")
            self.error.show()
            return
        self.new_config = new
        self.saved.emit(
            new,
            {
                "input_device": self.device.currentData(),
                "input_channel": self.channel.value() - 1,
                "sample_rate": self.sample_rate.currentData(),
            },
        )
        self.accept()
