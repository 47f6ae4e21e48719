"""Sending one event to one endpoint: a job's work, outside any open transaction.

Per send, the process-wide pieces do the heavy lifting: the ledger reads the endpoint and event
and records the attempt together with those of the other sends in flight (one transaction for
many), and one pooled HTTP client reuses connections whose address passed the SSRF guard.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from tabellion.jobs.registry import RetryLater
from tabellion.kit import metrics
from tabellion.kit.time import utcnow
from tabellion.runtime import Runtime
from tabellion.webhook import formats
from tabellion.webhook.ledger import AttemptRecord, Ledger
from tabellion.webhook.service import TEST_EVENT, Outcome, WebhookGone, next_delay, post_event
from tabellion.webhook.transport import MAX_CONNECTIONS, TIMEOUT_SECONDS, WebhookHttp


def outbound(
    runtime: Runtime,
    *,
    allowed: frozenset[str] | None = None,
    connections: int = MAX_CONNECTIONS,
    timeout: float = TIMEOUT_SECONDS,
) -> WebhookHttp:
    """Built on first use; a test or a benchmark may call it first with other options."""

    def build() -> tuple[WebhookHttp, Callable[[], Awaitable[None]]]:
        http = WebhookHttp(
            runtime.settings.allowed_webhook_hosts if allowed is None else allowed,
            connections=connections,
            timeout=timeout,
        )
        return http, http.aclose

    return runtime.resource("webhook-http", build)


def webhook_ledger(runtime: Runtime) -> Ledger:
    def build() -> tuple[Ledger, Callable[[], Awaitable[None]]]:
        ledger = Ledger(
            runtime.engine,
            keys=runtime.settings.signing_keys,
            wakeup=runtime.jobs_wakeup,
        )
        return ledger, ledger.close

    return runtime.resource("webhook-ledger", build)


class InOrder:
    """One delivery's events go to one endpoint one at a time, in the order their jobs ran.

    Jobs start in the order they were enqueued, and turns are given first come, first served,
    so two events of the same delivery that are due together are sent in order. (A failed one
    goes to the retry schedule and no longer holds the others back.) A turn nobody else wants
    costs a dict entry: most sends are the only one of their delivery in flight, and a lock
    per send cost ~5 µs of a webhook's ~200 (docs/performance.md, "6 December, later").
    """

    def __init__(self) -> None:
        # (endpoint id, delivery id) -> the sends waiting behind the one whose turn it is
        self._queues: dict[tuple[str, str], deque[asyncio.Future[None]]] = {}

    def turn(self, endpoint_id: str, delivery_id: str | None) -> _Turn:
        """``async with in_order.turn(endpoint, delivery):`` waits for the earlier sends."""
        return _Turn(self._queues, None if delivery_id is None else (endpoint_id, delivery_id))


class _Turn:
    __slots__ = ("_key", "_queues")

    def __init__(
        self,
        queues: dict[tuple[str, str], deque[asyncio.Future[None]]],
        key: tuple[str, str] | None,
    ) -> None:
        self._queues = queues
        self._key = key

    async def __aenter__(self) -> None:
        if self._key is None:
            return
        waiting = self._queues.get(self._key)
        if waiting is None:
            self._queues[self._key] = deque()  # ours: nobody else is sending
            return
        handed = asyncio.get_running_loop().create_future()
        waiting.append(handed)
        try:
            await handed
        except asyncio.CancelledError:
            if handed.done() and not handed.cancelled():
                self._pass_on()  # the turn came as we were cancelled: the next one takes it
            else:
                waiting.remove(handed)
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        if self._key is not None:
            self._pass_on()

    def _pass_on(self) -> None:
        assert self._key is not None
        waiting = self._queues[self._key]
        while waiting:
            handed = waiting.popleft()
            if not handed.done():
                handed.set_result(None)
                return
        del self._queues[self._key]


def _in_order(runtime: Runtime) -> InOrder:
    async def nothing() -> None:
        return None

    return runtime.resource("webhook-order", lambda: (InOrder(), nothing))


async def deliver(
    runtime: Runtime, *, endpoint_id: str, event_id: str, attempt: int, is_last: bool
) -> str:
    """Send, record the attempt, and decide what follows. Returns the attempt's outcome.

    Raises RetryLater to be run again on the retry schedule, and WebhookGone when the last
    attempt failed (the job then ends dead). Returns only once the attempt is committed.
    ``failed`` means no retry: the endpoint answered 410, or is disabled (nothing was sent).
    """
    ledger = webhook_ledger(runtime)
    target = await ledger.load(endpoint_id, event_id)
    if target is None:
        return "skipped"  # the endpoint was deleted, and its attempts with it
    endpoint, event = target.endpoint, target.event
    body = event.body
    if endpoint.format != formats.STANDARD:
        async with runtime.sessions() as session:
            rendered = await formats.render(
                session,
                endpoint.format,
                endpoint.organization_id,
                event.type,
                event.body,
                url=endpoint.url,
                keys=runtime.settings.signing_keys,
            )
        if rendered is None:
            return "skipped"  # nothing to say in this format (e.g. a letter sent natively)
        body = rendered
    if endpoint.enabled or event.type == TEST_EVENT:
        # A ping goes to a disabled endpoint too: it checks a receiver before enabling it.
        secrets_ = endpoint.signing_secrets(utcnow())
        async with _in_order(runtime).turn(endpoint_id, event.delivery_id):
            outcome = await post_event(
                outbound(runtime),
                endpoint.url,
                event_id=event_id,
                body=body,
                secrets_=secrets_,
                extra_headers=formats.headers(endpoint.format, secrets_),
            )
    else:
        # Queued before the endpoint was disabled: visible in its attempts, to redeliver.
        outcome = Outcome(False, None, 0, "not sent: the endpoint is disabled", disabled=True)

    delay: float | None = None
    if not outcome.success and not outcome.gone and not outcome.disabled and not is_last:
        delay = next_delay(outcome, attempt)
    label = await ledger.record(
        AttemptRecord(
            endpoint_id=endpoint_id,
            event_id=event_id,
            event_type=event.type,
            attempt=attempt,
            outcome=outcome,
            delay=delay,
            is_last=is_last,
        )
    )
    metrics.webhook_attempt(label)
    if label == "retrying":
        assert delay is not None
        raise RetryLater(outcome.error or "failed", delay=delay)
    if label == "dead":
        raise WebhookGone(f"gave up after {attempt} attempts: {outcome.error}")
    return label
