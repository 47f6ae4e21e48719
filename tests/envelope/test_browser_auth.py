"""In a real headless Chromium: an assistant fills a signer's field, then the signer confirms
a code by e-mail to see the documents and another before signing."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page

from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.envelope.helpers import field, pdf_bytes, upload
from tests.envelope.test_browser import _link_for
from tests.fixtures import browser as chromium
from tests.fixtures.factories import create_org_with_key
from tests.fixtures.server import free_port, live_server

browser = chromium.browser
page = chromium.page
screenshots = chromium.screenshots

pytestmark = [
    pytest.mark.browser,
    chromium.requires_chromium,
    pytest.mark.asyncio(loop_scope="session"),
]


async def _code_for(runtime: Runtime, address: str, seen: set[str]) -> str:
    """The newest code e-mailed to ``address`` not seen before (waits for the worker)."""
    for _ in range(500):
        outbox = runtime.settings.outbox_dir
        for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
            mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if mail["To"] == address and ".code@" in str(mail["Message-ID"]):
                [code] = re.findall(r"\b\d{6}\b", str(mail["Subject"]))
                if code not in seen:
                    seen.add(code)
                    return code
        await asyncio.sleep(0.02)
    raise AssertionError(f"no code to {address}")


async def test_assistant_then_signer_with_codes(
    page: Page, data_dir: Path, database_url: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    runtime = Runtime.build(make_settings(data_dir, database_url, public_url=base), pool_size=5)
    try:
        _, key = await create_org_with_key(runtime)
        auth = {"Authorization": f"Bearer {key}"}
        async with (
            live_server(runtime, run_worker=True, port=port),
            httpx.AsyncClient(base_url=base, timeout=30) as api,
        ):
            created = await api.post(
                "/v1/envelopes",
                headers=auth,
                json={
                    "title": "Lease",
                    "signing_order": "sequential",
                    "recipients": [
                        {"email": "asa@example.test", "name": "Asa", "role": "assistant"},
                        {
                            "email": "sam@example.test",
                            "name": "Sam Signer",
                            "order": 2,
                            "access_auth": ["email_otp"],
                            "action_auth": ["email_otp"],
                        },
                    ],
                },
            )
            envelope = created.json()
            document_id = (await upload(api, auth, envelope["id"], pdf_bytes(1))).json()["id"]
            _, sam = (r["id"] for r in envelope["recipients"])
            fields = [
                field(sam, document_id),
                field(sam, document_id, type="text", y=10, height=5, meta={"label": "Company"}),
            ]
            response = await api.post(
                f"/v1/envelopes/{envelope['id']}/fields", headers=auth, json={"fields": fields}
            )
            company = response.json()["data"][1]["id"]
            sent = await api.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
            assert sent.status_code == 202, sent.text

            await page.goto(await _link_for(runtime, "asa@example.test"))
            await page.get_by_label("Company, for Sam Signer").fill("Acme SA")
            await page.click("form#act button[type=submit]")
            await page.locator("#outcome").wait_for()
            assert "Your entries were passed on" in await page.inner_text("#outcome")

            seen: set[str] = set()
            await page.goto(await _link_for(runtime, "sam@example.test"))
            assert await page.locator("img").count() == 0
            await page.click("#auth-access >> text=Send me a code by e-mail")
            await page.get_by_label("Code received by e-mail").fill(
                await _code_for(runtime, "sam@example.test", seen)
            )
            await page.click("#auth-access form[action$='/verify'] button")
            await page.locator("img").first.wait_for()
            await page.click("#auth-action >> text=Send me a code by e-mail")
            await page.get_by_label("Code received by e-mail").fill(
                await _code_for(runtime, "sam@example.test", seen)
            )
            await page.click("#auth-action form[action$='/verify'] button")
            await page.locator("form#act").wait_for()
            assert await page.input_value(f"#f_{company}") == "Acme SA"
            await page.fill("input.typed", "Sam Signer")
            await page.check("#consent")
            await page.click("form#act button[type=submit]")
            await page.locator("#outcome").wait_for()
            assert "You signed this document" in await page.inner_text("#outcome")

            final = (await api.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()
            assert [r["status"] for r in final["recipients"]] == ["assisted", "signed"]
    finally:
        await runtime.close()


LANGUAGES = pytest.mark.parametrize("lang", ["en", "fr", "nl", "de"])
# Written out here so that a missing translation fails.
PHRASES: dict[str, dict[str, str]] = {
    "access": {
        "en": "Confirm your identity to open the documents",
        "fr": "Confirmez votre identité pour ouvrir les documents",
        "nl": "Bevestig uw identiteit om de documenten te openen",
        "de": "Bestätigen Sie Ihre Identität, um die Dokumente zu öffnen",
    },
    "sign": {
        "en": "I agree to sign this document electronically",
        "fr": "J’accepte de signer ce document électroniquement",
        "nl": "Ik ga ermee akkoord dit document elektronisch te ondertekenen",
        "de": "Ich bin damit einverstanden, dieses Dokument elektronisch zu unterschreiben",
    },
    "signed": {
        "en": "You signed this document. Thank you.",
        "fr": "Vous avez signé ce document. Merci.",
        "nl": "U hebt dit document ondertekend. Dank u.",
        "de": "Sie haben dieses Dokument unterschrieben. Vielen Dank.",
    },
    "invitation": {
        "en": "Acme asks you to sign \u201cLease\u201d",
        "fr": "Acme vous demande de signer \u00ab Lease \u00bb",
        "nl": "Acme vraagt u \u201cLease\u201d te ondertekenen",
        "de": "Acme bittet Sie, \u201eLease\u201c zu unterschreiben",
    },
}


async def _speaks(page: Page, lang: str, phrase: str) -> None:
    from tests.portal.test_browser import english_leftovers

    assert await page.get_attribute("html", "lang") == lang
    text = await page.inner_text("body")
    assert PHRASES[phrase][lang] in text, f"{phrase}/{lang}: {text}"
    left = [english for english in english_leftovers(lang) if english in text]
    assert not left, f"{phrase}/{lang} shows English: {left}"


@LANGUAGES
async def test_signing_page_in_each_language(
    page: Page,
    data_dir: Path,
    database_url: str,
    screenshots: chromium.Screenshots,
    lang: str,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    runtime = Runtime.build(make_settings(data_dir, database_url, public_url=base), pool_size=5)
    try:
        _, key = await create_org_with_key(runtime)
        auth = {"Authorization": f"Bearer {key}"}
        async with (
            live_server(runtime, run_worker=True, port=port),
            httpx.AsyncClient(base_url=base, timeout=30) as api,
        ):
            recipient = {
                "email": "sam@example.test",
                "name": "Sam Signer",
                "language": lang,
                "access_auth": ["email_otp"],
            }
            created = await api.post(
                "/v1/envelopes", headers=auth, json={"title": "Lease", "recipients": [recipient]}
            )
            envelope = created.json()
            document_id = (await upload(api, auth, envelope["id"], pdf_bytes(1))).json()["id"]
            sam = envelope["recipients"][0]["id"]
            await api.post(
                f"/v1/envelopes/{envelope['id']}/fields",
                headers=auth,
                json={"fields": [field(sam, document_id)]},
            )
            assert (await api.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)).is_success

            link = await _link_for(runtime, "sam@example.test")
            [invitation] = [
                email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in runtime.settings.outbox_dir.glob("*.eml")
            ]
            assert invitation["Content-Language"] == lang
            assert PHRASES["invitation"][lang] in str(invitation["Subject"])

            await page.goto(link)
            await _speaks(page, lang, "access")
            await screenshots.take(page, "access", lang)
            await page.click("#auth-access form[action$='/code'] button")
            await page.fill("#code-access", await _code_for(runtime, "sam@example.test", set()))
            await page.click("#auth-access form[action$='/verify'] button")
            await page.locator("form#act").wait_for()
            await page.locator("img").first.wait_for()
            await _speaks(page, lang, "sign")
            await screenshots.take(page, "sign", lang)
            await page.fill("input.typed", "Sam Signer")
            await page.check("#consent")
            await page.click("form#act button[type=submit]")
            await page.locator("#outcome").wait_for()
            await _speaks(page, lang, "signed")
            await screenshots.take(page, "signed", lang)
    finally:
        await runtime.close()


async def _new_link(runtime: Runtime, address: str, seen: set[str]) -> str:
    """A signing link e-mailed to ``address`` not seen before (waits for the worker)."""
    for _ in range(500):
        outbox = runtime.settings.outbox_dir
        for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
            mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if mail["To"] == address and ".invite." in str(mail["Message-ID"]):
                text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
                match = re.search(r"http://\S+/s/[A-Za-z0-9_-]+", text)
                if match and match.group(0) not in seen:
                    seen.add(match.group(0))
                    return match.group(0)
        await asyncio.sleep(0.02)
    raise AssertionError(f"no new invitation to {address}")


async def _passkey_envelope(api: httpx.AsyncClient, auth: dict[str, str], title: str) -> str:
    signer = {
        "email": "sam@example.test",
        "name": "Sam Signer",
        "access_auth": ["email_otp"],
        "action_auth": ["passkey"],
    }
    envelope = (
        await api.post("/v1/envelopes", headers=auth, json={"title": title, "recipients": [signer]})
    ).json()
    document_id = (await upload(api, auth, envelope["id"], pdf_bytes(1))).json()["id"]
    await api.post(
        f"/v1/envelopes/{envelope['id']}/fields",
        headers=auth,
        json={"fields": [field(envelope["recipients"][0]["id"], document_id)]},
    )
    sent = await api.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    assert sent.status_code == 202, sent.text
    return str(envelope["id"])


async def test_passkey_created_then_used(page: Page, data_dir: Path, database_url: str) -> None:
    """Chromium's virtual authenticator (CDP): the first envelope creates the passkey, the
    second signs with it. WebAuthn wants a domain, so the app is reached as localhost."""
    port = free_port()
    base = f"http://localhost:{port}"
    runtime = Runtime.build(make_settings(data_dir, database_url, public_url=base), pool_size=5)
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable")
    added = await cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    try:
        _, key = await create_org_with_key(runtime)
        auth = {"Authorization": f"Bearer {key}"}
        async with (
            live_server(runtime, run_worker=True, port=port),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as api,
        ):
            seen: set[str] = set()
            for title in ("First", "Second"):
                envelope_id = await _passkey_envelope(api, auth, title)
                link = await _new_link(runtime, "sam@example.test", seen)
                await page.goto(link)
                await page.click("#auth-access form[action$='/code'] button")
                await page.fill("#code-access", await _code_for(runtime, "sam@example.test", seen))
                await page.click("#auth-access form[action$='/verify'] button")
                await page.locator("#passkey").click()
                await page.locator("form#act, #passkey-error:visible").first.wait_for()
                assert await page.locator("form#act").count(), await page.inner_text("main")
                await page.fill("input.typed", "Sam Signer")
                await page.check("#consent")
                await page.click("form#act button[type=submit]")
                await page.locator("#outcome").wait_for()
                assert "You signed this document" in await page.inner_text("#outcome")
                final = (await api.get(f"/v1/envelopes/{envelope_id}", headers=auth)).json()
                assert final["status"] == "completed"
            credentials = await cdp.send(
                "WebAuthn.getCredentials", {"authenticatorId": added["authenticatorId"]}
            )
            assert len(credentials["credentials"]) == 1  # created once, used twice
            assert credentials["credentials"][0]["signCount"] >= 2
    finally:
        await runtime.close()
