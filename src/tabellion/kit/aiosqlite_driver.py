"""SQLAlchemy's aiosqlite driver, with one trip to the connection's thread per statement.

aiosqlite runs each call of a sqlite3 connection on a thread of its own, and SQLAlchemy's
adapter makes four such calls per statement (open a cursor, execute, fetch the rows, close
the cursor), each a hand-off to that thread and back through the event loop. Under load the
hand-offs, not SQLite, were most of a read request's cost. Here a statement is one call:
the thread opens a cursor, runs the statement, fetches its rows and closes the cursor, and
hands back the rows with the cursor's description, row count and last row id.

A transaction's ``BEGIN`` rides with its first statement (:meth:`OneTripConnection.begin`),
so a transaction of two statements takes three trips (``BEGIN`` and the first, the second,
``COMMIT``), and a transaction that runs no statement takes none. (Reads open no transaction
at all: one trip a statement; see ``db.create_read_engine``.) A commit or rollback
outside a transaction is skipped without a trip: the pool rolls each connection back as it
returns, after the session already committed or rolled back.

``aiosqlite.Connection._execute`` (queue a function for the connection's thread) is
private, as is the queue SQLAlchemy's own adapter uses to set the isolation level.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

Outcome = tuple[Any, int, int | None, list[Any]]


def _run(
    connection: sqlite3.Connection, begin: str | None, operation: str, parameters: Any, many: bool
) -> Outcome:
    """On the connection's thread: ``begin`` if given, then the statement; its description,
    row count, last row id and rows (the row count is final only once every row is read,
    e.g. of a RETURNING)."""
    cursor = connection.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statements each take one trip to aiosqlite's thread."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")
    _awaitable_cursor_close = False  # nothing to close: the thread closed its cursor

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        # Not the parent's: it opens an aiosqlite cursor, a trip of its own.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    def execute(self, operation: Any, parameters: Any = None) -> None:
        try:
            await_(self._statement(operation, parameters, many=False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> None:
        try:
            await_(self._statement(operation, seq_of_parameters, many=True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _statement(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        adapted: OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        async with adapted._execute_mutex:
            begin, adapted.pending_begin = adapted.pending_begin, None
            outcome: Outcome = await connection._execute(  # type: ignore[no-untyped-call]
                _run, connection._conn, begin, operation, parameters, many
            )
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = collections.deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("pending_begin",)
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.pending_begin: str | None = None

    def begin(self, statement: str) -> None:
        """Open a transaction with ``statement`` (``BEGIN``, ``BEGIN IMMEDIATE``) on the trip
        of the next statement, not on one of its own."""
        self.pending_begin = statement

    def rollback(self) -> None:
        self.pending_begin = None
        if self._connection._connection and self._connection.in_transaction:
            super().rollback()

    def commit(self) -> None:
        self.pending_begin = None
        if self._connection._connection and self._connection.in_transaction:
            super().commit()


class OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    """Give it as ``create_async_engine(url, module=OneTripDbapi.create())``."""

    @classmethod
    def create(cls) -> OneTripDbapi:
        return cls(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)
