"""Reply files, either side's, go everywhere a message's attachments do: the replies API, the
webhook (``delivery.replied``, ``delivery.sender_replied``, with signed download links), the
proofs (REPLIED, SENDER_REPLIED) and the delivery's evidence bundle."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
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
from tests.conftest import count_rows, make_settings
from tests.fixtures.receiver import Receiver, running_receiver
from tests.message.test_endpoints import assert_problem
from tests.portal.helpers import dispatch, reply_in_portal

ANSWER = b"the signed copy, scanned"
NOTES = b"%PDF-1.4\n% notes\n%%EOF\n"
OURS = b"from the sender"


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


async def _proofs(archive: zipfile.ZipFile) -> list[dict]:
    return [
        json.loads(base64.urlsafe_b64decode(json.loads(archive.read(n))["payload"] + "=="))
        for n in archive.namelist()
        if n.startswith("evidence/") and n.endswith(".json")
    ]


async def test_reply_files_are_in_the_evidence_bundle(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, tmp_path: Path
) -> None:
    delivery, _ = await _replied(client, auth, runtime)
    # The sender's answer and its file: proven too (SENDER_REPLIED), so in the bundle as well.
    sent = await client.post(
        f"/v1/deliveries/{delivery['id']}/replies",
        data={"reply": json.dumps({"body_html": "<p>Thanks</p>"})},
        files=[("files", ("ours.txt", OURS, "text/plain"))],
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
    assert names == sorted(
        [
            folder + "answer.txt",
            f"{folder}{second}-answer.txt",
            folder + "notes.pdf",
            f"replies/{ours['id']}/ours.txt",
        ]
    )
    assert archive.read(folder + "answer.txt") == ANSWER
    assert archive.read(folder + "notes.pdf") == NOTES
    assert archive.read(f"replies/{ours['id']}/ours.txt") == OURS
    # Each file's digest is the one its proof records: REPLIED for the recipient's,
    # SENDER_REPLIED (a submission, like the message's SENT) for the sender's.
    proofs = await _proofs(archive)
    (payload,) = [p for p in proofs if p["type"] == "REPLIED"]
    recorded = {f["filename"]: f["sha256"] for f in payload["details"]["attachments"][::2]}
    assert recorded == {
        "answer.txt": hashlib.sha256(ANSWER).hexdigest(),
        "notes.pdf": hashlib.sha256(NOTES).hexdigest(),
    }
    (answer,) = [p for p in proofs if p["type"] == "SENDER_REPLIED"]
    assert answer["event"]["uri"] == "http://uri.etsi.org/19522/Event/SubmissionAcceptance"
    assert answer["details"]["reply_id"] == ours["id"]
    assert answer["details"]["attachments"] == [
        {"id": ours["attachments"][0]["id"], "filename": "ours.txt", "sha256": sha256(OURS)}
    ]
    submitted = answer["details"]["submitted_by"]
    assert submitted["method"] == "api-key" and submitted["api_key_id"].startswith("key_")
    assert "action" not in answer["recipient"]  # the recipient did not act
    readme = archive.read("README.txt").decode()
    assert "replies/<reply id>/" in readme and "SENDER_REPLIED" in readme
    # The sender's proof verifies like any other, and its PDF names the file and its digest.
    name = next(
        n
        for n in archive.namelist()
        if n.endswith(".json") and n[len("evidence/") : -len(".json")] == answer["id"]
    )
    checked = await client.post("/v1/verify", files={"file": ("p.json", archive.read(name))})
    assert checked.status_code == 200, checked.text
    assert checked.json()["result"] == "authentic", checked.json()
    assert checked.json()["evidence_id"] == answer["id"]
    pdf = tmp_path / "answer.pdf"
    pdf.write_bytes(archive.read(name[: -len(".json")] + ".pdf"))
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Evidence of the sender's reply" in text and "ours.txt" in text
    assert sha256(OURS) in text.replace("\n", "")


async def test_sender_reply_is_in_the_webhook_with_its_proof(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, receiver: Receiver
) -> None:
    endpoint = await client.post(
        "/v1/webhook-endpoints",
        json={"url": receiver.url, "events": ["delivery.sender_replied"]},
        headers=auth,
    )
    assert endpoint.status_code == 201, endpoint.text
    delivery = await dispatch(client, auth, mode="secure")
    sent = await client.post(
        f"/v1/deliveries/{delivery['id']}/replies",
        data={"reply": json.dumps({"body_html": "<p>Our answer</p>"})},
        files=[("files", ("ours.txt", OURS, "text/plain"))],
        headers=auth,
    )
    assert sent.status_code == 201, sent.text
    await Worker(runtime, poll_interval=0.05).run_until_idle(timeout=60)
    (hook,) = await receiver.wait_for(1)
    event = json.loads(hook.body)
    assert event["type"] == "delivery.sender_replied"
    assert event["data"]["evidence"]["type"] == "SENDER_REPLIED"
    reply = event["data"]["reply"]
    assert reply["id"] == sent.json()["id"] and reply["author"] == "sender"
    (item,) = reply["attachments"]
    assert (item["filename"], item["sha256"]) == ("ours.txt", sha256(OURS))
    fetched = await client.get(item["download_url"])
    assert fetched.status_code == 200 and fetched.content == OURS
    # The delivery lists the proof among its evidence.
    shown = (await client.get(f"/v1/deliveries/{delivery['id']}", headers=auth)).json()
    assert "SENDER_REPLIED" in [e["type"] for e in shown["evidence"]]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_sender_reply_files_keep_the_attachment_rules(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, data_dir: Path
) -> None:
    """Streamed with the attachments' limit, checked like them; a refusal leaves no reply and
    no proof (a file refused after it was stored is unreferenced: the storage collector's)."""
    delivery = await dispatch(client, auth, mode="secure")
    url = f"/v1/deliveries/{delivery['id']}/replies"
    reply = {"reply": json.dumps({"body_html": "<p>See attached.</p>"})}
    before = await count_rows(runtime, "evidence")
    blobs = {p for p in (data_dir / "blobs").rglob("*") if p.is_file()}
    object.__setattr__(runtime.settings, "max_attachment_bytes", 1000)
    big = await client.post(
        url, data=reply, files=[("files", ("big.txt", b"a" * 5000, "text/plain"))], headers=auth
    )
    assert_problem(big, 413, "attachment-too-large")
    # Counted while it streamed: nothing of it was stored.
    assert {p for p in (data_dir / "blobs").rglob("*") if p.is_file()} == blobs
    lying = await client.post(
        url,
        data=reply,
        files=[("files", ("notes.pdf", b"plain words", "application/pdf"))],
        headers=auth,
    )
    problem = assert_problem(lying, 422, "content-type-mismatch")
    assert problem["errors"][0]["field"] == "files[0]"
    many = [("files", (f"{i}.txt", b"x", "text/plain")) for i in range(11)]
    crowded = await client.post(url, data=reply, files=many, headers=auth)
    assert_problem(crowded, 409, "too-many-attachments")
    assert await count_rows(runtime, "replies") == 0
    assert await count_rows(runtime, "evidence") == before
