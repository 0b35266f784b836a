"""FretCoach's optional parts (pip extras), and the one line that names a missing one.

The base install (``pipx install fretcoach-desktop``) analyses, shows the practice window
and coaches offline. The extras add:

``[ai]``        the online coach, AI Mode's model and the chat agent: OpenAI through
                LangChain and LangGraph, sqlglot (the chat's SQL guard), keyring (API keys)
``[tracing]``   Opik tracing of every AI call (and keyring)
``[postgres]``  a PostgreSQL database (psycopg 3)
``[all]``       all three

Code that needs an extra asks :func:`installed` (or :func:`require`) before importing it,
and a player who configured something an extra provides (an OpenAI key without ``[ai]``, a
PostgreSQL URL without ``[postgres]``) gets :func:`message`: one line naming the extra and
how to install it, never a traceback. Cheap: a module is looked up (``find_spec``), not
imported.
"""

from __future__ import annotations

import importlib.util

__all__ = ["DISTRIBUTION", "EXTRAS", "MissingExtra", "install_hint", "installed", "message", "missing", "require"]

DISTRIBUTION = "fretcoach-desktop"

#: extra -> (what it adds, in a player's words; the top-level modules it installs)
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ai": (
        "the online AI coach (OpenAI)",
        ("langchain", "langchain_core", "langchain_openai", "langgraph", "openai", "sqlglot"),
    ),
    "tracing": ("Opik tracing", ("opik",)),
    "postgres": ("a PostgreSQL database", ("psycopg",)),
}


def missing(extra: str) -> str | None:
    """The first module of *extra* that cannot be imported here, or None when all can."""
    for module in EXTRAS[extra][1]:
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except (ImportError, ValueError):  # blocked, or a broken half-install
            return module
    return None


def installed(extra: str) -> bool:
    """Whether every package of *extra* is installed."""
    return missing(extra) is None


def install_hint(extra: str) -> str:
    """How to add *extra* to an installation (pipx first: it is how players install)."""
    return f"pipx install --force '{DISTRIBUTION}[{extra}]' (or pip install '{DISTRIBUTION}[{extra}]')"


def message(extra: str, purpose: str | None = None) -> str:
    """One line: *purpose* (default: what the extra adds) needs the extra, and how to get it."""
    what = purpose or EXTRAS[extra][0]
    return f"{what} needs the [{extra}] extra: {install_hint(extra)}"


class MissingExtra(ImportError):
    """An optional part is needed but not installed; ``str()`` is :func:`message`."""

    def __init__(self, extra: str, purpose: str | None = None) -> None:
        super().__init__(message(extra, purpose))
        self.extra = extra


def require(extra: str, purpose: str | None = None) -> None:
    """Raise :class:`MissingExtra` unless *extra* is installed."""
    if not installed(extra):
        raise MissingExtra(extra, purpose)
