"""The signing page in a real headless Chromium: a sequential envelope with two signers, one
drawing a signature on the canvas and one typing it, then the sealed result checked by pyHanko
and poppler's pdfsig. Links come from the invitation e-mails the served app's worker writes."""

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
from tests.envelope.helpers import assert_sealed, field, pdf_bytes, upload
from tests.fixtures import browser as chromium
from tests.fixtures.factories import create_org_with_key
from tests.fixtures.server import free_port, live_server

browser = chromium.browser
page = chromium.page

pytestmark = [
    pytest.mark.browser,
    chromium.requires_chromium,
    pytest.mark.asyncio(loop_scope="session"),
]


async def _link_for(runtime: Runtime, address: str) -> str:
    """The signing link of the invitation e-mailed to ``address`` (waits for the worker)."""
    for _ in range(500):
        outbox = runtime.settings.outbox_dir
        for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
            mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if mail["To"] == address and ".invite." in str(mail["Message-ID"]):
                text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
                match = re.search(r"http://\S+/s/[A-Za-z0-9_-]+", text)
                assert match, text
                return match.group(0)
        await asyncio.sleep(0.02)
    raise AssertionError(f"no invitation to {address}")


async def _draw(page: Page) -> None:
    """Draw a stroke on the first signature pad, once the page stopped moving (page images
    load lazily above it), and wait until the pad has written the picture to its field."""
    canvas = page.locator("canvas").first
    await canvas.scroll_into_view_if_needed()
    box = await canvas.bounding_box()
    for _ in range(50):
        await asyncio.sleep(0.1)
        again = await canvas.bounding_box()
        if again == box:
            break
        box = again
    assert box is not None
    await page.mouse.move(box["x"] + 20, box["y"] + box["height"] * 0.7)
    await page.mouse.down()
    for step in range(1, 12):
        x = box["x"] + 20 + step * box["width"] / 14
        y = box["y"] + box["height"] * (0.3 if step % 2 else 0.7)
        await page.mouse.move(x, y, steps=3)
    await page.mouse.up()
    await page.wait_for_function(
        "document.querySelector('input[type=hidden][name^=f_]').value"
        ".startsWith('data:image/png;base64,')"
    )


async def test_two_signers_in_order_draw_and_type(
    page: Page, data_dir: Path, database_url: str, tmp_path: Path
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
                        {"email": "sam@example.test", "name": "Sam Signer", "order": 1},
                        {"email": "tia@example.test", "name": "Tia Typist", "order": 2},
                    ],
                },
            )
            envelope = created.json()
            document_id = (await upload(api, auth, envelope["id"], pdf_bytes(2))).json()["id"]
            sam, tia = (r["id"] for r in envelope["recipients"])
            fields = [field(sam, document_id), field(tia, document_id, page=2)]
            await api.post(
                f"/v1/envelopes/{envelope['id']}/fields", headers=auth, json={"fields": fields}
            )
            assert (
                await api.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
            ).status_code == 202

            await page.goto(await _link_for(runtime, "sam@example.test"))
            await page.locator("img").first.wait_for()
            await _draw(page)
            drawn = await page.locator("input[type=hidden][name^=f_]").input_value()
            assert drawn.startswith("data:image/png;base64,")
            await page.check("#consent")
            await page.click("form#act button[type=submit]")
            await page.locator("#outcome").wait_for()
            assert "You signed this document" in await page.inner_text("#outcome")

            await page.goto(await _link_for(runtime, "tia@example.test"))
            await page.fill("input.typed", "Tia Typist")
            await page.check("#consent")
            await page.click("form#act button[type=submit]")
            await page.locator("#outcome").wait_for()
            assert "You signed this document" in await page.inner_text("#outcome")

            signed_url = f"/v1/envelopes/{envelope['id']}/documents/{document_id}/signed"
            for _ in range(500):
                response = await api.get(signed_url, headers=auth)
                if response.status_code == 200:
                    break
                await asyncio.sleep(0.05)
            assert response.status_code == 200, response.text
            await assert_sealed(runtime, response.content, tmp_path)
            final = (await api.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()
            values = {f["recipient_id"]: f["value"] for f in final["fields"]}
            assert values[sam]["kind"] == "image"
            assert values[tia] == {"kind": "typed", "text": "Tia Typist"}
    finally:
        await runtime.close()
