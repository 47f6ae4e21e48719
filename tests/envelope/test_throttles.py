"""The signing page's and the identity sign-in's throttles (``kit.ratelimit``): code requests,
sign-ins started, wrong codes and wrong passwords by client and by address, answered with the
localised 429 page.

(Wrong codes per client: ``test_auth.py::test_wrong_codes_are_counted_and_throttled``; the
code's own five tries under concurrency: ``test_races.py``.)
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tabellion.config import Settings
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.envelope.test_auth import SIGNER, _active_user, _form, _sent
from tests.envelope.test_pages import _token
from tests.fixtures.factories import message_body, natural_recipient
from tests.fixtures.server import client_from
from tests.identity.conftest import PROVIDERS
from tests.kit.test_ratelimit import assert_limited_page
from tests.portal.helpers import notify

SMALL = {
    "code-request.ip": "3/minute",
    "identity-start.ip": "3/minute",
    "sign-in.ip": "2/minute",
    "sign-in.address": "3/minute",
}


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    return make_settings(data_dir, database_url, rate_limits=SMALL, identity_providers=PROVIDERS)


async def test_signing_code_requests_per_client(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    tokens = []
    for n in range(4):
        _, recipient = await _sent(
            client, auth, email=f"s{n}@example.test", access_auth=["email_otp"]
        )
        tokens.append(await _token(runtime, recipient))
    for token in tokens[:3]:
        sent = await _form(client, token, "code", {"step": "access"})
        assert sent.status_code == 303, sent.text
    refused = await _form(client, tokens[3], "code", {"step": "access"})
    assert_limited_page(refused, back=f"/s/{tokens[3]}")


async def test_signing_passwords_per_client_and_per_address(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str], org_key: tuple[str, str]
) -> None:
    await _active_user(runtime, org_key[0], SIGNER["email"])
    _, sam = await _sent(client, auth, action_auth=["password"])
    token = await _token(runtime, sam)
    wrong = {"step": "action", "method": "password", "password": "nope"}
    for _ in range(2):
        assert (await _form(client, token, "verify", wrong)).status_code == 422
    assert_limited_page(await _form(client, token, "verify", wrong), back=f"/s/{token}")
    # sign-in.address (3 a minute here) holds whatever the client's address.
    async with client_from(client, "198.51.100.7") as other:
        assert (await _form(other, token, "verify", wrong)).status_code == 422
        assert_limited_page(await _form(other, token, "verify", wrong), back=f"/s/{token}")


async def test_identity_sign_ins_have_their_own_limit(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    asked = {"level": "substantial", "providers": ["bank"], "match": ["last_name"]}
    body = message_body(recipients=[natural_recipient(0)], identification=asked)
    created = (await client.post("/v1/messages?dispatch=true", json=body, headers=auth)).json()
    link = await notify(runtime, created["deliveries"][0]["id"])
    token = link.rsplit("/", 1)[1]
    for _ in range(3):
        started = await client.get(f"/r/{token}/identify/bank")
        assert started.status_code != 429, started.text
    refused = await client.get(f"/r/{token}/identify/bank")
    assert_limited_page(refused, back=f"/r/{token}")
