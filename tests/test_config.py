from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from fretcoach_desktop.config import ENV_VARS, Config, ConfigError, default_data_dir, load_config


def write_settings(folder: Path, /, **values) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "settings.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    return path


def test_defaults(tmp_path):
    cfg = load_config(env={"FRETCOACH_DATA_DIR": str(tmp_path)})
    assert cfg.data_dir == tmp_path
    assert cfg.db_url == f"sqlite:///{tmp_path / 'fretcoach.db'}"
    assert cfg.user == "default"
    assert cfg.openai_api_key is None
    assert cfg.openai_base_url is None
    assert cfg.model == "gpt-4o-mini"
    assert cfg.fallback_models == []
    assert cfg.tts_model == "gpt-4o-mini-tts"
    assert cfg.tts_voice == "alloy"
    assert cfg.opik_api_key is None
    assert cfg.opik_workspace is None
    assert cfg.opik_project_name == "FretCoach"
    assert cfg.opik_url_override is None
    assert cfg.a4_hz == 440.0
    assert cfg.tracing_enabled is False
    assert cfg.online_coach is False
    assert cfg.settings_path == tmp_path / "settings.json"


def test_default_data_dir_is_the_platform_user_data_dir(tmp_path, monkeypatch):
    from platformdirs import user_data_dir

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))  # never read a real settings file
    assert default_data_dir() == Path(user_data_dir("FretCoach", appauthor=False))
    if sys.platform.startswith("linux"):
        assert default_data_dir() == tmp_path / "FretCoach"
    cfg = load_config(env={})
    assert cfg.data_dir == default_data_dir()
    assert cfg.db_url.startswith("sqlite:///") and cfg.db_url.endswith("fretcoach.db")


def test_every_environment_variable(tmp_path):
    env = {
        "FRETCOACH_DATA_DIR": str(tmp_path),
        "FRETCOACH_DB_URL": "postgresql://hub/fretcoach",
        "FRETCOACH_USER": "ana",
        "OPENAI_API_KEY": "sk-test-123",
        "OPENAI_BASE_URL": "http://127.0.0.1:9999/v1",
        "FRETCOACH_MODEL": "gpt-4.1-mini",
        "FRETCOACH_FALLBACK_MODELS": " gpt-4o-mini , gpt-3.5-turbo,, ",
        "FRETCOACH_TTS_MODEL": "tts-1",
        "FRETCOACH_TTS_VOICE": "nova",
        "OPIK_API_KEY": "opik-secret",
        "OPIK_WORKSPACE": "band",
        "OPIK_PROJECT_NAME": "Practice",
        "OPIK_URL_OVERRIDE": "http://127.0.0.1:5173/api",
        "FRETCOACH_A4_HZ": "442",
    }
    assert set(env) == set(ENV_VARS)
    cfg = load_config(env=env)
    assert cfg.db_url == "postgresql://hub/fretcoach"
    assert cfg.user == "ana"
    assert cfg.openai_api_key is not None and cfg.openai_api_key.get_secret_value() == "sk-test-123"
    assert cfg.openai_base_url == "http://127.0.0.1:9999/v1"
    assert cfg.model == "gpt-4.1-mini"
    assert cfg.fallback_models == ["gpt-4o-mini", "gpt-3.5-turbo"]
    assert cfg.tts_model == "tts-1"
    assert cfg.tts_voice == "nova"
    assert cfg.opik_api_key is not None and cfg.opik_api_key.get_secret_value() == "opik-secret"
    assert cfg.opik_workspace == "band"
    assert cfg.opik_project_name == "Practice"
    assert cfg.opik_url_override == "http://127.0.0.1:5173/api"
    assert cfg.a4_hz == 442.0
    assert cfg.online_coach is True


def test_empty_variables_count_as_unset(tmp_path):
    cfg = load_config(env={"FRETCOACH_DATA_DIR": str(tmp_path), "OPENAI_API_KEY": "", "FRETCOACH_USER": "  "})
    assert cfg.openai_api_key is None
    assert cfg.user == "default"


