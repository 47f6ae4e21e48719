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
from tabellion.message.views import EvidenceLike, delivery_json, evidence_json
from tabellion.models.evidence import Evidence
from tabellion.models.message import Delivery
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
) -> Evidence:
    evidence = record_event(session, delivery, evidence_type, occurred_at=at, details=details)
    await session.flush()
    history = (await evidence_for_deliveries(session, [delivery.id]))[delivery.id]
    data = delivery_event_data(delivery, history, evidence)
    for organization_id in audience(
        delivery.organization_id, delivery.submitted_by_organization_id
    ):
        await emit(
            session, organization_id, event_type(evidence_type), data, delivery_id=delivery.id
        )
    return evidence


def audience(organization_id: str, submitted_by: str | None) -> list[str]:
    """Who hears of a delivery: its organisation, and the reseller that sent it on behalf."""
    return [organization_id] if submitted_by is None else [organization_id, submitted_by]
