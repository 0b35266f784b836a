"""The rule for a player profile's name, shared by the settings and the command line.

Kept free of pydantic so that ``fretcoach --user NAME`` can check a name before anything
heavy is imported.
"""

from __future__ import annotations

MAX_PROFILE_NAME = 64


def check_profile_name(value: str) -> str:
    """``value`` without surrounding spaces, or ValueError saying what is wrong with it."""
    name = value.strip()
    if not name:
        raise ValueError("a profile name cannot be empty (e.g. --user alice)")
    if len(name) > MAX_PROFILE_NAME:
        raise ValueError(f"a profile name is at most {MAX_PROFILE_NAME} characters ({len(name)} given)")
    if any(not ch.isprintable() for ch in name):
        raise ValueError("a profile name cannot contain control characters (tabs, new lines...)")
    return name
