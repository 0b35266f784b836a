"""Open the practice window: the Qt half of the composition root (``fretcoach_desktop.app``).

Start-up order (the window must be on screen within 1 s, ``bench/gui.py`` measures it):
settings, Qt, the window, the first paint; only then, on the worker pool and one after the
other, the audio inputs (PortAudio), the database (SQLAlchemy, Alembic), the keyring and
the libraries a session needs (the coach's LangChain/OpenAI). When they are loaded the
heap is frozen (:func:`gc.freeze`), so the garbage collector never again walks the
millions of objects those imports made: a full collection over them held the GIL for
100-250 ms, freezing the window mid-session.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from fretcoach_desktop.app import _parse, _with_keyring_secrets, build_services, demo_take

log = logging.getLogger(__name__)

#: How long a Python thread may hold the GIL while another one waits (CPython's default is
#: 5 ms). The GUI thread enters Python for each timer tick and each custom paint; with the
#: analysis, pump and coach threads running Python beside it, every entry could wait up to
#: the whole interval, and a repaint makes several.
SWITCH_INTERVAL_S = 0.001


def tune_interpreter() -> None:
    """Process-wide interpreter settings for a responsive window (also used by bench/gui.py)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def freeze_heap() -> None:
    """Move every object alive now out of the garbage collector's sight (see module doc)."""
    gc.freeze()


def open_window(services: Any, report_shown: bool = False) -> Any:
    """Build the practice window the way the app does (not shown yet; bench/gui.py uses it)."""
    from PySide6.QtCore import QTimer

    from fretcoach_desktop.ui.main_window import MainWindow

    window = MainWindow(services, deferred_start=True)
    window.settled.connect(freeze_heap)

    def after_first_paint() -> None:
        # Keys from the OS keyring (importing keyring takes ~0.3 s): on the pool.
        before = services.config

        def keys_read(config: Any, error: BaseException | None) -> None:
            if error is None and services.config is before:  # not replaced by Settings meanwhile
                services.config = config
            missing = getattr(services.config, "ai_extra_missing", None)
            if missing:  # a key, but not the [ai] extra: say why the coach is offline
                window.statusBar().showMessage(missing[:1].upper() + missing[1:], 60000)

        window.runner.run(lambda: _with_keyring_secrets(before, services.secrets), keys_read, owner=window)
        recover = getattr(services.store, "recover_unfinished", None)
        if recover is not None:  # a session cut short by a crash: close it, tell the player
            user = services.config.user

            def recovered(result: Any, error: BaseException | None) -> None:
                if error is not None:
                    window.statusBar().showMessage(f"Database: {error}", 30000)
                elif result:
                    window.statusBar().showMessage(
                        f"Recovered {len(result)} unfinished session(s) after an unexpected exit; "
                        "what was saved up to the last checkpoint is in History.",
                        15000,
                    )

            window.runner.run(lambda: recover(user), recovered, owner=window)

    def first_painted() -> None:
        if report_shown:  # bench/gui.py: time to the first paint
            print("shown", flush=True)
        QTimer.singleShot(0, after_first_paint)

    window.first_painted.connect(first_painted)
    return window


def run_window(argv: Sequence[str] | None = None) -> int:
    """Start the GUI; return the process exit code."""
    args, qt_args = _parse(sys.argv[1:] if argv is None else argv)

    from fretcoach_desktop.config import ConfigError, load_config

    try:
        config = load_config()
    except ConfigError as exc:
        print(f"fretcoach: {exc}", file=sys.stderr)
        return 2

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from fretcoach_desktop.desktop import APP_ID
    from fretcoach_desktop.ui import theme
    from fretcoach_desktop.ui.icon import app_icon
    from fretcoach_desktop.ui.main_window import stylesheet

    app = QApplication.instance() or QApplication(["fretcoach", *qt_args])
    app.setApplicationName("FretCoach")
    app.setOrganizationName("FretCoach")
    app.setApplicationDisplayName("FretCoach")
    app.setDesktopFileName(APP_ID)  # Wayland matches the window to its launcher and icon by this
    app.setWindowIcon(app_icon())
    theme.apply_palette(app, None if args.theme == "system" else args.theme == "dark")
    if args.theme == "system":
        theme.follow_system(app)
    app.setStyleSheet(stylesheet())

    demo = args.demo if args.demo is not None and args.demo.is_file() else demo_take()
    services = build_services(config, demo, args.sample_history, fake=args.fake_services or args.sample_history)
    tune_interpreter()
    window = open_window(services, report_shown=bool(os.environ.get("FRETCOACH_REPORT_SHOWN")))
    window.show()
    if args.autostart:  # once the inputs are listed (after the first paint)
        window.inputs_listed.connect(lambda: QTimer.singleShot(300, window.start_session))
    if args.screenshot is not None:

        def shoot() -> None:
            args.screenshot.parent.mkdir(parents=True, exist_ok=True)
            window.grab().save(str(args.screenshot))
            window.close()
            app.quit()

        QTimer.singleShot(int(args.screenshot_after * 1000), shoot)
    code = app.exec()
    window.runner.shutdown(5000)  # let the session's last writes reach the store first
    drain = getattr(services.coach, "drain", None)
    if drain is not None:
        drain(1.0)  # a just-stopped session's spoken summary, if it is quick; never longer
    tracer = getattr(services.coach, "tracer", None)
    chat = getattr(services, "chat", None)
    closings = (chat and chat.close, getattr(services.store, "close", None), tracer and (lambda: tracer.flush(1.0)))
    for closing in closings:
        if closing:
            try:
                closing()
            except Exception as exc:  # exit anyway
                log.warning("shutdown: %s", exc)
    return code
