"""The envelope editor in a real Chromium: a sender creates an envelope, drags a signature
field from the palette onto a page, moves and resizes it, saves and sends; the signer's
invitation arrives at the test SMTP server, the signing page shows the field where it was
dropped, and signing completes. On a phone, with touch: a tap places a field, a finger moves
it. The pages' CSP refuses nothing."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from tests.dashboard.helpers import PASSWORD
from tests.envelope.helpers import pdf_bytes
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
TOLERANCE = 0.6  # percent of the page: rounding to 0.01 and sub-pixel layout


def _console_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on(
        "console",
        lambda msg: (
            errors.append(f"{msg.text} {msg.location.get('url')}")
            if msg.type == "error" and not msg.location.get("url", "").endswith("favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


async def _sign_in_sender(page: Page, portal: Portal) -> None:
    created = await portal.api.post(
        "/v1/users", json={"email": "sender@acme.test", "name": "Sid", "role": "sender"}
    )
    assert created.status_code == 201, created.text
    token = await token_of(portal.runtime, created.json()["id"])
    await page.goto(f"{portal.base}/account/activate/{token}")
    await page.fill("#password", PASSWORD)
    await page.fill("#confirm", PASSWORD)
    await page.click("button[type=submit]")
    await page.goto(f"{portal.base}/account/sign-in")
    await page.fill("#email", "sender@acme.test")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")


async def _create(
    page: Page, portal: Portal, pdf: Path, title: str, shots: chromium.Screenshots | None = None
) -> str:
    """Fill in the new-envelope form (one signer, the PDF) and reach the editor."""
    await page.goto(f"{portal.base}/app/signatures")
    await page.click("#new-envelope")
    await page.click("#add-recipient")  # a fifth row, by script
    assert await page.locator("#r4_name").count() == 1
    if shots is not None:
        await shots.take(page, "new", "en")
    await page.fill("#title", title)
    await page.fill("#r0_name", "Sam Signer")
    await page.fill("#r0_email", "sam@example.test")
    await page.set_input_files("#files", str(pdf))
    await page.click("#new-envelope button[type=submit]")
    await page.wait_for_url(re.compile(r".*/app/signatures/env_\w+/fields$"))
    found = re.search(r"/app/signatures/(env_\w+)/fields", page.url)
    assert found
    return found.group(1)


async def _loaded_sheet(page: Page, number: int) -> Any:
    """The ``number``-th page image, loaded, scrolled into view, once it stopped moving."""
    sheet = page.locator(".sheet").nth(number - 1)
    await sheet.scroll_into_view_if_needed()
    await page.wait_for_function(
        "n => { const img = document.querySelectorAll('.sheet img')[n];"
        " return img.complete && img.naturalWidth > 0; }",
        arg=number - 1,
    )
    box = await sheet.bounding_box()
    for _ in range(50):
        await asyncio.sleep(0.05)
        again = await sheet.bounding_box()
        if again == box:
            break
        box = again
    assert box is not None
    return box


async def _inputs(page: Page) -> dict[str, float]:
    """The numbers of the editor's one field row."""
    row = page.locator("#field-rows .field-row").last
    values = {}
    for name in ("page", "x", "y", "width", "height"):
        values[name] = float(await row.locator(f"[data-part={name}]").input_value())
    return values


