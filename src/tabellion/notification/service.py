"""Sending a delivery's notification e-mail and recording what the mail server said.

The e-mail leaves outside any database transaction; its outcome is recorded after, in one:
accepted → NOTIFIED (and the deadline and reminders are scheduled), refused for good →
UNDELIVERED, temporary trouble → retried by the job, UNDELIVERED after the last attempt.
A retry after a crash may send the notice twice; both copies carry the same Message-ID.

Both transactions stay short (one query to read, composing happens outside): on SQLite every
transaction holds the database's write lock, and the worker runs many notices at once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from tabellion.db import transaction
from tabellion.jobs.registry import RetryLater
from tabellion.kit.time import utcnow
from tabellion.message.service.delivery import mark_notified, mark_undelivered
from tabellion.models.message import Delivery, Message
from tabellion.models.organization import Organization
from tabellion.notification.bounces import verp_address
from tabellion.notification.compose import compose_notice
from tabellion.notification.transport import PermanentFailure, TemporaryFailure

if TYPE_CHECKING:
    from tabellion.runtime import Runtime

log = logging.getLogger(__name__)

Loaded = tuple[Delivery, Message, Organization]


async def _load(session: AsyncSession, delivery_id: str) -> Loaded | None:
    """The delivery with its message and organisation, in one query (None if gone)."""
    row = (
        await session.execute(
            select(Delivery, Message, Organization)
            .join(Message, Message.id == Delivery.message_id)
            .join(Organization, Organization.id == Delivery.organization_id)
            .where(Delivery.id == delivery_id)
            # Not needed for a notice, and large: the draft's recipient list grows with the
            # dispatch (thousands of entries to decode per notice), the bodies up to 1 MiB.
            .options(
                defer(Message.recipients, raiseload=True),
                defer(Message.body_html, raiseload=True),
                defer(Message.body_text, raiseload=True),
            )
        )
    ).first()
    return None if row is None else (row[0], row[1], row[2])


async def send_notice(runtime: Runtime, delivery_id: str, *, last_attempt: bool = False) -> str:
    """Send one delivery's notice; returns the delivery's status afterwards."""
    settings = runtime.settings
    at = utcnow()
    async with transaction(runtime.sessions) as session:
        loaded = await _load(session, delivery_id)
    if loaded is None:
        log.info("notice for %s skipped: the delivery is gone", delivery_id)
        return "gone"
    delivery, message, organization = loaded
    if delivery.status != "pending":
        return delivery.status
    notice = compose_notice(settings, delivery, message, organization, at=at)
    try:
        answer = await runtime.mail.send(
            notice.message, envelope_from=verp_address(delivery_id, settings.mail_from)
        )
    except PermanentFailure as exc:
        return await _undelivered(runtime, delivery_id, str(exc), exc.code)
    except TemporaryFailure as exc:
        if last_attempt:
            return await _undelivered(
                runtime, delivery_id, f"gave up after repeated failures: {exc}", None
            )
        raise RetryLater(str(exc)) from exc
    async with transaction(runtime.sessions) as session:
        loaded = await _load(session, delivery_id)
        if loaded is None:
            return "gone"
        delivery = loaded[0]
        # Message and organisation are in the session now: mark_notified reads them for free.
        await mark_notified(
            session,
            delivery,
            at=at,
            notification_message_id=notice.message_id,
            smtp_response=answer[:500],
            reminder_days=settings.reminder_offsets,
        )
        return delivery.status


async def _undelivered(runtime: Runtime, delivery_id: str, reason: str, code: int | None) -> str:
    async with transaction(runtime.sessions) as session:
        loaded = await _load(session, delivery_id)
        if loaded is None:
            return "gone"
        delivery = loaded[0]
        await mark_undelivered(session, delivery, at=utcnow(), reason=reason, smtp_code=code)
        return delivery.status
