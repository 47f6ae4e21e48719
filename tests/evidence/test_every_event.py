"""Every evidence type of every mode yields both proofs, with every fact the issue lists."""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest

from tabellion.db import transaction
from tabellion.evidence.content import FORMAT, POLICY_ID, SHA256
from tabellion.evidence.events import EvidenceType, event_uri
from tabellion.evidence.rendering.pdf import QR_SIZE_MM, verify_url
from tabellion.evidence.sealing.keys import load_seal
from tabellion.evidence.verification.verify import verify_json_proof, verify_pdf_proof
from tabellion.kit.jcs import canonicalize
from tabellion.message.service.delivery import mark_undelivered
from tabellion.message.service.lifecycle import expire
from tabellion.models.message import Delivery, Message
from tabellion.runtime import Runtime
from tests.evidence.helpers import answer_letter, run_jobs, trust_of
from tests.portal.helpers import csrf, dispatch, notify, status_of

UA = {"User-Agent": "evidence-browser/2"}
PDF_BYTES = b"%PDF-1.4\n%%EOF\n"


async def _open(client: httpx.AsyncClient, link: str) -> None:
    landing = await client.get(link)
    opened = await client.post(f"{link}/open", data={"csrf_token": csrf(landing.text)}, headers=UA)
    assert opened.status_code == 303, opened.text


async def _download(client: httpx.AsyncClient, auth: dict[str, str], link: str, msg: str) -> None:
    message = (await client.get(f"/v1/messages/{msg}", headers=auth)).json()
    file = await client.get(f"{link}/files/{message['attachments'][0]['id']}", headers=UA)
    assert file.status_code == 200 and file.content == PDF_BYTES


