"""An envelope's events as evidence in the organisation's hash chain and the transparency log
(``evidence.service.record_envelope_event``), written in the transaction of each change and
sealed by the evidence sealing job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.evidence.events import EnvelopeEvidenceType
from tabellion.evidence.service import record_envelope_event
from tabellion.models.envelope import Envelope, EnvelopeRecipient
from tabellion.models.evidence import Evidence

Kind = EnvelopeEvidenceType
# A recipient's trail step → its evidence type.
ACTED = {
    "viewed": Kind.VIEWED,
    "assisted": Kind.ASSISTED,
    "signed": Kind.SIGNED,
    "approved": Kind.APPROVED,
    "rejected": Kind.REJECTED,
}


def record(
    session: AsyncSession,
    envelope: Envelope,
    kind: EnvelopeEvidenceType,
    now: datetime,
    *,
    recipient: EnvelopeRecipient | None = None,
    **details: Any,
) -> Evidence:
    return record_envelope_event(
        session,
        kind,
        organization_id=envelope.organization_id,
        envelope_id=envelope.id,
        occurred_at=now,
        recipient=recipient,
        details={"envelope_status": envelope.status, **details},
    )


def invited(
    session: AsyncSession, recipient: EnvelopeRecipient, now: datetime, **details: Any
) -> Evidence:
    """An invitation (or a reminder) e-mailed to a recipient with their link."""
    return of_recipient(session, Kind.INVITED, recipient, now, **details)


def of_recipient(
    session: AsyncSession,
    kind: EnvelopeEvidenceType,
    recipient: EnvelopeRecipient,
    now: datetime,
    **details: Any,
) -> Evidence:
    """A recipient's event, where the envelope row is not at hand (its ids are enough)."""
    return record_envelope_event(
        session,
        kind,
        organization_id=recipient.organization_id,
        envelope_id=recipient.envelope_id,
        occurred_at=now,
        recipient=recipient,
        details=details,
    )


async def evidence_of(session: AsyncSession, envelope_id: str) -> list[Evidence]:
    """An envelope's evidence, oldest first."""
    return list(
        await session.scalars(
            select(Evidence)
            .where(Evidence.envelope_id == envelope_id)
            .order_by(Evidence.occurred_at, Evidence.id)
        )
    )
