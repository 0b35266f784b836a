"""Which ``in_progress`` sessions are really being recorded right now.

A process that records a session holds an OS file lock named after it for as long as it
records (:meth:`LiveLocks.hold`). The operating system drops the lock when the process
ends, however it ends (a crash, ``kill -9``, a power cut), so any other process can tell a
live session from one whose recorder died, at once and without guessing from how old its
last checkpoint is: :meth:`LiveLocks.state` is ``"live"`` when someone holds the lock,
``"dead"`` when the lock file is there but nobody holds it, and ``"unknown"`` when there is
no lock file (a session recorded on another computer against the same PostgreSQL server,
or by a version without locks), where only the age of the last checkpoint can tell.

The locks live in the temporary directory, in a folder named after the database.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Literal

from filelock import FileLock, Timeout

__all__ = ["LiveLocks", "LiveState", "live_dir_for"]

LiveState = Literal["live", "dead", "unknown"]


def live_dir_for(sqlite_file: Path | None, location: str) -> Path:
    """Where the locks of a database live: a folder of the temporary directory named after
    the database (its file, or its server's address without the password), so that every
    process using that database finds the same locks and the data folder stays clean."""
    key = str(sqlite_file.resolve()) if sqlite_file is not None else location
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"fretcoach-live-{digest}"


class LiveLocks:
    """The session locks of one database, and the ones this process holds."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._held: dict[int, FileLock] = {}

    def _path(self, session_id: int) -> Path:
        return self.directory / f"session-{int(session_id)}.lock"

    def hold(self, session_id: int) -> bool:
        """Take session *session_id*'s lock until :meth:`release` or this process ends.

        False (and nothing held) when the lock cannot be made (a read-only folder): the
        session is then told apart by its checkpoints' age only.
        """
        if session_id in self._held:
            return True
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock = FileLock(self._path(session_id), timeout=0)
            lock.acquire()
        except (OSError, Timeout):
            return False
        self._held[session_id] = lock
        return True

    def release(self, session_id: int, *, finished: bool = True) -> None:
        """Let go of a session's lock: it is finished (the lock file goes), or, with
        ``finished=False``, this process stops recording it unfinished (the file stays, so
        the session reads as ``"dead"`` and is recovered at once, as after a crash)."""
        lock = self._held.pop(session_id, None)
        if lock is not None:
            lock.release()
            if finished:
                self.forget(session_id)

    def release_all(self) -> None:
        """Let go of every lock still held (the sessions stay unfinished)."""
        for session_id in list(self._held):
            self.release(session_id, finished=False)

    def holds(self, session_id: int) -> bool:
        """Whether this process is the one recording *session_id*."""
        return session_id in self._held

    def state(self, session_id: int) -> LiveState:
        """Whether another process is recording *session_id* (see the module's docstring)."""
        if session_id in self._held:
            return "live"
        path = self._path(session_id)
        if not path.exists():
            return "unknown"
        probe = FileLock(path, timeout=0)
        try:
            probe.acquire()
        except Timeout:
            return "live"
        except OSError:
            return "unknown"
        probe.release()
        return "dead"

    def forget(self, session_id: int) -> None:
        """Remove the lock file of a session that is over (finished, or recovered)."""
        if session_id not in self._held:
            self._path(session_id).unlink(missing_ok=True)
            try:
                self.directory.rmdir()  # the last one: leave nothing behind
            except OSError:
                pass  # other sessions' locks are still there (or it is already gone)
