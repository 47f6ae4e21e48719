"""Sending a delivery's notification e-mail and recording what the mail server said.

The e-mail leaves outside any database transaction; its outcome is recorded after, in one:
accepted → NOTIFIED (and the deadline and reminders are scheduled), the recipient refused for
good (5xx) → UNDELIVERED. Trouble with the relay (refused connection, 4xx, timeout) is not the
recipient's failure: the job retries with a doubling, capped delay for days
(``notice_retry_*`` settings), then ends dead with the delivery still pending, for an operator
to retry once the relay is fixed. A retry after a crash may send the notice twice; both copies
carry the same Message-ID.

Notices sent at the same time share their reads and writes (``NoticePipeline``): a large
dispatch costs a few set-based transactions per batch instead of two per e-mail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from tabellion.config import Settings
from tabellion.db import transaction
from tabellion.jobs.registry import GiveUp, RetryLater
from tabellion.kit import metrics
from tabellion.kit.time import utcnow
from tabellion.message.service.delivery import (
    NoticeAccepted,
    mark_notified_many,
    mark_undelivered,
)
from tabellion.models.message import Delivery, Message
from tabellion.models.organization import Organization
from tabellion.notification.bounces import verp_address
from tabellion.notification.compose import compose_notice, notice_message_id
from tabellion.notification.transport import PermanentFailure, TemporaryFailure

if TYPE_CHECKING:
    from tabellion.runtime import Runtime

log = logging.getLogger(__name__)

Loaded = tuple[Delivery, Message, Organization]


async def send_notice(runtime: Runtime, delivery_id: str, *, attempt: int = 1) -> str:
    """Send one delivery's notice (its job's ``attempt``); returns the delivery's status
    afterwards, or raises RetryLater / GiveUp when the relay is in trouble.

    Notices sent at the same time share their database work (see ``NoticePipeline``).
    """
    pipeline = runtime.resource("notification.notices", lambda: _open_pipeline(runtime))
    return await pipeline.send(delivery_id, attempt=attempt)


def retry_delay(settings: Settings, attempt: int, *, rng: random.Random | None = None) -> float:
    """Seconds before retrying a notice after failed ``attempt`` (1-based): the base delay
    doubling up to the cap, ±10 % so that notices queued together do not retry together."""
    base = settings.notice_retry_base_seconds * 2.0 ** min(max(attempt - 1, 0), 32)
    delay = min(base, settings.notice_retry_cap_seconds)
    return delay * (rng or random).uniform(0.9, 1.1)


def relay_trouble(
    settings: Settings, delivery: Delivery, exc: TemporaryFailure, attempt: int, *, now: datetime
) -> Exception:
    """What the job does about a relay's temporary failure: retry, or give up past the window."""
    window = timedelta(hours=settings.notice_retry_hours)
    if now - delivery.created_at >= window:
        metrics.notice_relay_failure("gave_up")
        return GiveUp(
            f"the mail relay kept failing for {settings.notice_retry_hours:g} h: {exc}; "
            "the delivery stays pending (retry the job once the relay works)"
        )
    metrics.notice_relay_failure("retry")
    return RetryLater(str(exc), delay=retry_delay(settings, attempt))


def _open_pipeline(runtime: Runtime) -> tuple[NoticePipeline, Callable[[], Awaitable[None]]]:
    pipeline = NoticePipeline(runtime)
    return pipeline, pipeline.close


