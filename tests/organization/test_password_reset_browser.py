"""A forgotten password in a real Chromium: sign-in page → request → e-mail → new password."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.fixtures import browser as chromium
from tests.fixtures.smtp import SmtpServer
from tests.organization.test_password_reset import NEW_PASSWORD, PASSWORD
from tests.organization.test_users import token_of
from tests.portal.test_browser import open_portal

browser = chromium.browser
screenshots = chromium.screenshots

pytestmark = [
    pytest.mark.browser,
    chromium.requires_chromium,
    pytest.mark.asyncio(loop_scope="session"),
]


async def test_reset_in_chromium(
    browser: Browser,
    data_dir: Path,
    database_url: str,
    smtp_server: SmtpServer,
    screenshots: chromium.Screenshots,
) -> None:
    async with open_portal(data_dir, database_url, smtp_server) as portal:
        created = await portal.api.post(
            "/v1/users", json={"email": "sam@acme.test", "name": "Sam", "role": "sender"}
        )
        assert created.status_code == 201, created.text
        user_id = created.json()["id"]
        async with chromium.open_page(browser, locale="fr-FR") as page:
            await page.goto(
                f"{portal.base}/account/activate/{await token_of(portal.runtime, user_id)}"
            )
            await page.fill("#password", PASSWORD)
            await page.fill("#confirm", PASSWORD)
            await page.click("button[type=submit]")
            await page.goto(f"{portal.base}/account/sign-in")
            await page.click("text=Forgot your password?")
            assert page.url.endswith("/account/password-reset")
            assert await page.inner_text("h1") == "Réinitialiser votre mot de passe"
            await page.fill("#email", "sam@acme.test")
            await page.click("button[type=submit]")
            assert "nous lui avons envoyé un lien" in await page.inner_text("#sent")
            await screenshots.take(page, "sent", "fr")

            # The activation e-mail, then the reset link (the served app's own address).
            mails = await smtp_server.wait_for(2, timeout=30)
            [mail] = [m for m in mails if "/account/password-reset/" in m.text]
            assert mail.message["Subject"].startswith("Réinitialisez votre mot de passe")
            link = next(word for word in mail.text.split() if "/account/password-reset/" in word)
            await page.goto(link)
            await page.fill("#password", NEW_PASSWORD)
            await page.fill("#confirm", NEW_PASSWORD)
            await screenshots.take(page, "form", "fr")
            await page.click("button[type=submit]")
            assert await page.inner_text("h1") == "Votre mot de passe est changé"

            await page.goto(f"{portal.base}/account/sign-in")
            await page.fill("#email", "sam@acme.test")
            await page.fill("#password", NEW_PASSWORD)
            await page.click("button[type=submit]")
            assert page.url == f"{portal.base}/account"
