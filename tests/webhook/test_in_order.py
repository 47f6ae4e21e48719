"""One delivery's events go to an endpoint one at a time, first come, first served."""

from __future__ import annotations

import asyncio

from tabellion.webhook.delivery import InOrder


async def until_waiting(order: InOrder, key: tuple[str, str], count: int) -> None:
    async with asyncio.timeout(5):
        while len(order._queues.get(key, ())) < count:  # noqa: ASYNC110 - a count of ours
            await asyncio.sleep(0)


async def test_sends_of_one_delivery_take_turns_in_the_order_they_came() -> None:
    order = InOrder()
    sent: list[str] = []
    release = asyncio.Event()

    async def send(name: str, hold: bool = False) -> None:
        async with order.turn("we_1", "dlv_1"):
            sent.append(f"{name} starts")
            if hold:
                await release.wait()
            await asyncio.sleep(0)
            sent.append(f"{name} ends")

    first = asyncio.create_task(send("first", hold=True))
    await asyncio.sleep(0)
    others = [asyncio.create_task(send(name)) for name in ("second", "third", "fourth")]
    await until_waiting(order, ("we_1", "dlv_1"), 3)
    assert sent == ["first starts"]
    release.set()
    await asyncio.gather(first, *others)
    assert sent == [
        f"{name} {step}"
        for name in ("first", "second", "third", "fourth")
        for step in ("starts", "ends")
    ]
    assert order._queues == {}


async def test_other_deliveries_endpoints_and_events_without_delivery_do_not_wait() -> None:
    order = InOrder()
    held = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with order.turn("we_1", "dlv_1"):
            held.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await held.wait()
    for endpoint, delivery in (("we_1", "dlv_2"), ("we_2", "dlv_1"), ("we_1", None)):
        async with asyncio.timeout(5), order.turn(endpoint, delivery):
            pass
    release.set()
    await task
    assert order._queues == {}


async def test_a_send_cancelled_in_line_or_as_its_turn_comes_holds_nobody_back() -> None:
    order = InOrder()
    key = ("we_1", "dlv_1")
    sent: list[str] = []

    async def send(name: str) -> None:
        async with order.turn(*key):
            sent.append(name)

    async with order.turn(*key):  # this test's own turn, first
        given_up = asyncio.create_task(send("given up"))
        handed_over = asyncio.create_task(send("handed over"))
        last = asyncio.create_task(send("last"))
        await until_waiting(order, key, 3)
        given_up.cancel()  # while in line
        await asyncio.gather(given_up, return_exceptions=True)
    # The turn was just handed to "handed over", which has not run since: cancelled now,
    # it passes the turn on instead of keeping it.
    handed_over.cancel()
    async with asyncio.timeout(5):
        await last
    await asyncio.gather(handed_over, return_exceptions=True)
    assert sent == ["last"]
    assert given_up.cancelled() and handed_over.cancelled()
    assert order._queues == {}
