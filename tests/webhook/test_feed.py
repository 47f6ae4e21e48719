"""The events feed: commit order, stable cursor, no gaps and no duplicates."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from tabellion.db import transaction
from tabellion.runtime import Runtime
from tabellion.webhook import service
from tests.fixtures.factories import create_org_with_key, message_body, natural_recipient
from tests.message.test_endpoints import assert_problem, fields


async def emit(runtime: Runtime, org_id: str, n: int) -> str:
    async with transaction(runtime.sessions) as session:
        return await service.emit(session, org_id, "delivery.accepted", {"n": n})


async def follow(
    client: httpx.AsyncClient, auth: dict[str, str], after: str | None = None, **params: object
) -> tuple[list[dict], str]:
    seen: list[dict] = []
    while True:
        query = {**params, **({"after": after} if after else {})}
        page = (await client.get("/v1/events", params=query, headers=auth)).json()
        seen += page["data"]
        after = page["next_cursor"]
        if not page["has_more"]:
            return seen, after or ""


async def test_feed_pages_in_order_and_cursor_stays_put(
    runtime: Runtime, org_key: tuple[str, str], client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    ids = [await emit(runtime, org_key[0], n) for n in range(5)]
    first = (await client.get("/v1/events", params={"limit": 2}, headers=auth)).json()
    assert [e["id"] for e in first["data"]] == ids[:2]
    assert first["has_more"] is True
    assert first["data"][0]["data"] == {"n": 0}
    assert first["data"][0]["timestamp"].endswith("Z")
    rest, cursor = await follow(client, auth, first["next_cursor"], limit=2)
    assert [e["id"] for e in rest] == ids[2:]
    empty = (await client.get("/v1/events", params={"after": cursor}, headers=auth)).json()
    assert empty["data"] == [] and empty["next_cursor"] == cursor
    later = await emit(runtime, org_key[0], 5)
    again = (await client.get("/v1/events", params={"after": cursor}, headers=auth)).json()
    assert [e["id"] for e in again["data"]] == [later]


async def test_feed_filters_by_type_and_tenant(
    runtime: Runtime, org_key: tuple[str, str], client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/messages?dispatch=false",
        json=message_body(recipients=[natural_recipient(0), natural_recipient(1)]),
        headers=auth,
    )
    message_id = response.json()["id"]
    dispatched = await client.post(f"/v1/messages/{message_id}/dispatch", headers=auth)
    assert dispatched.status_code == 202
    events, _ = await follow(client, auth)
    assert [e["type"] for e in events] == [
        "message.dispatched",
        "delivery.sent",
        "delivery.sent",
    ]
    assert events[0]["data"]["message"]["id"] == message_id
    assert "deliveries" not in events[0]["data"]["message"]
    delivery = events[1]["data"]["delivery"]
    assert delivery["status"] == "pending"
    assert [e["type"] for e in delivery["evidence"]] == ["SENT"]
    assert events[1]["data"]["evidence"]["type"] == "SENT"
    only_sent, _ = await follow(client, auth, type="delivery.sent")
    assert len(only_sent) == 2
    _, other_key = await create_org_with_key(runtime, "Other")
    other, _ = await follow(client, {"Authorization": f"Bearer {other_key}"})
    assert other == []
    missing = await client.get(
        f"/v1/events/{events[0]['id']}", headers={"Authorization": f"Bearer {other_key}"}
    )
    assert missing.status_code == 404


async def test_feed_under_concurrent_writers_has_no_gaps_or_duplicates(
    runtime: Runtime, org_key: tuple[str, str], client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    emitted: list[str] = []

    async def writer(w: int) -> None:
        for n in range(15):
            emitted.append(await emit(runtime, org_key[0], w * 100 + n))
            await asyncio.sleep(random.random() / 200)

    seen: list[str] = []
    cursor: str | None = None
    writers = asyncio.gather(*(writer(w) for w in range(4)))
    while not writers.done():
        page, cursor = await follow(client, auth, cursor, limit=7)
        seen += [e["id"] for e in page]
        await asyncio.sleep(0.005)
    await writers
    page, cursor = await follow(client, auth, cursor, limit=7)
    seen += [e["id"] for e in page]
    assert len(seen) == len(set(seen)) == 60
    assert set(seen) == set(emitted)


async def test_feed_with_slow_committers_and_several_readers(
    runtime: Runtime, org_key: tuple[str, str], client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """Writers hold their transactions open a while, so events commit out of creation order;
    three consumers poll all along. Each sees every event exactly once."""
    emitted: list[str] = []

    async def writer(w: int) -> None:
        for n in range(15):
            async with transaction(runtime.sessions) as session:
                event_id = await service.emit(session, org_key[0], "delivery.accepted", {"n": n})
                await asyncio.sleep(random.random() / 50)
            emitted.append(event_id)

    async def reader() -> list[str]:
        seen: list[str] = []
        cursor: str | None = None
        while not writers.done():
            page, cursor = await follow(client, auth, cursor, limit=5)
            seen += [e["id"] for e in page]
            await asyncio.sleep(random.random() / 100)
        page, cursor = await follow(client, auth, cursor, limit=5)
        return seen + [e["id"] for e in page]

    writers = asyncio.gather(*(writer(w) for w in range(4)))
    readers = await asyncio.gather(*(reader() for _ in range(3)))
    await writers
    for seen in readers:
        assert len(seen) == len(set(seen)) == 60
        assert set(seen) == set(emitted)
    assert readers[0] == readers[1] == readers[2]  # one order for everyone


@pytest.mark.postgres_only
async def test_an_event_committed_late_comes_after_the_cursor(
    runtime: Runtime, org_key: tuple[str, str], client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """Created first, committed last: the feed gives it the next position, not its old place."""
    async with transaction(runtime.sessions) as slow:
        early = await service.emit(slow, org_key[0], "delivery.accepted", {"n": 0})
        await slow.flush()
        later = await emit(runtime, org_key[0], 1)
        seen, cursor = await follow(client, auth)
        assert [e["id"] for e in seen] == [later]
    after, cursor = await follow(client, auth, cursor)
    assert [e["id"] for e in after] == [early]
    everything, _ = await follow(client, auth)
    assert [e["id"] for e in everything] == [later, early]  # commit order
    assert (await follow(client, auth, cursor))[0] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"after": "nonsense!"}, "after"),
        ({"after": "WyJhYmMiXQ"}, "after"),  # ["abc"]
        ({"after": "Wy01XQ"}, "after"),  # [-5]
        ({"after": "WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDBd"}, "after"),  # [10**30]
        ({"after": "W3RydWVd"}, "after"),  # [true]
        ({"type": "delivery.eaten"}, "type"),
        ({"type": ["delivery.sent", "webhook.test"]}, "type[1]"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
    ],
)
async def test_feed_bad_input_names_the_parameter(
    client: httpx.AsyncClient, auth: dict[str, str], query: dict[str, object], field: str
) -> None:
    response = await client.get("/v1/events", params=query, headers=auth)  # type: ignore[arg-type]
    assert fields(assert_problem(response, 422, "validation-failed")) == [field]
