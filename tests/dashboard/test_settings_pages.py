"""The dashboard's settings (admins): the index and every section's page for an admin, one
settings link in the bar; viewers and senders refused (403 with the reason) on every page and
form, and shown no link; the seal's page shows the certificate that really seals proofs."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from tabellion.evidence.sealing.keys import load_seal
from tabellion.runtime import Runtime
from tests.dashboard.helpers import signed_in_user
from tests.dashboard.test_pages import text_of
from tests.organization.test_activation_smtp import csrf_of

SECTIONS = {
    "/app/settings/keys": "API keys",
    "/app/settings/client-keys": "Client keys",
    "/app/settings/users": "Users",
    "/app/settings/webhooks": "Webhooks",
    "/app/settings/customers": "Customers",
    "/app/settings/seal": "Seal",
}
FORMS = (
    "/app/settings/keys",
    "/app/settings/client-keys",
    "/app/settings/webhooks",
    "/app/settings/customers",
    "/app/settings/users",
)


async def test_an_admin_reaches_every_section(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await signed_in_user(client, auth, runtime, "admin")
    home = await client.get("/app")
    assert 'href="/app/settings"' in home.text
    index = await client.get("/app/settings")
    assert index.status_code == 200 and "<script" not in index.text
    for path, title in SECTIONS.items():
        assert f'href="{path}"' in index.text
        page = await client.get(path)
        assert page.status_code == 200, (path, page.text)
        assert f"<h1>{title}</h1>" in page.text and "<script" not in page.text
        # The settings' own navigation marks where one is; the bar marks "Settings".
        assert f'<a href="{path}" aria-current="page">' in page.text
        assert '<a href="/app/settings" aria-current="page">' in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("role", ["viewer", "sender"])
async def test_other_roles_are_refused_everywhere_and_see_no_link(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, role: str
) -> None:
    await signed_in_user(client, auth, runtime, role)
    home = await client.get("/app")
    assert home.status_code == 200
    assert "/app/settings" not in home.text
    token = csrf_of(home.text)
    for path in ("/app/settings", *SECTIONS, "/app/settings/seal/chain.pem"):
        page = await client.get(path)
        assert page.status_code == 403, path
        assert f"A {role} cannot" in text_of(page) and "an admin of the organisation can" in (
            text_of(page)
        )
        # No link to a section, not even on the refusal (its language links reload it).
        links = re.findall(r'href="(/app/settings[^"]*)"', page.text)
        assert all(link.startswith(f"{path}?lang=") for link in links), links
    for path in FORMS:
        posted = await client.post(path, data={"csrf_token": token, "name": "x", "url": "x"})
        assert posted.status_code == 403, path
    # Nothing was made by those forms.
    for api in ("/v1/client-keys", "/v1/webhook-endpoints", "/v1/customers"):
        assert (await client.get(api, headers=auth)).json()["data"] == []


async def test_the_seal_page_shows_the_certificate_that_seals(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    await signed_in_user(client, auth, runtime, "admin")
    page = await client.get("/app/settings/seal")
    assert page.status_code == 200
    seal = load_seal(runtime.settings)
    text = text_of(page)
    der = seal.certificate.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).hexdigest().upper()
    assert ":".join(digest[i : i + 2] for i in range(0, 64, 2)) in text
    assert seal.certificate.subject.rfc4514_string() in text
    assert seal.certificate.issuer.rfc4514_string() in text
    assert seal.self_issued and "Self-issued seal" in text  # the tests' generated seal
    assert 'href="http://tabellion.test/verify"' in page.text
    assert "Valid until" in text and str(seal.certificate.not_valid_after_utc.year) in text
    chain = await client.get("/app/settings/seal/chain.pem")
    assert chain.status_code == 200 and chain.content == seal.chain_pem()
    # Read-only: nothing posts to it.
    assert 'method="post" action="/app/settings/seal' not in page.text
    refused = await client.post("/app/settings/seal", data={"csrf_token": csrf_of(page.text)})
    assert refused.status_code == 405
