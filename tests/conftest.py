"""Shared test set-up: headless Qt, and an environment isolated from the developer's own."""

from __future__ import annotations

import os

import pytest

# Qt must never try to open a real display in tests (set before any Qt import).
os.environ["QT_QPA_PLATFORM"] = "offscreen"

# Variables that would make tests depend on the machine (real API keys, tracing, a
# developer's data directory or profile).
_ISOLATED_VARS = (
    "FRETCOACH_DATA_DIR",
    "FRETCOACH_DB_URL",
    "FRETCOACH_USER",
    "FRETCOACH_MODEL",
    "FRETCOACH_FALLBACK_MODELS",
    "FRETCOACH_TTS_MODEL",
    "FRETCOACH_TTS_VOICE",
    "FRETCOACH_A4_HZ",
    "FRETCOACH_DEBUG",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPIK_API_KEY",
    "OPIK_WORKSPACE",
    "OPIK_PROJECT_NAME",
    "OPIK_URL_OVERRIDE",
)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """Each test gets a clean environment and its own empty data directory."""
    for name in _ISOLATED_VARS:
        monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("FRETCOACH_DATA_DIR", str(data_dir))
    return data_dir
