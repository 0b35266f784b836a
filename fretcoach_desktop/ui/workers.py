"""Run blocking work (database, AI) on a thread pool; get ``(result, error)`` back on the GUI thread.

In the style of MusicBrainz Picard's ``util/thread.py``: a :class:`QRunnable` calls the
function on a :class:`QThreadPool` worker, and the outcome is delivered to a callback on the
GUI thread, through a queued signal, as ``callback(result, error)``: exactly one of them is
meaningful (``error`` is the exception, or ``None`` on success).

    runner = TaskRunner(parent=window)
    runner.run(lambda: store.recent_sessions(user), on_sessions, owner=history_view)

If ``owner`` (a QObject) has been deleted by the time the result arrives, the callback is
skipped, so a closed dialog never receives a late answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot

__all__ = ["TaskRunner"]

log = logging.getLogger(__name__)

Callback = Callable[[Any, BaseException | None], None]


class _Relay(QObject):
    """Lives on the GUI thread; its queued slot runs the callbacks there."""

    # One tuple argument (callback, owner, result, error): PySide6 on Python 3.11 mishandles
    # the reference count of a bare None passed as a queued signal argument.
    done = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # A connection to a slot of an object living on the GUI thread is queued when the
        # signal is emitted from a pool thread, so _deliver always runs on the GUI thread.
        self.done.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def _deliver(self, payload: tuple) -> None:
        callback, owner, result, error = payload
        if callback is None:
            return
        if owner is not None and not _alive(owner):
            return
        try:
            callback(result, error)
        except Exception:  # a broken callback must not take the event loop down
            log.exception("task callback failed")


class _Runnable(QRunnable):
    def __init__(self, func: Callable[[], Any], callback: Callback | None, owner: QObject | None, relay: _Relay):
        super().__init__()
        self.setAutoDelete(True)
        self._func, self._callback, self._owner, self._relay = func, callback, owner, relay

    def run(self) -> None:  # pool thread
        try:
            result = self._func()
        except BaseException as exc:  # noqa: BLE001 - handed to the callback, never lost
            log.debug("task failed: %s", type(exc).__name__)
            self._relay.done.emit((self._callback, self._owner, None, exc))
        else:
            self._relay.done.emit((self._callback, self._owner, result, None))


class TaskRunner(QObject):
    """A thread pool plus a relay back to the GUI thread. Create it on the GUI thread."""

    def __init__(self, parent: QObject | None = None, max_threads: int = 4) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._relay = _Relay(self)

    def run(
        self,
        func: Callable[[], Any],
        callback: Callback | None = None,
        *,
        owner: QObject | None = None,
        priority: int = 0,
    ) -> None:
        """Run ``func()`` on the pool; then ``callback(result, error)`` on the GUI thread."""
        self.pool.start(_Runnable(func, callback, owner, self._relay), priority)

    def active(self) -> int:
        return self.pool.activeThreadCount()

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """Drop queued tasks and wait up to *timeout_ms* for running ones (app exit)."""
        self.pool.clear()
        return self.pool.waitForDone(timeout_ms)


def _alive(obj: QObject) -> bool:
    try:
        import shiboken6

        return shiboken6.isValid(obj)
    except ImportError:  # pragma: no cover
        return True
