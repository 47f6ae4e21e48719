"""Concurrent requests on one delivery, through a real server and a multi-connection pool.

Each race fires 20+ requests at once (``asyncio.gather`` over httpx) and asserts exactly one
outcome and one proof, then that the sealed chain still checks. They run on SQLite (where
``BEGIN IMMEDIATE`` serialises writers) and on PostgreSQL, where they failed before the
transitions locked the delivery's row: a letter ended ACCEPTED and REFUSED, with both proofs.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import pytest
from sqlalchemy import text

from tabellion.evidence.verification.check import check_chains
from tabellion.jobs.worker import Worker
from tabellion.runtime import Runtime
from tests.fixtures import database
from tests.fixtures.database import race_on_row
from tests.portal.helpers import (
    accepted_letter,
    csrf,
    dispatch,
    notify,
    ready_to_answer,
    status_of,
)

RACERS = 24


async def evidence_types(
    client: httpx.AsyncClient, auth: dict[str, str], delivery_id: str
) -> Counter[str]:
    return Counter(e["type"] for e in (await status_of(client, auth, delivery_id))["evidence"])


async def chain_is_clean(runtime: Runtime) -> None:
    await Worker(runtime, poll_interval=0.05).run_until_idle()
    result = await check_chains(runtime)
    assert result.ok, result.breaks


async def test_accept_and_refuse_race_ends_one_way(
    served: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery, link, token = await ready_to_answer(served, auth, runtime)
    answers = await race_on_row(
        runtime,
        "deliveries",
        delivery["id"],
        (
            served.post(
                f"{link}/answer",
                data={
                    "decision": "accept" if n % 2 else "refuse",
                    "confirm": "yes",
                    "csrf_token": token,
                },
            )
            for n in range(RACERS)
        ),
    )
    statuses = Counter(r.status_code for r in answers)
    assert statuses == {303: 1, 409: RACERS - 1}, statuses
    assert all("already answered" in r.text for r in answers if r.status_code == 409)
    state = await status_of(served, auth, delivery["id"])
    assert state["status"] in ("accepted", "refused")
    kinds = await evidence_types(served, auth, delivery["id"])
    assert kinds["ACCEPTED"] + kinds["REFUSED"] == 1, kinds
    assert kinds[state["status"].upper()] == 1
    await chain_is_clean(runtime)


async def test_concurrent_downloads_record_one_proof(
    served: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery, link, attachment = await accepted_letter(served, auth, runtime)
    downloads = await race_on_row(
        runtime,
        "deliveries",
        delivery["id"],
        (served.get(f"{link}/files/{attachment['id']}") for _ in range(RACERS)),
    )
    assert [r.status_code for r in downloads] == [200] * RACERS
    assert {r.content for r in downloads} == {b"%PDF-1.4\n%%EOF\n"}
    kinds = await evidence_types(served, auth, delivery["id"])
    assert kinds == {"SENT": 1, "NOTIFIED": 1, "ACCEPTED": 1, "DOWNLOADED": 1}, kinds
    await chain_is_clean(runtime)


async def test_concurrent_openings_record_one_receipt(
    served: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(served, auth, mode="simple")
    link = await notify(runtime, delivery["id"])
    page = await served.get(link)
    opened = await asyncio.gather(
        *(served.post(f"{link}/open", data={"csrf_token": csrf(page.text)}) for _ in range(RACERS))
    )
    assert [r.status_code for r in opened] == [303] * RACERS
    kinds = await evidence_types(served, auth, delivery["id"])
    assert kinds == {"SENT": 1, "NOTIFIED": 1, "RECEIVED": 1}, kinds
    assert (await status_of(served, auth, delivery["id"]))["status"] == "received"
    await chain_is_clean(runtime)


async def _lock_delivery(runtime: Runtime, delivery_id: str) -> None:
    """What a racing request does to the row: lock it (waiting while the helper holds it)."""
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("SELECT 1 FROM deliveries WHERE id = :id FOR UPDATE"), {"id": delivery_id}
        )


@pytest.mark.postgres_only
async def test_a_race_where_nothing_waits_on_the_lock_fails(
    runtime: Runtime, served: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """The helper looks at who waits on the held row (its snapshot of pg_stat_activity cleared
    each time): requests that never touch the row did not race, and it says so rather than
    letting the test pass unseen. Requests that do wait are counted as they arrive."""
    delivery, _, _ = await ready_to_answer(served, auth, runtime)
    with pytest.raises(AssertionError, match="no race: 0 of 3 requests"):
        await race_on_row(
            runtime, "deliveries", delivery["id"], (asyncio.sleep(0.01, n) for n in range(3))
        )

    async def lock_row(n: int) -> int:
        await _lock_delivery(runtime, delivery["id"])
        return n

    locked = await race_on_row(runtime, "deliveries", delivery["id"], map(lock_row, range(3)))
    assert locked == [0, 1, 2]


@pytest.mark.postgres_only
async def test_requests_that_hold_up_the_event_loop_still_race(
    runtime: Runtime,
    served: httpx.AsyncClient,
    auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The requests run on the test's event loop: one that holds it up before reaching the
    row (a page's first render on a loaded machine) holds up the helper's looks too. That
    time is not spent waiting for them: each blocks the loop longer than the whole wait,
    and all three are still seen arriving."""
    delivery, _, _ = await ready_to_answer(served, auth, runtime)
    monkeypatch.setattr(database, "RACE_WAIT_SECONDS", 0.5)

    async def busy_then_lock(n: int) -> int:
        await asyncio.sleep(0.05 * n)  # one after the other, as a burst's requests arrive
        time.sleep(0.7)  # holding the loop up is the point
        await _lock_delivery(runtime, delivery["id"])
        return n

    locked = await race_on_row(runtime, "deliveries", delivery["id"], map(busy_then_lock, range(3)))
    assert locked == [0, 1, 2]
