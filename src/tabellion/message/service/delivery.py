"""Delivery lifecycle steps that other domains (notification, portal) call."""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.db import bulk_update, lock_row
from tabellion.errors import Conflict, NotFound
from tabellion.evidence.events import EvidenceType
from tabellion.evidence.service import evidence_refs, evidence_row, record_many
from tabellion.jobs.queue import enqueue, enqueue_rows
from tabellion.kit.time import utcnow
from tabellion.kit.tokens import as_made, hmac_sha256, sha256_hex
from tabellion.message.service.events import (
    audience,
    delivery_event_data,
    event_type,
    record_delivery_event,
)
from tabellion.message.service.lifecycle import (
    EXPIRE_TASK,
    REMIND_TASK,
    REMINDER_DAYS_BEFORE,
    schedule_deadline,
)
from tabellion.models.base import table_of
from tabellion.models.message import Delivery, Message
from tabellion.models.organization import Organization
from tabellion.webhook.service import NewEvent, emit_many

# Statuses from which the notification outcome may still change the delivery.
_AWAITING_NOTICE = ("pending",)
RESEND_TASK = "notification.resend_notice"
# Why a delivery in each status gets no second notice.
_NOT_RESENDABLE = {
    "pending": "The first notice is still on its way; it can be sent again once the "
    "recipient's mail server has accepted it.",
    "received": "The recipient has already opened the letter.",
    "accepted": "The recipient has already answered the letter.",
    "refused": "The recipient has already answered the letter.",
    "expired": "The deadline to answer has passed.",
    "undelivered": "The recipient's mail server refused the notice; a second one would be "
    "refused too.",
}


class NoticeNotResendable(Conflict):
    code = "notice-not-resendable"
    title = "The notice cannot be sent again"


def resend_notice(
    session: AsyncSession, delivery: Delivery, *, requested_by: dict[str, Any]
) -> dict[str, Any]:
    """Queue the delivery's notice again (same link, same deadline), for a recipient who did
    not see the first one: only while it awaits the recipient (``notified``, before any
    deadline). Not evidence: the first NOTIFIED stays the proof of notification.

    Returns the job's payload (its ``requested_at`` makes the e-mail's own Message-ID, so a
    mail client that dropped the first notice as a duplicate shows this one)."""
    if delivery.status != "notified":
        reason = _NOT_RESENDABLE.get(delivery.status, "The letter is not awaiting its recipient.")
        raise NoticeNotResendable(reason)
    now = utcnow()
    if delivery.deadline_at is not None and now > delivery.deadline_at:
        raise NoticeNotResendable(_NOT_RESENDABLE["expired"])
    payload = {"delivery_id": delivery.id, "requested_at": now.isoformat(), **requested_by}
    enqueue(session, RESEND_TASK, payload)
    return payload


def portal_token(signing_key: bytes, delivery_id: str, salt: str) -> str:
    """The delivery's link token: HMAC of id and salt, 256 bits, never stored in clear."""
    digest = hmac_sha256(signing_key, f"portal-token:{delivery_id}:{salt}")
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_hash(token: str) -> str:
    return sha256_hex("portal:" + token)


def portal_token_of(keys: Sequence[bytes], delivery: Delivery) -> str:
    """The delivery's link token as it was made: with whichever of ``keys`` (the secret key,
    then earlier ones still accepted) gives the stored hash, so reminders and later e-mails
    carry the link the first notice gave, across a change of the secret key."""
    return as_made(
        keys,
        lambda key: portal_token(key, delivery.id, delivery.token_salt),
        lambda token: token_hash(token) == delivery.token_hash,
    )


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
    await lock_row(session, delivery)
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


# The current status of deliveries, locked for their update (a statement built once: the
# ids are bound at execution, not coerced one by one into a new statement each batch).
_STATUSES = (
    select(Delivery.id, Delivery.status)
    .where(Delivery.id.in_(bindparam("ids", expanding=True)))
    .with_for_update()
)


class NoticeAccepted(NamedTuple):
    """The recipient's mail server accepted the notice of ``delivery`` (as read before sending)."""

    delivery: Delivery
    acceptance_days: int | None
    timezone: str
    at: datetime
    notification_message_id: str
    smtp_response: str | None = None


