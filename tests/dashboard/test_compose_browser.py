"""Writing and sending a letter in a real Chromium: the attachment's upload shows its progress
bar (the upload slowed down by Chromium's own network emulation, so that the bar is seen
moving), the review page, sending, and a notice sent again; the same form without
JavaScript; at desktop and phone widths, nothing refused by the CSP."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from tests.dashboard.helpers import PASSWORD
from tests.fixtures import browser as chromium
from tests.fixtures.smtp import SmtpServer
from tests.organization.test_users import token_of
from tests.portal.test_browser import Portal, open_portal

browser = chromium.browser
screenshots = chromium.screenshots

pytestmark = [
    pytest.mark.browser,
    chromium.requires_chromium,
    pytest.mark.asyncio(loop_scope="session"),
]

FILE_BYTES = 3 * 1024 * 1024
UPLOAD_BYTES_PER_SECOND = 1024 * 1024


async def sign_in(page: Page, portal: Portal, role: str = "sender") -> None:
    user = await portal.api.post(
        "/v1/users", json={"email": f"{role}@acme.test", "name": "Sam", "role": role}
    )
    assert user.status_code == 201, user.text
    token = await token_of(portal.runtime, user.json()["id"])
    await page.goto(f"{portal.base}/account/activate/{token}")
    await page.fill("#password", PASSWORD)
    await page.fill("#confirm", PASSWORD)
    await page.click("button[type=submit]")
    await page.goto(f"{portal.base}/account/sign-in")
    await page.fill("#email", f"{role}@acme.test")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")


def console_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on(
        "console",
        lambda msg: (
            errors.append(f"{msg.text} {msg.location.get('url')}")
            if msg.type == "error" and not msg.location.get("url", "").endswith("favicon.ico")
            else None
        ),
    )
    return errors


async def fill_letter(page: Page, subject: str) -> None:
    await page.check("#mode-simple")
    await page.fill("#subject", subject)
    await page.fill("#body", "Dear Jane,\n\nThe lease is attached.")
    await page.fill("#recipients", "jane@example.test, Jane, Doe")


async def test_a_letter_is_sent_with_an_upload_progress_bar(
    browser: Browser,
    data_dir: Path,
    database_url: str,
    smtp_server: SmtpServer,
    screenshots: chromium.Screenshots,
) -> None:
    async with (
        open_portal(data_dir, database_url, smtp_server) as portal,
        chromium.open_page(browser) as page,
    ):
        errors = console_errors(page)
        await sign_in(page, portal)
        await page.goto(f"{portal.base}/app/letters")
        await page.click("#new-letter")
        assert page.url == f"{portal.base}/app/letters/new"
        await screenshots.take(page, "compose", "en")
        await fill_letter(page, "Lease with a large file")
        await page.set_input_files(
                "#attachments",
                {"name": "lease.pdf", "mimeType": "application/pdf",
                 "buffer": b"%PDF-1.4\n" + b"0" * FILE_BYTES},
            )  # fmt: skip
        assert await page.locator("#upload").is_hidden()

        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Network.enable")
        await cdp.send(
                "Network.emulateNetworkConditions",
                {"offline": False, "latency": 0, "downloadThroughput": -1,
                 "uploadThroughput": UPLOAD_BYTES_PER_SECOND},
            )  # fmt: skip
        await page.click("#compose button[type=submit]")
        # The bar shows part of the file sent: the upload is under way, on this page.
        await page.wait_for_function(
            "() => { const bar = document.getElementById('upload-progress');"
            " return bar && bar.value > 0 && bar.value < bar.max; }"
        )
        assert await page.locator("#upload").is_visible()
        assert (await page.inner_text("#upload-percent")).endswith("%")
        assert await page.locator("#compose button[type=submit]").is_disabled()
        await page.screenshot(path=screenshots.directory / "compose-uploading-en.png")
        await cdp.send(
                "Network.emulateNetworkConditions",
                {"offline": False, "latency": 0, "downloadThroughput": -1,
                 "uploadThroughput": -1},
            )  # fmt: skip

        # The answer replaces the page, at the draft's own address.
        await page.wait_for_selector("#send")
        assert "/app/drafts/msg_" in page.url
        assert await page.inner_text("h1") == "Review before sending"
        assert "lease.pdf" in await page.inner_text("#attachments")
        await screenshots.take(page, "review", "en")
        await page.click("#send")
        assert "?done=sent" in page.url
        assert "The letter was sent" in await page.inner_text("#done")
        message_id = page.url.split("/app/letters/")[1].split("?")[0]

        mail = await portal.inbox.receive("jane@example.test", lambda m: True)
        assert "Lease with a large file" in mail.message["Subject"]
        message = (await portal.api.get(f"/v1/messages/{message_id}")).json()
        delivery_id = message["deliveries"][0]["id"]
        assert message["attachments"][0]["size"] == FILE_BYTES + 9
        await portal.until_status(delivery_id, "notified")
        await page.reload()
        await screenshots.take(page, "letter-sent", "en")
        await page.click(f"#delivery-{delivery_id} form.resend button")
        assert "The notice was sent again" in await page.inner_text("#done")
        again = await portal.inbox.receive("jane@example.test", lambda m: True)
        assert again.message["Subject"] == mail.message["Subject"]
        assert errors == []  # nothing refused by the CSP


async def test_the_form_works_without_javascript(
    browser: Browser, data_dir: Path, database_url: str, smtp_server: SmtpServer
) -> None:
    async with open_portal(data_dir, database_url, smtp_server) as portal:
        context = await browser.new_context(java_script_enabled=False)
        context.set_default_timeout(30_000)
        try:
            page = await context.new_page()
            await sign_in(page, portal, "admin")
            await page.goto(f"{portal.base}/app/letters/new")
            # An error first: the form comes back with it by its field, what was typed kept.
            await fill_letter(page, "")
            await page.click("#compose button[type=submit]")
            assert "A subject of 1 to 255 characters" in await page.inner_text("#subject-error")
            assert "Jane, Doe" in await page.input_value("#recipients")
            await page.fill("#subject", "Without script")
            await page.set_input_files(
                "#attachments",
                {"name": "note.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF"},
            )
            await page.click("#compose button[type=submit]")
            assert await page.inner_text("h1") == "Review before sending"
            assert "note.pdf" in await page.inner_text("#attachments")
            await page.click("#send")
            assert "The letter was sent" in await page.inner_text("#done")
            mail = await portal.inbox.receive("jane@example.test", lambda m: True)
            assert "Without script" in mail.message["Subject"]
        finally:
            await context.close()


@pytest.mark.parametrize("mode", ["registered", "deliver", "secure"])
async def test_a_letter_of_each_other_mode_is_sent_in_chromium(
    browser: Browser, data_dir: Path, database_url: str, smtp_server: SmtpServer, mode: str
) -> None:
    """The other modes (a simple letter is the one above), written in the browser, end in a
    notice at the test SMTP server."""
    async with (
        open_portal(data_dir, database_url, smtp_server) as portal,
        chromium.open_page(browser) as page,
    ):
        errors = console_errors(page)
        await sign_in(page, portal)
        await page.goto(f"{portal.base}/app/letters/new")
        await page.check(f"#mode-{mode}")
        await page.fill("#subject", f"Lease, {mode}")
        await page.fill("#body", "Dear Jane,\n\nThe lease is attached.")
        await page.fill("#recipients", "jane@example.test, Jane, Doe")
        await page.set_input_files(
            "#attachments",
            {"name": "lease.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF"},
        )
        await page.click("#compose button[type=submit]")
        await page.wait_for_selector("#send")
        await page.click("#send")
        assert "The letter was sent" in await page.inner_text("#done")
        message_id = page.url.split("/app/letters/")[1].split("?")[0]
        message = (await portal.api.get(f"/v1/messages/{message_id}")).json()
        assert message["mode"] == mode and message["subject"] == f"Lease, {mode}"
        mail = await portal.inbox.receive("jane@example.test", lambda m: True)
        assert mail.message["To"].endswith("jane@example.test>") or mail.message["To"] == (
            "jane@example.test"
        )
        await portal.until_status(message["deliveries"][0]["id"], "notified")
        assert errors == []
