"""Typed settings: one :class:`Config` object built at start-up and passed down (no globals).

Sources, lowest precedence first (DESIGN.md, "Configuration"):

1. defaults;
2. the settings file ``<data_dir>/settings.json`` (a JSON object of field names), if present;
3. environment variables (see :data:`ENV_VARS`); an empty variable counts as unset;
4. explicit overrides, typically CLI flags (``None`` values are ignored).

``data_dir`` itself comes from overrides, ``FRETCOACH_DATA_DIR`` or the platform's user data
directory only, since the settings file lives inside it; a ``data_dir`` key in the file is
ignored. API keys are :class:`pydantic.SecretStr`, so printing or logging a ``Config`` shows
``'**********'`` instead of the secret.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from fretcoach_desktop import extras
from fretcoach_desktop.config_sources import (  # re-exported: ENV_VARS, SETTINGS_FILE_NAME, default_data_dir
    DB_FILE_NAME,
    DEFAULT_A4_HZ,
    ENV_VARS,
    SETTINGS_FILE_NAME,
    data_dir_of,
    default_data_dir,
)
from fretcoach_desktop.profile_name import check_profile_name

__all__ = [
    "ENV_VARS",
    "SETTINGS_FILE_NAME",
    "Config",
    "ConfigError",
    "default_data_dir",
    "load_config",
]


class ConfigError(ValueError):
    """Invalid settings (bad file, bad variable, bad flag), with a one-line message."""


class Config(BaseModel):
    """All of FretCoach's settings. Immutable; build it with :func:`load_config`."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    data_dir: Path = Field(description="Data directory: database, speech clips, logs")
    db_url: str = Field(description="SQLAlchemy URL of the database")
    user: str = Field("default", description="Local player profile")
    openai_api_key: SecretStr | None = Field(None, description="No key means offline coach")
    openai_base_url: str | None = Field(None, description="Any OpenAI-compatible server")
    model: str = Field("gpt-4o-mini", description="Chat / coach model")
    fallback_models: list[str] = Field(default_factory=list, description="Tried in order")
    tts_model: str = Field("gpt-4o-mini-tts", description="Speech model")
    tts_voice: str = Field("alloy", description="Speech voice")
    opik_api_key: SecretStr | None = Field(None, description="Opik tracing key")
    opik_workspace: str | None = Field(None, description="Opik workspace")
    opik_project_name: str = Field("FretCoach", description="Opik project")
    opik_url_override: str | None = Field(None, description="Self-hosted Opik URL")
    a4_hz: float = Field(DEFAULT_A4_HZ, ge=400.0, le=480.0, description="Tuning reference for A4")

    @field_validator("data_dir", mode="before")
    @classmethod
    def _expand_data_dir(cls, value: Any) -> Any:
        if isinstance(value, str | os.PathLike):
            return Path(value).expanduser()
        return value

    @field_validator("fallback_models", mode="before")
    @classmethod
    def _split_models(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            return [str(part).strip() for part in value if str(part).strip()]
        return value

    @field_validator("user")
    @classmethod
    def _check_user(cls, value: str) -> str:
        return check_profile_name(value)

    @field_validator("db_url", "model", "tts_model", "tts_voice", "opik_project_name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @property
    def settings_path(self) -> Path:
        """Where this configuration's settings file lives."""
        return self.data_dir / SETTINGS_FILE_NAME

    @property
    def tracing_enabled(self) -> bool:
        """Opik tracing is on when an Opik API key or a self-hosted Opik URL is configured."""
        return _secret_set(self.opik_api_key) or bool(self.opik_url_override)

    @property
    def online_coach(self) -> bool:
        """Whether the online coach answers: an OpenAI key is configured and the ``[ai]``
        extra (LangChain, OpenAI) is installed. Otherwise the offline coach answers."""
        return _secret_set(self.openai_api_key) and extras.installed("ai")

    @property
    def ai_extra_missing(self) -> str | None:
        """The one line to show when an OpenAI key is configured but ``[ai]`` is not installed."""
        if _secret_set(self.openai_api_key) and not extras.installed("ai"):
            return extras.message("ai", "an OpenAI key is set, but the online AI coach") + "; the offline coach answers"
        return None


def _secret_set(secret: SecretStr | None) -> bool:
    return secret is not None and bool(secret.get_secret_value())


def load_config(
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] = os.environ,
) -> Config:
    """Build the :class:`Config`: defaults < settings file < *env* < *overrides*.

    Args:
        overrides: field name -> value, typically from CLI flags; ``None`` values are
            skipped so an argparse namespace's unset options can be passed as they are.
        env: the environment to read (``os.environ`` by default; tests pass a dict).

    Raises:
        ConfigError: unknown override keys, an unreadable or invalid settings file, or a
            value that fails validation. The message is one line and never contains secrets.
    """
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(given) - set(Config.model_fields))
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")

    from_env = {field: value for var, field in ENV_VARS.items() if (value := env.get(var, "").strip())}

    data_dir = data_dir_of(given, from_env)

    values: dict[str, Any] = _read_settings_file(data_dir / SETTINGS_FILE_NAME)
    values.update(from_env)
    values.update(given)
    values["data_dir"] = data_dir
    values.setdefault("db_url", f"sqlite:///{data_dir / DB_FILE_NAME}")
    try:
        return Config(**values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _read_settings_file(path: Path) -> dict[str, Any]:
    """The settings file's fields (minus ``data_dir``), or ``{}`` when there is no file."""
    if not path.is_file():
        return {}
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"settings file {path} is not valid JSON: {exc}") from None
    if not isinstance(content, dict):
        raise ConfigError(f"settings file {path} must contain a JSON object")
    content.pop("data_dir", None)
    unknown = sorted(set(content) - set(Config.model_fields))
    if unknown:
        raise ConfigError(f"settings file {path} has unknown setting(s): {', '.join(unknown)}")
    return content


def _describe(exc: ValidationError) -> str:
    """One line naming each invalid field and why, without echoing the offending values."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        field = ".".join(str(p) for p in error["loc"]) or "settings"
        message = error["msg"].removeprefix("Value error, ")  # our validators' own words
        parts.append(f"{field}: {message}")
    return "invalid settings: " + "; ".join(parts)
