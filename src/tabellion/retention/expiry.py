"""The end of proofs (docs/data.md): ``proof_retention_days`` after a message's deliveries or
an envelope ended, its proofs go, but for what keeps the others verifiable.

What goes: each proof's signed content (``jws``, ``details``: who, what, when, from where)
and its PDF. The content has its own period (``content_retention_days``, unset: kept) and the
recipients their own erasure; neither is touched here. What stays: each proof's row with its
chain position, its hash (pinned by the next proof's signature and by its transparency-log
leaf) and its timestamp token, so ``tabellion evidence check`` still walks every chain and a
copy of a proof kept by anyone still verifies as authentic. The expiry is itself a proof,
``PROOFS_EXPIRED``, naming each proof by id, sequence and hash. A legal hold keeps everything.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.evidence.events import DataEvidenceType
from tabellion.evidence.sealing.seal import seal_pending
from tabellion.evidence.service import record_data_event
from tabellion.kit.time import utcnow
from tabellion.models.envelope import Envelope
from tabellion.models.evidence import Evidence
from tabellion.models.message import Delivery, Message
from tabellion.models.organization import Organization
from tabellion.retention.service import (
    BATCH,
    envelopes_ended_before,
    in_batches,
    messages_ended_before,
)

if TYPE_CHECKING:
    from tabellion.runtime import Runtime

log = logging.getLogger(__name__)


def _expire(rows: list[Evidence], now: datetime, blobs: list[str]) -> list[dict[str, Any]]:
    """Delete the content of sealed proofs, keeping what the chain and the log are checked
    by; their rendered PDFs join ``blobs``. Returns how the expiry's own proof names them."""
    named = []
    for row in rows:
        if row.pdf_key:
            blobs.append(row.pdf_key)
        row.jws = None
        row.details = {}
        row.pdf_key = None
        row.expired_at = now
        named.append({"id": row.id, "seq": row.seq, "hash": row.hash})
    return named


async def _sealed_proofs(session: AsyncSession, *condition: Any) -> list[Evidence]:
    return list(
        await session.scalars(
            select(Evidence)
            .where(*condition, Evidence.sealed_at.is_not(None), Evidence.expired_at.is_(None))
            .order_by(Evidence.seq)
        )
    )


async def expire_message(
    session: AsyncSession, message: Message, days: int, now: datetime
) -> list[str]:
    """Expire one message's proofs (see the module's doc); the blobs to delete after commit."""
    deliveries = select(Delivery.id).where(Delivery.message_id == message.id)
    rows = await _sealed_proofs(
        session, or_(Evidence.delivery_id.in_(deliveries), Evidence.message_id == message.id)
    )
    return await _expire_all(session, message, rows, days, now, message_id=message.id)


async def expire_envelope(
    session: AsyncSession, envelope: Envelope, days: int, now: datetime
) -> list[str]:
    """Expire one envelope's proofs (see the module's doc); the blobs to delete after commit."""
    rows = await _sealed_proofs(session, Evidence.envelope_id == envelope.id)
    return await _expire_all(session, envelope, rows, days, now, envelope_id=envelope.id)


async def _expire_all(
    session: AsyncSession,
    owner: Message | Envelope,
    rows: list[Evidence],
    days: int,
    now: datetime,
    **about: str,
) -> list[str]:
    blobs: list[str] = []
    named = _expire(rows, now, blobs)
    owner.proofs_expired_at = now
    owner.updated_at = now
    record_data_event(
        session,
        DataEvidenceType.PROOFS_EXPIRED,
        organization_id=owner.organization_id,
        occurred_at=now,
        details={"reason": "proof-retention", "retention_days": days, "proofs": named},
        **about,
    )
    await session.flush()
    return blobs


async def expire_proofs(runtime: Runtime, *, batch: int = BATCH) -> int:
    """Expire the proofs of every message and envelope past its organisation's proof
    retention period, ``batch`` per transaction; returns how many messages and envelopes."""
    now = utcnow()
    async with runtime.sessions() as session:
        periods = (
            await session.execute(select(Organization.id, Organization.proof_retention_days))
        ).all()
    # What happened before is sealed with the data as it was.
    await seal_pending(runtime)
    total = 0
    for organization_id, days in periods:
        cutoff = now - timedelta(days=days)
        kinds: list[tuple[Any, list[Any], Any]] = [
            (Message, messages_ended_before(organization_id, cutoff), expire_message),
            (Envelope, envelopes_ended_before(organization_id, cutoff), expire_envelope),
        ]
        for model, conditions, expire in kinds:
            conditions.append(model.proofs_expired_at.is_(None))
            act = partial(expire, days=days, now=now)
            total += await in_batches(runtime, model, conditions, act, batch)
    if total:
        log.info("retention: the proofs of %d messages and envelopes expired", total)
    return total
