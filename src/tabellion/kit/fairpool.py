"""A connection pool that serves waiting requests in the order they came.

SQLAlchemy's asyncio pool keeps its connections in an ``asyncio.Queue``. A connection given
back wakes the longest waiter, but until that waiter runs, the connection sits in the queue
for anyone: a request that asks in the meantime takes it, and the woken waiter goes to the
back of the line. Under load (100 requests in flight on two SQLite read connections) some
requests were overtaken again and again: a ``GET`` delivery's wait for a connection had a
p99 twice its median, and its slowest requests waited 0.27-0.31 s where the median waited
0.08 s (docs/performance.md, "6 December, afternoon").

Here a connection given back goes straight to the longest waiter (its future holds it), so
there is nothing left in the queue to take meanwhile, and a request finds a free connection
only when nobody waits. The pool's timeout, overflow and errors are SQLAlchemy's own.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TypeVar

from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util.concurrency import await_
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty, Full

from tabellion.kit.deadlines import Deadlines

_T = TypeVar("_T")


class FairQueue(AsyncAdaptedQueue[_T]):
    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self._free: deque[_T] = deque()  # only while nobody waits
        self._waiters: deque[asyncio.Future[_T]] = deque()  # first come, first served
        # The pool's timeout for each waiting checkout; under load every request waits.
        self._deadlines = Deadlines()

    def empty(self) -> bool:
        return not self._free

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._free)

    def qsize(self) -> int:
        return len(self._free)

    def put_nowait(self, item: _T) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # not given up (timed out, cancelled)
                waiter.set_result(item)
                return
        if self.full():
            raise Full()
        self._free.append(item)

    def put(self, item: _T, block: bool = True, timeout: float | None = None) -> None:
        self.put_nowait(item)  # the pool never holds more than its size: never waits

    def get_nowait(self) -> _T:
        if not self._free:
            raise Empty()
        return self._free.pop() if self.use_lifo else self._free.popleft()

    def get(self, block: bool = True, timeout: float | None = None) -> _T:
        if self._free or not block:
            return self.get_nowait()
        waiter: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await_(self._wait(waiter, timeout))
        except TimeoutError as error:
            raise Empty() from error

    async def _wait(self, waiter: asyncio.Future[_T], timeout: float | None) -> _T:
        try:
            if timeout is None:
                return await waiter
            async with self._deadlines.within(timeout):
                return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                # Handed a connection, then timed out or cancelled before taking it.
                self.put_nowait(waiter.result())
            else:
                waiter.cancel()  # skipped by put_nowait
            raise


class FairAsyncQueuePool(AsyncAdaptedQueuePool):
    """``AsyncAdaptedQueuePool`` whose waiting checkouts are served first come, first served."""

    _queue_class = FairQueue[ConnectionPoolEntry]
