"""The dashboard's API keys page (admins): create a key with scopes (shown once, working at
once), see the list, revoke one (401 from then on); other roles are refused and see no link;
bad input is named by its field and creates nothing; organisations never see each other's."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from tabellion.kit.time import utcnow
from tabellion.runtime import Runtime
from tests.conftest import count_rows
from tests.dashboard.helpers import signed_in_user
from tests.dashboard.test_pages import text_of
from tests.fixtures.factories import create_org_with_key
from tests.organization.test_activation_smtp import csrf_of

PAGE = "/app/settings/keys"


def secret_of(page: httpx.Response) -> str:
    match = re.search(r'id="secret" readonly value="(tbl_[0-9A-Za-z]{40})"', page.text)
    assert match, page.text
    return match.group(1)


async def test_an_admin_creates_uses_and_revokes_a_key(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await signed_in_user(client, auth, runtime, "admin")
    home = await client.get("/app")
    assert 'href="/app/settings"' in home.text  # the settings, whose navigation has the keys
    assert f'href="{PAGE}"' in (await client.get("/app/settings")).text
    page = await client.get(PAGE)
    assert page.status_code == 200 and "<script" not in page.text
    expires = (utcnow() + timedelta(days=30)).date().isoformat()
    created = await client.post(
        PAGE,
        data={
            "csrf_token": csrf_of(page.text),
            "name": "CRM export",
            "scopes": ["messages:read", "webhooks"],
            "expires": expires,
        },
    )
    assert created.status_code == 201, created.text
    secret = secret_of(created)
    assert "shown once" in text_of(created) and "CRM export" in created.text
    assert secret not in (await client.get(PAGE)).text  # never again
    # The key works at once, with exactly its scopes.
    bearer = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/v1/messages", headers=bearer)).status_code == 200
    assert (await client.get("/v1/api-keys", headers=bearer)).status_code == 403
    listed = (await client.get("/v1/api-keys", headers=auth)).json()["data"]
    [mine] = [k for k in listed if k["name"] == "CRM export"]
    assert mine["scopes"] == ["messages:read", "webhooks"]
    assert mine["expires_at"].startswith(expires)
    row = f'id="key-{mine["id"]}"'
    assert row in (await client.get(PAGE)).text

    listing = await client.get(PAGE)
    revoked = await client.post(
        f"{PAGE}/{mine['id']}/revoke", data={"csrf_token": csrf_of(listing.text)}
    )
    assert revoked.status_code == 303 and revoked.headers["location"] == f"{PAGE}?done=revoked"
    assert (await client.get("/v1/messages", headers=bearer)).status_code == 401
    after = text_of(await client.get(revoked.headers["location"]))
    assert "The key was revoked." in after and "revoked" in after

    def revoked_at() -> str:
        return next(k["revoked_at"] for k in keys if k["id"] == mine["id"])

    keys = (await client.get("/v1/api-keys", headers=auth)).json()["data"]
    first = revoked_at()
    assert first is not None
    again = await client.post(
        f"{PAGE}/{mine['id']}/revoke", data={"csrf_token": csrf_of(listing.text)}
    )
    assert again.status_code == 303  # revoking twice changes nothing: the first time stays
    keys = (await client.get("/v1/api-keys", headers=auth)).json()["data"]
    assert revoked_at() == first


@pytest.mark.parametrize("role", ["viewer", "sender"])
async def test_other_roles_are_refused(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, role: str
) -> None:
    await signed_in_user(client, auth, runtime, role)
    home = await client.get("/app")
    assert PAGE not in home.text
    page = await client.get(PAGE)
    assert page.status_code == 403 and "an admin of the organisation can" in text_of(page)
    before = await count_rows(runtime, "api_keys")
    made = await client.post(
        PAGE, data={"csrf_token": csrf_of(home.text), "name": "x", "scopes": ["admin"]}
    )
    assert made.status_code == 403 and 'id="secret"' not in made.text
    assert await count_rows(runtime, "api_keys") == before
    [key] = (await client.get("/v1/api-keys", headers=auth)).json()["data"]
    revoke = await client.post(
        f"{PAGE}/{key['id']}/revoke", data={"csrf_token": csrf_of(home.text)}
    )
    assert revoke.status_code == 403
    assert (await client.get("/v1/messages", headers=auth)).status_code == 200


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "", "scopes": ["admin"]}, "name", "1 to 255 characters"),
        ({"name": "x" * 256, "scopes": ["admin"]}, "name", "1 to 255 characters"),
        ({"name": "a\x00b", "scopes": ["admin"]}, "name", "1 to 255 characters"),
        ({"name": "ok"}, "scopes", "at least one scope"),
        ({"name": "ok", "scopes": ["root"]}, "scopes", "Scopes are among"),
        ({"name": "ok", "scopes": ["admin"], "expires": "2020-01-01"}, "expires", "after today"),
        ({"name": "ok", "scopes": ["admin"], "expires": "31/12/2030"}, "expires", "such as"),
    ],
)
async def test_bad_input_is_named_and_creates_nothing(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    fields: dict[str, object],
    field: str,
    message: str,
) -> None:
    await signed_in_user(client, auth, runtime, "admin")
    page = await client.get(PAGE)
    before = await count_rows(runtime, "api_keys")
    answer = await client.post(PAGE, data={"csrf_token": csrf_of(page.text), **fields})
    assert answer.status_code == 422
    assert f'id="{field}-error"' in answer.text and message in text_of(answer)
    assert 'id="secret"' not in answer.text
    assert await count_rows(runtime, "api_keys") == before


async def test_forms_need_their_token_and_organisations_stay_apart(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    _, other = await create_org_with_key(runtime, name="Other")
    [theirs] = (
        await client.get("/v1/api-keys", headers={"Authorization": f"Bearer {other}"})
    ).json()["data"]
    await signed_in_user(client, auth, runtime, "admin")
    page = await client.get(PAGE)
    assert theirs["id"] not in page.text
    refused = await client.post(PAGE, data={"name": "x", "scopes": ["admin"]})
    assert refused.status_code == 403 and 'id="secret"' not in refused.text
    revoke = await client.post(
        f"{PAGE}/{theirs['id']}/revoke", data={"csrf_token": csrf_of(page.text)}
    )
    assert revoke.status_code == 404
    other_auth = {"Authorization": f"Bearer {other}"}
    assert (await client.get("/v1/messages", headers=other_auth)).status_code == 200


async def test_signed_out_visitors_go_to_the_sign_in(client: httpx.AsyncClient) -> None:
    assert (await client.get(PAGE)).headers["location"] == "/account/sign-in"
    for path in (PAGE, f"{PAGE}/key_x/revoke"):
        answer = await client.post(path, data={"name": "x", "scopes": ["admin"]})
        assert answer.status_code == 303 and answer.headers["location"] == "/account/sign-in"
