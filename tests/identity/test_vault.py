"""The vault and letters that ask for identification: the vault's e-mail code proves the
mailbox, so each browser signs in with a provider before it may answer from the vault."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tabellion.db import transaction
from tabellion.models.message import Delivery
from tabellion.runtime import Runtime
from tests.identity.test_pages import pending_sign_in
from tests.portal.helpers import csrf, vault_sign_in


async def test_the_vault_shows_the_identity_step_until_this_browser_signed_in(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery_id, _ = await pending_sign_in(client, auth, runtime, age=timedelta(0))
    async with transaction(runtime.sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        email = delivery.email
        # Someone identified with a provider in another browser.
        delivery.identity = {"confirmed": True, "method": "oidc"}
    await vault_sign_in(client, runtime, email)
    item = await client.get(f"/vault/d/{delivery_id}")
    assert item.status_code == 200
    assert 'id="identity-step"' in item.text
    assert f'href="/vault/d/{delivery_id}/identify/bank"' in item.text
    assert 'value="accept"' not in item.text
    token = csrf((await client.get("/vault")).text)
    answer = {"decision": "accept", "confirm": "yes", "csrf_token": token}
    refused = await client.post(f"/vault/d/{delivery_id}/answer", data=answer)
    assert refused.status_code == 303
    assert refused.headers["location"] == f"/vault/d/{delivery_id}"
    async with runtime.sessions() as session:
        after = await session.get(Delivery, delivery_id)
        assert after is not None and after.status == "notified"
    # The vault's sign-in link: a provider that is not allowed is refused with a way back.
    started = await client.get(f"/vault/d/{delivery_id}/identify/nope")
    assert started.status_code == 303
    page = await client.get(started.headers["location"])
    assert 'data-reason="provider-not-allowed"' in page.text
    assert f'href="/vault/d/{delivery_id}"' in page.text
    # Without the vault's session, back to the vault's sign-in.
    client.cookies.clear()
    outside = await client.get(f"/vault/d/{delivery_id}/identify/bank")
    assert outside.status_code == 303 and outside.headers["location"] == "/vault"
