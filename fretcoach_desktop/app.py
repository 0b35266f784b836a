"""Composition root: build the config and the services, show the practice window.

``run_app(argv)`` is what ``python -m fretcoach_desktop`` (and ``fretcoach-desktop``) runs
when no sub-command is given. :func:`build_services` wires the real services (the live
pipeline, the store, the coach, the chat agent, tracing) and the Demo input, the bundled
take (package data: ``fretcoach_desktop/resources/demo/demo_take.flac``); the in-memory
fakes of :mod:`fretcoach_desktop.ui.fakes` stand in when the database cannot be opened.
Heavy libraries (LangChain, Opik, SQLAlchemy) are never imported here, so the window shows
fast.

Extra options (after Qt's own): ``--demo FILE`` replay this take as the Demo input (its
``.json`` sidecar, if any, sets key/scale/bpm); ``--theme dark|light``; ``--autostart``;
``--screenshot PNG --screenshot-after SECONDS`` (save the window and quit, for docs);
``--sample-history`` (pre-fill the in-memory store).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["demo_take", "run_app"]

log = logging.getLogger(__name__)

def demo_take() -> Path | None:
    """The bundled demo take (package data), if present.

    Found through :mod:`fretcoach_desktop.resources`, not the audio package's
    ``demo_take_path`` (the same file), which costs a numpy import the window does not need
    before it is shown.
    """
    from fretcoach_desktop import resources

    path = resources.path("demo", "demo_take.flac")
    return path if path.is_file() else None


def _exercise_for(path: Path | None):
    """Key/scale/bpm of a take from its ``.json`` sidecar (corpus format), else the default."""
    from fretcoach_desktop.ui.services import ExerciseSettings

    if path is None:
        return ExerciseSettings()
    sidecar = path.with_suffix(".json")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        bpm = float(meta["bpm"])
        count_in = int(round(float(meta.get("count_in_s", 0.0)) * bpm / 60.0))
        return ExerciseSettings(
            key=str(meta["key"]),
            scale=str(meta["scale"]),
            bpm=bpm,
            subdivision=int(meta.get("subdivision", 1)),
            count_in_beats=count_in if count_in in (0, 4, 8) else 4,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return ExerciseSettings()


def _parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="fretcoach", add_help=False)
    parser.add_argument("--demo", type=Path, default=None)
    parser.add_argument("--theme", choices=("dark", "light", "system"), default="system")
    parser.add_argument("--autostart", action="store_true")
    parser.add_argument("--screenshot", type=Path, default=None)
    parser.add_argument("--screenshot-after", type=float, default=6.0)
    parser.add_argument("--sample-history", action="store_true")
    parser.add_argument("--fake-services", action="store_true")
    return parser.parse_known_args(list(argv))


def _with_keyring_secrets(config, secrets):
    """Fill API keys that neither the environment nor the settings file set from the keyring."""
    from pydantic import SecretStr

    updates = {}
    for name in ("openai_api_key", "opik_api_key"):
        if getattr(config, name) is None:
            value = secrets.get(name) if secrets.available else None
            if value:
                updates[name] = SecretStr(value)
    return config.model_copy(update=updates) if updates else config


def _open_store(config):
    from fretcoach_desktop.store import Store

    return Store.open(config)


def build_services(config, demo: Path | None, sample_history: bool = False, fake: bool = False):
    """The window's services: the live pipeline, the database and the coach.

    ``fake`` (or a database that cannot be opened) falls back to the in-memory stand-ins
    of :mod:`fretcoach_desktop.ui.fakes`, so the window still opens and says why.
    """
    from fretcoach_desktop.ui.services import Services
    from fretcoach_desktop.ui.settings_dialog import KeyringSecretStore

    secrets = KeyringSecretStore()
    if not fake:
        try:
            from fretcoach_desktop.services import AudioService, ChatService, CoachService, StoreService
            from fretcoach_desktop.tracing import make_tracer

            # opened on first use, off the GUI thread (see StoreService)
            store = StoreService(lambda: _open_store(config))
            services = Services(
                config=config,
                audio=AudioService(config, demo),
                store=store,
                coach=None,
                secrets=secrets,
                initial_exercise=_exercise_for(demo),
            )
            services.coach = CoachService(config, store, tracer=make_tracer(config), user=lambda: config.user)
            # the agent is made on the worker pool at the first question, with the config of then
            services.chat = ChatService(lambda: services.config, store, tracer=services.coach.tracer)
            return services
        except Exception as exc:  # e.g. a locked or corrupt database: run on, tell the user
            log.error("running without the database: %s", exc)
            print(f"fretcoach: running without saving sessions: {exc}", file=sys.stderr)
    from fretcoach_desktop.ui.fakes import FakeAudioService, FakeCoach, InMemoryStore, sample_sessions

    store = InMemoryStore(sessions=sample_sessions() if sample_history else (), profiles=(config.user,))
    return Services(
        config=config,
        audio=FakeAudioService(demo),
        store=store,
        coach=FakeCoach(store),
        secrets=secrets,
        initial_exercise=_exercise_for(demo),
    )


def run_app(argv: Sequence[str] | None = None) -> int:
    """Start the GUI; return the process exit code (the Qt part lives in ``ui/launch.py``)."""
    from fretcoach_desktop.ui.launch import run_window

    return run_window(argv)
