"""Timers run once, however many workers run: a letter's expiry and reminders, and the periodic
housekeeping chain, with three workers (three connection pools, as three processes) at once.

On PostgreSQL the claim is ``FOR UPDATE SKIP LOCKED`` and the periodic chain's check-then-insert
holds an advisory lock; on SQLite writers queue. Either way: one run per timer.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from tabellion.config import Settings
from tabellion.db import transaction
from tabellion.jobs.maintenance import PERIODIC, ensure_periodic
from tabellion.jobs.worker import Worker
from tabellion.kit.time import utcnow
from tabellion.models.evidence import Evidence
from tabellion.models.job import Job
from tabellion.models.message import Delivery
from tabellion.models.webhook import Event
from tabellion.runtime import Runtime
from tests.portal.helpers import dispatch, notify

LETTERS = 12
TIMERS = ("delivery.expire", "notification.send_reminder")


@pytest.fixture
async def other_runtimes(settings: Settings) -> AsyncIterator[list[Runtime]]:
    others = [Runtime.build(settings, pool_size=3) for _ in range(2)]
    try:
        yield others
    finally:
        for other in others:
            await other.close()


async def test_three_workers_run_each_timer_once(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    other_runtimes: list[Runtime],
) -> None:
    ids = [(await dispatch(client, auth))["id"] for _ in range(LETTERS)]
    for delivery_id in ids:
        await notify(runtime, delivery_id)
    # Every letter's deadline passes, and its expiry and reminders fall due at once.
    past = utcnow() - timedelta(seconds=1)
    async with transaction(runtime.sessions) as session:
        await session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(deadline_at=past))
        await session.execute(update(Job).where(Job.kind.in_(TIMERS)).values(run_at=past))
        due = Counter((await session.scalars(select(Job.kind).where(Job.kind.in_(TIMERS)))).all())
    assert due == {"delivery.expire": LETTERS, "notification.send_reminder": 2 * LETTERS}

    runtimes = [runtime, *other_runtimes]
    # Each worker, as it starts, makes sure the periodic chain exists: together, once.
    await asyncio.gather(*(ensure_periodic(rt) for rt in runtimes))
    workers = [Worker(rt, poll_interval=0.05, concurrency=4) for rt in runtimes]
    await asyncio.gather(*(worker.run_until_idle() for worker in workers))

    async with runtime.sessions() as session:
        timers = (
            await session.execute(select(Job.kind, Job.status).where(Job.kind.in_(TIMERS)))
        ).all()
        expired = Counter(
            (
                await session.scalars(
                    select(Evidence.delivery_id).where(
                        Evidence.type == "EXPIRED", Evidence.delivery_id.in_(ids)
                    )
                )
            ).all()
        )
        events = Counter(
            (
                await session.scalars(
                    select(Event.delivery_id).where(
                        Event.type == "delivery.expired", Event.delivery_id.in_(ids)
                    )
                )
            ).all()
        )
        statuses = set(
            (await session.scalars(select(Delivery.status).where(Delivery.id.in_(ids)))).all()
        )
        pending = dict(
            (
                await session.execute(
                    select(Job.kind, func.count())
                    .where(Job.kind.in_(PERIODIC), Job.status.in_(("queued", "running")))
                    .group_by(Job.kind)
                )
            ).all()
        )
    assert Counter(kind for kind, _ in timers) == due
    assert {status for _, status in timers} == {"done"}
    # One expiry per letter: one proof, one event, whatever worker ran it.
    assert expired == dict.fromkeys(ids, 1)
    assert events == dict.fromkeys(ids, 1)
    assert statuses == {"expired"}
    assert pending == dict.fromkeys(PERIODIC, 1)