async def _undelivered(runtime: Runtime, delivery_id: str) -> None:
    async with transaction(runtime.sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        moment = datetime.now(delivery.created_at.tzinfo)
        await mark_undelivered(
            session, delivery, at=moment, reason="mailbox unknown", smtp_code=550
        )


async def _every_event(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> dict[str, list[str]]:
    """Deliveries that, between them, go through every event of every mode; their types."""
    expected: dict[str, list[str]] = {}
    for mode in ("deliver", "simple", "secure"):
        delivery = await dispatch(client, auth, mode=mode)
        link = await notify(runtime, delivery["id"])
        await _open(client, link)
        await _download(client, auth, link, delivery["message_id"])
        types = ["SENT", "NOTIFIED", "RECEIVED", "DOWNLOADED"]
        if mode == "secure":
            page = await client.get(link)
            reply = await client.post(
                f"{link}/reply",
                data={"csrf_token": csrf(page.text), "body": "Noted."},
                files={"files": ("note.txt", b"noted", "text/plain")},
                headers=UA,
            )
            assert reply.status_code == 303, reply.text
            answer = await client.post(
                f"/v1/deliveries/{delivery['id']}/replies",
                data={"reply": json.dumps({"body_html": "<p>Thanks.</p>"})},
                files={"files": ("receipt.txt", b"received", "text/plain")},
                headers=auth,
            )
            assert answer.status_code == 201, answer.text
            types += ["REPLIED", "SENDER_REPLIED"]
        expected[delivery["id"]] = types
    for decision, final in (("accept", "ACCEPTED"), ("refuse", "REFUSED")):
        delivery = await dispatch(client, auth, mode="registered")
        link = await notify(runtime, delivery["id"])
        await answer_letter(client, runtime, link, delivery["id"], decision, headers=UA)
        types = ["SENT", "NOTIFIED", final]
        if final == "ACCEPTED":
            await _download(client, auth, link, delivery["message_id"])
            types.append("DOWNLOADED")
        expected[delivery["id"]] = types
    expiring = await dispatch(client, auth, mode="registered")
    await notify(runtime, expiring["id"])
    async with transaction(runtime.sessions) as session:
        row = await session.get(Delivery, expiring["id"])
        assert row is not None and row.deadline_at is not None
        deadline = row.deadline_at
    async with transaction(runtime.sessions) as session:
        assert await expire(session, expiring["id"], now=deadline + timedelta(seconds=1))
    expected[expiring["id"]] = ["SENT", "NOTIFIED", "EXPIRED"]
    for mode in ("deliver", "simple", "secure", "registered"):
        delivery = await dispatch(client, auth, mode=mode)
        await _undelivered(runtime, delivery["id"])
        expected[delivery["id"]] = ["SENT", "UNDELIVERED"]
    await run_jobs(runtime)
    return expected


def _check_content(
    content: dict[str, Any], delivery: dict[str, Any], message: Message, runtime: Runtime
) -> None:
    kind = EvidenceType(content["type"])
    assert content["format"] == FORMAT
    assert content["event"]["uri"] == event_uri(kind)
    assert content["occurred_at"].endswith("Z")
    issuer = content["issuer"]
    assert issuer == {
        "name": runtime.settings.issuer_name,
        "url": "http://tabellion.test",
        "policy": POLICY_ID,
        "seal_certificate_sha256": load_seal(runtime.settings).fingerprint,
    }
    assert content["message_id"] == delivery["message_id"]
    assert content["delivery_id"] == delivery["id"]
    assert content["mode"] == message.mode
    sender = content["sender"]
    assert sender["organization"]["id"] == message.organization_id
    assert sender["authentication"]["method"] == "api-key"
    assert sender["authentication"]["api_key_id"] == message.submitted_by_key_id
    assert message.submitted_by_key_id
    recipient = content["recipient"]
    assert recipient["email"] == delivery["recipient"]["email"]
    assert recipient["first_name"] == "Jane" and recipient["language"] == "en"
    parts = content["content"]
    assert parts["subject"] == {
        "media_type": "text/plain; charset=utf-8",
        "size": len(b"Secret subject"),
        "digest_algorithm": SHA256,
        "sha256": hashlib.sha256(b"Secret subject").hexdigest(),
        "file": "content/subject.txt",
    }
    assert parts["body"]["sha256"] == hashlib.sha256(message.body_html.encode()).hexdigest()
    assert parts["body_submitted"]["sha256"] == hashlib.sha256(b"<p>Secret body</p>").hexdigest()
    assert parts["body_text"]["sha256"] == hashlib.sha256(message.body_text.encode()).hexdigest()
    [attachment] = parts["attachments"]
    assert attachment["sha256"] == hashlib.sha256(PDF_BYTES).hexdigest()
    assert (attachment["media_type"], attachment["digest_algorithm"]) == ("application/pdf", SHA256)
    assert attachment["filename"] == "contract.pdf" and attachment["size"] == len(PDF_BYTES)
    assert isinstance(content["chain"]["sequence"], int)
    reasons = content["event"]["reasons"]
    if kind == EvidenceType.UNDELIVERED:
        assert reasons == [
            {
                "uri": "urn:tabellion:evidence:reason:notification-rejected",
                "text": "mailbox unknown",
                "smtp_code": 550,
            }
        ]
    elif kind == EvidenceType.EXPIRED:
        assert reasons == [
            {
                "uri": "urn:tabellion:evidence:reason:acceptance-period-expired",
                "text": "no answer in time",
            }
        ]
    elif kind == EvidenceType.REFUSED:
        assert reasons == [
            {"uri": "urn:tabellion:evidence:reason:refused-by-recipient", "text": None}
        ]
    else:
        assert reasons == []
    action = recipient.get("action")
    if kind.value not in ("RECEIVED", "ACCEPTED", "REFUSED", "DOWNLOADED", "REPLIED"):
        assert action is None
        return
    assert action is not None
    assert action["user_agent"] == UA["User-Agent"] and action["ip"]
    assert action["time"].endswith("Z")
    assert abs(
        datetime.fromisoformat(action["time"]) - datetime.fromisoformat(content["occurred_at"])
    ) < timedelta(seconds=1)
    method = action["authentication"]["method"]
    if message.mode == "registered":
        # The code sent to the address, confirmed from this browser before answering.
        assert method == "email-otp" and action["authentication"]["confirmed"] is True
        assert action["authentication"]["user_agent"] == UA["User-Agent"]
        assert action["authentication"]["time"].endswith("Z")
    else:
        assert method in ("portal-link", "portal", "portal-session")


def _pdf_facts(data: bytes, tmp_path: Path) -> tuple[int, str, list[str]]:
    """Pages, text and link targets of a PDF."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    path = tmp_path / "p.pdf"
    path.write_bytes(data)
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    reader = PdfFileReader(BytesIO(data), strict=False)
    pages = int(reader.root["/Pages"]["/Count"])
    uris = []
    for kid in reader.root["/Pages"]["/Kids"]:
        page = kid.get_object()
        for annotation in page.get("/Annots", []):
            annotation = annotation.get_object()
            if "/A" in annotation and "/URI" in annotation["/A"]:
                uris.append(str(annotation["/A"]["/URI"]))
    return pages, text, uris


async def test_every_event_of_every_mode_has_both_proofs(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, tmp_path: Path
) -> None:
    expected = await _every_event(client, auth, runtime)
    seen: set[tuple[str, str]] = set()
    contents: list[dict[str, Any]] = []
    for delivery_id, types in expected.items():
        state = await status_of(client, auth, delivery_id)
        assert [e["type"] for e in state["evidence"]] == types
        async with runtime.sessions() as session:
            message = await session.get(Message, state["message_id"])
        assert message is not None
        for ref in state["evidence"]:
            proof = await client.get(f"/v1/evidence/{ref['id']}", headers=auth)
            assert proof.status_code == 200, proof.text
            verdict = verify_json_proof(proof.content, trust_of(runtime))
            assert verdict.authentic, verdict.problems
            assert verdict.content is not None and verdict.content["id"] == ref["id"]
            _check_content(verdict.content, state, message, runtime)
            contents.append(verdict.content)
            pdf = await client.get(f"/v1/evidence/{ref['id']}/pdf", headers=auth)
            assert pdf.status_code == 200
            sealed = await verify_pdf_proof(pdf.content, trust_of(runtime))
            assert sealed.authentic, sealed.problems
            assert sealed.content == verdict.content
            pages, text, uris = _pdf_facts(pdf.content, tmp_path)
            assert 1 <= pages <= 2
            assert ref["id"] in text and state["recipient"]["email"] in text
            assert uris == [verify_url(runtime.settings, ref["id"])]
            seen.add((message.mode, ref["type"]))
    every = {
        (mode, kind)
        for mode in ("deliver", "simple", "secure")
        for kind in ("SENT", "NOTIFIED", "RECEIVED", "DOWNLOADED", "UNDELIVERED")
    }
    every |= {("secure", "REPLIED"), ("secure", "SENDER_REPLIED")}
    every |= {
        ("registered", kind)
        for kind in ("SENT", "NOTIFIED", "ACCEPTED", "REFUSED", "EXPIRED", "DOWNLOADED")
    }
    every |= {("registered", "UNDELIVERED")}
    assert seen == every
    assert {kind for _, kind in seen} == set(EvidenceType)
    # One organisation, one chain: 1, 2, 3... each naming the hash of the one before.
    contents.sort(key=lambda c: c["chain"]["sequence"])
    assert [c["chain"]["sequence"] for c in contents] == list(range(1, len(contents) + 1))
    previous = None
    for content in contents:
        assert content["chain"]["previous"] == previous
        previous = hashlib.sha256(canonicalize(content)).hexdigest()


@pytest.mark.parametrize(
    ("language", "title", "label"),
    [
        ("en", "Evidence of receipt", "Recipient"),
        ("fr", "Preuve de réception", "Destinataire"),
        ("nl", "Bewijs van ontvangst", "Ontvanger"),
        ("de", "Nachweis des Empfangs", "Empfänger"),
    ],
)
async def test_pdf_speaks_the_recipients_language_and_its_qr_leads_to_verify(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    tmp_path: Path,
    language: str,
    title: str,
    label: str,
) -> None:
    import pypdfium2

    delivery = await dispatch(client, auth, mode="simple", language=language)
    await _open(client, await notify(runtime, delivery["id"]))
    await run_jobs(runtime)
    received = (await status_of(client, auth, delivery["id"]))["evidence"][-1]
    assert received["type"] == "RECEIVED"
    data = (await client.get(f"/v1/evidence/{received['id']}/pdf", headers=auth)).content
    pages, text, uris = _pdf_facts(data, tmp_path)
    assert pages == 1
    assert title in text and label in text
    assert uris == [f"http://tabellion.test/verify?evidence={received['id']}"]
    # The QR code drawn is the one of that address, where it should be: a real reader
    # (zxing-cpp) reads it off the rendered page, in its square at the top right.
    import zxingcpp

    page = pypdfium2.PdfDocument(data)[0]
    scale = 4.0
    image = page.render(scale=scale).to_pil()
    [symbol] = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert symbol.text == uris[0]
    mm = 72 / 25.4 * scale
    left = (page.get_width() / (72 / 25.4)) - 10 - QR_SIZE_MM  # fpdf's default 10 mm margin
    corners = (symbol.position.top_left, symbol.position.bottom_right)
    for corner in corners:
        assert left * mm < corner.x < (left + QR_SIZE_MM) * mm
        assert 12.0 * mm < corner.y < (12.0 + QR_SIZE_MM) * mm
