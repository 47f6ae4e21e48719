"""The two forms of a proof, as served: the JSON proof (JWS) and the sealed PDF."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pyhanko.sign.timestamps import TimestampRequestError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.db import end_read_phase, transaction
from tabellion.document.encryption import put_for
from tabellion.errors import Gone, NotFound, ServiceUnavailable
from tabellion.evidence.rendering import pdf
from tabellion.evidence.sealing.jws import b64url_decode
from tabellion.evidence.sealing.seal import seal_pending
from tabellion.evidence.timestamping.stamps import AWAITING, stamp_proofs
from tabellion.evidence.transparency.log import inclusion_header, inclusion_proof, latest_tree_head
from tabellion.models.evidence import Evidence, TreeHead
from tabellion.models.message import Delivery

if TYPE_CHECKING:
    from tabellion.runtime import Runtime


class EvidenceNotFound(NotFound):
    code = "evidence-not-found"
    title = "Evidence not found"


class ProofExpired(Gone):
    """The proof reached the end of its organisation's proof retention period: its content
    was deleted; its hash stays in the chain and the transparency log (docs/data.md)."""

    code = "proof-expired"
    title = "The proof was deleted at the end of its retention period"


def check_not_expired(evidence: Evidence) -> None:
    if evidence.expired_at is not None:
        raise ProofExpired(
            f"Proof {evidence.id} was deleted at the end of its retention period; its hash "
            "stays in the chain and the transparency log, so a copy of it still verifies "
            "(POST /v1/verify)."
        )


class TimestampAuthorityUnavailable(ServiceUnavailable):
    code = "timestamp-authority-unavailable"
    title = "The timestamp authority is unavailable"


class RevocationDataUnavailable(ServiceUnavailable):
    code = "revocation-data-unavailable"
    title = "The revocation data of the seal cannot be had"


async def sealed(runtime: Runtime, session: AsyncSession, evidence: Evidence) -> Evidence:
    """The evidence, sealed now if its sealing job has not run yet."""
    if evidence.sealed_at is not None:
        return evidence
    await seal_pending(runtime)
    await session.refresh(evidence)
    return evidence


async def covering_head(session: AsyncSession, leaf_index: int | None) -> TreeHead | None:
    if leaf_index is None:
        return None
    head = await latest_tree_head(session)
    return head if head is not None and head.tree_size > leaf_index else None


async def proof_document(session: AsyncSession, evidence: Evidence) -> dict[str, Any]:
    """The JWS (flattened JSON serialization) with its unprotected extras: the timestamp
    status (``none``, ``awaiting``, ``stamped``), the RFC 3161 token (base64 DER) once
    stamped, and the inclusion proof in the latest signed tree head."""
    check_not_expired(evidence)
    assert evidence.jws is not None
    document: dict[str, Any] = json.loads(evidence.jws)
    header: dict[str, Any] = {"tabellion_timestamp_status": evidence.timestamp_status}
    if evidence.timestamp_token:
        header["tabellion_timestamp"] = evidence.timestamp_token
    head = await covering_head(session, evidence.leaf_index)
    if head is not None and evidence.leaf_index is not None:
        path = await inclusion_proof(session, evidence.leaf_index, head.tree_size)
        header["tabellion_log"] = inclusion_header(evidence.leaf_index, head, path)
    document["header"] = header
    return document


def content_of(evidence: Evidence) -> dict[str, Any]:
    assert evidence.jws is not None
    payload = json.loads(evidence.jws)["payload"]
    content: dict[str, Any] = json.loads(b64url_decode(payload))
    return content


async def render_pdf(runtime: Runtime, evidence_id: str) -> str | None:
    """Render, seal and store the PDF of one evidence (sealed first if need be); its blob key.

    No session stays open while sealing, the authority or the renderer work: SQLite has one
    connection, and PostgreSQL ones should not idle in a transaction.
    """
    async with runtime.sessions() as session:
        evidence = await session.get(Evidence, evidence_id)
        if evidence is None:
            return None
        if evidence.pdf_key:
            return evidence.pdf_key
        if evidence.delivery_id is None:
            return None  # an envelope's event: its audit certificate is the human-readable form
        unsealed = evidence.sealed_at is None
    if unsealed:
        await seal_pending(runtime)
    if runtime.settings.tsa_url and (unsealed or evidence.timestamp_status == AWAITING):
        # The embedded JSON proof must carry its token: a PDF is cached for good, so one
        # rendered while the authority is down would keep an "awaiting" proof inside forever.
        # No PDF then (never one silently without its timestamps); the render job retries.
        stamped = await stamp_proofs(runtime, [evidence_id])
        if stamped.waiting:
            raise TimestampAuthorityUnavailable(
                "The PDF proof is rendered once its JSON proof is timestamped, and the "
                f"timestamp authority cannot be reached ({stamped.problem}). Try again later; "
                "the JSON proof is available meanwhile."
            )
    async with runtime.sessions() as session:
        evidence = await session.get(Evidence, evidence_id)
        if evidence is None or evidence.jws is None:
            return None
        document = await proof_document(session, evidence)
        language = await session.scalar(
            select(Delivery.language).where(Delivery.id == evidence.delivery_id)
        )
    content = content_of(evidence)
    data = pdf.render(runtime.settings, content, pdf.proof_bytes(document), language or "en")
    try:
        signed = await pdf.seal_pdf(runtime.settings, data, evidence_id)
    except pdf.RevocationUnavailable as exc:
        raise RevocationDataUnavailable(
            "The PDF proof embeds the revocation status of its seal (PAdES B-LT), which could "
            f"not be had ({exc}). Try again later; the JSON proof is available meanwhile."
        ) from exc
    except TimestampRequestError as exc:
        raise TimestampAuthorityUnavailable(
            "The PDF proof is sealed with a timestamp (PAdES B-T) and the timestamp authority "
            "cannot be reached. Try again later; the JSON proof is available meanwhile."
        ) from exc

    async def chunks() -> Any:
        yield signed

    blob = await put_for(runtime.storage, chunks(), organization_id=evidence.organization_id)
    async with transaction(runtime.sessions) as session:
        row = await session.get(Evidence, evidence_id)
        if row is None:
            return None
        if row.pdf_key is None:
            row.pdf_key = blob.key
        return row.pdf_key


async def pdf_key_of(runtime: Runtime, session: AsyncSession, evidence: Evidence) -> str:
    """The stored PDF of an evidence the caller may read, rendered first if it has none yet
    (the request's read phase ends: rendering works in transactions of its own)."""
    if evidence.pdf_key is not None:
        return evidence.pdf_key
    await end_read_phase(session)
    key = await render_pdf(runtime, evidence.id)
    if key is None:
        raise EvidenceNotFound(f"No evidence {evidence.id}.")
    return key
