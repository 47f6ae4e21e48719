"""Delivery lifecycle steps that other domains (notification, portal) call."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.errors import NotFound
from tabellion.evidence.events import EvidenceType
from tabellion.kit.tokens import hmac_sha256, sha256_hex
from tabellion.message.service.events import record_delivery_event
from tabellion.message.service.lifecycle import REMINDER_DAYS_BEFORE, schedule_deadline
from tabellion.models.message import Delivery, Message
from tabellion.models.organization import Organization

# Statuses from which the notification outcome may still change the delivery.
_AWAITING_NOTICE = ("pending",)


def portal_token(signing_key: bytes, delivery_id: str, salt: str) -> str:
    """The delivery's link token: HMAC of id and salt, 256 bits, never stored in clear."""
    digest = hmac_sha256(signing_key, f"portal-token:{delivery_id}:{salt}")
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_hash(token: str) -> str:
    return sha256_hex("portal:" + token)


def acceptance_deadline(noticed_at: datetime, days: int, timezone: str) -> datetime:
    """End of the ``days``-th day after the notice, 23:59:59 local time, as UTC."""
    zone = ZoneInfo(timezone)
    local_day = noticed_at.astimezone(zone).date()
    last_day = local_day + timedelta(days=days)
    end = datetime(last_day.year, last_day.month, last_day.day, 23, 59, 59, tzinfo=zone)
    return end.astimezone(ZoneInfo("UTC"))


async def load_for_notice(
    session: AsyncSession, delivery_id: str
) -> tuple[Delivery, Message, Organization]:
    delivery = await session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFound(f"No delivery {delivery_id}.")
    message = await session.get(Message, delivery.message_id)
    organization = await session.get(Organization, delivery.organization_id)
    if message is None or organization is None:
        raise NotFound(f"Delivery {delivery_id} lost its message or organisation.")
    return delivery, message, organization


async def mark_notified(
    session: AsyncSession,
    delivery: Delivery,
    *,
    at: datetime,
    notification_message_id: str,
    smtp_response: str | None = None,
    reminder_days: tuple[int, ...] = REMINDER_DAYS_BEFORE,
) -> bool:
    """The recipient's mail server accepted the notice. False if already recorded."""
    if delivery.status not in _AWAITING_NOTICE:
        return False
    message = await session.get(Message, delivery.message_id)
    organization = await session.get(Organization, delivery.organization_id)
    assert message is not None and organization is not None
    delivery.status = "notified"
    delivery.notified_at = at
    delivery.updated_at = at
    delivery.notification_message_id = notification_message_id
    if message.mode == "registered" and message.acceptance_days:
        delivery.deadline_at = acceptance_deadline(
            at, message.acceptance_days, organization.timezone
        )
    schedule_deadline(session, delivery, reminder_days=reminder_days)
    await record_delivery_event(
        session,
        delivery,
        EvidenceType.NOTIFIED,
        at=at,
        details={
            "notification_message_id": notification_message_id,
            "smtp_response": smtp_response,
            "deadline_at": delivery.deadline_at.isoformat() if delivery.deadline_at else None,
        },
    )
    await session.flush()
    return True


async def mark_undelivered(
    session: AsyncSession,
    delivery: Delivery,
    *,
    at: datetime,
    reason: str,
    smtp_code: int | None = None,
) -> bool:
    """The notice could not be delivered. False if the delivery already ended."""
    if delivery.status in ("undelivered", "accepted", "refused", "expired", "received"):
        return False
    delivery.status = "undelivered"
    delivery.status_reason = reason
    delivery.updated_at = at
    await record_delivery_event(
        session,
        delivery,
        EvidenceType.UNDELIVERED,
        at=at,
        details={"reason": reason, "smtp_code": smtp_code},
    )
    await session.flush()
    return True
