"""Open the practice window: the Qt half of the composition root (``fretcoach_desktop.app``)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from fretcoach_desktop.app import _parse, _with_keyring_secrets, build_services, demo_take

log = logging.getLogger(__name__)


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

    from fretcoach_desktop.ui import theme
    from fretcoach_desktop.ui.main_window import MainWindow, stylesheet

    app = QApplication.instance() or QApplication(["fretcoach", *qt_args])
    app.setApplicationName("FretCoach")
    app.setOrganizationName("FretCoach")
    app.setApplicationDisplayName("FretCoach")
    theme.apply_palette(app, None if args.theme == "system" else args.theme == "dark")
    if args.theme == "system":
        theme.follow_system(app)
    app.setStyleSheet(stylesheet())

    demo = args.demo if args.demo is not None and args.demo.is_file() else demo_take()
    services = build_services(config, demo, args.sample_history, fake=args.fake_services or args.sample_history)
    window = MainWindow(services)
    window.show()
    if os.environ.get("FRETCOACH_REPORT_SHOWN"):  # bench/gui.py: time to the first paint
        QTimer.singleShot(0, lambda: print("shown", flush=True))
    # Keys from the OS keyring: read after the window is up (importing keyring takes time).
    QTimer.singleShot(0, lambda: setattr(services, "config", _with_keyring_secrets(services.config, services.secrets)))
    recover = getattr(services.store, "recover_unfinished", None)
    if recover is not None:  # a session cut short by a crash: close it, tell the player

        def recovered(result, error) -> None:
            if error is not None:
                window.statusBar().showMessage(f"Database: {error}", 30000)
            elif result:
                window.statusBar().showMessage(
                    f"Recovered {len(result)} unfinished session(s) after an unexpected exit; "
                    "what was saved up to the last checkpoint is in History.",
                    15000,
                )

        window.runner.run(lambda: recover(config.user), recovered)
    if args.autostart:
        QTimer.singleShot(300, window.start_session)
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
