"""All Qt code of FretCoach: the practice window and its widgets, dialogs and workers.

Nothing outside this package imports Qt (DESIGN.md, "Layout"); services are passed in
through :class:`fretcoach_desktop.ui.services.Services` (a Qt-free module).

PySide6 is pinned below 6.12 (pyproject.toml): 6.12.0 on CPython 3.11 drops a reference to
``None``/``True``/``False`` on every void C++ call, and a window painting at 30 Hz aborts
within seconds ("Fatal Python error: none_dealloc").
"""
