"""The DB writer thread, and the recorder that checkpoints a live session through it.

:class:`StoreWriter` is the one thread of the app that writes (DESIGN.md, "Threads"): the
GUI, the coach and the analysis thread ``submit`` a write and get a
:class:`concurrent.futures.Future` back at once; the writer applies the writes one by one,
in the order they were submitted. Nothing ever waits on the database except that thread.
A failed write fails its own future (with a :class:`~.errors.StoreError`) and is reported to
``on_error``; the writes after it still run.

:class:`SessionRecorder` records a live session: it starts the session row, then every
``interval_s`` (default 5 s) the writer thread takes the latest snapshot of the session
(windows and notes so far) and checkpoints it, so a crash or kill -9 loses at most the last
few seconds. ``stop()`` writes the final state and marks the session complete.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from fretcoach_desktop.audio.types import Metrics
from fretcoach_desktop.store.models import utcnow
from fretcoach_desktop.store.records import NoteLike, SessionSummary, Window

__all__ = ["CHECKPOINT_INTERVAL_S", "Periodic", "SessionRecorder", "SessionSnapshot", "StoreWriter"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How often a live session is checkpointed (the issue asks for at least every 5 s).
CHECKPOINT_INTERVAL_S = 5.0


class Periodic:
    """A job the writer runs every ``interval_s`` until :meth:`cancel` (see :meth:`StoreWriter.every`)."""

    def __init__(self, writer: StoreWriter, interval_s: float, fn: Callable[[], Any]) -> None:
        self.interval_s = interval_s
        self.fn = fn
        self.due = time.monotonic() + interval_s
        self.cancelled = False
        self._writer = writer

    def cancel(self) -> None:
        self.cancelled = True
        self._writer._wake()


_STOP = object()


class StoreWriter:
    """One thread applying database writes in submission order.

    ``submit(fn, *args)`` returns a Future at once; ``flush(timeout)`` waits until every
    write submitted before it is done; ``close()`` finishes the queue and stops the thread
    (also run at interpreter exit, with a timeout, so queued writes are not dropped).
    """

    def __init__(
        self,
        *,
        name: str = "fretcoach-db-writer",
        on_error: Callable[[BaseException], None] | None = None,
        close_timeout_s: float = 10.0,
    ) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._periodic: list[Periodic] = []
        self._lock = threading.Lock()
        self._closed = False
        self._on_error = on_error
        self._close_timeout_s = close_timeout_s
        self.last_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        atexit.register(self._at_exit)

    # ----------------------------------------------------------------- API

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Queue ``fn(*args, **kwargs)`` for the writer thread; never blocks.

        Raises:
            RuntimeError: the writer is closed.
        """
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the database writer is closed")
            self._queue.put((future, fn, args, kwargs))
        return future

    def every(self, interval_s: float, fn: Callable[[], Any]) -> Periodic:
        """Run ``fn()`` on the writer thread every *interval_s* seconds (first run after one interval)."""
        if not interval_s > 0:
            raise ValueError("interval_s must be > 0")
        job = Periodic(self, interval_s, fn)
        with self._lock:
            if self._closed:
                raise RuntimeError("the database writer is closed")
            self._periodic.append(job)
        self._wake()
        return job

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every write submitted so far has been applied; False on timeout."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("flush() called from the writer thread would wait for itself")
        try:
            marker = self.submit(lambda: None)
        except RuntimeError:  # closed: the thread has drained (or is draining) the queue
            self._thread.join(timeout)
            return not self._thread.is_alive()
        try:
            marker.result(timeout)
        except TimeoutError:
            return False
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Stop accepting writes, apply those queued, stop the thread; False if it timed out."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._periodic.clear()
                self._queue.put(_STOP)
        atexit.unregister(self._at_exit)
        if threading.current_thread() is self._thread:
            return False
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- thread

    def _wake(self) -> None:
        self._queue.put(None)  # re-evaluate periodic deadlines

    def _at_exit(self) -> None:
        self.close(self._close_timeout_s)

    def _run(self) -> None:
        while True:
            timeout = self._next_timeout()
            try:
                item = self._queue.get(timeout=timeout) if timeout is None or timeout > 0 else self._queue.get_nowait()
            except queue.Empty:
                item = None
            if item is _STOP:
                # Everything submitted before close() was queued before _STOP (same lock),
                # so it has been applied; submit() refuses anything newer.
                return
            if item is not None:
                self._apply(*item)
            self._run_due()

    def _next_timeout(self) -> float | None:
        with self._lock:
            jobs = [job for job in self._periodic if not job.cancelled]
            self._periodic = jobs
        if not jobs:
            return None
        return max(0.0, min(job.due for job in jobs) - time.monotonic())

    def _run_due(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [job for job in self._periodic if not job.cancelled and job.due <= now]
        for job in due:
            job.due = max(job.due + job.interval_s, now)  # no burst of catch-up runs
            try:
                job.fn()
            except BaseException as exc:  # noqa: BLE001 - reported, the thread goes on
                self._report(exc)

    def _apply(self, future: Future, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the future
            future.set_exception(exc)
            self._report(exc)
        else:
            future.set_result(result)

    def _report(self, exc: BaseException) -> None:
        self.last_error = exc
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:  # noqa: BLE001 - a broken error callback must not kill the writer
                log.exception("the database writer's error callback failed")
        else:
            log.warning("database write failed: %s", exc)


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    """The state of a live session to checkpoint: everything so far."""

    duration_s: float
    notes: Sequence[NoteLike] = ()
    windows: Sequence[Window] = ()
    metrics: Metrics | None = None


@dataclass
class _RecorderState:
    session_id: int | None = None
    checkpoints: int = 0
    last_checkpoint: float | None = None


class SessionRecorder:
    """Record one live session through a :class:`StoreWriter`, checkpointing it periodically.

    ``snapshot`` is called on the writer thread every ``interval_s`` and must return the
    session's latest :class:`SessionSnapshot` (e.g. from the analysis thread's immutable
    published snapshot), or ``None`` when there is nothing to save yet. ``on_checkpoint(session_id,
    snapshot)`` is called on the writer thread after each successful checkpoint (e.g. to
    show "saved" in the status bar through a Qt signal). Typical use::

        recorder = SessionRecorder(store, writer, snapshot=latest_snapshot)
        recorder.start(user_id, key="A", scale="minor_pentatonic", bpm=96, subdivision=2)
        ...  # play; a checkpoint is written every 5 s
        summary = recorder.stop(final_snapshot).result()
    """

    def __init__(
        self,
        store: Any,
        writer: StoreWriter,
        snapshot: Callable[[], SessionSnapshot | None],
        *,
        interval_s: float = CHECKPOINT_INTERVAL_S,
        on_checkpoint: Callable[[int, SessionSnapshot], None] | None = None,
    ) -> None:
        self._store = store
        self._on_checkpoint = on_checkpoint
        self._writer = writer
        self._snapshot = snapshot
        self.interval_s = interval_s
        self._state = _RecorderState()
        self._job: Periodic | None = None
        self._started: Future[int] | None = None
        self._create: Callable[[], int] | None = None

    @property
    def session_id(self) -> int | None:
        return self._state.session_id

    @property
    def checkpoints(self) -> int:
        """How many checkpoints have been written so far."""
        return self._state.checkpoints

    def start(self, user_id: int, **settings: Any) -> Future[int]:
        """Create the session row (on the writer thread) and start checkpointing; the id's Future.

        ``settings`` are :meth:`Store.start_session`'s keywords. If the row cannot be created
        (e.g. the database is busy), the Future fails and each later checkpoint tries again,
        so the session is still saved once the database is free.
        """
        if self._started is not None:
            raise RuntimeError("this recorder was already started")
        settings.setdefault("started_at", utcnow())

        def _start() -> int:
            if self._state.session_id is None:
                self._state.session_id = self._store.start_session(user_id, **settings)
            return self._state.session_id

        self._create = _start
        self._started = self._writer.submit(_start)
        self._job = self._writer.every(self.interval_s, self._checkpoint)
        return self._started

    def checkpoint_now(self) -> Future[None]:
        """Queue a checkpoint of the latest snapshot right away."""
        return self._writer.submit(self._checkpoint)

    def stop(self, final: SessionSnapshot | None = None) -> Future[SessionSummary]:
        """Stop checkpointing and close the session as complete with *final* (or the latest snapshot)."""
        if self._started is None:
            raise RuntimeError("the recorder was not started")
        if self._job is not None:
            self._job.cancel()

        def _finish() -> SessionSummary:
            sid = self._state.session_id
            if sid is None and self._create is not None:
                sid = self._create()  # a failed start: one more try, with everything
            snap = final if final is not None else self._snapshot()
            if snap is None:
                return self._store.finish_session(sid)
            return self._store.finish_session(
                sid,
                windows=list(snap.windows),
                notes=list(snap.notes),
                duration_s=snap.duration_s,
                metrics=snap.metrics,
            )

        return self._writer.submit(_finish)

    def _checkpoint(self) -> None:
        sid = self._state.session_id
        if sid is None:
            if self._create is None or self._started is None or not self._started.done():
                return
            sid = self._create()  # the first try failed (busy, read-only...): try again
        snap = self._snapshot()
        if snap is None:
            return
        self._store.checkpoint(
            sid,
            windows=list(snap.windows),
            notes=list(snap.notes),
            duration_s=snap.duration_s,
            metrics=snap.metrics,
        )
        self._state.checkpoints += 1
        self._state.last_checkpoint = time.monotonic()
        if self._on_checkpoint is not None:
            self._on_checkpoint(sid, snap)
