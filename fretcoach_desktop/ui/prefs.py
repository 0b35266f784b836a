"""Small UI preferences (input device, channel, sample rate, click volume, last exercise) in ``ui_state.json``.

They are not part of :class:`~fretcoach_desktop.config.Config` (which forbids unknown keys),
so they live in their own file in the data directory. Secrets never go here.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

__all__ = ["UiPrefs"]

log = logging.getLogger(__name__)
FILE_NAME = "ui_state.json"


@dataclass
class UiPrefs:
    input_device: str | None = None  # InputDevice.name last used
    input_channel: int = 0
    sample_rate: int | None = None  # capture rate; None: the device's default
    click_volume: float = 0.6
    click_muted: bool = False
    exercise: dict = field(default_factory=dict)

    @classmethod
    def load(cls, data_dir: Path) -> UiPrefs:
        path = Path(data_dir) / FILE_NAME
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", path, type(exc).__name__)
            return cls()
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in raw.items() if k in known}) if isinstance(raw, dict) else cls()
        except TypeError:
            return cls()

    def save(self, data_dir: Path) -> None:
        path = Path(data_dir) / FILE_NAME
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            log.warning("cannot save %s: %s", path, exc.strerror or type(exc).__name__)
