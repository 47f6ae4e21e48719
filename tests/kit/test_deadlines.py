"""Deadlines kept by one timer behave as ``asyncio.timeout`` does, and never fire early."""

from __future__ import annotations

import asyncio

import pytest

from tabellion.kit.deadlines import Deadlines


async def test_a_block_past_its_deadline_raises_timeout_error_never_early() -> None:
    deadlines = Deadlines()
    loop = asyncio.get_running_loop()
    block = deadlines.within(0.05)
    with pytest.raises(TimeoutError) as raised:
        async with block:
            await asyncio.sleep(30)
    assert isinstance(raised.value.__cause__, asyncio.CancelledError)
    assert block.expired()
    assert loop.time() >= block.when
    assert len(deadlines) == 0
    # The task is not left cancelled: it goes on awaiting.
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)


async def test_a_block_in_time_is_left_alone() -> None:
    deadlines = Deadlines()
    block = deadlines.within(5)
    async with block:
        await asyncio.sleep(0)
    assert not block.expired()
    assert len(deadlines) == 0


async def test_each_block_expires_at_its_own_deadline_whatever_the_order_entered() -> None:
    """The timer is armed for the earliest deadline: a block entered later with an earlier
    deadline moves it; blocks with later deadlines expire when theirs come, not before."""
    deadlines = Deadlines()
    loop = asyncio.get_running_loop()
    expired: list[str] = []

    async def guarded(name: str, seconds: float) -> None:
        block = deadlines.within(seconds)
        try:
            async with block:
                await asyncio.sleep(30)
        except TimeoutError:
            assert loop.time() >= block.when
            expired.append(name)

    async def quick() -> None:
        async with deadlines.within(0.01):
            await asyncio.sleep(0)

    await asyncio.gather(
        guarded("third", 0.3),
        guarded("first", 0.05),
        quick(),  # ends in time: its deadline, the earliest, passes with nothing to cancel
        guarded("second", 0.15),
        guarded("fourth", 0.3),
    )
    assert expired == ["first", "second", "third", "fourth"]
    assert len(deadlines) == 0


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    deadlines = Deadlines()
    entered = asyncio.Event()
    block = deadlines.within(30)

    async def guarded() -> None:
        async with block:
            entered.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(guarded())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not block.expired()
    assert len(deadlines) == 0


async def test_nested_blocks_the_inner_expires_the_outer_goes_on() -> None:
    deadlines = Deadlines()
    outer, inner = deadlines.within(30), deadlines.within(0.05)
    async with outer:
        with pytest.raises(TimeoutError):
            async with inner:
                await asyncio.sleep(30)
        await asyncio.sleep(0)
    assert inner.expired() and not outer.expired()


async def test_misuse_is_refused() -> None:
    deadlines = Deadlines()
    block = deadlines.within(1)
    async with block:
        pass
    with pytest.raises(RuntimeError, match="entered once"):
        async with block:
            pass


def test_one_instance_serves_successive_event_loops() -> None:
    """A worker or an HTTP client may outlive the loop it first ran on (tests, restarts)."""
    deadlines = Deadlines()

    async def expires(seconds: float) -> bool:
        block = deadlines.within(seconds)
        try:
            async with block:
                await asyncio.sleep(2)
        except TimeoutError:
            return block.expired()
        return False

    async def end_in_time() -> None:
        # The block ends at once; the timer stays armed 0.05 s ahead on a loop that closes
        # before it fires. A later deadline on the next loop must arm a timer of its own.
        async with deadlines.within(0.05):
            pass

    async def abandon() -> None:
        # Entered, then left to its loop's shutdown.
        async def hold() -> None:
            async with deadlines.within(30):
                await asyncio.sleep(30)

        held = asyncio.create_task(hold())
        await asyncio.sleep(0)
        assert not held.done()

    assert asyncio.run(expires(0.02))
    asyncio.run(end_in_time())
    assert asyncio.run(expires(0.2))
    asyncio.run(abandon())
    assert asyncio.run(expires(0.02))
