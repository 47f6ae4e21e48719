"""The dashboard's users page (admins): invite (the activation e-mail goes out), change a
role, send a new activation link, deactivate (signed out at once); never oneself; other roles
refused; bad input named with nothing created; organisations kept apart."""

from __future__ import annotations

import re

import httpx
import pytest

from tabellion.jobs.worker import Worker
from tabellion.runtime import Runtime
from tests.conftest import count_rows
from tests.dashboard.helpers import PASSWORD, signed_in_user
from tests.dashboard.test_pages import text_of
from tests.fixtures.factories import create_org_with_key
from tests.organization.test_activation_smtp import csrf_of
from tests.portal.helpers import outbox_read

PAGE = "/app/settings/users"


def user_id(page: httpx.Response, email: str) -> str:
    match = re.search(r'<tr id="user-(usr_\w+)">\s*<td>[^<]*&lt;' + re.escape(email), page.text)
    assert match, page.text
    return match.group(1)


async def test_an_admin_invites_changes_and_deactivates(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await signed_in_user(client, auth, runtime, "admin")
    page = await client.get(PAGE)
    assert page.status_code == 200 and f'href="{PAGE}"' in page.text
    invited = await client.post(
        PAGE,
        data={"csrf_token": csrf_of(page.text), "email": " Bob@Acme.test ", "name": "Bob",
              "role": "viewer"},
    )  # fmt: skip
    assert invited.status_code == 303 and invited.headers["location"] == f"{PAGE}?done=invited"
    shown = await client.get(invited.headers["location"])
    assert "The invitation was sent" in text_of(shown)
    bob = user_id(shown, "Bob@acme.test")  # the domain lower-cased, the mailbox kept
    assert "Bob <Bob@acme.test>" in text_of(shown) and "invited" in text_of(shown)
    await Worker(runtime, poll_interval=0.05).run_until_idle()
    [mail] = [m for m in outbox_read(runtime, "@") if m["To"] == "Bob@acme.test"]
    assert "/account/activate/" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    token = csrf_of(shown.text)
    role = await client.post(f"{PAGE}/{bob}/role", data={"csrf_token": token, "role": "sender"})
    assert role.status_code == 303
    api = (await client.get(f"/v1/users/{bob}", headers=auth)).json()
    assert api["role"] == "sender"
    resent = await client.post(f"{PAGE}/{bob}/resend", data={"csrf_token": token})
    assert resent.status_code == 303 and resent.headers["location"].endswith("done=resent")
    gone = await client.post(f"{PAGE}/{bob}/deactivate", data={"csrf_token": token})
    assert gone.status_code == 303
    assert (await client.get(f"/v1/users/{bob}", headers=auth)).json()["status"] == "deactivated"
    # A deactivated user gets no new link.
    again = await client.post(f"{PAGE}/{bob}/resend", data={"csrf_token": token})
    assert again.status_code == 409


async def test_a_deactivated_user_is_signed_out_and_an_admin_never_acts_on_themself(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    email = await signed_in_user(client, auth, runtime, "sender")
    [sender] = [u for u in (await client.get("/v1/users", headers=auth)).json()["data"]
                if u["email"] == email]  # fmt: skip
    async with httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url)) as c:
        admin = await signed_in_user(c, auth, runtime, "admin")
        page = await c.get(PAGE)
        me = user_id(page, admin)
        token = csrf_of(page.text)
        for action, data in (("role", {"role": "viewer"}), ("deactivate", {})):
            refused = await c.post(f"{PAGE}/{me}/{action}", data={"csrf_token": token, **data})
            assert refused.status_code == 409 and "another admin can" in text_of(refused)
        assert f"{PAGE}/{me}/deactivate" not in page.text
        assert (
            await c.post(f"{PAGE}/{sender['id']}/deactivate", data={"csrf_token": token})
        ).status_code == 303
    assert (await client.get("/app")).headers["location"] == "/account/sign-in"
    sign_in = await client.get("/account/sign-in")
    refused = await client.post(
        "/account/sign-in",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(sign_in.text)},
    )
    assert refused.status_code == 401
    assert "The address or the password is not right." in text_of(refused)


@pytest.mark.parametrize("role", ["viewer", "sender"])
async def test_other_roles_are_refused(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, role: str
) -> None:
    await signed_in_user(client, auth, runtime, role)
    home = await client.get("/app")
    assert PAGE not in home.text
    assert (await client.get(PAGE)).status_code == 403
    before = await count_rows(runtime, "users")
    token = csrf_of(home.text)
    made = await client.post(PAGE, data={"csrf_token": token, "email": "x@acme.test"})
    assert made.status_code == 403 and await count_rows(runtime, "users") == before
    [me] = (await client.get("/v1/users", headers=auth)).json()["data"]
    promoted = await client.post(
        f"{PAGE}/{me['id']}/role", data={"csrf_token": token, "role": "admin"}
    )
    assert promoted.status_code == 403
    assert (await client.get(f"/v1/users/{me['id']}", headers=auth)).json()["role"] == role


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"email": "not an address"}, "email", "An e-mail address"),
        ({"email": ""}, "email", "An e-mail address"),
        ({"email": "ok@acme.test", "role": "owner"}, "role", "One of viewer, sender, admin"),
        ({"email": "ok@acme.test", "name": "x" * 256}, "name", "At most 255 characters"),
        ({"email": "ok@acme.test", "name": "a\x07b"}, "name", "control characters"),
        ({"email": "admin@acme.test"}, "email", "already a user"),
    ],
)
async def test_bad_input_is_named_and_creates_nothing(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    await signed_in_user(client, auth, runtime, "admin")
    page = await client.get(PAGE)
    before = await count_rows(runtime, "users")
    answer = await client.post(PAGE, data={"csrf_token": csrf_of(page.text), **fields})
    assert answer.status_code in (409, 422), answer.text
    assert f'id="{field}-error"' in answer.text and message in text_of(answer)
    assert await count_rows(runtime, "users") == before


async def test_organisations_stay_apart_and_forms_need_their_token(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    _, other = await create_org_with_key(runtime, name="Other")
    other_auth = {"Authorization": f"Bearer {other}"}
    theirs = (
        await client.post(
            "/v1/users", json={"email": "eve@other.test", "role": "viewer"}, headers=other_auth
        )
    ).json()
    await signed_in_user(client, auth, runtime, "admin")
    page = await client.get(PAGE)
    assert "eve@other.test" not in page.text
    token = csrf_of(page.text)
    for action in ("deactivate", "resend"):
        answer = await client.post(f"{PAGE}/{theirs['id']}/{action}", data={"csrf_token": token})
        assert answer.status_code == 404
    assert (await client.get(f"/v1/users/{theirs['id']}", headers=other_auth)).json()[
        "status"
    ] == "invited"
    assert (await client.post(PAGE, data={"email": "x@acme.test"})).status_code == 403