@dataclass
class _Request:
    delivery_id: str
    attempt: int
    done: asyncio.Future[str]

    def resolve(self, status: str) -> None:
        if not self.done.done():
            self.done.set_result(status)

    def fail(self, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


@dataclass
class _Stage:
    """Requests waiting for one shared database step, and whether it is running."""

    waiting: list[Any] = field(default_factory=list)
    running: bool = False


class NoticePipeline:
    """Sends the notices that the worker's jobs ask for, sharing their database work.

    Each request goes through three steps: its delivery is read (one query for every request
    waiting), its notice is composed and sent (each on its own, over the SMTP pool), and the
    outcome is written (one transaction for every accepted notice waiting). While one batch
    is read or written, the next gathers, so batches grow with the load and the mail
    connections never wait for the database. A request's caller (a job) returns only once
    its outcome is committed, so the job table still says exactly what was done.
    """

    MAX_BATCH = 500
    # Under load, a write waits up to this long for its batch to fill: a transaction costs
    # about the same for 10 notices as for 50, so a large dispatch is recorded in fewer,
    # larger ones. The wait ends early once every notice in flight is waiting for it (none
    # can join before this write is done) or MAX_BATCH are; a notice arriving alone is
    # written at once.
    WRITE_LINGER = 0.05

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._reads = _Stage()
        self._writes = _Stage()
        self._writes_full = asyncio.Event()
        self._in_flight = 0  # requests whose caller still waits
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, delivery_id: str, *, attempt: int = 1) -> str:
        request = _Request(delivery_id, attempt, asyncio.get_running_loop().create_future())
        self._reads.waiting.append(request)
        self._start(self._reads, self._read_loop)
        self._in_flight += 1
        try:
            return await request.done
        finally:
            self._in_flight -= 1
            self._check_full()

    async def close(self) -> None:
        for running in list(self._tasks):
            running.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start(self, stage: _Stage, loop: Callable[[], Awaitable[None]]) -> None:
        if not stage.running:
            stage.running = True
            self._spawn(loop())

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        running = asyncio.ensure_future(coroutine)
        self._tasks.add(running)
        running.add_done_callback(self._tasks.discard)

    async def _read_loop(self) -> None:
        stage = self._reads
        try:
            while stage.waiting:
                batch: list[_Request] = stage.waiting[: self.MAX_BATCH]
                del stage.waiting[: len(batch)]
                try:
                    # A read session: on SQLite it takes no write lock, so the next batch is
                    # read while the previous outcomes are written instead of after them. The
                    # write step reads each status again under its lock.
                    async with self.runtime.read_sessions() as session:
                        loaded = await _load_many(session, [r.delivery_id for r in batch])
                except Exception as exc:
                    for request in batch:
                        request.fail(exc)
                    continue
                for request in batch:
                    found = loaded.get(request.delivery_id)
                    if found is None:
                        log.info("notice for %s skipped: the delivery is gone", request.delivery_id)
                        request.resolve("gone")
                    elif found[0].status != "pending":
                        request.resolve(found[0].status)
                    else:
                        self._spawn(self._deliver(request, found))
        finally:
            stage.running = False

    async def _deliver(self, request: _Request, loaded: Loaded) -> None:
        settings = self.runtime.settings
        delivery, message, organization = loaded
        try:
            at = utcnow()
            notice = compose_notice(settings, delivery, message, organization, at=at)
            envelope = verp_address(delivery.id, settings.mail_from)
            try:
                answer = await self.runtime.mail.send(notice.mail, envelope_from=envelope)
            except PermanentFailure as exc:
                request.resolve(await _undelivered(self.runtime, delivery.id, str(exc), exc.code))
                return
            except TemporaryFailure as exc:
                raise relay_trouble(settings, delivery, exc, request.attempt, now=utcnow()) from exc
        except BaseException as exc:
            request.fail(exc)
            if not isinstance(exc, Exception):
                raise
            return
        accepted = NoticeAccepted(
            delivery,
            message.acceptance_days,
            organization.timezone,
            at,
            notice.message_id,
            answer[:500],
        )
        self._writes.waiting.append((request, accepted))
        self._check_full()
        self._start(self._writes, self._write_loop)

    def _check_full(self) -> None:
        waiting = len(self._writes.waiting)
        if waiting and (waiting >= self.MAX_BATCH or waiting >= self._in_flight):
            self._writes_full.set()

    async def _write_loop(self) -> None:
        stage = self._writes
        settings = self.runtime.settings
        try:
            while stage.waiting:
                self._writes_full.clear()
                self._check_full()
                if not self._writes_full.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.WRITE_LINGER):
                            await self._writes_full.wait()
                batch: list[tuple[_Request, NoticeAccepted]] = stage.waiting[: self.MAX_BATCH]
                del stage.waiting[: len(batch)]
                try:
                    async with transaction(self.runtime.sessions) as session:
                        statuses = await mark_notified_many(
                            session,
                            [accepted for _, accepted in batch],
                            reminder_days=settings.reminder_offsets,
                        )
                except Exception as exc:
                    # Sent but not recorded: the jobs retry, and the notice may go twice
                    # (with the same Message-ID).
                    for request, _ in batch:
                        request.fail(exc)
                    continue
                for request, accepted in batch:
                    request.resolve(statuses.get(accepted.delivery.id, "gone"))
        finally:
            stage.running = False


