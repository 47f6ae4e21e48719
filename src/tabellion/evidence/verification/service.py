"""What a dropped file is, for ``POST /v1/verify`` and the ``/verify`` page: a proof (checked,
then compared with what this service recorded), a document this service delivered, or neither."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.document.multipart import MalformedMultipart, MultipartReader, boundary_of
from tabellion.errors import ValidationFailed
from tabellion.evidence.proofs import proof_document
from tabellion.evidence.sealing.keys import load_seal
from tabellion.evidence.transparency.log import dumps
from tabellion.evidence.verification.verify import Verdict, verify_bytes
from tabellion.models.envelope import Envelope, EnvelopeDocument, EnvelopeRecipient
from tabellion.models.evidence import Evidence
from tabellion.models.message import Attachment, Message

if TYPE_CHECKING:
    from tabellion.config import Settings
    from tabellion.runtime import Runtime

MAX_PAGE_BYTES = 50 * 1024 * 1024
MAX_VERIFY_BYTES = 50 * 1024 * 1024
PUBLIC_FACTS = (
    "id",
    "type",
    "occurred_at",
    "event",
    "delivery_id",
    "message_id",
    "envelope_id",
    "recipient_id",
)


class VerifyFileTooLarge(ValidationFailed):
    status = 413
    code = "file-too-large"
    title = "File too large to verify"


async def read_upload(request: Request, limit: int) -> bytes:
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


async def _compare_with_records(session: AsyncSession, verdict: Verdict, evidence_id: str) -> str:
    """Authentic and sealed with our key: it must also be the proof we hold. Returns the
    result: ``authentic``, or ``resealed-copy`` (our seal over content we did not record, or
    at another place in the chain or the log), or ``tampered`` (a timestamp we did not record).
    What the proof lacks of what we recorded (its unsigned header stripped) is a warning."""
    row = (
        await session.execute(
            select(
                Evidence.hash, Evidence.seq, Evidence.leaf_index, Evidence.timestamp_token
            ).where(Evidence.id == evidence_id)
        )
    ).first()
    if row is None or row.hash is None:
        verdict.fail("no such evidence is recorded by this service")
        return "tampered"
    content = verdict.content or {}
    sequence = (content.get("chain") or {}).get("sequence")
    if verdict.content_sha256 != row.hash:
        verdict.fail(
            f"resealed copy: this service recorded evidence {evidence_id} with hash {row.hash}, "
            f"this proof's content hashes to {verdict.content_sha256}"
        )
        return "resealed-copy"
    if sequence != row.seq or (
        verdict.leaf_index is not None and verdict.leaf_index != row.leaf_index
    ):
        verdict.fail(
            f"resealed copy: this service recorded evidence {evidence_id} at chain position "
            f"{row.seq}, log leaf {row.leaf_index}"
        )
        return "resealed-copy"
    verdict.checks.append(
        f"the proof's hash {row.hash} and its chain position are those this service recorded"
    )
    if verdict.leaf_index is None and row.leaf_index is not None:
        verdict.warnings.append(
            f"the proof lacks its transparency log proof (this service recorded leaf "
            f"{row.leaf_index}): download it again for the complete proof"
        )
    recorded = (
        hashlib.sha256(base64.b64decode(row.timestamp_token)).hexdigest()
        if row.timestamp_token
        else None
    )
    carried = [s for s in verdict.timestamps if s.covers == "proof" and s.token_sha256]
    for stamp in carried:
        if stamp.token_sha256 != recorded:
            verdict.fail("the timestamp token is not the one this service recorded for it")
            return "tampered"
        verdict.checks.append("the timestamp token is the one this service recorded")
    if recorded and not carried:
        verdict.warnings.append(
            "the proof lacks the timestamp this service recorded for it: download it again "
            "for the complete proof"
        )
    return "authentic" if verdict.authentic else "tampered"


def tsa_roots(settings: Settings) -> list[x509.Certificate]:
    """The time-stamping authorities' roots this service trusts (TABELLION_TSA_TRUST_FILE)."""
    if settings.tsa_trust_file is None:
        return []
    return x509.load_pem_x509_certificates(settings.tsa_trust_file.read_bytes())


# The shape of our evidence ids (``evd_`` and 26 base-32 characters), checked before a lookup.
EVIDENCE_ID = re.compile(r"evd_[0-9a-zA-Z]{10,40}")
ENVELOPE_ID = re.compile(r"env_[0-9a-zA-Z]{10,40}")
NOT_FOUND: dict[str, Any] = {
    "result": "not-found",
    "kind": "unknown",
    "checks": [],
    "problems": [],
    "warnings": [],
    "timestamps": [],
}


async def check_recorded(
    session: AsyncSession, runtime: Runtime, evidence_id: str
) -> dict[str, Any]:
    """The verdict on a proof this service holds, named by id (the QR code of a PDF proof):
    the complete JSON proof, its timestamp and log proof included, checked as if dropped."""
    if not EVIDENCE_ID.fullmatch(evidence_id):
        return dict(NOT_FOUND)
    evidence = await session.get(Evidence, evidence_id)
    if evidence is not None and evidence.expired_at is not None:
        return {
            **NOT_FOUND,
            "evidence_id": evidence.id,
            "problems": [
                "this proof was deleted at the end of its retention period: drop a copy of "
                "it here to check it (its hash is still in the chain and the log)"
            ],
        }
    if evidence is None or evidence.jws is None:
        return dict(NOT_FOUND)
    document = await proof_document(session, evidence)
    return await classify(session, runtime, dumps(document).encode(), None)


