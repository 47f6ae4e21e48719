"""Retention (docs/data.md): a message's content is purged a set number of days after its
deliveries ended, and an envelope's documents after it ended, unless a legal hold keeps them;
their proofs stay (until their own, longer period: ``retention.expiry``).

What a purge deletes: the bodies of the message (sanitised, plain-text and as submitted), its
attachments' files, and the replies' bodies and files. What it keeps: the subject, the rows of
the attachments and reply files (name, size, SHA-256: the proofs and ``/v1/verify`` name them),
the deliveries and every evidence record. The digests of the parts as they were are kept on the
message (``purged_parts``), so proofs sealed later say the same as earlier ones.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.db import transaction
from tabellion.document.service import delete_unreferenced, shred_unreferenced
from tabellion.errors import Gone
from tabellion.evidence.content import message_parts
from tabellion.evidence.events import DataEvidenceType
from tabellion.evidence.service import record_data_event
from tabellion.kit.time import utcnow
from tabellion.message import repository
from tabellion.message.service.message import MessageNotFound
from tabellion.models.envelope import Envelope, EnvelopeDocument, EnvelopeField, EnvelopeRecipient
from tabellion.models.evidence import Evidence
from tabellion.models.message import Delivery, Message, Reply
from tabellion.models.organization import Organization

if TYPE_CHECKING:
    from tabellion.auth.subjects import ApiKeySubject
    from tabellion.runtime import Runtime

log = logging.getLogger(__name__)

# A delivery in one of these states has ended: its retention period runs from its last change.
ENDED = ("accepted", "refused", "expired", "received", "undelivered")
# An envelope in one of these states is over: its period runs from its last change.
ENVELOPE_ENDED = ("completed", "rejected", "expired", "cancelled")
BATCH = 100
DEFAULT_PROOF_RETENTION_DAYS = 3650
MAX_RETENTION_DAYS = 36500


class ContentPurged(Gone):
    """The file or content asked for was deleted at the end of its retention period (or by an
    erasure); its proofs remain."""

    code = "content-purged"
    title = "The content was deleted at the end of its retention period"


# ---- legal hold -------------------------------------------------------------------------------


async def _writable_message(
    session: AsyncSession, organization_id: str, message_id: str
) -> Message:
    message = await repository.get_message(
        session, organization_id, message_id, for_update=True, writable=True
    )
    if message is None:
        raise MessageNotFound(f"No message {message_id}.")
    return message


def _caller_facts(caller: ApiKeySubject | None) -> dict[str, Any]:
    if caller is None:
        return {"method": "command-line"}
    return {
        "method": "api-key",
        "api_key_id": caller.api_key_id,
        "organization_id": caller.organization_id,
    }


async def set_legal_hold(
    session: AsyncSession,
    organization_id: str,
    message_id: str,
    *,
    held: bool,
    reason: str | None = None,
    caller: ApiKeySubject | None = None,
) -> tuple[Message, Evidence | None]:
    """Place (``held``) or release a message's legal hold: evidence of each change; none when
    it is already so."""
    message = await _writable_message(session, organization_id, message_id)
    evidence = await _hold(session, message, held, reason, caller, message_id=message.id)
    return message, evidence


async def set_envelope_legal_hold(
    session: AsyncSession,
    envelope: Envelope,
    *,
    held: bool,
    reason: str | None = None,
    caller: ApiKeySubject | None = None,
) -> Evidence | None:
    """Place (``held``) or release an envelope's legal hold (the caller looked it up, locked):
    evidence of each change; none when it is already so."""
    return await _hold(session, envelope, held, reason, caller, envelope_id=envelope.id)


async def _hold(
    session: AsyncSession,
    row: Message | Envelope,
    held: bool,
    reason: str | None,
    caller: ApiKeySubject | None,
    **about: str,
) -> Evidence | None:
    if row.legal_hold == held:
        return None
    now = utcnow()
    row.legal_hold = held
    row.updated_at = now
    details: dict[str, Any] = {"by": _caller_facts(caller)}
    if reason:
        details["reason"] = reason
    evidence = record_data_event(
        session,
        DataEvidenceType.LEGAL_HOLD_PLACED if held else DataEvidenceType.LEGAL_HOLD_RELEASED,
        organization_id=row.organization_id,
        occurred_at=now,
        details=details,
        **about,
    )
    await session.flush()
    return evidence


# ---- purging a message's content ----------------------------------------------------------------


@dataclass
class Purged:
    """What one purge let go of: the files (as the proofs name them) and their blobs, to be
    deleted once the purge is committed."""

    files: list[dict[str, Any]] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)


def _purge_reply(reply: Reply, purged: Purged) -> None:
    kept: list[dict[str, Any]] = []
    for item in reply.attachments or []:
        item = dict(item)
        key = item.pop("storage_key", None)
        if key:
            purged.blobs.append(str(key))
            purged.files.append(
                {
                    "reply_id": reply.id,
                    **{k: item.get(k) for k in ("id", "filename", "size", "sha256")},
                    "blob": key,
                }
            )
        item["purged"] = True
        kept.append(item)
    reply.attachments = kept  # a new list: the JSON column sees the change
    reply.body_html = ""
    reply.body_text = ""
    purged.replies.append(reply.id)


async def purge_replies(session: AsyncSession, delivery_ids: Sequence[str], purged: Purged) -> None:
    """Delete the bodies and files of the replies of ``delivery_ids`` (both sides')."""
    if not delivery_ids:
        return
    for reply in await session.scalars(
        select(Reply).where(Reply.delivery_id.in_(list(delivery_ids))).order_by(Reply.id)
    ):
        _purge_reply(reply, purged)


async def purge_content(
    session: AsyncSession,
    message: Message,
    *,
    reason: str,
    record: bool = True,
    details: dict[str, Any] | None = None,
) -> Purged:
    """Delete the message's bodies, files and replies (see the module's doc), in the caller's
    transaction; with ``record``, a ``CONTENT_PURGED`` evidence says what went (files by id,
    name and SHA-256; the parts' digests). The blobs are the caller's to delete after commit
    (``shred_unreferenced`` in this transaction, ``delete_unreferenced`` after commit)."""
    now = utcnow()
    purged = Purged()
    attachments = await repository.attachments_of(session, [message.id])
    if message.purged_parts is None:
        message.purged_parts = message_parts(message, attachments)
    for attachment in attachments:
        if attachment.purged_at is not None:
            continue
        attachment.purged_at = now
        purged.blobs.append(attachment.storage_key)
        purged.files.append(
            {
                "id": attachment.id,
                "filename": attachment.filename,
                "size": attachment.size,
                "sha256": attachment.sha256,
                "blob": attachment.storage_key,
            }
        )
    delivery_ids = list(
        await session.scalars(select(Delivery.id).where(Delivery.message_id == message.id))
    )
    await purge_replies(session, delivery_ids, purged)
    message.body_html = ""
    message.body_text = ""
    message.body_submitted = None
    message.content_purged_at = now
    message.updated_at = now
    if record:
        record_data_event(
            session,
            DataEvidenceType.CONTENT_PURGED,
            organization_id=message.organization_id,
            message_id=message.id,
            occurred_at=now,
            details={
                "reason": reason,
                "parts": message.purged_parts,
                "files": purged.files,
                "replies": purged.replies,
                **(details or {}),
            },
        )
    await session.flush()
    return purged


async def purge_envelope_content(
    session: AsyncSession,
    envelope: Envelope,
    *,
    reason: str,
    record: bool = True,
    details: dict[str, Any] | None = None,
) -> Purged:
    """Delete an ended envelope's files (each document as uploaded and as signed, the audit
    certificate), what its fields hold (drawn signatures, typed text) and its message, in the
    caller's transaction; the rows stay with names, sizes and SHA-256, so proofs and
    ``/v1/verify`` still name them. With ``record``, ``CONTENT_PURGED`` about the envelope
    says what went. The blobs are the caller's to delete after commit."""
    now = utcnow()
    purged = Purged()
    documents = await session.scalars(
        select(EnvelopeDocument)
        .where(EnvelopeDocument.envelope_id == envelope.id)
        .order_by(EnvelopeDocument.created_at, EnvelopeDocument.id)
    )
    for document in documents:
        blobs = [k for k in (document.storage_key, document.signed_storage_key) if k]
        purged.blobs += blobs
        purged.files.append(
            {
                "id": document.id,
                "filename": document.filename,
                "size": document.size,
                "sha256": document.sha256,
                "signed_sha256": document.signed_sha256,
                "blobs": blobs,
            }
        )
    if envelope.certificate_storage_key:
        purged.blobs.append(envelope.certificate_storage_key)
        purged.files.append({"certificate": True, "blobs": [envelope.certificate_storage_key]})
    for item in await session.scalars(
        select(EnvelopeField).where(
            EnvelopeField.envelope_id == envelope.id, EnvelopeField.value.is_not(None)
        )
    ):
        item.value = None
    envelope.message = None
    envelope.content_purged_at = now
    envelope.updated_at = now
    if record:
        record_data_event(
            session,
            DataEvidenceType.CONTENT_PURGED,
            organization_id=envelope.organization_id,
            envelope_id=envelope.id,
            occurred_at=now,
            details={"reason": reason, "files": purged.files, **(details or {})},
        )
    await session.flush()
    return purged


# ---- the retention timer ------------------------------------------------------------------------


def messages_ended_before(organization_id: str, cutoff: datetime) -> list[Any]:
    """Conditions on ``Message``: the organisation's dispatched messages, not held, whose
    deliveries all ended before ``cutoff`` (the last change of the last one)."""
    still_open = exists().where(Delivery.message_id == Message.id, Delivery.status.not_in(ENDED))
    ended_at = (
        select(func.max(Delivery.updated_at))
        .where(Delivery.message_id == Message.id)
        .scalar_subquery()
    )
    return [
        Message.organization_id == organization_id,
        Message.dispatched_at.is_not(None),
        Message.legal_hold.is_(False),
        ~still_open,
        ended_at < cutoff,
    ]


def envelopes_ended_before(organization_id: str, cutoff: datetime) -> list[Any]:
    """Conditions on ``Envelope``: the organisation's envelopes, not held, that ended
    (completed, cancelled or expired, or rejected: its recipients' last act) before ``cutoff``.
    Not by ``updated_at``, which a legal hold changes too."""
    last_act = (
        select(func.max(EnvelopeRecipient.acted_at))
        .where(EnvelopeRecipient.envelope_id == Envelope.id)
        .scalar_subquery()
    )
    ended_at = func.coalesce(
        Envelope.completed_at, Envelope.cancelled_at, Envelope.expired_at, last_act
    )
    return [
        Envelope.organization_id == organization_id,
        Envelope.status.in_(ENVELOPE_ENDED),
        Envelope.legal_hold.is_(False),
        ended_at < cutoff,
    ]


def due(model: type[Message] | type[Envelope], conditions: list[Any], limit: int) -> Any:
    """Up to ``limit`` rows of ``model`` meeting ``conditions``, locked: two workers never take
    the same row, and a legal hold placed meanwhile is seen (PostgreSQL checks the conditions
    again on the locked row)."""
    return (
        select(model)
        .where(*conditions)
        .order_by(model.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


async def _purge_message(session: AsyncSession, message: Message, *, days: int) -> list[str]:
    details = {"retention_days": days}
    return (await purge_content(session, message, reason="retention", details=details)).blobs


async def _purge_envelope(session: AsyncSession, envelope: Envelope, *, days: int) -> list[str]:
    details = {"retention_days": days}
    purged = await purge_envelope_content(session, envelope, reason="retention", details=details)
    return purged.blobs


async def in_batches(
    runtime: Runtime,
    model: Any,
    conditions: list[Any],
    act: Callable[[AsyncSession, Any], Awaitable[list[str]]],
    batch: int,
) -> int:
    """``act`` on each row of ``model`` meeting ``conditions`` (see ``due``), ``batch`` rows per
    transaction; the data keys of the blobs ``act`` lets go of go in that transaction (the
    blobs no longer decrypt, even from a copy of the store), and the blobs once each batch is
    committed. Returns how many rows were acted on."""
    total = 0
    while True:
        blobs: list[str] = []
        async with transaction(runtime.sessions) as session:
            rows = list(await session.scalars(due(model, conditions, batch)))
            for row in rows:
                blobs += await act(session, row)
            let_go = await shred_unreferenced(session, blobs)
        await delete_unreferenced(runtime, let_go)
        total += len(rows)
        if len(rows) < batch:
            return total


async def apply_retention(runtime: Runtime, *, batch: int = BATCH) -> int:
    """Purge the content of every message and envelope past its organisation's retention
    period, ``batch`` of them per transaction; returns how many were purged."""
    now = utcnow()
    async with runtime.sessions() as session:
        periods = (
            await session.execute(
                select(Organization.id, Organization.content_retention_days).where(
                    Organization.content_retention_days.is_not(None),
                    Organization.erased_at.is_(None),
                )
            )
        ).all()
    total = 0
    for organization_id, days in periods:
        assert days is not None  # selected so
        cutoff = now - timedelta(days=days)
        messages = messages_ended_before(organization_id, cutoff)
        messages.append(Message.content_purged_at.is_(None))
        total += await in_batches(
            runtime, Message, messages, partial(_purge_message, days=days), batch
        )
        envelopes = envelopes_ended_before(organization_id, cutoff)
        envelopes.append(Envelope.content_purged_at.is_(None))
        total += await in_batches(
            runtime, Envelope, envelopes, partial(_purge_envelope, days=days), batch
        )
    if total:
        log.info("retention: purged the content of %d messages and envelopes", total)
    return total
