"""The connection pool serves waiting checkouts first come, first served."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.util.concurrency import greenlet_spawn
from sqlalchemy.util.queue import Empty

from tabellion.kit.fairpool import FairAsyncQueuePool, FairQueue
from tabellion.runtime import Runtime


async def until(condition: Callable[[], bool]) -> None:
    """Let the other tasks run until ``condition`` holds (each waiter counts itself in line)."""
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - a count of ours, no event to wait on
            await asyncio.sleep(0)


async def one_connection_held() -> tuple[FairQueue[str], str]:
    """A pool's queue of one connection, checked out."""
    queue: FairQueue[str] = FairQueue(maxsize=1)
    queue.put_nowait("connection")
    return queue, await greenlet_spawn(queue.get, True, 5)


def checkout(queue: FairQueue[str]) -> asyncio.Task[str]:
    return asyncio.create_task(greenlet_spawn(queue.get, True, 5))


def in_line(queue: FairQueue[str]) -> int:
    return sum(not waiter.done() for waiter in queue._waiters)


async def test_a_connection_given_back_goes_to_the_longest_waiter_not_to_the_next_asker() -> None:
    queue, held = await one_connection_held()
    served: list[str] = []

    async def checkout_then_give_back(name: str) -> None:
        connection = await greenlet_spawn(queue.get, True, 5)
        served.append(name)
        queue.put_nowait(connection)  # its one statement done

    waiters = [asyncio.create_task(checkout_then_give_back(f"waiter {n}")) for n in range(3)]
    await until(lambda: in_line(queue) == 3)
    # Given back, then asked for again at once (a request's next statement): the connection
    # sits in the queue until the first waiter runs, and asyncio.Queue would hand it over to
    # this request, sending the waiter to the back of the line.
    queue.put_nowait(held)
    await checkout_then_give_back("asked next")
    await asyncio.gather(*waiters)
    assert served == ["waiter 0", "waiter 1", "waiter 2", "asked next"]


async def test_connections_given_back_together_all_reach_waiters() -> None:
    # A pool of one with an overflow connection: both given back at once, both go to the
    # requests waiting. (Left in the queue for the waiters to pick up one by one, the second
    # would find it full, and the pool would close it and open another for the next request.)
    queue, held = await one_connection_held()
    waiters = [checkout(queue), checkout(queue)]
    await until(lambda: in_line(queue) == 2)
    queue.put_nowait(held)
    queue.put_nowait("overflow")
    assert await asyncio.gather(*waiters) == ["connection", "overflow"]
    assert queue.qsize() == 0


async def test_a_free_connection_is_taken_at_once_when_nobody_waits() -> None:
    queue: FairQueue[str] = FairQueue(maxsize=2)
    queue.put_nowait("a")
    queue.put_nowait("b")
    assert await greenlet_spawn(queue.get, True, 5) == "a"
    assert queue.get(block=False) == "b"
    with pytest.raises(Empty):
        queue.get(block=False)


async def test_nothing_is_taken_without_waiting_while_others_wait() -> None:
    # The pool's overflow asks without waiting: it opens a new connection rather than take
    # the one a waiter is about to get.
    queue, held = await one_connection_held()
    waiter = checkout(queue)
    await until(lambda: in_line(queue) == 1)
    queue.put_nowait(held)
    with pytest.raises(Empty):
        queue.get(block=False)
    assert await waiter == "connection"


@pytest.mark.parametrize("handed_over", [False, True], ids=["while-waiting", "once-handed-one"])
async def test_a_cancelled_waiter_leaves_the_connection_to_the_next(handed_over: bool) -> None:
    queue, held = await one_connection_held()
    first, second = checkout(queue), checkout(queue)
    await until(lambda: in_line(queue) == 2)
    if handed_over:
        queue.put_nowait(held)  # the first's, cancelled below before it runs
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    if not handed_over:
        queue.put_nowait(held)
    assert await second == "connection"
    assert in_line(queue) == 0


async def test_a_wait_longer_than_the_timeout_is_the_pools_timeout(tmp_path: Path) -> None:
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        poolclass=FairAsyncQueuePool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.2,
    )
    try:
        async with engine.connect():
            with pytest.raises(PoolTimeout):
                async with engine.connect():
                    pass
            assert in_line(engine.sync_engine.pool._pool) == 0  # type: ignore[attr-defined]
        async with engine.connect() as connection:  # given back: usable again
            assert await connection.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()


async def test_the_read_pool_is_fair_and_the_write_pool_sqlalchemys(runtime: Runtime) -> None:
    # The suite runs on SQLite, then on PostgreSQL: both databases' pools, as the app builds them.
    assert isinstance(runtime.read_engine.sync_engine.pool, FairAsyncQueuePool)
    assert not isinstance(runtime.engine.sync_engine.pool, FairAsyncQueuePool)