async def test_a_sender_places_a_field_by_dragging_and_the_signer_signs_there(
    browser: Browser,
    data_dir: Path,
    database_url: str,
    smtp_server: SmtpServer,
    tmp_path: Path,
    screenshots: chromium.Screenshots,
) -> None:
    pdf = tmp_path / "lease.pdf"
    pdf.write_bytes(pdf_bytes(2))
    async with (
        open_portal(data_dir, database_url, smtp_server) as portal,
        chromium.open_page(browser) as page,
    ):
        errors = _console_errors(page)
        await _sign_in_sender(page, portal)
        envelope_id = await _create(page, portal, pdf, "Lease 12 Rue Haute", screenshots)
        assert await page.locator("#palette").is_visible()
        assert not await page.locator("#positions").evaluate("d => d.open")  # rows tucked away
        assert await page.locator("#field-rows .field-row").count() == 0  # blank rows removed

        # Drag "Signature" from the palette to 40 % across, 30 % down page 1.
        sheet = await _loaded_sheet(page, 1)
        chip = page.locator(".chip[data-type=signature]")
        start = await chip.bounding_box()
        assert start is not None
        target = (sheet["x"] + 0.40 * sheet["width"], sheet["y"] + 0.30 * sheet["height"])
        await page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
        await page.mouse.down()
        await page.mouse.move(*target, steps=12)
        await page.mouse.up()
        box = page.locator(".sheet").nth(0).locator(".box")
        await box.wait_for()
        placed = await _inputs(page)
        # Centred where it was dropped, in the signature's default size (30 × 6 %).
        assert placed["page"] == 1
        assert (placed["width"], placed["height"]) == (30, 6)
        assert abs(placed["x"] + 15 - 40) < TOLERANCE, placed
        assert abs(placed["y"] + 3 - 30) < TOLERANCE, placed
        await screenshots.take(page, "placed", "en")

        # Move it 10 % right and 20 % down, then widen it by 8 % with its corner grip.
        sheet = await _loaded_sheet(page, 1)
        where = await box.bounding_box()
        assert where is not None
        grab = (where["x"] + where["width"] / 3, where["y"] + where["height"] / 2)
        await page.mouse.move(*grab)
        await page.mouse.down()
        await page.mouse.move(
            grab[0] + 0.10 * sheet["width"], grab[1] + 0.20 * sheet["height"], steps=8
        )
        await page.mouse.up()
        moved = await _inputs(page)
        assert abs(moved["x"] - (placed["x"] + 10)) < TOLERANCE, moved
        assert abs(moved["y"] - (placed["y"] + 20)) < TOLERANCE, moved
        grip = await box.locator(".grip").bounding_box()
        assert grip is not None
        corner = (grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2)
        await page.mouse.move(*corner)
        await page.mouse.down()
        await page.mouse.move(corner[0] + 0.08 * sheet["width"], corner[1], steps=6)
        await page.mouse.up()
        final = await _inputs(page)
        assert abs(final["width"] - 38) < TOLERANCE and final["height"] == 6, final
        assert (final["x"], final["y"]) == (moved["x"], moved["y"])

        await page.click("#send")
        await page.wait_for_url(f"{portal.base}/app/signatures/{envelope_id}?done=sent")
        assert "pending" in await page.inner_text("h1")

        state = (await portal.api.get(f"/v1/envelopes/{envelope_id}")).json()
        [stored] = state["fields"]
        assert (stored["type"], stored["page"]) == ("signature", 1)
        for name in ("x", "y", "width", "height"):
            assert abs(stored[name] - final[name]) < 0.01, (name, stored, final)
        # Where the pointer left it: dropped at (40, 30), moved by (10, 20).
        assert abs(stored["x"] + 15 - 50) < 2 * TOLERANCE, stored
        assert abs(stored["y"] + 3 - 50) < 2 * TOLERANCE, stored

        mail = await portal.inbox.receive("sam@example.test", lambda m: "/s/" in m.text)
        link = re.search(r"http://\S+/s/[A-Za-z0-9_-]+", mail.text)
        assert link, mail.text
        await page.goto(link.group(0))
        spot_sheet = page.locator(".sheet").nth(0)
        await spot_sheet.locator("img").wait_for()
        await page.wait_for_function(
            "() => { const img = document.querySelector('.sheet img');"
            " return img.complete && img.naturalWidth > 0; }"
        )
        outer = await spot_sheet.bounding_box()
        spot = await spot_sheet.locator(".spot").bounding_box()
        assert outer is not None and spot is not None
        shown = {
            "x": (spot["x"] - outer["x"]) / outer["width"] * 100,
            "y": (spot["y"] - outer["y"]) / outer["height"] * 100,
            "width": spot["width"] / outer["width"] * 100,
            "height": spot["height"] / outer["height"] * 100,
        }
        for name, value in shown.items():
            assert abs(value - stored[name]) < TOLERANCE, (name, shown, stored)

        await page.fill("input.typed", "Sam Signer")
        await page.check("#consent")
        await page.click("form#act button[type=submit]")
        await page.locator("#outcome").wait_for()
        assert "You signed this document" in await page.inner_text("#outcome")
        for _ in range(400):
            state = (await portal.api.get(f"/v1/envelopes/{envelope_id}")).json()
            if state["status"] == "completed":
                break
            await asyncio.sleep(0.05)
        assert state["status"] == "completed"
        assert state["fields"][0]["value"] == {"kind": "typed", "text": "Sam Signer"}
        assert errors == []  # nothing refused by the CSP, no script error


async def test_on_a_phone_a_tap_places_a_field_and_a_finger_moves_it(
    browser: Browser,
    data_dir: Path,
    database_url: str,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    pdf = tmp_path / "lease.pdf"
    pdf.write_bytes(pdf_bytes(1))
    async with open_portal(data_dir, database_url, smtp_server) as portal:
        context = await browser.new_context(
            viewport=chromium.PHONE, has_touch=True, is_mobile=True, locale="en-US"
        )
        context.set_default_timeout(30_000)
        try:
            page = await context.new_page()
            errors = _console_errors(page)
            await _sign_in_sender(page, portal)
            envelope_id = await _create(page, portal, pdf, "Phone lease")
            assert await chromium.horizontal_overflow(page) == 0
            sheet = await _loaded_sheet(page, 1)
            chip = await page.locator(".chip[data-type=signature]").bounding_box()
            assert chip is not None
            await page.touchscreen.tap(
                chip["x"] + chip["width"] / 2, chip["y"] + chip["height"] / 2
            )
            box = page.locator(".sheet .box")
            await box.wait_for()
            placed = await _inputs(page)
            assert placed["page"] == 1 and placed["x"] == 35  # centred across the page

            # A finger drags the box 20 % of the page to the left (touch events, as a phone).
            where = await box.bounding_box()
            assert where is not None
            x0, y0 = where["x"] + where["width"] / 2, where["y"] + where["height"] / 2
            cdp = await context.new_cdp_session(page)
            steps = 8
            await cdp.send(
                "Input.dispatchTouchEvent",
                {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0}]},
            )
            for step in range(1, steps + 1):
                x = x0 - 0.20 * sheet["width"] * step / steps
                await cdp.send(
                    "Input.dispatchTouchEvent",
                    {"type": "touchMove", "touchPoints": [{"x": x, "y": y0}]},
                )
            await cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
            moved = await _inputs(page)
            assert abs(moved["x"] - 15) < TOLERANCE, moved
            assert abs(moved["y"] - placed["y"]) < TOLERANCE, moved
            assert await chromium.horizontal_overflow(page) == 0

            await page.locator("button[value=save]").click()
            await page.wait_for_url(re.compile(r".*/fields\?done=saved$"))
            state = (await portal.api.get(f"/v1/envelopes/{envelope_id}")).json()
            [stored] = state["fields"]
            assert abs(stored["x"] - moved["x"]) < 0.01 and stored["page"] == 1
            assert errors == []
        finally:
            await context.close()
