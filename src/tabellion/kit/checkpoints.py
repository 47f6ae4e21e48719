"""SQLite's write-ahead log checkpointed beside the writers, not by them.

In WAL mode SQLite copies the log back into the database file (a checkpoint) whenever a
commit leaves more than 1,000 pages in it, in that commit: the copy and its two ``fsync``s
run on the writing connection's thread while the transaction's caller waits. Tabellion's
batched writers (sealing, notices, webhook attempts, the job table) write megabytes a second
in transactions of a few milliseconds, and one in four or five commits paid a checkpoint:
sealing 10,000 proofs ran at 7,351-7,796 proofs/s with this thread against 6,611-6,874 without
it, the two run alternately (docs/performance.md, "7 December, midday").

``WalCheckpointer`` turns the writers' own checkpoints off (``wal_autocheckpoint=0`` on the
engine's connections) and checkpoints from a thread of its own, on its own connection, every
``interval`` seconds. Its checkpoints are ``PASSIVE``: they copy what no reader still needs
and never wait for, nor block, readers or the writer; the log is reused from its start by
the first write after a complete one, as with SQLite's own. When the last connection closes,
SQLite checkpoints and removes the log, as before.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 0.25


class WalCheckpointer:
    """Checkpoints one SQLite database file's log from a daemon thread until closed."""

    def __init__(self, path: Path, *, interval: float = INTERVAL_SECONDS) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        # The thread holds no reference to this object: a runtime dropped without being
        # closed (a test's) lets its checkpointer go, and the thread ends at its next turn.
        self._thread = threading.Thread(
            target=_run,
            args=(weakref.ref(self), path, interval, self._stop),
            name=f"wal-checkpoint {path.name}",
            daemon=True,
        )

    def attach(self, engine: AsyncEngine) -> None:
        """Leave the checkpoints of ``engine``'s connections to this thread (before any
        connection is opened: those already open keep SQLite's own)."""
        event.listen(engine.sync_engine, "connect", _no_autocheckpoint)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop after a last checkpoint; returns once the thread has ended."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def checkpoint(self, connection: sqlite3.Connection) -> bool:
        """One ``PASSIVE`` checkpoint. Returns False when ``connection`` cannot serve: the
        checkpoint failed (logged, not raised), or the connection does not see the database
        in WAL mode (opened before it was set: a connection notices only when it next reads).
        The thread then opens another at its next turn."""
        try:
            busy, logged, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except Exception as exc:  # the thread must outlive any one failure
            log.warning("checkpoint of %s failed: %s", self.path, exc)
            return False
        if busy:  # another checkpoint (another process's) holds the lock: next turn
            log.debug("checkpoint of %s: busy", self.path)
            return True
        return int(logged) >= 0


def _run(
    owner: weakref.ref[WalCheckpointer], path: Path, interval: float, stop: threading.Event
) -> None:
    connection: sqlite3.Connection | None = None
    try:
        while True:
            stopping = stop.wait(interval)
            checkpointer = owner()
            if checkpointer is None:
                return
            if connection is None:
                # Opened at the first turn the file exists (never created here), and again
                # after a failure. No ``busy_timeout``: a PASSIVE checkpoint that meets a lock
                # gives up at once.
                connection = _open(path)
            if connection is not None and not checkpointer.checkpoint(connection):
                with contextlib.suppress(Exception):
                    connection.close()
                connection = None
            del checkpointer
            if stopping:
                return
    finally:
        if connection is not None:
            connection.close()


def _open(path: Path) -> sqlite3.Connection | None:
    try:
        return sqlite3.connect(
            f"file:{quote(str(path))}?mode=rw",
            uri=True,
            isolation_level=None,
            check_same_thread=True,
        )
    except sqlite3.Error as exc:
        log.debug("cannot open %s to checkpoint it yet: %s", path, exc)
        return None


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def for_database(url: str) -> WalCheckpointer | None:
    """A checkpointer for ``url``'s database if it is an SQLite file, else None."""
    from tabellion.db import sqlite_file

    path = sqlite_file(url)
    if path is None or str(path).startswith("file:"):
        return None  # not a file, or a URI filename (shared memory, options): SQLite's own
    return WalCheckpointer(path)
