"""The sender's track-and-trace page: the token is the secret; en and nl; escaped."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tabellion.runtime import Runtime
from tests.compat.registered_email.helpers import PDF, SEND, active_sender, send_body
from tests.fixtures.factories import message_body


async def test_tracking_page_in_english_and_dutch(
    client: httpx.AsyncClient, auth: dict[str, str], org_key: tuple[str, str], runtime: Runtime
) -> None:
    await active_sender(runtime, org_key[0])
    body = send_body(subject="<script>alert(1)</script> Notice")
    answer = (await client.post(SEND, json=body, headers=auth)).json()
    path = answer["ticket_url"].removeprefix("http://tabellion.test")

    page = await client.get(path)  # no API key
    assert page.status_code == 200
    assert "Track and trace" in page.text
    assert "Waiting to be announced" in page.text
    assert hashlib.sha256(PDF).hexdigest() in page.text and "attachment.pdf" in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Notice" in page.text
    assert 'data-type="SENT"' in page.text and "/v1/evidence/evd_" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"

    dutch = await client.get(path, headers={"Accept-Language": "nl-NL,nl;q=0.9"})
    assert "Tijdlijn" in dutch.text and "Bijlagen" in dutch.text
    assert '<html lang="nl">' in dutch.text
    english = await client.get(path + "?lang=en", headers={"Accept-Language": "nl"})
    assert "Timeline" in english.text

    altered = await client.get(path[:-3] + "abc")
    assert altered.status_code == 404
    assert "This tracking link is not valid" in altered.text
    assert "attachment.pdf" not in altered.text
    assert (await client.get("/track/nothing")).status_code == 404


@pytest.mark.parametrize(
    ("lang", "phrases"),
    [
        ("en", ("Timeline", "Waiting to be announced")),
        ("nl", ("Tijdlijn", "Wacht op aankondiging")),
        ("fr", ("Chronologie", "En attente d’annonce")),
        ("de", ("Verlauf", "Wartet auf Ankündigung")),
    ],
)
async def test_tracking_page_speaks_each_language(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    org_key: tuple[str, str],
    runtime: Runtime,
    lang: str,
    phrases: tuple[str, ...],
) -> None:
    await active_sender(runtime, org_key[0])
    answer = (await client.post(SEND, json=send_body(), headers=auth)).json()
    page = await client.get(answer["ticket_url"], params={"lang": lang})
    assert f'<html lang="{lang}">' in page.text
    for phrase in phrases:
        assert phrase in page.text
    assert page.cookies.get("tbl_lang") == lang


async def test_the_native_api_gives_each_delivery_its_tracking_url(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    created = (await client.post("/v1/messages", json=message_body(), headers=auth)).json()
    dispatched = (await client.post(f"/v1/messages/{created['id']}/dispatch", headers=auth)).json()
    [delivery] = dispatched["deliveries"]
    url = delivery["tracking_url"]
    assert url.startswith(f"http://tabellion.test/track/{delivery['id']}.")
    read = (await client.get(f"/v1/deliveries/{delivery['id']}", headers=auth)).json()
    assert read["tracking_url"] == url
    page = await client.get(url)
    assert page.status_code == 200 and "Waiting to be announced" in page.text