def test_precedence_file_then_env_then_overrides(tmp_path):
    write_settings(tmp_path, user="from-file", model="file-model", tts_voice="echo", a4_hz=441.0)
    env = {"FRETCOACH_DATA_DIR": str(tmp_path), "FRETCOACH_USER": "from-env", "FRETCOACH_MODEL": "env-model"}
    cfg = load_config({"user": "from-flag", "a4_hz": None}, env=env)
    assert cfg.user == "from-flag"  # override beats env and file
    assert cfg.model == "env-model"  # env beats file
    assert cfg.tts_voice == "echo"  # file beats default
    assert cfg.a4_hz == 441.0  # a None override is ignored


def test_settings_file_cannot_move_the_data_dir(tmp_path):
    write_settings(tmp_path, data_dir=str(tmp_path / "elsewhere"), user="ana")
    cfg = load_config(env={"FRETCOACH_DATA_DIR": str(tmp_path)})
    assert cfg.data_dir == tmp_path
    assert cfg.user == "ana"


def test_data_dir_override_selects_the_settings_file(tmp_path):
    write_settings(tmp_path / "b", user="bea")
    cfg = load_config({"data_dir": str(tmp_path / "b")}, env={"FRETCOACH_DATA_DIR": str(tmp_path / "a")})
    assert cfg.data_dir == tmp_path / "b"
    assert cfg.user == "bea"
    assert cfg.db_url == f"sqlite:///{tmp_path / 'b' / 'fretcoach.db'}"


def test_data_dir_expands_user(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = load_config(env={"FRETCOACH_DATA_DIR": "~/fc"})
    assert cfg.data_dir == tmp_path / "fc"


def test_settings_file_values_are_typed(tmp_path):
    write_settings(tmp_path, fallback_models=["a", "b"], openai_api_key="sk-file")
    cfg = load_config(env={"FRETCOACH_DATA_DIR": str(tmp_path)})
    assert cfg.fallback_models == ["a", "b"]
    assert isinstance(cfg.openai_api_key, SecretStr)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [("{not json", "is not valid JSON"), ("[1, 2]", "must contain a JSON object"),
     ('{"colour": "red"}', "unknown setting(s): colour")],
)  # fmt: skip
def test_bad_settings_files(tmp_path, content, fragment):
    (tmp_path / "settings.json").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(env={"FRETCOACH_DATA_DIR": str(tmp_path)})
    assert fragment in str(exc.value)
    assert "\n" not in str(exc.value)


def test_unknown_override_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config({"volume": 11}, env={"FRETCOACH_DATA_DIR": str(tmp_path)})


@pytest.mark.parametrize(
    ("env_update", "field"),
    [({"FRETCOACH_A4_HZ": "500"}, "a4_hz"), ({"FRETCOACH_A4_HZ": "abc"}, "a4_hz"),
     ({"FRETCOACH_A4_HZ": "399.9"}, "a4_hz")],
)  # fmt: skip
def test_invalid_values_raise_config_error(tmp_path, env_update, field):
    with pytest.raises(ConfigError) as exc:
        load_config(env={"FRETCOACH_DATA_DIR": str(tmp_path), **env_update})
    assert field in str(exc.value)


