"""The dashboard in a real Chromium, for each role: sign in, home, letters, a letter, a proof,
at desktop and phone widths (no sideways scrolling), with the pages' CSP."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.dashboard.helpers import PASSWORD, ROLES
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