async def signed_document(session: AsyncSession, verdict: Verdict, digest: str) -> dict[str, Any]:
    """A PDF sealed by this service that is not a proof: a signed envelope document, named by
    its SHA-256 among the envelopes' signed files. Its seal holds (or the verdict says why
    not); it proves who signed only through this service's records and evidence, cited here.
    The facts are what the document's own certificate pages show anyone who holds it."""
    found = (
        await session.execute(
            select(EnvelopeDocument, Envelope)
            .join(Envelope, Envelope.id == EnvelopeDocument.envelope_id)
            .where(EnvelopeDocument.signed_sha256 == digest)
            .limit(1)
        )
    ).first()
    base: dict[str, Any] = {
        "kind": "signed-document",
        "checks": verdict.checks,
        "problems": verdict.problems,
        "warnings": verdict.warnings,
        "timestamps": [asdict(t) for t in verdict.timestamps],
        "self_issued_seal": verdict.self_issued,
    }
    if verdict.problems:
        return {**base, "result": "tampered", "evidence_id": None, "facts": None}
    if found is None:
        verdict.warnings.append(
            "sealed by this service, but it holds no record of this file: it proves no signature"
        )
        return {**base, "result": "sealed-unrecorded", "evidence_id": None, "facts": None}
    document, envelope = found
    record = await _envelope_record(session, envelope)
    verdict.checks.append(
        f"signed through this service: envelope {envelope.id}, document {document.id}, "
        f"completed {record['completed_at']}"
    )
    if record["sealed_proof"] is not None:
        sealed = record["sealed_proof"]
        verdict.checks.append(
            f"this very file is named by the sealed evidence {sealed['id']} "
            f"(hash {sealed['hash']}) in the organisation's evidence chain"
        )
    return {
        **base,
        "result": "signed-document",
        "evidence_id": record["sealed_proof"]["id"] if record["sealed_proof"] else None,
        "facts": {
            "sha256": digest,
            "envelope_id": envelope.id,
            "document_id": document.id,
            "title": envelope.title,
            "filename": document.filename,
            "original_sha256": document.sha256,
            "completed_at": record["completed_at"],
            "signers": record["signers"],
            "evidence": record["evidence"],
        },
    }


async def check_envelope(session: AsyncSession, envelope_id: str) -> dict[str, Any]:
    """What this service recorded of a completed envelope, named by id (the QR code of its
    audit certificate): the facts the certificate shows, and the SHA-256 of each signed file.
    A record, not a verdict on a file: only the file itself, dropped, can be checked."""
    if not ENVELOPE_ID.fullmatch(envelope_id):
        return dict(NOT_FOUND)
    envelope = await session.get(Envelope, envelope_id)
    if envelope is None or envelope.status != "completed":
        return dict(NOT_FOUND)
    record = await _envelope_record(session, envelope)
    documents = await session.scalars(
        select(EnvelopeDocument)
        .where(EnvelopeDocument.envelope_id == envelope.id)
        .order_by(EnvelopeDocument.created_at, EnvelopeDocument.id)
    )
    return {
        "result": "envelope-record",
        "kind": "envelope-record",
        "evidence_id": record["sealed_proof"]["id"] if record["sealed_proof"] else None,
        "checks": [],
        "problems": [],
        "warnings": [],
        "timestamps": [],
        "self_issued_seal": False,
        "facts": {
            "envelope_id": envelope.id,
            "title": envelope.title,
            "completed_at": record["completed_at"],
            "signers": record["signers"],
            "documents": [
                {"filename": d.filename, "sha256": d.signed_sha256, "original_sha256": d.sha256}
                for d in documents
            ],
            "evidence": record["evidence"],
        },
    }


async def _envelope_record(session: AsyncSession, envelope: Envelope) -> dict[str, Any]:
    """An envelope's signers, completion time and evidence, as its certificate shows them."""
    recipients = await session.scalars(
        select(EnvelopeRecipient)
        .where(EnvelopeRecipient.envelope_id == envelope.id)
        .order_by(EnvelopeRecipient.position, EnvelopeRecipient.created_at, EnvelopeRecipient.id)
    )
    proofs = list(
        await session.execute(
            select(Evidence.id, Evidence.type, Evidence.hash)
            .where(Evidence.envelope_id == envelope.id, Evidence.hash.is_not(None))
            .order_by(Evidence.seq)
        )
    )
    sealed = next((p for p in proofs if p.type == "ENVELOPE_SEALED"), None)
    return {
        "completed_at": _z(envelope.completed_at),
        "signers": [
            {"name": r.name, "role": r.role, "status": r.status, "acted_at": _z(r.acted_at)}
            for r in recipients
            if r.role in ("signer", "approver")
        ],
        "evidence": [{"id": p.id, "type": p.type, "hash": p.hash} for p in proofs],
        "sealed_proof": {"id": sealed.id, "hash": sealed.hash} if sealed else None,
    }


def _z(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


async def classify(
    session: AsyncSession, runtime: Runtime, data: bytes, caller_org: str | None
) -> dict[str, Any]:
    verdict: Verdict = await verify_bytes(
        data, [load_seal(runtime.settings).root], tsa_roots(runtime.settings)
    )
    if verdict.kind == "signed-document":
        return await signed_document(session, verdict, hashlib.sha256(data).hexdigest())
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
        result = "authentic" if verdict.authentic else "tampered"
        if verdict.authentic and content.get("id"):
            result = await _compare_with_records(session, verdict, str(content["id"]))
        return {
            "result": result,
            "kind": verdict.kind,
            "evidence_id": verdict.evidence_id,
            "checks": verdict.checks,
            "problems": verdict.problems,
            "warnings": verdict.warnings,
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
        return dict(NOT_FOUND)
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
        "warnings": [],
        "facts": facts,
        "timestamps": [],
    }
