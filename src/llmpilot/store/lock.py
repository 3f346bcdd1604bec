"""The store's writer lock: one writing run (an ingest) at a time, across processes.

A lock has one non-blocking job (`try_acquire`/`release`, plus who holds it for the messages);
`acquire` adds the waiting, the timeout and the messages, so every kind of lock behaves alike.

- SQLite file: an exclusive flock on `<database>.lock` next to the database. The kernel drops it
  when the holder dies, even by kill -9, so a crashed run never leaves a stale lock behind (a lock
  row in a table would need heartbeats and stale-lock detection for that).
- SQLite in memory: a plain thread lock (the database lives in this process only).
- PostgreSQL: `pg_try_advisory_lock(key)` on a dedicated connection: the server drops it when the
  holder's session ends (a crash or kill -9 closes the socket), the same property as flock. The holder
  is told by that connection's application_name (63 bytes at most, so shortened).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

from llmpilot.errors import StoreError

log = logging.getLogger(__name__)


class WriterLock(Protocol):
    def try_acquire(self, holder: str) -> bool:
        """Take the lock if it is free, recording `holder`; never blocks."""
        ...

    def release(self) -> None: ...

    def holder(self) -> str | None:
        """Who holds the lock (as recorded by `try_acquire`), if known."""
        ...


class FileWriterLock:
    """flock(2) on a file; separate instances (even in one process) exclude each other."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self, holder: str) -> bool:
        import fcntl  # POSIX only: imported here so that importing the store works everywhere

        if self._fd is not None:
            raise RuntimeError("this lock instance is already held")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot create the store's lock file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, holder.encode("utf-8"))
        self._fd = fd
        return True

    def release(self) -> None:
        import fcntl

        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def holder(self) -> str | None:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return None
        return text or None


class ThreadWriterLock:
    """For a store that lives in this process only (SQLite :memory:)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: str | None = None

    def try_acquire(self, holder: str) -> bool:
        if not self._lock.acquire(blocking=False):
            return False
        self._holder = holder
        return True

    def release(self) -> None:
        self._holder = None
        self._lock.release()

    def holder(self) -> str | None:
        return self._holder


class AdvisoryWriterLock:
    """A PostgreSQL session-level advisory lock held on a connection of its own."""

    #: One key for "the llmpilot store of this database" (any 64-bit constant; here 'llmpilot' in hex).
    KEY = 0x6C6C6D70696C6F74

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None

    def try_acquire(self, holder: str) -> bool:
        from sqlalchemy import text

        if self._conn is not None:
            raise RuntimeError("this lock instance is already held")
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.KEY}).scalar())
            if got:
                conn.execute(text("SELECT set_config('application_name', :h, false)"), {"h": holder[:63]})
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        from sqlalchemy import text

        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.KEY})
            conn.execute(text("SELECT set_config('application_name', '', false)"))
        finally:
            conn.close()

    def holder(self) -> str | None:
        from sqlalchemy import text

        # An advisory lock on a bigint key shows in pg_locks as classid (high 32 bits) + objid (low).
        query = text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :hi AND l.objid = :lo "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        try:
            with self.engine.connect() as conn:
                name = conn.execute(query, {"hi": self.KEY >> 32, "lo": self.KEY & 0xFFFFFFFF}).scalar()
        except Exception:  # only used in messages: never let it hide the real problem
            return None
        return str(name) if name else None


def holder_line(purpose: str) -> str:
    since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{purpose} (pid {os.getpid()} on {socket.gethostname()}, since {since})"


def acquire(lock: WriterLock, purpose: str, *, what: str, timeout_s: float) -> None:
    """Take `lock` for `purpose`, waiting up to `timeout_s` seconds; `what` names the store."""
    me = holder_line(purpose)
    if lock.try_acquire(me):
        return
    deadline = time.monotonic() + timeout_s
    log.warning(
        "waiting for the writer lock of %s, held by %s; giving up after %g s",
        what,
        lock.holder() or "another process",
        timeout_s,
    )
    pause = 0.02
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise StoreError(
                f"{what} is being written by {lock.holder() or 'another process'}; gave up waiting "
                f"for it after {timeout_s:g} s. Let that run finish (or stop it), then run this again."
            )
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.5)
        if lock.try_acquire(me):
            log.info("got the writer lock of %s", what)
            return
