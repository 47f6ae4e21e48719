"""The settings and the second sign-in step in a real Chromium: an admin sets up an
authenticator app, signs in again with password then code, creates a webhook endpoint (its
secret shown once), sends a test ping that a real receiver gets and the attempts log shows,
then opens every settings page and their sessions, at desktop and phone widths (no sideways
scrolling), with nothing refused by the CSP."""

from __future__ import annotations

import time
from pathlib import Path

import pyotp
import pytest
from playwright.async_api import Browser

from tests.dashboard.helpers import PASSWORD
from tests.fixtures import browser as chromium
from tests.fixtures.receiver import running_receiver
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


async def test_settings_and_the_code_step_in_chromium(
    browser: Browser,
    data_dir: Path,
    database_url: str,
    smtp_server: SmtpServer,
    screenshots: chromium.Screenshots,
) -> None:
    async with (
        running_receiver() as receiver,
        open_portal(
            data_dir, database_url, smtp_server, webhook_allowed_hosts="127.0.0.1"
        ) as portal,
    ):
        user = await portal.api.post(
            "/v1/users", json={"email": "ada@acme.test", "name": "Ada", "role": "admin"}
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
            await page.goto(f"{portal.base}/account/activate/{token}")
            await page.fill("#password", PASSWORD)
            await page.fill("#confirm", PASSWORD)
            await page.click("button[type=submit]")
            await page.goto(f"{portal.base}/account/sign-in")
            await page.fill("#email", "ada@acme.test")
            await page.fill("#password", PASSWORD)
            await page.click("button[type=submit]")
            await page.click("text=Open the dashboard")

            # An authenticator app, set up from the dashboard with the key it shows.
            await page.click("nav.app-nav >> text=Authenticator app")
            await page.click("form[action='/app/authenticator/new'] button")
            app = pyotp.TOTP(await page.inner_text("#totp-secret"))
            await page.fill("#code", app.now())
            await page.click("form[action='/app/authenticator/confirm'] button")
            await page.wait_for_selector("#totp-state.ok")

            # Signing in again now asks for its code after the password.
            await page.click("nav.app-nav button[type=submit]")
            await page.fill("#email", "ada@acme.test")
            await page.fill("#password", PASSWORD)
            await page.click("button[type=submit]")
            assert page.url == f"{portal.base}/account/sign-in/code"
            await screenshots.take(page, "code", "en")
            await page.fill("#code", "000000" if app.now() != "000000" else "111111")
            await page.click("form[action='/account/sign-in/code'] button")
            assert await page.inner_text("#code-error") == "That code is not right."
            await page.fill("#code", app.at(time.time() + 30))  # not the one just used
            await page.click("form[action='/account/sign-in/code'] button")
            await page.click("text=Open the dashboard")
            assert page.url == f"{portal.base}/app"

            await page.click("nav.app-nav >> text=Settings")
            assert page.url == f"{portal.base}/app/settings"
            await screenshots.take(page, "settings", "en")
            await page.click("nav.settings-nav >> text=Webhooks")
            await page.fill("#url", receiver.url)
            await page.check("#event-all")
            await page.click("#new-webhook button[type=submit]")
            secret = await page.input_value("#secret")
            assert secret.startswith("whsec_")
            await screenshots.take(page, "webhook-created", "en")
            await page.click("#created a")
            await page.click("#send-test")
            assert "A webhook.test ping is on its way" in await page.inner_text("#done")
            [ping] = await receiver.wait_for(1, timeout=60)
            assert b'"webhook.test"' in ping.body
            for _ in range(60):  # the worker records the attempt just after the answer
                await page.reload()
                if await page.locator("#attempts li").count():
                    break
                await page.wait_for_timeout(250)
            assert "succeeded" in await page.inner_text("#attempts li")
            await screenshots.take(page, "webhook", "en")

            for name in ("API keys", "Client keys", "Users", "Customers", "Seal"):
                await page.click(f"nav.settings-nav >> text={name}")
                assert await page.inner_text("h1") == name
                await screenshots.take(page, name.lower().replace(" ", "-"), "en")
            assert secret not in await page.content()
            await page.click("nav.app-nav >> text=Sessions")
            assert "This browser" in await page.inner_text("#sessions")
            await screenshots.take(page, "sessions", "en")
            await page.click("#end-all")
            assert page.url.endswith("/account/sign-in")
            await page.goto(f"{portal.base}/app")
            assert page.url.endswith("/account/sign-in")
            # Only the refused code's answer (401) is logged; nothing refused by the CSP.
            assert errors == [
                "Failed to load resource: the server responded with a status of 401 "
                f"(Unauthorized) {portal.base}/account/sign-in/code"
            ]
