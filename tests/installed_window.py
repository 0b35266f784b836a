"""Run by tests/test_install.py with an installed copy's interpreter (not a test module itself).

Opens the practice window the way the app does (real services, offscreen Qt), picks the
Demo input, plays the bundled take until the window has judged a few notes, stops, and
prints one JSON object describing what it saw. It imports nothing from the checkout: the
``fretcoach_desktop`` it runs must be the installed one, and it says where that is.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    from PySide6.QtWidgets import QApplication

    import fretcoach_desktop
    from fretcoach_desktop.app import build_services, demo_take
    from fretcoach_desktop.config import load_config
    from fretcoach_desktop.ui.launch import open_window

    app = QApplication(["fretcoach"])
    services = build_services(load_config(), demo_take())
    window = open_window(services)
    window.show()
    report: dict = {"package": fretcoach_desktop.__file__, "demo": str(demo_take())}

    def wait(condition, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            app.processEvents()
            if condition():
                return True
            time.sleep(0.01)
        return condition()

    report["inputs_listed"] = wait(lambda: window.inputs_ready, 60)
    labels = [window.input.itemText(i) for i in range(window.input.count())]
    report["inputs"] = labels
    demo = next((i for i, label in enumerate(labels) if label.startswith("Demo")), None)
    if demo is not None:
        window.input.setCurrentIndex(demo)
        report["started"] = bool(window.start_session())
        report["judged"] = wait(lambda: len(window.last_notes.verdicts()) >= 3, 60)
        report["notes"] = len(window.last_notes.verdicts())
        wait(lambda: False, 0.5)  # let the coach bar settle
        report["coach_bar"] = window.coach_bar.text.text()
        window.stop_session()
        wait(lambda: not window.running, 10)
    icon = window.windowIcon()
    report["window_icon_sizes"] = [s.width() for s in icon.availableSizes()] if not icon.isNull() else []
    window.close()
    window.runner.shutdown(5000)
    store_close = getattr(services.store, "close", None)
    if store_close is not None:
        store_close()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
