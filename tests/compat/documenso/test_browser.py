"""The Documenso round trip in a real headless Chromium: create and distribute through the
dialect, sign at the answered signingUrl, read COMPLETED and download the signed item, whose
PAdES seal pyHanko and poppler accept."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page

from tabellion.runtime import Runtime
from tests.compat.test_documenso import BASE, CREATE_PAYLOAD
from tests.conftest import make_settings
from tests.envelope.helpers import assert_sealed, pdf_bytes
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


async def test_create_distribute_sign_in_chromium_download_signed(
    page: Page, data_dir: Path, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    runtime = Runtime.build(make_settings(data_dir, database_url, public_url=base), pool_size=5)
    payload = copy.deepcopy(CREATE_PAYLOAD)
    # The signature alone: the signer types it.
    payload["recipients"][0]["fields"] = payload["recipients"][0]["fields"][:1]
    try:
        _, secret = await create_org_with_key(runtime)
        key = {"Authorization": secret}
        async with (
            live_server(runtime, run_worker=True, port=port),
            httpx.AsyncClient(base_url=base, timeout=30) as api,
        ):
            created = await api.post(
                f"{BASE}/envelope/create",
                data={"payload": json.dumps(payload)},
                files=[("files", ("contract.pdf", pdf_bytes(2), "application/pdf"))],
                headers=key,
            )
            assert created.status_code == 200, created.text
            envelope_id = created.json()["id"]
            sent = await api.post(
                f"{BASE}/envelope/distribute", json={"envelopeId": envelope_id}, headers=key
            )
            assert sent.status_code == 200, sent.text
            [recipient] = sent.json()["recipients"]

            await page.goto(recipient["signingUrl"])
            await page.locator("img").first.wait_for()
            await page.fill("input.typed", "John Smith")
            await page.check("#consent")
            await page.click("form#act button[type=submit]")
            await page.locator("#outcome").wait_for()
            assert "You signed this document" in await page.inner_text("#outcome")

            body = (await api.get(f"{BASE}/envelope/{envelope_id}", headers=key)).json()
            assert body["status"] == "COMPLETED"
            assert body["recipients"][0]["signingStatus"] == "SIGNED"
            item = body["envelopeItems"][0]["id"]
            for _ in range(600):
                signed = await api.get(f"{BASE}/envelope/item/{item}/download", headers=key)
                if signed.status_code == 200:
                    break
                await asyncio.sleep(0.05)
            assert signed.status_code == 200, signed.text
            assert signed.headers["content-type"] == "application/pdf"
            await assert_sealed(runtime, signed.content, tmp_path)
    finally:
        await runtime.close()
