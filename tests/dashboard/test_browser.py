"""The dashboard in a real Chromium, for each role: sign in, home, letters, a letter, a proof,
at desktop and phone widths (no sideways scrolling), with the pages' CSP."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tabellion.portal import i18n
from tests.dashboard.helpers import PASSWORD, ROLES
from tests.dashboard.test_compose_browser import console_errors, sign_in
from tests.envelope.helpers import ready_draft
from tests.fixtures import browser as chromium
from tests.fixtures.factories import message_body
from tests.fixtures.smtp import SmtpServer
from tests.organization.test_users import token_of
from tests.portal.test_browser import open_portal

browser = chromium.browser
screenshots = chromium.screenshots

pytestmark = [
    pytest.mark.browser,
    chromium.requires_chromium,
    pytest.mark.asyncio(loop_scope="session"),
]


@pytest.mark.parametrize("role", ROLES)
async def test_dashboard_pages_in_chromium(
    browser: Browser,
    data_dir: Path,
    database_url: str,
    smtp_server: SmtpServer,
    screenshots: chromium.Screenshots,
    role: str,
) -> None:
    async with open_portal(data_dir, database_url, smtp_server) as portal:
        created = await portal.api.post(
            "/v1/messages", json=message_body(subject="Lease renewal", reference="LEASE-7")
        )
        assert created.status_code == 201, created.text
        message_id = created.json()["id"]
        dispatched = await portal.api.post(f"/v1/messages/{message_id}/dispatch")
        assert dispatched.status_code == 202, dispatched.text
        user = await portal.api.post(
            "/v1/users", json={"email": f"{role}@acme.test", "name": "Sam", "role": role}
        )
        assert user.status_code == 201, user.text
        token = await token_of(portal.runtime, user.json()["id"])

        async with chromium.open_page(browser) as page:
            errors: list[str] = []
            page.on(
                "console",
                lambda msg: (
                    errors.append(f"{msg.text} {msg.location.get('url')}")
                    if msg.type == "error"
                    and not msg.location.get("url", "").endswith("favicon.ico")
                    else None
                ),
            )
            await page.goto(f"{portal.base}/app")
            assert page.url.endswith("/account/sign-in")  # signed out: to the sign-in
            await page.goto(f"{portal.base}/account/activate/{token}")
            await page.fill("#password", PASSWORD)
            await page.fill("#confirm", PASSWORD)
            await page.click("button[type=submit]")
            await page.goto(f"{portal.base}/account/sign-in")
            await page.fill("#email", f"{role}@acme.test")
            await page.fill("#password", PASSWORD)
            await page.click("button[type=submit]")
            await page.click("text=Open the dashboard")

            assert page.url == f"{portal.base}/app"
            assert await page.inner_text("h1") == "Dashboard"
            assert f"{role}@acme.test · {role}" in await page.inner_text("#who")
            await screenshots.take(page, f"home-{role}", "en")

            await page.click("nav.app-nav >> text=Letters")
            await page.fill("#reference", "LEASE-7")
            await page.click("form.filters button[type=submit]")
            assert "reference=LEASE-7" in page.url
            await screenshots.take(page, f"letters-{role}", "en")
            await page.click("#letters >> text=Lease renewal")
            assert page.url == f"{portal.base}/app/letters/{message_id}"
            assert await page.inner_text("h1") == "Lease renewal"
            await page.wait_for_selector(".timeline li")
            await screenshots.take(page, f"letter-{role}", "en")
            async with page.expect_download() as download_info:
                await page.click(".timeline li >> text=JSON")
            download = await download_info.value
            assert download.suggested_filename.endswith(".json")

            await page.click("nav.app-nav button[type=submit]")  # sign out (CSRF form)
            assert page.url.endswith("/account/sign-in")
            await page.goto(f"{portal.base}/app")
            assert page.url.endswith("/account/sign-in")
            assert errors == []  # nothing refused by the CSP


CSV = (
    b"email,first_name,last_name,language\n"
    b"jane@example.test,Jane,Doe,en\n"
    b"not-an-address,Bob,Roe,fr\n"
    b"marc@example.test,Marc,Dupont,fr\n"
)


async def test_every_page_in_en_and_fr(
    browser: Browser,
    data_dir: Path,
    database_url: str,
    smtp_server: SmtpServer,
    screenshots: chromium.Screenshots,
) -> None:
    """Each page of the dashboard, as an admin, in English and in French (its heading in the
    language, its dates too), at desktop and phone widths (no sideways scrolling), saved as
    ``every_page_in_en_and_fr-<page>-<lang>-<width>.png``."""
    async with open_portal(
        data_dir, database_url, smtp_server, webhook_allowed_hosts="127.0.0.1"
    ) as portal:
        created = await portal.api.post(
            "/v1/messages", json=message_body(subject="Lease renewal", reference="LEASE-7")
        )
        assert created.status_code == 201, created.text
        message_id = created.json()["id"]
        dispatched = await portal.api.post(f"/v1/messages/{message_id}/dispatch")
        assert dispatched.status_code == 202, dispatched.text
        envelope, _ = await ready_draft(portal.api, {})
        assert (await portal.api.post(f"/v1/envelopes/{envelope['id']}/send")).status_code == 202
        draft, _ = await ready_draft(portal.api, {}, title="Lease annex")
        hook = await portal.api.post(
            "/v1/webhook-endpoints",
            json={"url": "http://127.0.0.1:9/tabellion", "events": ["delivery.accepted"]},
        )
        assert hook.status_code == 201, hook.text
        await portal.until_status(dispatched.json()["deliveries"][0]["id"], "notified")

        async with chromium.open_page(browser) as page:
            errors = console_errors(page)
            await sign_in(page, portal, "admin")
            # A review with a line of the CSV file that cannot be sent (the form's answer: the
            # draft's page, reloaded, no longer lists the lines left out).
            for lang in ("en", "fr"):
                await page.goto(f"{portal.base}/app/letters/new?lang={lang}")
                await page.check("#mode-registered")
                await page.fill("#subject", "Rent review 2027")
                await page.fill("#body", "Dear tenant,\n\nThe rent review is attached.")
                await page.set_input_files(
                    "#recipients_csv",
                    {"name": "tenants.csv", "mimeType": "text/csv", "buffer": CSV},
                )
                await page.click("#compose button[type=submit]")
                await page.wait_for_selector("#skipped")
                assert await page.get_attribute("html", "lang") == lang
                await screenshots.take(page, "review-bad-line", lang)
            review = page.url.split(portal.base)[1]
            assert review.startswith("/app/drafts/msg_")

            # Each page's path and heading (None: the letter's or envelope's own title).
            pages = {
                "home": ("/app", "Dashboard"),
                "letters": ("/app/letters", "Letters"),
                "letter": (f"/app/letters/{message_id}", None),
                "compose": ("/app/letters/new", "New letter"),
                "review": (review, "Review before sending"),
                "signatures": ("/app/signatures", "Signatures"),
                "envelope": (f"/app/signatures/{envelope['id']}", None),
                "envelope-new": ("/app/signatures/new", "New envelope"),
                "envelope-fields": (f"/app/signatures/{draft['id']}/fields", None),
                "settings": ("/app/settings", "Settings"),
                "keys": ("/app/settings/keys", "API keys"),
                "users": ("/app/settings/users", "Users"),
                "client-keys": ("/app/settings/client-keys", "Client keys"),
                "webhooks": ("/app/settings/webhooks", "Webhooks"),
                "webhook": (f"/app/settings/webhooks/{hook.json()['id']}", "Webhook endpoint"),
                "customers": ("/app/settings/customers", "Customers"),
                "seal": ("/app/settings/seal", "Seal"),
                "sessions": ("/app/sessions", "Sessions"),
                "authenticator": ("/app/authenticator", "Authenticator app"),
                "not-found": ("/app/letters/msg_0000000000000000000000000", "Not found"),
            }
            sent = datetime.fromisoformat(dispatched.json()["dispatched_at"])
            for name, (path, heading) in pages.items():
                for lang in ("en", "fr"):
                    await page.goto(f"{portal.base}{path}?lang={lang}")
                    assert await page.get_attribute("html", "lang") == lang, (name, lang)
                    if heading is not None:
                        expected = i18n.translations(lang).gettext(heading)
                        assert await page.inner_text("h1") == expected, (name, lang)
                    if name == "letter":  # the date as the language writes it
                        shown = i18n.human_time(sent, lang, "Europe/Paris")
                        assert shown in await page.inner_text("main"), lang
                    await screenshots.take(page, name, lang)
            # Nothing refused by the CSP (the not-found page's own 404 is its console's only line).
            assert [e for e in errors if "/app/letters/msg_000" not in e] == []
