"""Writing evidence rows, in the caller's transaction, next to the status change they prove."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.db import bulk_insert, select_rows
from tabellion.evidence.events import (
    DataEvidenceType,
    EnvelopeEvidenceType,
    EvidenceType,
    event_uri,
)
from tabellion.evidence.sealing.seal import request_sealing
from tabellion.kit.ids import new_id
from tabellion.models.base import table_of
from tabellion.models.envelope import EnvelopeRecipient
from tabellion.models.evidence import Evidence
from tabellion.models.message import Delivery


def record_event(
    session: AsyncSession,
    delivery: Delivery,
    evidence_type: EvidenceType,
    *,
    occurred_at: datetime,
    details: dict[str, Any] | None = None,
) -> Evidence:
    return _add(
        session,
        evidence_type,
        occurred_at,
        details or {},
        organization_id=delivery.organization_id,
        delivery_id=delivery.id,
        message_id=delivery.message_id,
    )


def _add(
    session: AsyncSession,
    evidence_type: EvidenceType | EnvelopeEvidenceType | DataEvidenceType,
    occurred_at: datetime,
    details: dict[str, Any],
    **subject: str | None,
) -> Evidence:
    """A new evidence row about ``subject`` (its organisation, delivery, envelope...), sealed
    once the transaction commits."""
    evidence = Evidence(
        id=new_id("evd"),
        type=evidence_type.value,
        event=event_uri(evidence_type),
        occurred_at=occurred_at,
        details=details,
        **subject,
    )
    session.add(evidence)
    request_sealing(session)
    return evidence


def record_envelope_event(
    session: AsyncSession,
    evidence_type: EnvelopeEvidenceType,
    *,
    organization_id: str,
    envelope_id: str,
    occurred_at: datetime,
    recipient: EnvelopeRecipient | None = None,
    details: dict[str, Any] | None = None,
) -> Evidence:
    """Evidence of a signing envelope's event, in the transaction of its state change. The
    recipient is described as they are now (a later reassignment must not change who acted)."""
    facts: dict[str, Any] = dict(details or {})
    if recipient is not None:
        facts["recipient"] = {
            "id": recipient.id,
            "name": recipient.name,
            "email": recipient.email,
            "role": recipient.role,
            "order": recipient.position,
        }
    return _add(
        session,
        evidence_type,
        occurred_at,
        facts,
        organization_id=organization_id,
        envelope_id=envelope_id,
        recipient_id=recipient.id if recipient is not None else None,
    )


def record_data_event(
    session: AsyncSession,
    evidence_type: DataEvidenceType,
    *,
    organization_id: str,
    occurred_at: datetime,
    message_id: str | None = None,
    envelope_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> Evidence:
    """Evidence of what happened to the data (a legal hold, a purge, an erasure), in the
    transaction of the change: in the organisation's chain, about no delivery; about an
    envelope when ``envelope_id`` is given (sealed with the envelope's facts)."""
    return _add(
        session,
        evidence_type,
        occurred_at,
        details or {},
        organization_id=organization_id,
        message_id=message_id,
        envelope_id=envelope_id,
    )


async def record_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk insert prepared rows (see ``evidence_row``), for large fan-outs."""
    if rows:
        await bulk_insert(session, table_of(Evidence), rows)
        request_sealing(session)


def evidence_row(
    *,
    organization_id: str,
    delivery_id: str,
    message_id: str,
    evidence_type: EvidenceType,
    occurred_at: datetime,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": new_id("evd"),
        "organization_id": organization_id,
        "delivery_id": delivery_id,
        "message_id": message_id,
        "type": evidence_type.value,
        "event": event_uri(evidence_type),
        "occurred_at": occurred_at,
        "details": details or {},
    }


async def evidence_for_deliveries(
    session: AsyncSession, delivery_ids: Sequence[str]
) -> dict[str, list[Evidence]]:
    out: dict[str, list[Evidence]] = {d: [] for d in delivery_ids}
    if not delivery_ids:
        return out
    for start in range(0, len(delivery_ids), 500):
        chunk = list(delivery_ids[start : start + 500])
        rows = await session.scalars(
            select(Evidence)
            .where(Evidence.delivery_id.in_(chunk))
            .order_by(Evidence.occurred_at, Evidence.id)
        )
        for row in rows:
            if row.delivery_id is not None:
                out[row.delivery_id].append(row)
    return out


# What a delivery's representation shows of its evidence (see ``evidence_refs``).
_RefColumns = Sequence[tuple[str, str, str, str, datetime]]
_EVIDENCE_REFS = (
    select(Evidence.id, Evidence.delivery_id, Evidence.type, Evidence.event, Evidence.occurred_at)
    .where(Evidence.delivery_id.in_(bindparam("delivery_ids", expanding=True)))
    .order_by(Evidence.occurred_at, Evidence.id)
)


class EvidenceRef(NamedTuple):
    """An evidence record as a delivery's representation shows it (``views.EvidenceLike``)."""

    id: str
    type: str
    event: str
    occurred_at: datetime


async def evidence_refs(
    session: AsyncSession, delivery_ids: Sequence[str]
) -> dict[str, list[EvidenceRef]]:
    """The evidence of each delivery as its representation shows it: the few columns it
    needs, without loading each record's content and seal. Unpacked from the rows (a
    ``Row``'s attributes cost ~0.3 µs each, see ``message.repository.DeliveryRow``)."""
    out: dict[str, list[EvidenceRef]] = {d: [] for d in delivery_ids}
    for start in range(0, len(delivery_ids), 500):
        chunk = list(delivery_ids[start : start + 500])
        rows = await select_rows(session, _EVIDENCE_REFS, {"delivery_ids": chunk})
        for evidence_id, delivery_id, type_, event, occurred_at in cast(_RefColumns, rows):
            out[delivery_id].append(EvidenceRef(evidence_id, type_, event, occurred_at))
    return out


async def latest_of_type(
    session: AsyncSession, delivery_id: str, evidence_type: str
) -> Evidence | None:
    """A delivery's latest evidence of one type (a delivery may be re-notified)."""
    return await session.scalar(
        select(Evidence)
        .where(Evidence.delivery_id == delivery_id, Evidence.type == evidence_type)
        .order_by(Evidence.occurred_at.desc(), Evidence.id.desc())
        .limit(1)
    )
