"""SQLite's write-ahead log checkpointed beside the writers, not by them.

In WAL mode SQLite copies the log back into the database file (a checkpoint) whenever a
commit leaves more than 1,000 pages in it, in that commit: the copy and its two ``fsync``s
run on the writing connection's thread while the transaction's caller waits. Tabellion's
batched writers (sealing, notices, webhook attempts, the job table) write megabytes a second
in transactions of a few milliseconds, and one in four or five commits paid a checkpoint of
tens of milliseconds: sealing spent a fifth of its time in them (docs/performance.md,
"7 December, midday").

``WalCheckpointer`` turns the writers' own checkpoints off (``wal_autocheckpoint=0`` on the
engine's connections) and checkpoints from a thread of its own, on its own connection, every
``interval`` seconds. Its checkpoints are ``PASSIVE``: they copy what no reader still needs
and never wait for, nor block, readers or the writer; the log is reused from its start by
the first write after a complete one, as with SQLite's own. When the last connection closes,
SQLite checkpoints and removes the log, as before.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Any

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

    def checkpoint(self, connection: sqlite3.Connection) -> None:
        """One ``PASSIVE`` checkpoint; a failure is logged, and the next one tries again."""
        try:
            busy, logged, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            log.warning("checkpoint of %s failed: %s", self.path, exc)
            return
        if busy:
            log.debug("checkpoint of %s: busy (%d of %d frames copied)", self.path, copied, logged)


def _run(
    owner: weakref.ref[WalCheckpointer], path: Path, interval: float, stop: threading.Event
) -> None:
    try:
        # No ``busy_timeout``: a PASSIVE checkpoint that meets a lock gives up at once.
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
    except sqlite3.Error as exc:
        log.warning("cannot checkpoint %s: %s", path, exc)
        return
    try:
        while True:
            stopping = stop.wait(interval)
            checkpointer = owner()
            if checkpointer is None:
                return
            checkpointer.checkpoint(connection)
            del checkpointer
            if stopping:
                return
    finally:
        connection.close()


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def for_database(url: str) -> WalCheckpointer | None:
    """A checkpointer for ``url``'s database if it is an SQLite file, else None."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if str(parsed.database).startswith("file:"):
        return None  # a URI filename (shared memory, options): left to SQLite's own
    return WalCheckpointer(Path(parsed.database))
