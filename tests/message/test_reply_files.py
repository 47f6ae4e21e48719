"""A recipient's reply files reach the sender everywhere a message's attachments do: the
replies API, the ``delivery.replied`` webhook (with signed download links) and the delivery's
evidence bundle."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tabellion.config import Settings
from tabellion.evidence import links
from tabellion.jobs.worker import Worker
from tabellion.kit.time import utcnow
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.fixtures.receiver import Receiver, running_receiver
from tests.portal.helpers import dispatch, reply_in_portal

ANSWER = b"the signed copy, scanned"
NOTES = b"%PDF-1.4\n% notes\n%%EOF\n"


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    # The test's webhook receiver listens on loopback, which the SSRF guard refuses otherwise.
    return make_settings(data_dir, database_url, webhook_allowed_hosts="127.0.0.1")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as r:
        yield r


async def _replied(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> tuple[dict, str]:
    """A secure delivery the recipient answered with two files of the same name and a PDF."""
    delivery = await dispatch(client, auth, mode="secure")
    files = [
        ("files", ("answer.txt", ANSWER, "text/plain")),
        ("files", ("answer.txt", b"a second file, same name", "text/plain")),
        ("files", ("notes.pdf", NOTES, "application/pdf")),
    ]
    link = await reply_in_portal(client, runtime, delivery["id"], "Here you are.", files)  # type: ignore[arg-type]
    return delivery, link


async def test_reply_files_are_in_the_webhook_with_signed_links(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, receiver: Receiver
) -> None:
    endpoint = await client.post(
        "/v1/webhook-endpoints",
        json={"url": receiver.url, "events": ["delivery.replied"]},
        headers=auth,
    )
    assert endpoint.status_code == 201, endpoint.text
    delivery, _ = await _replied(client, auth, runtime)
    await Worker(runtime, poll_interval=0.05).run_until_idle(timeout=60)
    (hook,) = await receiver.wait_for(1)
    event = json.loads(hook.body)
    assert event["type"] == "delivery.replied"
    reply = event["data"]["reply"]
    assert event["data"]["delivery"]["id"] == delivery["id"]
    assert event["data"]["evidence"]["type"] == "REPLIED"
    assert reply["author"] == "recipient" and "Here you are." in reply["body_text"]
    shown = [
        (f["filename"], f["content_type"], f["size"], f["sha256"]) for f in reply["attachments"]
    ]
    assert shown[0] == ("answer.txt", "text/plain", len(ANSWER), hashlib.sha256(ANSWER).hexdigest())
    assert shown[2] == (
        "notes.pdf",
        "application/pdf",
        len(NOTES),
        hashlib.sha256(NOTES).hexdigest(),
    )
    # The API lists the same reply, files and all (links are signed per minute, so equal).
    listed = (await client.get(f"/v1/deliveries/{delivery['id']}/replies", headers=auth)).json()
    api_reply = listed["data"][0]
    assert [f["id"] for f in api_reply["attachments"]] == [f["id"] for f in reply["attachments"]]
    # Each download link works without an API key.
    first = reply["attachments"][0]
    url = first["download_url"]
    assert url.startswith(
        f"http://tabellion.test/v1/deliveries/{delivery['id']}/replies/{reply['id']}/files/"
        f"{first['id']}?expires="
    )
    fetched = await client.get(url)
    assert fetched.status_code == 200, fetched.text
    assert fetched.content == ANSWER
    assert fetched.headers["x-content-type-options"] == "nosniff"
    # A link for one file does not open another, and an altered link is refused.
    other = reply["attachments"][2]["id"]
    swapped = await client.get(url.replace(first["id"], other))
    assert swapped.status_code == 403 and swapped.json()["code"] == "link-invalid"
    tampered = await client.get(url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB"))
    assert tampered.status_code == 403 and tampered.json()["code"] == "link-invalid"
    # An expired link answers 410; without a link or a key, 401.
    signer = links.current()
    assert signer is not None
    old = signer.reply_file_url(
        delivery["id"], reply["id"], first["id"], now=utcnow() - timedelta(days=2)
    )
    expired = await client.get(old)
    assert expired.status_code == 410 and expired.json()["code"] == "link-expired"
    bare = await client.get(url.split("?")[0])
    assert bare.status_code == 401


async def test_reply_files_are_in_the_evidence_bundle(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery, _ = await _replied(client, auth, runtime)
    # The sender's own files are in the thread, not in the recipient's proofs.
    sent = await client.post(
        f"/v1/deliveries/{delivery['id']}/replies",
        data={"reply": json.dumps({"body_html": "<p>Thanks</p>"})},
        files=[("files", ("ours.txt", b"from the sender", "text/plain"))],
        headers=auth,
    )
    assert sent.status_code == 201, sent.text
    await Worker(runtime, poll_interval=0.05).run_until_idle(timeout=60)
    bundle = await client.get(f"/v1/deliveries/{delivery['id']}/evidence.zip", headers=auth)
    assert bundle.status_code == 200, bundle.text
    archive = zipfile.ZipFile(io.BytesIO(bundle.content))
    thread = (await client.get(f"/v1/deliveries/{delivery['id']}/replies", headers=auth)).json()
    ours, theirs = thread["data"][1], thread["data"][0]
    assert theirs["author"] == "recipient" and ours["author"] == "sender"
    second = theirs["attachments"][1]["id"]
    folder = f"replies/{theirs['id']}/"
    names = sorted(n for n in archive.namelist() if n.startswith("replies/"))
    assert names == [folder + "answer.txt", f"{folder}{second}-answer.txt", folder + "notes.pdf"]
    assert archive.read(folder + "answer.txt") == ANSWER
    assert archive.read(folder + "notes.pdf") == NOTES
    # Each file's digest is the one its REPLIED proof records.
    proofs = [
        json.loads(base64.urlsafe_b64decode(json.loads(archive.read(n))["payload"] + "=="))
        for n in archive.namelist()
        if n.startswith("evidence/") and n.endswith(".json")
    ]
    (payload,) = [p for p in proofs if p["type"] == "REPLIED"]
    recorded = {f["filename"]: f["sha256"] for f in payload["details"]["attachments"][::2]}
    assert recorded == {
        "answer.txt": hashlib.sha256(ANSWER).hexdigest(),
        "notes.pdf": hashlib.sha256(NOTES).hexdigest(),
    }
    assert "replies/<reply id>/" in archive.read("README.txt").decode()
