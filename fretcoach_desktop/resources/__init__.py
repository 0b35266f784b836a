"""The files FretCoach ships inside its package, read with :mod:`importlib.resources`.

``demo/``     the demo take (``demo_take.flac``) and its exercise and ground truth (``.json``)
``prompts/``  the coach's versioned prompts and ``registry.json``
``icons/``    the app icon: ``fretcoach.svg`` and PNGs in ``hicolor/<size>/``
``desktop/``  the desktop entry and AppStream metainfo (``fretcoach install-desktop``)

They are package data (``[tool.setuptools.package-data]`` in ``pyproject.toml``), so a
wheel, a pipx install and a checkout all find them the same way; a test builds the wheel
and checks that every file here is in it. Nothing here imports anything heavy: the window
asks for the demo take and the icon before it is shown.
"""

from __future__ import annotations

import atexit
import contextlib
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path

__all__ = ["path", "root"]

_extracted = contextlib.ExitStack()  # files copied out of a zipped install, removed at exit
atexit.register(_extracted.close)


def root() -> Traversable:
    """The resources folder as a :class:`~importlib.resources.abc.Traversable`."""
    return files(__name__)


def path(*parts: str) -> Path:
    """A real file-system path to a resource file (``path("demo", "demo_take.flac")``).

    Installed from a wheel or a checkout, the package is a folder and this is the file
    itself (which may not exist: callers check). From a zip, the file is extracted once and
    kept until the process exits.
    """
    resource = root().joinpath(*parts)
    if isinstance(resource, Path):
        return resource
    return _extracted.enter_context(as_file(resource))
