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
    # never the developer's own OS keyring (keyring comes with the [ai] extra, so with make venv)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    return data_dir


# --------------------------------------------------------------------------- databases
# The store's tests run against SQLite and a real, throwaway PostgreSQL server (tests/pg.py).

from tests.pg import PostgresCluster, postgres_server  # noqa: E402, F401  (fixture re-export)

DB_BACKENDS = ("sqlite", "postgresql")


def make_db_url(request: pytest.FixtureRequest, backend: str, folder) -> str:
    """A URL of a new, empty database on *backend* (a file in *folder* for SQLite)."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'fretcoach.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres_server")
    return cluster.create_database()


def _drop_postgres(request: pytest.FixtureRequest, url: str) -> None:
    if url.startswith("postgresql"):
        cluster: PostgresCluster = request.getfixturevalue("postgres_server")
        cluster.drop_database(url.rsplit("/", 1)[1])  # keeps the throwaway cluster small


@pytest.fixture(params=DB_BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path):
    """An empty database, once per backend (SQLite file, PostgreSQL database)."""
    url = make_db_url(request, request.param, tmp_path)
    yield url
    _drop_postgres(request, url)


@pytest.fixture(scope="session")
def _migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Per backend, a database migrated once per test session, copied for each test."""
    return {"folder": tmp_path_factory.mktemp("db-templates")}


def _migrated_copy(request: pytest.FixtureRequest, backend: str, folder) -> str:
    import shutil

    from fretcoach_desktop.store import Store

    templates = request.getfixturevalue("_migrated_templates")
    if backend == "sqlite":
        template = templates["folder"] / "template.db"
        if not template.exists():
            Store(f"sqlite:///{template}").close()
        shutil.copyfile(template, folder / "fretcoach.db")
        return f"sqlite:///{folder / 'fretcoach.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres_server")
    if "postgresql" not in templates:
        templates["postgresql"] = "migrated_template"
        Store(cluster.create_database(templates["postgresql"])).close()
    return cluster.create_database(template=templates["postgresql"])


@pytest.fixture(params=DB_BACKENDS)
def migrated_db_url(request: pytest.FixtureRequest, tmp_path):
    """A database already at the newest schema, once per backend (faster than migrating)."""
    url = _migrated_copy(request, request.param, tmp_path)
    yield url
    _drop_postgres(request, url)


@pytest.fixture
def store(migrated_db_url: str):
    """A :class:`~fretcoach_desktop.store.Store` on each backend (schema up to date)."""
    from fretcoach_desktop.store import Store

    with Store(migrated_db_url) as opened:
        yield opened
