"""The message domain's queries on their own: which organisation reads and changes what, and
how lists filter and page.

Three organisations: a reseller (Acme) with its own message and one sent on behalf of its
customer, the customer (Bakery Dupont) with its own message, and a stranger. Each query is
asked as each of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tabellion.db import transaction
from tabellion.errors import InvalidParameter
from tabellion.evidence.service import EvidenceRef, evidence_for_deliveries, evidence_refs
from tabellion.kit.pagination import encode_cursor
from tabellion.message import repository as repo
from tabellion.models.message import Delivery
from tabellion.runtime import Runtime
from tests.fixtures.factories import bearer, create_key, create_org_with_key, message_body
from tests.fixtures.factories import natural_recipient as recipient
from tests.organization.test_customers import answer, register_customer


@dataclass
class World:
    reseller: str
    customer: str
    stranger: str
    own: dict[str, Any]  # the reseller's own message, two recipients, dispatched
    on_behalf: dict[str, Any]  # the reseller's, sent on behalf of the customer, dispatched
    customers: dict[str, Any]  # the customer's own, dispatched
    draft: dict[str, Any]  # the reseller's own, never dispatched
    strangers: dict[str, Any]  # the stranger's, dispatched


async def _message(
    client: httpx.AsyncClient, auth: dict[str, str], *, dispatch: bool = True, **extra: object
) -> dict[str, Any]:
    created = await client.post("/v1/messages", json=message_body(**extra), headers=auth)
    assert created.status_code == 201, created.text
    if not dispatch:
        return dict(created.json())
    sent = await client.post(f"/v1/messages/{created.json()['id']}/dispatch", headers=auth)
    assert sent.status_code == 202, sent.text
    return dict(sent.json())


@pytest.fixture
async def world(
    client: httpx.AsyncClient, auth: dict[str, str], org_key: tuple[str, str], runtime: Runtime
) -> World:
    customer = await register_customer(client, auth)
    assert (await answer(client, runtime, customer["id"], "accept")).status_code == 200
    customer_auth = bearer(await create_key(runtime, customer["id"], ["admin"]))
    stranger, stranger_key = await create_org_with_key(runtime, "Stranger")
    own = await _message(
        client,
        auth,
        mode="simple",
        campaign="spring",
        reference="R-1",
        guid="g-own",
        recipients=[recipient(1), recipient(2)],
    )
    on_behalf = await _message(
        client, auth, mode="simple", on_behalf_of=customer["id"], campaign="spring", reference="R-2"
    )
    customers = await _message(client, customer_auth, mode="deliver", reference="R-1")
    draft = await _message(client, auth, dispatch=False, mode="simple", reference="R-3")
    strangers = await _message(
        client, bearer(stranger_key), mode="simple", campaign="spring", reference="R-1"
    )
    return World(org_key[0], customer["id"], stranger, own, on_behalf, customers, draft, strangers)


def ids(rows: Any) -> list[str]:
    return [row.id for row in rows]


def delivery_ids(*messages: dict[str, Any]) -> set[str]:
    return {d["id"] for m in messages for d in m["deliveries"]}


async def test_who_reads_and_who_changes_which_message(world: World, runtime: Runtime) -> None:
    async with runtime.sessions() as session:

        async def visible(org: str, **how: bool) -> set[str]:
            everyone = (world.own, world.on_behalf, world.customers, world.draft, world.strangers)
            found = set()
            for message in everyone:
                row = await repo.get_message(session, org, message["id"], **how)
                if row is not None:
                    assert row.id == message["id"]
                    found.add(row.id)
            return found

        reseller = {world.own["id"], world.on_behalf["id"], world.draft["id"]}
        assert await visible(world.reseller) == reseller
        assert await visible(world.reseller, writable=True) == reseller
        # The customer reads what was sent in its name, but only the reseller changes it.
        assert await visible(world.customer) == {world.customers["id"], world.on_behalf["id"]}
        assert await visible(world.customer, writable=True) == {world.customers["id"]}
        assert await visible(world.stranger) == {world.strangers["id"]}
        assert await visible(world.stranger, for_update=True) == {world.strangers["id"]}


async def test_deliveries_are_read_by_the_sender_and_the_submitter(
    world: World, runtime: Runtime
) -> None:
    everyone = (world.own, world.on_behalf, world.customers, world.strangers)
    async with runtime.sessions() as session:
        for org, mine in (
            (world.reseller, delivery_ids(world.own, world.on_behalf)),
            (world.customer, delivery_ids(world.customers, world.on_behalf)),
            (world.stranger, delivery_ids(world.strangers)),
        ):
            got = {
                d.id
                for d in [await repo.get_delivery(session, org, i) for i in delivery_ids(*everyone)]
                if d is not None
            }
            assert got == mine
            viewed = [await repo.delivery_view(session, org, i) for i in delivery_ids(*everyone)]
            assert {v[0].id for v in viewed if v is not None} == mine
            listed, cursor = await repo.list_deliveries(session, org, limit=50, cursor=None)
            assert set(ids(listed)) == mine and cursor is None


async def test_message_lists_filter_and_page_newest_first(world: World, runtime: Runtime) -> None:
    async with runtime.sessions() as session:

        async def listed(org: str, **filters: str) -> list[str]:
            rows, cursor = await repo.list_messages(session, org, limit=50, cursor=None, **filters)
            assert cursor is None
            return ids(rows)

        newest_first = [world.draft["id"], world.on_behalf["id"], world.own["id"]]
        assert await listed(world.reseller) == newest_first
        assert await listed(world.customer) == [world.customers["id"], world.on_behalf["id"]]
        assert await listed(world.reseller, status="draft") == [world.draft["id"]]
        assert await listed(world.customer, mode="deliver") == [world.customers["id"]]
        assert await listed(world.reseller, campaign="spring") == newest_first[1:]
        assert await listed(world.reseller, reference="R-1") == [world.own["id"]]
        assert await listed(world.reseller, reference="R-1", campaign="autumn") == []

        pages, cursor = [], None
        while True:
            rows, cursor = await repo.list_messages(session, world.reseller, limit=1, cursor=cursor)
            pages.append(ids(rows))
            if cursor is None:
                break
        assert pages == [[i] for i in newest_first]
        two, cursor = await repo.list_messages(session, world.reseller, limit=2, cursor=None)
        assert ids(two) == newest_first[:2]
        rest, end = await repo.list_messages(session, world.reseller, limit=2, cursor=cursor)
        assert (ids(rest), end) == (newest_first[2:], None)


async def test_delivery_lists_filter_and_page(world: World, runtime: Runtime) -> None:
    own = sorted(delivery_ids(world.own), reverse=True)
    async with runtime.sessions() as session:
        rows, _ = await repo.list_deliveries(
            session, world.reseller, limit=50, cursor=None, message_id=world.own["id"]
        )
        assert ids(rows) == own
        first, cursor = await repo.list_deliveries(
            session, world.reseller, limit=1, cursor=None, message_id=world.own["id"]
        )
        rest, end = await repo.list_deliveries(
            session, world.reseller, limit=1, cursor=cursor, message_id=world.own["id"]
        )
        assert (ids(first), ids(rest), end) == ([own[0]], [own[1]], None)
        statuses = {d.status for d in rows}
        (status,) = statuses
        other, _ = await repo.list_deliveries(
            session, world.reseller, limit=50, cursor=None, status="accepted"
        )
        same, _ = await repo.list_deliveries(
            session, world.reseller, limit=50, cursor=None, status=status
        )
        assert other == [] and set(ids(same)) == delivery_ids(world.own, world.on_behalf)


async def set_updated(runtime: Runtime, moments: dict[str, Any]) -> None:
    async with transaction(runtime.sessions) as session:
        for delivery_id, moment in moments.items():
            delivery = await session.get(Delivery, delivery_id)
            assert delivery is not None
            delivery.updated_at = moment
            await session.flush()  # one by one, in the order given


async def test_changes_are_followed_oldest_first_through_ties(
    world: World, runtime: Runtime
) -> None:
    a, b = sorted(delivery_ids(world.own))
    (c,) = delivery_ids(world.on_behalf)
    async with runtime.sessions() as session:
        start = (await session.get_one(Delivery, a)).updated_at - timedelta(hours=1)
    tie = start + timedelta(minutes=10)
    # c changed first; a and b at the same instant (one statement changed both). b is
    # written before a: on PostgreSQL a's new row version then lies after b's, so only the
    # id breaks the tie.
    await set_updated(runtime, {c: start + timedelta(minutes=5), b: tie, a: tie})
    async with runtime.sessions() as session:

        async def follow(limit: int, after: Any = start) -> list[list[str]]:
            pages, cursor = [], None
            while True:
                rows, cursor = await repo.list_deliveries(
                    session, world.reseller, limit=limit, cursor=cursor, updated_after=after
                )
                pages.append(ids(rows))
                if cursor is None:
                    return pages

        assert await follow(1) == [[c], [a], [b]]
        assert await follow(2) == [[c, a], [b]]
        assert await follow(3) == [[c, a, b]]
        assert await follow(3, after=start + timedelta(minutes=5)) == [[a, b]]
        assert await follow(3, after=tie) == [[]]
        bad = encode_cursor(["not a time", a])
        with pytest.raises(InvalidParameter) as refused:
            await repo.list_deliveries(
                session, world.reseller, limit=1, cursor=bad, updated_after=start
            )
        assert [e.field for e in refused.value.errors] == ["cursor"]
        assert str(refused.value) == "The cursor is not one this API returned."


async def test_deliveries_by_reference(world: World, runtime: Runtime) -> None:
    a, b = sorted(delivery_ids(world.own))
    (c,) = delivery_ids(world.on_behalf)
    async with runtime.sessions() as session:
        start = (await session.get_one(Delivery, a)).updated_at - timedelta(hours=1)
    await set_updated(
        runtime,
        {b: start + timedelta(minutes=1), a: start + timedelta(minutes=2), c: start},
    )
    async with runtime.sessions() as session:

        async def found(org: str, limit: int = 50, **by: Any) -> list[str]:
            return ids(await repo.deliveries_by_reference(session, org, limit=limit, **by))

        assert await found(world.reseller, campaign="spring") == [c, b, a]
        assert await found(world.reseller, campaign="spring", limit=2) == [c, b]
        assert await found(world.reseller, reference="R-1") == [b, a]
        assert await found(world.reseller, guid="g-own") == [b, a]
        assert await found(world.reseller, guid="g-other") == []
        assert await found(world.reseller, campaign="spring", updated_after=start) == [b, a]
        # The customer finds the letter sent in its name; a stranger finds only its own.
        assert await found(world.customer, reference="R-2") == [c]
        assert await found(world.customer, campaign="spring") == [c]
        assert await found(world.stranger, reference="R-1") == list(delivery_ids(world.strangers))

    # Changed at the same instant (b written first): the id decides.
    tie = start + timedelta(minutes=3)
    await set_updated(runtime, {b: tie, a: tie})
    async with runtime.sessions() as session:
        rows = await repo.deliveries_by_reference(
            session, world.reseller, reference="R-1", limit=50
        )
        assert ids(rows) == [a, b]


async def test_lookups_by_id(world: World, runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        assert await repo.attachments_of(session, []) == []
        assert await repo.messages_by_ids(session, []) == []
        assert await repo.count_attachments(session, world.own["id"]) == 0
        assert ids(await repo.delivery_views_of_message(session, world.own["id"])) == sorted(
            delivery_ids(world.own)
        )
        both = await repo.messages_by_ids(session, [world.own["id"], world.customers["id"]])
        assert set(ids(both)) == {world.own["id"], world.customers["id"]}


async def test_attachments_in_upload_order(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    created = (await client.post("/v1/messages", json=message_body(), headers=auth)).json()
    other = (await client.post("/v1/messages", json=message_body(), headers=auth)).json()
    for message, name in ((created, "b.pdf"), (created, "a.pdf"), (other, "c.pdf")):
        uploaded = await client.post(
            f"/v1/messages/{message['id']}/attachments?filename={name}",
            content=b"%PDF-1.4\n%%EOF\n",
            headers={**auth, "Content-Type": "application/pdf"},
        )
        assert uploaded.status_code == 201, uploaded.text
    async with runtime.sessions() as session:
        assert await repo.count_attachments(session, created["id"]) == 2
        files = await repo.attachments_of(session, [created["id"]])
        assert [f.filename for f in files] == ["b.pdf", "a.pdf"]
        files = await repo.attachments_of(session, [created["id"], other["id"]])
        assert [f.filename for f in files] == ["b.pdf", "a.pdf", "c.pdf"]


async def test_delivery_rows_hold_the_instances_values(world: World, runtime: Runtime) -> None:
    """The read paths' rows (``DeliveryRow``, by name) are the stored delivery's values, times
    aware, whichever statement read them: alone with its evidence, a message's, a page."""
    message_id = world.own["id"]
    async with runtime.sessions() as session:
        pages, _ = await repo.list_deliveries(
            session, world.reseller, limit=50, cursor=None, message_id=message_id
        )
        of_message = await repo.delivery_views_of_message(session, message_id)
        for delivery_id in delivery_ids(world.own):
            view = await repo.delivery_view(session, world.reseller, delivery_id)
            assert view is not None
            alone, evidence = view
            instance = await session.get(Delivery, delivery_id)
            assert instance is not None and evidence
            expected = {name: getattr(instance, name) for name in repo.DeliveryRow._fields}
            assert expected["created_at"].tzinfo is not None
            (listed,) = [row for row in pages if row.id == delivery_id]
            (in_message,) = [row for row in of_message if row.id == delivery_id]
            for row in (alone, listed, in_message):
                assert isinstance(row, repo.DeliveryRow)
                assert row._asdict() == expected
            # Its evidence, read with it or on its own, as the records hold it.
            records = await evidence_for_deliveries(session, [delivery_id])
            held = [EvidenceRef(e.id, e.type, e.event, e.occurred_at) for e in records[delivery_id]]
            assert evidence == held
            assert (await evidence_refs(session, [delivery_id]))[delivery_id] == held
