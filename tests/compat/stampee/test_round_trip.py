"""LRE through the dialect, answered in the real portal, read back through the dialect."""

from __future__ import annotations

import httpx

from tabellion.runtime import Runtime
from tests.compat.stampee.helpers import BASE, bulk_send, delivery_of, letter, token
from tests.portal.helpers import csrf, notify
from tests.portal.test_registered import UA, confirm_identity


async def answer_in_portal(
    client: httpx.AsyncClient, runtime: Runtime, delivery_id: str, decision: str
) -> None:
    link = await notify(runtime, delivery_id)
    page = await confirm_identity(client, runtime, link, delivery_id)
    done = await client.post(
        f"{link}/answer",
        data={"decision": decision, "confirm": "yes", "csrf_token": csrf(page)},
        headers=UA,
    )
    assert done.status_code == 303, done.text


async def test_lre_accepted_and_refused(
    client: httpx.AsyncClient, org_key: tuple[str, str], runtime: Runtime
) -> None:
    org, secret = org_key
    recipients = [
        {"email": "accepts@example.test", "firstname": "Anne", "lastname": "Martin"},
        {"email": "refuses@example.test", "company": "Acme SA", "companySiren": "732829320"},
    ]
    accepted, refused = await bulk_send(client, secret, letter("LRE", recipients=recipients))
    await answer_in_portal(client, runtime, await delivery_of(runtime, org, accepted), "accept")
    await answer_in_portal(client, runtime, await delivery_of(runtime, org, refused), "refuse")

    for foreign_id, status in ((accepted, "ACCEPTED"), (refused, "REFUSED")):
        state = (await client.get(f"{BASE}/messages/{foreign_id}", headers=token(secret))).json()
        assert (state["type"], state["status"]) == ("LRE", status)
        assert [e["eventType"] for e in state["evidences"]] == ["SENT", "NOTIFIED", status]
        for evidence in state["evidences"]:
            pdf = await client.get(evidence["url"])  # no token
            assert pdf.status_code == 200, pdf.text
            assert pdf.content.startswith(b"%PDF")
        proof = await client.get(
            f"{BASE}/messages/{foreign_id}/evidences/{status}", headers=token(secret)
        )
        assert proof.status_code == 200 and proof.headers["content-type"] == "application/pdf"
    other = await client.get(f"{BASE}/messages/{accepted}/evidences/REFUSED", headers=token(secret))
    assert other.json()["code"] == "evidence-not-found"
