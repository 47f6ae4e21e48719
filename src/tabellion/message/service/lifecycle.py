"""What recipients do to a delivery, and what time does to it.

Each step changes the delivery's status and records its evidence (and integrator event) in the
same transaction, through ``record_delivery_event``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.db import lock_row
from tabellion.errors import Conflict, Forbidden
from tabellion.evidence.events import EvidenceType
from tabellion.jobs.queue import enqueue
from tabellion.kit.time import utcnow
from tabellion.message.service.events import record_delivery_event
from tabellion.models.message import Attachment, Delivery

EXPIRE_TASK = "delivery.expire"
REMIND_TASK = "notification.send_reminder"
REMINDER_DAYS_BEFORE = (7, 2)
ANSWERED = ("accepted", "refused", "expired")
ENDED = (*ANSWERED, "undelivered")


class DeliveryAlreadyAnswered(Conflict):
    code = "delivery-already-answered"
    title = "This letter was already answered"


class DeliveryExpired(Conflict):
    code = "delivery-expired"
    title = "The deadline to answer has passed"


class DeliveryClosed(Conflict):
    code = "delivery-closed"
    title = "This delivery is closed"


class IdentityNotConfirmed(Forbidden):
    code = "identity-not-confirmed"
    title = "Confirm your identity first"


@dataclass(frozen=True)
class Actor:
    """Who did something on a recipient page, as evidence records it."""

    method: str  # e.g. "portal-link", "email-otp", "vault-session"
    ip: str | None
    user_agent: str | None

    def details(self, at: datetime) -> dict[str, Any]:
        return {**asdict(self), "at": at.isoformat()}


def schedule_deadline(
    session: AsyncSession,
    delivery: Delivery,
    *,
    reminder_days: tuple[int, ...] = REMINDER_DAYS_BEFORE,
) -> None:
    """Expiry at the deadline and reminders before it, as scheduled jobs (run even unvisited)."""
    if delivery.deadline_at is None:
        return
    enqueue(session, EXPIRE_TASK, {"delivery_id": delivery.id}, run_at=delivery.deadline_at)
    now = utcnow()
    for days in reminder_days:
        moment = delivery.deadline_at - timedelta(days=days)
        if moment > now:
            enqueue(
                session, REMIND_TASK, {"delivery_id": delivery.id, "days_left": days}, run_at=moment
            )


def can_reveal_content(delivery: Delivery) -> bool:
    """Registered letters show sender and content only once accepted (French LRE rule)."""
    return delivery.mode != "registered" or delivery.status == "accepted"


async def record_opened(
    session: AsyncSession, delivery: Delivery, *, actor: Actor, at: datetime | None = None
) -> bool:
    """First opening of the content: RECEIVED (proof of receipt for non-registered modes)."""
    at = at or utcnow()
    if delivery.mode == "registered" or delivery.received_at is not None:
        return False
    await lock_row(session, delivery)
    if delivery.received_at is not None:
        return False  # a concurrent opening recorded it first
    delivery.received_at = at
    delivery.status = "received"
    delivery.updated_at = at
    await record_delivery_event(
        session, delivery, EvidenceType.RECEIVED, at=at, details={"actor": actor.details(at)}
    )
    return True


async def confirm_identity(
    session: AsyncSession, delivery: Delivery, *, actor: Actor, at: datetime | None = None
) -> None:
    at = at or utcnow()
    await lock_row(session, delivery)
    if (delivery.identity or {}).get("method") == "oidc":
        return  # an identity provider's sign-in says more than a code: keep it as the proof
    delivery.identity = {"confirmed": True, **actor.details(at), "address": delivery.email}
    delivery.updated_at = at


def _check_answerable(delivery: Delivery, now: datetime) -> None:
    if delivery.mode != "registered":
        raise DeliveryClosed("Only registered letters are accepted or refused.")
    if delivery.status in ("accepted", "refused"):
        raise DeliveryAlreadyAnswered(f"This letter was already {delivery.status}.")
    if delivery.status == "expired" or (delivery.deadline_at and now > delivery.deadline_at):
        raise DeliveryExpired("The deadline to accept or refuse this letter has passed.")
    if delivery.status == "undelivered":
        raise DeliveryClosed("This letter could not be delivered.")
    if not (delivery.identity or {}).get("confirmed"):
        raise IdentityNotConfirmed("Confirm the code sent to your address first.")
    if delivery.identification and (delivery.identity or {}).get("method") != "oidc":
        # The sender asked for identification (tabellion.identity): a code is not enough.
        raise IdentityNotConfirmed("Confirm your identity with an identity provider first.")


async def answer(
    session: AsyncSession,
    delivery: Delivery,
    *,
    accept: bool,
    actor: Actor,
    at: datetime | None = None,
) -> None:
    at = at or utcnow()
    await lock_row(session, delivery)
    _check_answerable(delivery, at)
    delivery.status = "accepted" if accept else "refused"
    delivery.answered_at = at
    delivery.updated_at = at
    if accept and delivery.received_at is None:
        delivery.received_at = at
    await record_delivery_event(
        session,
        delivery,
        EvidenceType.ACCEPTED if accept else EvidenceType.REFUSED,
        at=at,
        details={"actor": actor.details(at), "identity": delivery.identity},
    )


async def expire(session: AsyncSession, delivery_id: str, *, now: datetime | None = None) -> bool:
    """The deadline passed without an answer. Idempotent: a retried job changes nothing."""
    now = now or utcnow()
    delivery = await session.scalar(
        select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    )
    if delivery is None or delivery.status in ENDED or delivery.deadline_at is None:
        return False
    if now < delivery.deadline_at:
        return False  # the deadline moved later; its own job will come
    delivery.status = "expired"
    delivery.updated_at = now
    await record_delivery_event(
        session,
        delivery,
        EvidenceType.EXPIRED,
        at=now,
        details={"deadline_at": delivery.deadline_at.isoformat(), "reason": "no answer in time"},
    )
    return True


async def record_download(
    session: AsyncSession,
    delivery: Delivery,
    attachment: Attachment,
    *,
    actor: Actor,
    at: datetime | None = None,
) -> bool:
    """The first download of each attachment is evidence; later ones are not."""
    if attachment.id in (delivery.downloaded or []):
        return False
    await lock_row(session, delivery)
    if attachment.id in (delivery.downloaded or []):
        return False  # a concurrent download recorded it first
    at = at or utcnow()
    delivery.downloaded = [*(delivery.downloaded or []), attachment.id]
    delivery.updated_at = at
    await record_delivery_event(
        session,
        delivery,
        EvidenceType.DOWNLOADED,
        at=at,
        details={
            "actor": actor.details(at),
            "attachment": {
                "id": attachment.id,
                "filename": attachment.filename,
                "sha256": attachment.sha256,
            },
        },
    )
    return True