# A batch's deliveries, their messages and organisations: statements built once, the ids
# bound at execution (building ``in_`` of a list coerces each id into the statement).
_DELIVERIES = select(Delivery).where(Delivery.id.in_(bindparam("ids", expanding=True)))
_MESSAGES = (
    select(Message)
    .where(Message.id.in_(bindparam("ids", expanding=True)))
    # Not needed for a notice, and large: the draft's recipient list grows with the dispatch,
    # the bodies up to 1 MiB.
    .options(
        defer(Message.recipients, raiseload=True),
        defer(Message.body_html, raiseload=True),
        defer(Message.body_text, raiseload=True),
    )
)
_ORGANIZATIONS = select(Organization).where(Organization.id.in_(bindparam("ids", expanding=True)))


async def _load_many(session: AsyncSession, delivery_ids: list[str]) -> dict[str, Loaded]:
    """Deliveries with their message and organisation: three queries, whatever the count.

    A batch usually comes from one dispatch: its few messages and organisations are read once,
    not once per delivery.
    """
    deliveries = list(await session.scalars(_DELIVERIES, {"ids": delivery_ids}))
    if not deliveries:
        return {}
    wanted = list({d.message_id for d in deliveries})
    messages = {m.id: m for m in await session.scalars(_MESSAGES, {"ids": wanted})}
    wanted = list({d.organization_id for d in deliveries})
    organizations = {o.id: o for o in await session.scalars(_ORGANIZATIONS, {"ids": wanted})}
    return {
        d.id: (d, messages[d.message_id], organizations[d.organization_id])
        for d in deliveries
        if d.message_id in messages and d.organization_id in organizations
    }


async def resend_notice(runtime: Runtime, delivery_id: str, requested_at: str) -> str:
    """Send a delivery's notice again (``message.service.delivery.resend_notice`` queued it
    at ``requested_at``): the same link and deadline, its own Message-ID. Skipped if the
    recipient answered meanwhile; nothing is recorded (the first notice is the proof)."""
    settings = runtime.settings
    async with transaction(runtime.sessions) as session:
        loaded = (await _load_many(session, [delivery_id])).get(delivery_id)
    if loaded is None or loaded[0].status != "notified":
        return loaded[0].status if loaded else "gone"
    delivery, message, organization = loaded
    stamp = datetime.fromisoformat(requested_at).strftime("%Y%m%dT%H%M%S%f")
    notice = compose_notice(
        settings,
        delivery,
        message,
        organization,
        at=utcnow(),
        deadline_at=delivery.deadline_at,
        message_id=notice_message_id(settings, delivery.id, again=stamp),
    )
    try:
        await runtime.mail.send(
            notice.mail, envelope_from=verp_address(delivery.id, settings.mail_from)
        )
    except PermanentFailure as exc:
        # The address worked for the first notice; a refusal now is the mail server's word
        # on this e-mail, not a change of the delivery.
        raise GiveUp(f"the recipient's mail server refused the notice sent again: {exc}") from exc
    except TemporaryFailure as exc:
        raise RetryLater(str(exc), delay=retry_delay(settings, 1)) from exc
    return delivery.status


async def _undelivered(runtime: Runtime, delivery_id: str, reason: str, code: int | None) -> str:
    async with transaction(runtime.sessions) as session:
        loaded = (await _load_many(session, [delivery_id])).get(delivery_id)
        if loaded is None:
            return "gone"
        delivery = loaded[0]
        await mark_undelivered(session, delivery, at=utcnow(), reason=reason, smtp_code=code)
        return delivery.status
