"""``POST /v1/verify`` and the ``/verify`` page: what a dropped file is."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.document.multipart import MalformedMultipart, MultipartReader, boundary_of
from tabellion.errors import ValidationFailed
from tabellion.evidence.keys import load_seal
from tabellion.evidence.verify import Verdict, verify_bytes
from tabellion.models.evidence import Evidence
from tabellion.models.message import Attachment, Message

if TYPE_CHECKING:
    from tabellion.evidence.endpoints import VerifyOut
    from tabellion.runtime import Runtime

MAX_PAGE_BYTES = 50 * 1024 * 1024
PUBLIC_FACTS = ("id", "type", "occurred_at", "event", "delivery_id", "message_id")


async def read_upload(request: Request, limit: int) -> bytes:
    from tabellion.evidence.endpoints import VerifyFileTooLarge

    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise ValidationFailed.field("file", "Send the file as multipart/form-data, field `file`.")
    data: bytes | None = None
    try:
        reader = MultipartReader(request.stream(), boundary_of(content_type))
        while (part := await reader.next_part()) is not None:
            if part.name == "file" and data is None:
                buffer = bytearray()
                async for chunk in reader.data():
                    buffer += chunk
                    if len(buffer) > limit:
                        raise VerifyFileTooLarge(f"Verify files up to {limit} bytes.")
                data = bytes(buffer)
            else:
                async for _ in reader.data():
                    pass
    except MalformedMultipart as exc:
        raise ValidationFailed.field("file", "The form could not be read.") from exc
    if data is None:
        raise ValidationFailed.field("file", "Send the file in a part named `file`.")
    return data


async def _caller_org(request: Request, session: AsyncSession) -> str | None:
    if not request.headers.get("authorization"):
        return None
    from tabellion.auth.dependencies import _bearer, api_key_subject

    subject = await api_key_subject(request, session, await _bearer(request))
    return subject.organization_id


async def _compare_with_records(session: AsyncSession, verdict: Verdict, evidence_id: str) -> None:
    """Authentic and ours: it must also be the proof we hold (not a copy resealed), with the
    timestamp we recorded (the authority's certificate is not among our trusted roots)."""
    row = (
        await session.execute(
            select(Evidence.hash, Evidence.timestamp_token).where(Evidence.id == evidence_id)
        )
    ).first()
    if row is None or row.hash is None:
        verdict.fail("no such evidence is recorded by this service")
        return
    recorded = (
        hashlib.sha256(base64.b64decode(row.timestamp_token)).hexdigest()
        if row.timestamp_token
        else None
    )
    for stamp in verdict.timestamps:
        if stamp.covers != "proof" or stamp.token_sha256 is None:
            continue
        if stamp.token_sha256 != recorded:
            verdict.fail("the timestamp token is not the one this service recorded for it")
        else:
            verdict.checks.append("the timestamp token is the one this service recorded")


async def classify(
    session: AsyncSession, runtime: Runtime, data: bytes, caller_org: str | None
) -> dict[str, Any]:
    verdict: Verdict = await verify_bytes(data, [load_seal(runtime.settings).root])
    if verdict.kind != "unknown":
        content = verdict.content or {}
        owner = content.get("organization_id")
        facts: dict[str, Any] | None = None
        if content:
            if caller_org and (
                caller_org == owner
                or caller_org
                == content.get("sender", {})
                .get("authentication", {})
                .get("submitted_by_organization_id")
            ):
                facts = content
            else:
                facts = {k: content[k] for k in PUBLIC_FACTS if k in content}
        if verdict.authentic and content.get("id"):
            await _compare_with_records(session, verdict, str(content["id"]))
        return {
            "result": "authentic" if verdict.authentic else "tampered",
            "kind": verdict.kind,
            "evidence_id": verdict.evidence_id,
            "checks": verdict.checks,
            "problems": verdict.problems,
            "facts": facts,
            "timestamps": [asdict(t) for t in verdict.timestamps],
            "self_issued_seal": verdict.self_issued,
        }
    digest = hashlib.sha256(data).hexdigest()
    attachment = await session.scalar(
        select(Attachment)
        .join(Message, Message.id == Attachment.message_id)
        .where(Attachment.sha256 == digest, Message.dispatched_at.is_not(None))
        .order_by(Message.dispatched_at)
        .limit(1)
    )
    if attachment is None:
        return {
            "result": "not-found",
            "kind": "unknown",
            "checks": [],
            "problems": [],
            "timestamps": [],
        }
    message = await session.get(Message, attachment.message_id)
    assert message is not None and message.dispatched_at is not None
    sent = await session.scalar(
        select(Evidence.id)
        .where(Evidence.message_id == message.id, Evidence.type == "SENT")
        .order_by(Evidence.id)
        .limit(1)
    )
    when = message.dispatched_at.isoformat().replace("+00:00", "Z")
    facts = {"sha256": digest, "delivered_at": when, "evidence_id": sent}
    if caller_org and caller_org in (message.organization_id, message.submitted_by_organization_id):
        facts.update(
            message_id=message.id,
            attachment_id=attachment.id,
            filename=attachment.filename,
            subject=message.subject,
            recipient_count=message.recipient_count,
        )
    return {
        "result": "delivered-document",
        "kind": "document",
        "evidence_id": sent,
        "checks": [f"delivered by this service on {when}, evidence {sent}"],
        "problems": [],
        "facts": facts,
        "timestamps": [],
    }


async def verify_upload(request: Request, session: AsyncSession, runtime: Runtime) -> VerifyOut:
    from tabellion.evidence.endpoints import MAX_VERIFY_BYTES, VerifyOut

    data = await read_upload(request, MAX_VERIFY_BYTES)
    caller = await _caller_org(request, session)
    return VerifyOut(**await classify(session, runtime, data, caller))
