"""The dashboard's customers (admins): register one (its contact gets the consent e-mail,
through the real worker), see each customer's delegation state, filter by state, stop managing
one (CANCELLED, as the API's cancel); a second cancel refused with its reason; bad input named;
another organisation's customers never listed nor cancelled."""

from __future__ import annotations

import httpx
import pytest

from tabellion.jobs.worker import Worker
from tabellion.runtime import Runtime
from tests.dashboard.helpers import signed_in_user
from tests.dashboard.test_pages import text_of
from tests.fixtures.factories import create_org_with_key
from tests.organization.test_activation_smtp import csrf_of
from tests.portal.helpers import outbox_read

PAGE = "/app/settings/customers"


async def test_register_see_the_state_filter_and_cancel(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await signed_in_user(client, auth, runtime, "admin")
    page = await client.get(PAGE)
    assert 'id="no-customers"' in page.text
    made = await client.post(
        PAGE,
        data={"csrf_token": csrf_of(page.text), "name": " Bakery Dupont ",
              "email": "Owner@Dupont.test", "is_paying": "1"},
    )  # fmt: skip
    assert made.status_code == 303 and made.headers["location"] == f"{PAGE}?done=registered"
    [customer] = (await client.get("/v1/customers", headers=auth)).json()["data"]
    assert customer["name"] == "Bakery Dupont" and customer["email"] == "Owner@dupont.test"
    assert customer["state"] == "PENDING" and customer["is_paying"] is True
    assert customer["will_send_registered"] is False
    shown = await client.get(made.headers["location"])
    assert "its contact is asked by e-mail" in text_of(shown)
    assert f'id="customer-{customer["id"]}"' in shown.text and "PENDING" in text_of(shown)
    await Worker(runtime, poll_interval=0.05).run_until_idle()
    mails = [m for m in outbox_read(runtime, "@") if m["To"] == "Owner@dupont.test"]
    assert len(mails) == 1
    assert "/customers/consent/" in mails[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]

    # Filters by delegation state.
    accepted = await client.get(PAGE, params={"state": "ACCEPTED"})
    assert customer["id"] not in accepted.text and "No customer in state ACCEPTED" in (
        text_of(accepted)
    )
    pending = await client.get(PAGE, params={"state": "PENDING"})
    assert f'id="customer-{customer["id"]}"' in pending.text
    bad = await client.get(PAGE, params={"state": "MAYBE"})
    assert bad.status_code == 422 and 'id="state-error"' in bad.text

    token = csrf_of(shown.text)
    cancelled = await client.post(f"{PAGE}/{customer['id']}/cancel", data={"csrf_token": token})
    assert cancelled.headers["location"] == f"{PAGE}?done=cancelled"
    api = (await client.get(f"/v1/customers/{customer['id']}", headers=auth)).json()
    assert api["state"] == "CANCELLED"
    listing = await client.get(PAGE)
    assert f'action="{PAGE}/{customer["id"]}/cancel"' not in listing.text
    again = await client.post(f"{PAGE}/{customer['id']}/cancel", data={"csrf_token": token})
    assert again.status_code == 409
    assert "Bakery Dupont is CANCELLED: only a PENDING or ACCEPTED" in text_of(again)
    events = (await client.get("/v1/events", headers=auth)).json()["data"]
    assert [e["type"] for e in events] == ["customer.cancelled"]  # the API's event, once


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"name": "", "email": "a@b.test"}, "name", "A name of 1 to 255 characters"),
        ({"name": "Tab\there", "email": "a@b.test"}, "name", "without control characters"),
        ({"name": "Dupont", "email": "not an address"}, "email", "An e-mail address"),
        ({"name": "Dupont", "email": ""}, "email", "An e-mail address"),
    ],
)
async def test_bad_input_is_named_and_nothing_is_created(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    form: dict[str, str],
    field: str,
    message: str,
) -> None:
    await signed_in_user(client, auth, runtime, "admin")
    page = await client.get(PAGE)
    answer = await client.post(PAGE, data={"csrf_token": csrf_of(page.text), **form})
    assert answer.status_code == 422, answer.text
    assert f'id="{field}-error"' in answer.text and message in text_of(answer)
    assert (await client.get("/v1/customers", headers=auth)).json()["data"] == []


async def test_another_organisations_customers_are_never_seen_or_cancelled(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    _, other_key = await create_org_with_key(runtime, "Other")
    other = {"Authorization": f"Bearer {other_key}"}
    made = await client.post(
        "/v1/customers",
        json={"customers": [{"name": "Their client", "email": "c@their.test"}]},
        headers=other,
    )
    [theirs] = made.json()["customers"]
    await signed_in_user(client, auth, runtime, "admin")
    page = await client.get(PAGE)
    assert theirs["id"] not in page.text and "Their client" not in page.text
    refused = await client.post(
        f"{PAGE}/{theirs['id']}/cancel", data={"csrf_token": csrf_of(page.text)}
    )
    assert refused.status_code == 404
    assert (await client.get(f"/v1/customers/{theirs['id']}", headers=other)).json()[
        "state"
    ] == "PENDING"
    # Nor is an id that cannot exist.
    bogus = await client.post(f"{PAGE}/not-an-id/cancel", data={"csrf_token": csrf_of(page.text)})
    assert bogus.status_code == 404