def test_invalid_user_name(tmp_path):
    with pytest.raises(ConfigError, match="user"):
        load_config({"user": "a\tb"}, env={"FRETCOACH_DATA_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="user"):
        load_config({"user": "x" * 65}, env={"FRETCOACH_DATA_DIR": str(tmp_path)})


def test_validation_errors_do_not_echo_secrets(tmp_path):
    write_settings(tmp_path, openai_api_key=["sk-very-secret"])
    with pytest.raises(ConfigError) as exc:
        load_config(env={"FRETCOACH_DATA_DIR": str(tmp_path)})
    assert "openai_api_key" in str(exc.value)
    assert "sk-very-secret" not in str(exc.value)


def test_secrets_never_printed(tmp_path):
    cfg = load_config(
        env={"FRETCOACH_DATA_DIR": str(tmp_path), "OPENAI_API_KEY": "sk-abc123", "OPIK_API_KEY": "opik-xyz"}
    )
    for text in (repr(cfg), str(cfg), cfg.model_dump_json(), str(cfg.model_dump())):
        assert "sk-abc123" not in text
        assert "opik-xyz" not in text


@pytest.mark.parametrize(
    ("env", "enabled"),
    [({}, False), ({"OPIK_API_KEY": "k"}, True), ({"OPIK_URL_OVERRIDE": "http://127.0.0.1:5173/api"}, True),
     ({"OPIK_WORKSPACE": "w", "OPIK_PROJECT_NAME": "p"}, False)],
)  # fmt: skip
def test_tracing_enabled(tmp_path, env, enabled):
    cfg = load_config(env={"FRETCOACH_DATA_DIR": str(tmp_path), **env})
    assert cfg.tracing_enabled is enabled


def test_config_is_immutable(tmp_path):
    cfg = load_config(env={"FRETCOACH_DATA_DIR": str(tmp_path)})
    with pytest.raises(ValueError):
        cfg.user = "other"  # type: ignore[misc]
    assert isinstance(cfg, Config)


def test_load_config_reads_os_environ_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("FRETCOACH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FRETCOACH_USER", "env-user")
    assert load_config().user == "env-user"


def test_config_module_stays_light():
    code = (
        "import sys, fretcoach_desktop.config as c; "
        "heavy = [m for m in ('numpy', 'scipy', 'soundfile', 'sounddevice', 'PySide6', 'opik', 'langchain') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- only_defaults


def _defaults_of(cfg: Config) -> dict:
    """Every field of *cfg* that is not machine-specific (data dir and the database in it)."""
    return {name: getattr(cfg, name) for name in Config.model_fields if name not in ("data_dir", "db_url")}


def test_only_defaults_means_load_config_gives_every_default(tmp_path):
    from fretcoach_desktop.config_sources import DEFAULT_A4_HZ, only_defaults

    env = {"FRETCOACH_DATA_DIR": str(tmp_path), "UNRELATED": "x", "FRETCOACH_USER": "  "}  # blank = unset
    assert only_defaults({"user": None, "a4_hz": None}, env)
    cfg = load_config({"user": None}, env)
    expected = {
        name: field.get_default(call_default_factory=True)
        for name, field in Config.model_fields.items()
        if name not in ("data_dir", "db_url")
    }
    assert _defaults_of(cfg) == expected
    assert cfg.a4_hz == DEFAULT_A4_HZ
    assert only_defaults({"data_dir": tmp_path / "elsewhere"}, {})


@pytest.mark.parametrize("var", sorted(set(ENV_VARS) - {"FRETCOACH_DATA_DIR"}))
def test_any_variable_is_not_only_defaults(tmp_path, var):
    from fretcoach_desktop.config_sources import only_defaults

    assert not only_defaults({}, {"FRETCOACH_DATA_DIR": str(tmp_path), var: "1"})


def test_an_override_or_a_settings_file_is_not_only_defaults(tmp_path):
    from fretcoach_desktop.config_sources import only_defaults

    env = {"FRETCOACH_DATA_DIR": str(tmp_path)}
    assert not only_defaults({"user": "ana"}, env)
    assert not only_defaults({"a4_hz": 442.0}, env)
    write_settings(tmp_path, a4_hz=442)
    assert not only_defaults({}, env)
    assert only_defaults({}, {"FRETCOACH_DATA_DIR": str(tmp_path / "other")})
    assert not only_defaults({"data_dir": tmp_path}, {})


def test_config_sources_import_no_pydantic():
    code = "import sys, fretcoach_desktop.config_sources; print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, check=True)
    assert out.stdout.strip() == "False"
