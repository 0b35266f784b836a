"""Where the settings come from, without building them (no pydantic here).

The environment variables, the data directory and its settings file, as
:func:`fretcoach_desktop.config.load_config` reads them; and :func:`only_defaults`, which
tells a command that needs nothing but the default settings (e.g. a plain ``fretcoach
analyze``: only A4, which a flag may give) that it can skip building the settings model,
a fifth of a second of start-up spent importing pydantic.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "APP_NAME",
    "DB_FILE_NAME",
    "DEFAULT_A4_HZ",
    "ENV_VARS",
    "SETTINGS_FILE_NAME",
    "data_dir_of",
    "default_data_dir",
    "only_defaults",
]

APP_NAME = "FretCoach"
SETTINGS_FILE_NAME = "settings.json"
DB_FILE_NAME = "fretcoach.db"
#: The tuning reference when no setting, variable or flag gives one.
DEFAULT_A4_HZ = 440.0

#: Environment variable -> Config field.
ENV_VARS: dict[str, str] = {
    "FRETCOACH_DATA_DIR": "data_dir",
    "FRETCOACH_DB_URL": "db_url",
    "FRETCOACH_USER": "user",
    "OPENAI_API_KEY": "openai_api_key",
    "OPENAI_BASE_URL": "openai_base_url",
    "FRETCOACH_MODEL": "model",
    "FRETCOACH_FALLBACK_MODELS": "fallback_models",
    "FRETCOACH_TTS_MODEL": "tts_model",
    "FRETCOACH_TTS_VOICE": "tts_voice",
    "OPIK_API_KEY": "opik_api_key",
    "OPIK_WORKSPACE": "opik_workspace",
    "OPIK_PROJECT_NAME": "opik_project_name",
    "OPIK_URL_OVERRIDE": "opik_url_override",
    "FRETCOACH_A4_HZ": "a4_hz",
}


def default_data_dir() -> Path:
    """The platform's per-user data directory for FretCoach (e.g. ~/.local/share/FretCoach)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def data_dir_of(given: Mapping[str, Any], from_env: Mapping[str, str]) -> Path:
    """The data directory: an override, else ``FRETCOACH_DATA_DIR``, else the platform's."""
    data_dir = given.get("data_dir") or from_env.get("data_dir") or default_data_dir()
    return Path(data_dir).expanduser()


def only_defaults(overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] = os.environ) -> bool:
    """Whether ``load_config(overrides, env)`` would give every setting its default value.

    True when no override is given (``None`` values do not count) other than ``data_dir``,
    no variable of :data:`ENV_VARS` is set other than ``FRETCOACH_DATA_DIR``, and the data
    directory holds no settings file. Such a configuration cannot fail to load; only the
    data directory and the database URL in it differ from machine to machine.
    """
    if any(value is not None for key, value in (overrides or {}).items() if key != "data_dir"):
        return False
    from_env = {field: value for var, field in ENV_VARS.items() if (value := env.get(var, "").strip())}
    if set(from_env) - {"data_dir"}:
        return False
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    return not (data_dir_of(given, from_env) / SETTINGS_FILE_NAME).exists()
