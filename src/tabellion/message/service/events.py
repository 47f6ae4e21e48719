"""A delivery event: its evidence row and its integrator event, in one step.

Every status change of a delivery goes through ``record_delivery_event`` so that the evidence
(what a judge sees) and the webhook event (what a CRM sees) can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.evidence.events import EvidenceType
from tabellion.evidence.service import evidence_for_deliveries, record_event
from tabellion.jobs.queue import enqueue
from tabellion.message.views import EvidenceLike, delivery_json, evidence_json
from tabellion.models.evidence import Evidence
from tabellion.models.message import Delivery, Message
from tabellion.webhook.service import emit


def event_type(evidence_type: EvidenceType) -> str:
    return f"delivery.{evidence_type.value.lower()}"


def delivery_event_data(
    delivery: Delivery, history: Sequence[EvidenceLike], cause: EvidenceLike
) -> dict[str, Any]:
    shown = delivery_json(delivery, history)
    # The cause is normally in the history: its reference (signed links included) is reused.
    ref = next((e for e in shown["evidence"] if e["id"] == cause.id), None)
    return {"delivery": shown, "evidence": ref if ref is not None else evidence_json(cause)}


async def record_delivery_event(
    session: AsyncSession,
    delivery: Delivery,
    evidence_type: EvidenceType,
    *,
    at: datetime,
    details: dict[str, Any] | None = None,
    event_extra: dict[str, Any] | None = None,
) -> Evidence:
    """``event_extra`` adds keys to the integrator event only (a reply and its files)."""
    evidence = record_event(session, delivery, evidence_type, occurred_at=at, details=details)
    await session.flush()
    history = (await evidence_for_deliveries(session, [delivery.id]))[delivery.id]
    data = {**delivery_event_data(delivery, history, evidence), **(event_extra or {})}
    for organization_id in audience(
        delivery.organization_id, delivery.submitted_by_organization_id
    ):
        await emit(
            session, organization_id, event_type(evidence_type), data, delivery_id=delivery.id
        )
    if evidence_type in SENDER_OUTCOMES:
        await _follow_up(session, delivery, evidence_type, evidence.id)
    return evidence


# Outcomes the sender of a message with ``notify_sender`` hears of by e-mail.
SENDER_OUTCOMES = frozenset(
    {EvidenceType.ACCEPTED, EvidenceType.REFUSED, EvidenceType.EXPIRED, EvidenceType.UNDELIVERED}
)
SENDER_STATUS_TASK = "notification.send_sender_status"
MAILBOX_COPY_TASK = "notification.send_mailbox_copy"


async def _follow_up(
    session: AsyncSession, delivery: Delivery, evidence_type: EvidenceType, evidence_id: str
) -> None:
    """The e-mails a message's options ask for after an outcome, as jobs of this transaction."""
    message = await session.get(Message, delivery.message_id)
    if message is None:
        return
    payload = {"delivery_id": delivery.id, "evidence_id": evidence_id}
    if message.notify_sender and message.sender_email:
        enqueue(session, SENDER_STATUS_TASK, payload)
    if evidence_type is EvidenceType.ACCEPTED and message.copy_to_mailbox:
        enqueue(session, MAILBOX_COPY_TASK, payload)


def audience(organization_id: str, submitted_by: str | None) -> list[str]:
    """Who hears of a delivery: its organisation, and the reseller that sent it on behalf."""
    return [organization_id] if submitted_by is None else [organization_id, submitted_by]