async def mark_notified_many(
    session: AsyncSession,
    accepted: Sequence[NoticeAccepted],
    *,
    reminder_days: tuple[int, ...] = REMINDER_DAYS_BEFORE,
) -> dict[str, str]:
    """``mark_notified`` for many deliveries, in a few set-based statements.

    Returns each delivery's status afterwards (deliveries that are gone are left out). Each
    one gets what ``mark_notified`` gives: status, deadline, expiry and reminder jobs,
    NOTIFIED evidence and its integrator event. The deliveries travel with the items (read
    before sending); only their current status is read again, under a row lock.
    """
    by_id = {item.delivery.id: item for item in accepted}
    current = await session.execute(_STATUSES, {"ids": list(by_id)})
    statuses: dict[str, str] = {id_: status for id_, status in current}
    changed: list[Delivery] = []
    updates: list[dict[str, Any]] = []
    evidence: list[dict[str, Any]] = []
    jobs: list[tuple[str, dict[str, Any], datetime]] = []
    now = utcnow()
    for delivery_id, status in statuses.items():
        if status not in _AWAITING_NOTICE:
            continue
        item = by_id[delivery_id]
        delivery = item.delivery
        deadline = None
        if delivery.mode == "registered" and item.acceptance_days:
            deadline = acceptance_deadline(item.at, item.acceptance_days, item.timezone)
        values = {
            "status": "notified",
            "notified_at": item.at,
            "updated_at": item.at,
            "notification_message_id": item.notification_message_id,
            "deadline_at": deadline,
        }
        updates.append({"id": delivery_id, **values})
        # The object read before sending follows, for the event's view of the delivery.
        for name, value in values.items():
            setattr(delivery, name, value)
        changed.append(delivery)
        statuses[delivery_id] = "notified"
        evidence.append(
            evidence_row(
                organization_id=delivery.organization_id,
                delivery_id=delivery_id,
                message_id=delivery.message_id,
                evidence_type=EvidenceType.NOTIFIED,
                occurred_at=item.at,
                details={
                    "notification_message_id": item.notification_message_id,
                    "smtp_response": item.smtp_response,
                    "deadline_at": deadline.isoformat() if deadline else None,
                },
            )
        )
        if deadline is not None:
            payload = {"delivery_id": delivery_id}
            jobs.append((EXPIRE_TASK, payload, deadline))
            for days in reminder_days:
                moment = deadline - timedelta(days=days)
                if moment > now:
                    jobs.append((REMIND_TASK, {**payload, "days_left": days}, moment))
    if not changed:
        return statuses
    await bulk_update(session, table_of(Delivery), updates)
    await record_many(session, evidence)
    await enqueue_rows(session, jobs)
    history = await evidence_refs(session, [d.id for d in changed])
    causes = {row["delivery_id"]: row["id"] for row in evidence}
    events: dict[str, list[NewEvent]] = defaultdict(list)
    for delivery in changed:
        past = history[delivery.id]
        cause = next(e for e in past if e.id == causes[delivery.id])
        data = delivery_event_data(delivery, past, cause)
        for organization_id in audience(
            delivery.organization_id, delivery.submitted_by_organization_id
        ):
            events[organization_id].append(
                NewEvent(event_type(EvidenceType.NOTIFIED), data, delivery_id=delivery.id)
            )
    for organization_id, items in events.items():
        await emit_many(session, organization_id, items)
    return statuses


async def mark_undelivered(
    session: AsyncSession,
    delivery: Delivery,
    *,
    at: datetime,
    reason: str,
    smtp_code: int | None = None,
    report: dict[str, str | int | None] | None = None,
) -> bool:
    """The notice could not be delivered. False if the delivery already ended.

    ``report``: what a late bounce (an RFC 3464 report) said, recorded in the proof."""
    await lock_row(session, delivery)
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
        details={"reason": reason, "smtp_code": smtp_code}
        | ({"delivery_status": report} if report else {}),
    )
    await session.flush()
    return True
