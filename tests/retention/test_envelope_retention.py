"""Retention of signing envelopes: the timer (run by the real worker) deletes an ended
envelope's documents, signed files, certificate and field values past the organisation's
retention period, keeps a held envelope's, and leaves its proofs and the signed file's
record verifiable (docs/data.md)."""

from __future__ import annotations

import base64
import io
from datetime import timedelta

import httpx
from PIL import Image
from sqlalchemy import select, update

from tabellion.db import transaction
from tabellion.evidence.sealing.seal import seal_pending
from tabellion.evidence.verification.check import check_chains
from tabellion.jobs.worker import Worker
from tabellion.models.envelope import Envelope, EnvelopeDocument, EnvelopeField, EnvelopeRecipient
from tabellion.models.evidence import Evidence
from tabellion.runtime import Runtime
from tests.envelope.test_pages import _post, _sent, _signature_field, _token
from tests.message.test_endpoints import assert_problem
from tests.retention.helpers import run_retention_timer

DOCUMENSO = "/compat/documenso/api/v2"


async def completed(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> tuple[dict, str, str]:
    """An envelope approved and signed (a drawn signature), sealed by the worker; the
    envelope as answered, its document's id and the signer's link token."""
    envelope, document_id = await _sent(client, auth)
    ann, _, sam = envelope["recipients"]
    assert (await _post(client, await _token(runtime, ann["id"]), "approve", {})).status_code == 303
    buffer = io.BytesIO()
    Image.new("RGBA", (120, 40), (0, 0, 80, 255)).save(buffer, format="PNG")
    drawn = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    token = await _token(runtime, sam["id"])
    signature = _signature_field(envelope, "sam@example.test")
    answer = await _post(client, token, "sign", {f"f_{signature}": drawn, "consent": "yes"})
    assert answer.status_code == 303
    await Worker(runtime, poll_interval=0.05).run_until_idle()
    final = (await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()
    assert final["status"] == "completed"
    return final, document_id, token


async def age_envelope(runtime: Runtime, envelope_id: str, days: int) -> None:
    """Let ``days`` pass since the envelope ended (and since each of its recipients acted)."""
    shift = timedelta(days=days)
    async with transaction(runtime.sessions) as session:
        envelope = await session.get(Envelope, envelope_id)
        assert envelope is not None
        moments = {
            name: getattr(envelope, name) - shift
            for name in ("completed_at", "cancelled_at", "expired_at", "updated_at")
            if getattr(envelope, name) is not None
        }
        await session.execute(update(Envelope).where(Envelope.id == envelope_id).values(moments))
        for recipient in await session.scalars(
            select(EnvelopeRecipient).where(EnvelopeRecipient.envelope_id == envelope_id)
        ):
            if recipient.acted_at is not None:
                await session.execute(
                    update(EnvelopeRecipient)
                    .where(EnvelopeRecipient.id == recipient.id)
                    .values(acted_at=recipient.acted_at - shift)
                )


async def blob_keys(runtime: Runtime, envelope_id: str) -> list[str]:
    async with runtime.sessions() as session:
        envelope = await session.get(Envelope, envelope_id)
        documents = list(
            await session.scalars(
                select(EnvelopeDocument).where(EnvelopeDocument.envelope_id == envelope_id)
            )
        )
    assert envelope is not None and envelope.certificate_storage_key
    keys = [envelope.certificate_storage_key]
    for document in documents:
        assert document.signed_storage_key
        keys += [document.storage_key, document.signed_storage_key]
    return keys


async def test_retention_deletes_an_ended_envelopes_files_and_keeps_a_held_one(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    settings = await client.patch(
        "/v1/organization", json={"content_retention_days": 30}, headers=auth
    )
    assert settings.status_code == 200, settings.text
    old, document_id, token = await completed(client, runtime, auth)
    held, held_document, _ = await completed(client, runtime, auth)
    young, _, _ = await completed(client, runtime, auth)
    path = f"/v1/envelopes/{old['id']}"
    signed = (await client.get(f"{path}/documents/{document_id}/signed", headers=auth)).content
    keys = await blob_keys(runtime, old["id"])
    held_keys = await blob_keys(runtime, held["id"])

    hold = await client.post(
        f"/v1/envelopes/{held['id']}/legal-hold", json={"reason": "Dispute 12"}, headers=auth
    )
    assert hold.status_code == 200, hold.text
    assert hold.json()["legal_hold"] is True
    for other in ("env_01NOTANENVELOPEHERE00000", "env_'<x>"):
        assert_problem(
            await client.post(f"/v1/envelopes/{other}/legal-hold", headers=auth),
            404,
            "envelope-not-found",
        )
    await age_envelope(runtime, old["id"], 31)
    await age_envelope(runtime, held["id"], 31)
    await age_envelope(runtime, young["id"], 29)
    await run_retention_timer(runtime)

    after = (await client.get(path, headers=auth)).json()
    assert after["content_purged_at"] is not None and after["message"] is None
    assert after["documents"][0]["signed_sha256"] == old["documents"][0]["signed_sha256"]
    for key in keys:
        assert not await runtime.storage.exists(key), key
    async with runtime.sessions() as session:
        values = list(
            await session.scalars(
                select(EnvelopeField.value).where(EnvelopeField.envelope_id == old["id"])
            )
        )
    assert values and all(v is None for v in values)  # the drawn signature is gone too
    # Every way to the files answers that they went.
    assert_problem(
        await client.get(f"{path}/documents/{document_id}/signed", headers=auth),
        410,
        "content-purged",
    )
    assert_problem(await client.get(f"{path}/certificate", headers=auth), 410, "content-purged")
    bare = {"Authorization": auth["Authorization"].removeprefix("Bearer ")}
    original = await client.get(
        f"{DOCUMENSO}/envelope/item/{document_id}/download?version=original", headers=bare
    )
    assert original.status_code == 410 and original.json()["code"] == "NOT_FOUND"
    page = await client.get(f"/s/{token}")
    assert page.status_code == 200 and 'id="purged"' in page.text
    assert (await client.get(f"/s/{token}/documents/{document_id}/pages/1.png")).status_code == 410
    assert (await client.get(f"/s/{token}/documents/{document_id}/signed.pdf")).status_code == 410

    # The purge is a proof naming each file by its SHA-256; every proof still verifies, and a
    # copy of the signed PDF is still recognised by its record.
    await seal_pending(runtime)
    async with runtime.sessions() as session:
        purges = list(
            await session.scalars(
                select(Evidence).where(
                    Evidence.envelope_id == old["id"], Evidence.type == "CONTENT_PURGED"
                )
            )
        )
    [purge] = purges
    named = [f for f in purge.details["files"] if f.get("id") == document_id]
    assert named[0]["sha256"] == old["documents"][0]["sha256"]
    assert named[0]["signed_sha256"] == old["documents"][0]["signed_sha256"]
    proof = await client.get(f"/v1/evidence/{purge.id}", headers=auth)
    verdict = (await client.post("/v1/verify", files={"file": ("p.json", proof.content)})).json()
    assert verdict["result"] == "authentic", verdict
    copy = (await client.post("/v1/verify", files={"file": ("s.pdf", signed)})).json()
    assert copy["result"] == "signed-document", copy
    assert (await check_chains(runtime)).ok

    # The held envelope and the young one keep everything; released, the held one goes.
    for kept in (held, young):
        answer = (await client.get(f"/v1/envelopes/{kept['id']}", headers=auth)).json()
        assert answer["content_purged_at"] is None
    for key in held_keys:
        assert await runtime.storage.exists(key)
    kept = await client.get(
        f"/v1/envelopes/{held['id']}/documents/{held_document}/signed", headers=auth
    )
    assert kept.status_code == 200
    released = await client.delete(f"/v1/envelopes/{held['id']}/legal-hold", headers=auth)
    assert released.status_code == 200 and released.json()["legal_hold"] is False
    await run_retention_timer(runtime)
    answer = (await client.get(f"/v1/envelopes/{held['id']}", headers=auth)).json()
    assert answer["content_purged_at"] is not None
    async with runtime.sessions() as session:
        types = list(
            await session.scalars(
                select(Evidence.type)
                .where(Evidence.envelope_id == held["id"])
                .order_by(Evidence.occurred_at)
            )
        )
    assert types.count("LEGAL_HOLD_PLACED") == types.count("LEGAL_HOLD_RELEASED") == 1
    assert types.count("CONTENT_PURGED") == 1


async def test_an_envelope_under_way_is_never_purged(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str]
) -> None:
    await client.patch("/v1/organization", json={"content_retention_days": 1}, headers=auth)
    envelope, document_id = await _sent(client, auth)
    await age_envelope(runtime, envelope["id"], 400)
    await run_retention_timer(runtime)
    answer = (await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()
    assert answer["status"] == "pending" and answer["content_purged_at"] is None
    ann = envelope["recipients"][0]
    page = await client.get(
        f"/s/{await _token(runtime, ann['id'])}/documents/{document_id}/pages/1.png"
    )
    assert page.status_code == 200
