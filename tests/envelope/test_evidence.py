"""Envelope events as evidence in the organisation's hash chain and transparency log; the
audit certificate citing them; /v1/verify, /verify and `tabellion verify` recognising a signed
envelope PDF."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pypdfium2 as pdfium
from sqlalchemy import select
from typer.testing import CliRunner

from tabellion.cli.main import app as cli_app
from tabellion.evidence.events import TABELLION_EVENT_BASE
from tabellion.evidence.sealing.keys import ROOT_FILE
from tabellion.evidence.sealing.seal import seal_pending
from tabellion.evidence.verification.check import check_chains
from tabellion.jobs.worker import Worker
from tabellion.kit.jcs import canonicalize
from tabellion.models.envelope import EnvelopeField
from tabellion.models.evidence import Evidence
from tabellion.runtime import Runtime
from tests.envelope.test_auth import _code, _form
from tests.envelope.test_auth import _sent as _sent_one
from tests.envelope.test_pages import _post, _sent, _signature_field, _token
from tests.fixtures.factories import bearer, create_org_with_key
from tests.message.test_endpoints import assert_problem


async def _rows(runtime: Runtime, envelope_id: str) -> list[Evidence]:
    async with runtime.sessions() as session:
        return list(
            await session.scalars(
                select(Evidence).where(Evidence.envelope_id == envelope_id).order_by(Evidence.id)
            )
        )


def _payload(row: Evidence) -> dict[str, Any]:
    assert row.jws is not None
    data = json.loads(row.jws)["payload"]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    return decoded


def _text(data: bytes) -> str:
    document = pdfium.PdfDocument(data)
    try:
        return "".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


async def _complete(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> tuple[dict[str, Any], str]:
    envelope, document_id = await _sent(client, auth)
    ann, _, sam = envelope["recipients"]
    assert (await _post(client, await _token(runtime, ann["id"]), "approve", {})).status_code == 303
    signature = _signature_field(envelope, "sam@example.test")
    response = await _post(
        client,
        await _token(runtime, sam["id"]),
        "sign",
        {f"typed_{signature}": "Sam Signer", "consent": "yes"},
    )
    assert response.status_code == 303, response.text
    await Worker(runtime, poll_interval=0.05).run_until_idle()
    return envelope, document_id


async def test_every_step_is_sealed_evidence_in_the_chain(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, document_id = await _complete(client, runtime, auth)
    ann, cee, sam = envelope["recipients"]
    rows = await _rows(runtime, envelope["id"])
    steps = [(r.type, r.recipient_id) for r in rows]
    assert steps == [
        ("ENVELOPE_SENT", None),
        ("ENVELOPE_INVITED", ann["id"]),
        ("ENVELOPE_OPENED", ann["id"]),
        ("ENVELOPE_APPROVED", ann["id"]),
        ("ENVELOPE_INVITED", sam["id"]),
        ("ENVELOPE_OPENED", sam["id"]),
        ("ENVELOPE_SIGNED", sam["id"]),
        ("ENVELOPE_COMPLETED", None),
        ("ENVELOPE_SEALED", None),
    ]
    assert all(r.delivery_id is None and r.message_id is None for r in rows)
    # All sealed, one chain: consecutive positions, each naming the one before.
    assert all(r.hash and r.jws and r.leaf_index is not None for r in rows)
    for earlier, later in itertools.pairwise(rows):
        assert later.seq == (earlier.seq or 0) + 1 and later.prev_hash == earlier.hash
    result = await check_chains(runtime)
    assert result.ok, result.breaks
    assert result.proofs >= len(rows)

    signed = _payload(rows[6])
    assert signed["envelope_id"] == envelope["id"] and signed["recipient_id"] == sam["id"]
    assert signed["event"]["uri"] == TABELLION_EVENT_BASE + "envelope-signed"
    assert signed["recipient"] == {
        "id": sam["id"],
        "name": "Sam Signer",
        "email": "sam@example.test",
        "role": "signer",
        "order": 2,
    }
    assert signed["details"]["actor"]["ip"] == "127.0.0.1"
    assert signed["details"]["actor"]["consent"] is True
    [field] = signed["details"]["fields"]
    async with runtime.sessions() as session:
        stored = await session.get(EnvelopeField, field["id"])
        assert stored is not None and stored.value
    assert field["sha256"] == hashlib.sha256(canonicalize(stored.value)).hexdigest()
    assert "Sam Signer" not in json.dumps(signed["details"]["fields"])  # a digest, not the value
    [document] = signed["envelope"]["documents"]
    final = (await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()
    assert document["id"] == document_id and document["sha256"] == final["documents"][0]["sha256"]
    sealed = _payload(rows[-1])["details"]
    assert sealed["documents"] == [
        {"id": document_id, "signed_sha256": final["documents"][0]["signed_sha256"]}
    ]
    assert cee["id"] not in {r.recipient_id for r in rows}  # a cc only gets the result

    # The API lists them and serves each JSON proof; another organisation sees none.
    listed = (await client.get(f"/v1/envelopes/{envelope['id']}/evidence", headers=auth)).json()
    assert [i["id"] for i in listed["data"]] == [r.id for r in rows]
    assert all(i["sealed"] and i["hash"] for i in listed["data"])
    proof = await client.get(f"/v1/evidence/{rows[6].id}", headers=auth)
    assert proof.status_code == 200 and json.loads(proof.text)["payload"]
    _, other_secret = await create_org_with_key(runtime, name="Other")
    other = bearer(other_secret)
    assert (await client.get(f"/v1/evidence/{rows[6].id}", headers=other)).status_code == 404
    assert_problem(
        await client.get(f"/v1/envelopes/{envelope['id']}/evidence", headers=other),
        404,
        "envelope-not-found",
    )
    # The PDF proof is a delivery's: an envelope's events are told by its certificate.
    assert (await client.get(f"/v1/evidence/{rows[6].id}/pdf", headers=auth)).status_code == 404

    # The certificate cites each proof sealed before it was made.
    certificate = (
        await client.get(f"/v1/envelopes/{envelope['id']}/certificate", headers=auth)
    ).content
    text = _text(certificate).replace("\r", "").replace("\n", "").replace(" ", "")
    for row in rows[:-1]:
        assert row.id in text and str(row.hash) in text, row.type


async def test_cancel_reassign_reject_and_expiry_are_evidence(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, _ = await _sent(client, auth)
    ann = envelope["recipients"][0]
    path = f"/v1/envelopes/{envelope['id']}"
    response = await client.post(
        f"{path}/recipients/{ann['id']}/reassign",
        json={"email": "kim@example.test", "name": "Kim Other"},
        headers=auth,
    )
    assert response.status_code == 200, response.text
    assert (await client.post(f"{path}/cancel", headers=auth)).status_code == 200
    rows = await _rows(runtime, envelope["id"])
    reassigned = next(r for r in rows if r.type == "ENVELOPE_REASSIGNED")
    assert reassigned.details["previous"]["email"] == "ann@example.test"
    assert reassigned.details["recipient"]["email"] == "kim@example.test"
    assert rows[-1].type == "ENVELOPE_CANCELLED"
    assert rows[-1].details["envelope_status"] == "cancelled"

    # A rejection, with its reason.
    second, _ = await _sent(client, auth)
    token = await _token(runtime, second["recipients"][0]["id"])
    assert (await _post(client, token, "reject", {"reason": "Wrong price"})).status_code == 303
    rejected = (await _rows(runtime, second["id"]))[-1]
    assert rejected.type == "ENVELOPE_REJECTED" and rejected.details["reason"] == "Wrong price"

    await seal_pending(runtime)
    assert (
        _payload(
            next(r for r in await _rows(runtime, second["id"]) if r.type == "ENVELOPE_REJECTED")
        )["event"]["reasons"][0]["text"]
        == "Wrong price"
    )
    assert (await check_chains(runtime)).ok


async def test_a_refused_act_writes_no_evidence(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, _ = await _sent(client, auth)
    ann, _, sam = envelope["recipients"]
    ann_token = await _token(runtime, ann["id"])
    await client.get(f"/s/{ann_token}")  # opened: recorded
    before = len(await _rows(runtime, envelope["id"]))
    # Sam acts out of turn; Ann rejects without a reason: both refused, nothing recorded.
    signature = _signature_field(envelope, "sam@example.test")
    response = await _post(
        client,
        await _token(runtime, sam["id"]),
        "sign",
        {f"typed_{signature}": "Sam", "consent": "yes"},
        form_from=ann_token,
    )
    assert response.status_code == 409
    assert (await _post(client, ann_token, "reject", {"reason": " "})).status_code == 422
    assert len(await _rows(runtime, envelope["id"])) == before


async def test_an_authentication_step_is_evidence(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    envelope, sam = await _sent_one(client, auth, access_auth=["email_otp"])
    token = await _token(runtime, sam)
    code = await _code(client, runtime, token, "access")
    response = await _form(
        client, token, "verify", {"step": "access", "method": "email_otp", "code": code}
    )
    assert response.status_code == 303, response.text
    await client.get(f"/s/{token}")
    rows = await _rows(runtime, envelope["id"])
    assert [r.type for r in rows][-2:] == ["ENVELOPE_AUTHENTICATED", "ENVELOPE_OPENED"]
    authenticated = rows[-2]
    assert authenticated.details["step"] == "access"
    assert authenticated.details["method"] == "email_otp"
    assert authenticated.details["actor"]["ip"] == "127.0.0.1"
    assert rows[-1].details["actor"]["access_auth"] == "email_otp"


async def test_verify_recognises_a_signed_envelope_pdf(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str], tmp_path: Path
) -> None:
    envelope, document_id = await _complete(client, runtime, auth)
    path = f"/v1/envelopes/{envelope['id']}"
    signed = (await client.get(f"{path}/documents/{document_id}/signed", headers=auth)).content
    answer = (await client.post("/v1/verify", files={"file": ("s.pdf", signed)})).json()
    assert answer["result"] == "signed-document" and answer["kind"] == "signed-document"
    assert answer["result"] != "authentic" and not answer["problems"]
    facts = answer["facts"]
    assert facts["envelope_id"] == envelope["id"] and facts["document_id"] == document_id
    assert facts["sha256"] == hashlib.sha256(signed).hexdigest()
    final = (await client.get(path, headers=auth)).json()
    assert facts["completed_at"] == final["completed_at"]
    assert [(s["name"], s["role"], s["status"]) for s in facts["signers"]] == [
        ("Ann Approver", "approver", "approved"),
        ("Sam Signer", "signer", "signed"),
    ]
    assert "the PAdES seal covers the whole file and is trusted" in answer["checks"]
    rows = await _rows(runtime, envelope["id"])
    assert answer["evidence_id"] == rows[-1].id and rows[-1].type == "ENVELOPE_SEALED"
    assert [e["id"] for e in facts["evidence"]] == [r.id for r in rows]

    # One byte changed: not this service's file any more, and its seal fails.
    altered = bytearray(signed)
    altered[len(altered) // 2] ^= 0x01
    answer = (await client.post("/v1/verify", files={"file": ("s.pdf", bytes(altered))})).json()
    assert answer["result"] in ("tampered", "not-found")
    assert answer["result"] != "signed-document"

    # The page says it in words.
    response = await client.post("/verify", files={"file": ("s.pdf", signed)})
    assert response.status_code == 200
    assert "Signed through this service" in response.text
    assert envelope["id"] in response.text and "Sam Signer" in response.text
    assert "Authentic proof" not in response.text

    # Offline: the seal holds, and it is not called a proof.
    file = tmp_path / "signed.pdf"
    file.write_bytes(signed)
    root = runtime.settings.seal_dir / ROOT_FILE
    result = await asyncio.to_thread(
        CliRunner().invoke, cli_app, ["verify", str(file), "--trust", str(root)]
    )
    assert result.exit_code == 0, result.output
    assert "SEALED DOCUMENT" in result.output and "AUTHENTIC" not in result.output


async def test_an_envelope_json_proof_verifies_offline(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str], tmp_path: Path
) -> None:
    envelope, _ = await _complete(client, runtime, auth)
    signed = next(r for r in await _rows(runtime, envelope["id"]) if r.type == "ENVELOPE_SIGNED")
    proof = await client.get(f"/v1/evidence/{signed.id}", headers=auth)
    file = tmp_path / "proof.json"
    file.write_bytes(proof.content)
    root = runtime.settings.seal_dir / ROOT_FILE
    result = await asyncio.to_thread(
        CliRunner().invoke, cli_app, ["verify", str(file), "--trust", str(root)]
    )
    assert result.exit_code == 0, result.output
    flat = "".join(result.output.split())  # Rich wraps long lines
    assert f"envelope{envelope['id']},recipientsam@example.test" in flat
    # /v1/verify names the envelope, not a delivery, to the public.
    answer = (await client.post("/v1/verify", files={"file": ("p.json", proof.content)})).json()
    assert answer["result"] == "authentic"
    assert answer["facts"]["envelope_id"] == envelope["id"]
    assert answer["facts"]["type"] == "ENVELOPE_SIGNED"
