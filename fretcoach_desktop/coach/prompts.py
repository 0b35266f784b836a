"""Versioned prompts: ``<name>.<version>.txt`` plus ``registry.json``, shipped as package data in
``fretcoach_desktop/resources/prompts``.

``registry.json`` maps each prompt name to its current version; older versions stay on disk
so evaluations can compare them (``load_prompt("live_coach", "v1")``). A prompt's id is
``"<name>.<version>"`` (e.g. ``live_coach.v1``); every coach message and plan records it.
Templates use ``{{placeholder}}`` (mustache) so the same text registers as an Opik prompt.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PROMPT_NAMES", "PromptError", "PromptTemplate", "available_versions", "load_prompt", "prompts_dir"]

PROMPT_NAMES: tuple[str, ...] = ("live_coach", "session_summary", "ai_mode_plan", "chat_system")
_PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
_VERSION = re.compile(r"^v\d+[a-z0-9_-]*$")


class PromptError(LookupError):
    """An unknown prompt name or version, or a broken registry."""


def prompts_dir() -> Path:
    """The directory holding the prompt files (``fretcoach_desktop/resources/prompts``)."""
    from fretcoach_desktop import resources

    return resources.path("prompts")


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: str
    text: str

    @property
    def id(self) -> str:
        """The version id recorded with every message and plan, e.g. ``live_coach.v1``."""
        return f"{self.name}.{self.version}"

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_PLACEHOLDER.findall(self.text)))

    def render(self, **values: Any) -> str:
        """Fill the ``{{placeholders}}``; a missing value renders as ``unknown``."""

        def sub(match: re.Match[str]) -> str:
            value = values.get(match.group(1))
            return "unknown" if value is None else str(value)

        return _PLACEHOLDER.sub(sub, self.text).strip()


@functools.lru_cache(maxsize=8)
def _registry(directory: Path) -> dict[str, str]:
    path = directory / "registry.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PromptError(f"cannot read the prompt registry {path}: {exc}") from None
    if not isinstance(data, dict):
        raise PromptError(f"the prompt registry {path} must be a JSON object")
    return {str(k): str(v) for k, v in data.items()}


def available_versions(name: str, directory: Path | None = None) -> list[str]:
    """All versions of *name* on disk, oldest first."""
    directory = directory or prompts_dir()
    versions = [p.name[len(name) + 1 : -4] for p in directory.glob(f"{name}.v*.txt")]
    return sorted((v for v in versions if _VERSION.match(v)), key=lambda v: (len(v), v))


@functools.lru_cache(maxsize=64)
def _read(directory: Path, name: str, version: str) -> PromptTemplate:
    path = directory / f"{name}.{version}.txt"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise PromptError(f"no prompt {name!r} version {version!r} ({path})") from None
    return PromptTemplate(name=name, version=version, text=text)


def load_prompt(name: str, version: str | None = None, directory: Path | None = None) -> PromptTemplate:
    """The prompt *name* at *version* (default: the registry's current version).

    *version* may be ``"v2"`` or a full id ``"live_coach.v2"``.
    """
    directory = (directory or prompts_dir()).resolve()
    if version is None:
        registry = _registry(directory)
        if name not in registry:
            raise PromptError(f"unknown prompt {name!r}; known: {', '.join(sorted(registry))}")
        version = registry[name]
    if version.startswith(f"{name}."):
        version = version[len(name) + 1 :]
    if not _VERSION.match(version):
        raise PromptError(f"bad prompt version {version!r} (expected v1, v2, ...)")
    return _read(directory, name, version)
