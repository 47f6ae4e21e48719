"""Sending a delivery's notification e-mail and recording what the mail server said.

The e-mail leaves outside any database transaction; its outcome is recorded after, in one:
accepted → NOTIFIED (and the deadline and reminders are scheduled), refused for good →
UNDELIVERED, temporary trouble → retried by the job, UNDELIVERED after the last attempt.
A retry after a crash may send the notice twice; both copies carry the same Message-ID.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tabellion.db import transaction
from tabellion.errors import NotFound
from tabellion.jobs.registry import RetryLater
from tabellion.kit.time import utcnow
from tabellion.message.service.delivery import load_for_notice, mark_notified, mark_undelivered
from tabellion.notification.bounces import verp_address
from tabellion.notification.compose import compose_notice
from tabellion.notification.transport import PermanentFailure, TemporaryFailure

if TYPE_CHECKING:
    from tabellion.runtime import Runtime

log = logging.getLogger(__name__)


async def send_notice(runtime: Runtime, delivery_id: str, *, last_attempt: bool = False) -> str:
    """Send one delivery's notice; returns the delivery's status afterwards."""
    settings = runtime.settings
    at = utcnow()
    async with transaction(runtime.sessions) as session:
        try:
            delivery, message, organization = await load_for_notice(session, delivery_id)
        except NotFound:
            log.info("notice for %s skipped: the delivery is gone", delivery_id)
            return "gone"
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
        delivery, _, _ = await load_for_notice(session, delivery_id)
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
        delivery, _, _ = await load_for_notice(session, delivery_id)
        await mark_undelivered(session, delivery, at=utcnow(), reason=reason, smtp_code=code)
        return delivery.status
