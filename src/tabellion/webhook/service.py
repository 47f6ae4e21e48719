"""Events and webhook endpoints: emitting, subscribing, signing and sending."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.db import bulk_insert, lock_row
from tabellion.errors import Conflict, NotFound, ValidationFailed
from tabellion.evidence.events import EvidenceType
from tabellion.jobs.queue import enqueue, enqueue_many
from tabellion.kit import crypto
from tabellion.kit.ids import new_id
from tabellion.kit.time import isoformat_z, utcnow
from tabellion.models.base import table_of
from tabellion.models.webhook import Event, WebhookAttempt, WebhookEndpoint
from tabellion.webhook import formats, signing
from tabellion.webhook.ssrf import ForbiddenDestination, check_url_syntax, resolve_public
from tabellion.webhook.transport import SendError, WebhookHttp

DELIVERY_EVENTS = (
    *(f"delivery.{t.value.lower()}" for t in EvidenceType),
    # A recipient signed in with an identity provider as someone else (tabellion.identity).
    "delivery.identification_failed",
)
CUSTOMER_EVENTS = tuple(
    f"customer.{state}" for state in ("accepted", "refused", "revoked", "cancelled")
)
ENVELOPE_EVENTS = tuple(
    f"envelope.{state}"
    for state in (
        "created",
        "sent",
        "opened",
        "signed",
        "approved",
        "rejected",
        "completed",
        "expired",
        "cancelled",
        "reminded",
    )
)
EVENT_TYPES: tuple[str, ...] = (
    "message.dispatched",
    *DELIVERY_EVENTS,
    *CUSTOMER_EVENTS,
    *ENVELOPE_EVENTS,
    # A signer signed in with an identity provider as someone else (tabellion.identity).
    "envelope.identification_failed",
)
TEST_EVENT = "webhook.test"
DELIVER_TASK = "webhook.deliver"
NOTIFY_DISABLED_TASK = "webhook.notify_disabled"

# About three days in all: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
RETRY_DELAYS = (5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
DISABLE_AFTER_FAILING = timedelta(days=3)
MAX_BODY_BYTES = 20_000
MAX_RETRY_AFTER = 86_400
# "Retry-After: 0" must not spend the whole retry budget within a second.
MIN_RETRY_AFTER = 1.0
DEFAULT_OVERLAP = timedelta(hours=24)
# The feed promises at least 30 days.
EVENT_RETENTION = timedelta(days=35)


class WebhookEndpointNotFound(NotFound):
    code = "webhook-endpoint-not-found"
    title = "Webhook endpoint not found"


class EventNotFound(NotFound):
    code = "event-not-found"
    title = "Event not found"


class WebhookEndpointDisabled(Conflict):
    code = "webhook-endpoint-disabled"
    title = "The webhook endpoint is disabled"


class WebhookUrlRefused(ValidationFailed):
    code = "webhook-url-refused"
    title = "The webhook URL is refused"


class WebhookGone(Exception):
    """Retries ran out: the job ends dead, visible in attempts and `tabellion jobs`."""


# ---- events ---------------------------------------------------------------------------------


# ``json.dumps`` given options builds an encoder at each call: one serves every event.
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _size(value: Any) -> int:
    return len(_dumps(value).encode())


def event_body(event_id: str, event_type: str, at: datetime, data: dict[str, Any]) -> str:
    """The exact bytes every receiver gets: at most 20 kB (see ``_fit`` for what gives way)."""
    payload = {"type": event_type, "timestamp": isoformat_z(at), "data": data}
    body = _dumps(payload)
    if len(body) <= MAX_BODY_BYTES // 4:
        return body
    over = len(body.encode()) - MAX_BODY_BYTES
    return body if over <= 0 else _fit(payload, over)


def _fit(payload: dict[str, Any], over: int) -> str:
    """Shrink an event ``over`` bytes too large, each step only as far as needed, in this
    order: a delivery's oldest evidence, a message's (or a reply's) body, its last recipients,
    its last attachments; then the objects are reduced to their ids, and at worst ``data`` to
    ``{"truncated": true}``.
    What is left out is flagged (``evidence_truncated`` ...); the caller's data is not changed.
    The event is serialised again only after a step changed it: a 10,000-recipient message's
    ``message.dispatched`` took seven dumps of its megabyte (65 ms a dispatch), now three.
    """
    data = payload["data"] = dict(payload["data"])
    steps: tuple[Callable[[dict[str, Any], int], bool], ...] = (
        lambda d, over: _drop_items(d, "delivery", "evidence", over, oldest_first=True),
        _drop_message_body,
        lambda d, over: _drop_items(d, "message", "recipients", over, oldest_first=False),
        lambda d, over: _drop_items(d, "message", "attachments", over, oldest_first=False),
        _references_only,
    )
    for step in steps:
        while step(data, over):
            body = _dumps(payload)
            over = len(body.encode()) - MAX_BODY_BYTES
            if over <= 0:
                return body
    payload["data"] = {"truncated": True}
    return _dumps(payload)


def _drop_items(
    data: dict[str, Any], owner: str, key: str, over: int, *, oldest_first: bool
) -> bool:
    """Leave out enough of ``data[owner][key]`` to free ``over`` bytes; False if none left."""
    parent = data.get(owner)
    if not isinstance(parent, dict) or not isinstance(parent.get(key), list) or not parent[key]:
        return False
    items: list[Any] = parent[key]
    flag = f"{key}_truncated"
    need = over + (0 if flag in parent else len(f',"{flag}":true'))
    # Keep as many items as fit from the kept end: the fewest dropped that free ``need``
    # bytes. Sized from the kept end, so a 10,000-item list costs one dump, not 10,000.
    budget = _size(items) - 1 - need  # what the kept items may take, each with its comma
    used = kept_count = 0
    for item in reversed(items) if oldest_first else items:
        cost = _size(item) + 1
        if used + cost > budget:
            break
        used += cost
        kept_count += 1
    kept = items[len(items) - kept_count :] if oldest_first else items[:kept_count]
    data[owner] = {**parent, key: kept, flag: True}
    return True


def _drop_message_body(data: dict[str, Any], over: int) -> bool:
    """A message's body, or a reply's (its files' references stay)."""
    body_keys = ("body_html", "body_text")
    for owner in ("message", "reply"):
        value = data.get(owner)
        if isinstance(value, dict) and any(k in value for k in body_keys):
            kept = {k: v for k, v in value.items() if k not in body_keys}
            data[owner] = {**kept, "body_truncated": True}
            return True
    return False


def _references_only(data: dict[str, Any], over: int) -> bool:
    """Each object becomes ``{"id"}``: the receiver reads the rest from the API."""
    if data.get("truncated") is True:
        return False
    reduced: dict[str, Any] = {
        key: {"id": value["id"]}
        for key, value in data.items()
        if isinstance(value, dict) and isinstance(value.get("id"), str) and len(value["id"]) < 100
    }
    data.clear()
    data.update(reduced, truncated=True)
    return True


async def _subscribers(
    session: AsyncSession, organization_id: str
) -> list[tuple[str, list[str], str]]:
    rows = await session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events, WebhookEndpoint.format).where(
            WebhookEndpoint.organization_id == organization_id,
            WebhookEndpoint.enabled.is_(True),
        )
    )
    return [(row[0], list(row[1]), row[2]) for row in rows]


def _wants(events: list[str], format_: str, event_type: str) -> bool:
    return ("*" in events or event_type in events) and formats.accepts(format_, event_type)


@dataclass(frozen=True)
class NewEvent:
    type: str
    data: dict[str, Any]
    delivery_id: str | None = None


async def emit(
    session: AsyncSession,
    organization_id: str,
    event_type: str,
    data: dict[str, Any],
    *,
    delivery_id: str | None = None,
) -> str:
    """Record an event and a delivery job per subscribed endpoint, in the caller's transaction."""
    ids = await emit_many(session, organization_id, [NewEvent(event_type, data, delivery_id)])
    return ids[0]


async def emit_many(
    session: AsyncSession, organization_id: str, events: Sequence[NewEvent]
) -> list[str]:
    if not events:
        return []
    now = utcnow()
    rows = []
    for item in events:
        event_id = new_id("evt")
        rows.append(
            {
                "id": event_id,
                "organization_id": organization_id,
                "type": item.type,
                "delivery_id": item.delivery_id,
                "body": event_body(event_id, item.type, now, item.data),
                "created_at": now,
            }
        )
    await bulk_insert(session, table_of(Event), rows)
    subscribers = await _subscribers(session, organization_id)
    jobs = [
        {"endpoint_id": endpoint_id, "event_id": row["id"]}
        for row in rows
        for endpoint_id, wanted, format_ in subscribers
        if _wants(wanted, format_, str(row["type"]))
    ]
    await enqueue_many(session, DELIVER_TASK, jobs)
    return [str(row["id"]) for row in rows]


async def sequence_events(session: AsyncSession, *, batch: int = 10_000) -> int:
    """Give committed, unsequenced events their feed position, in one serialised step.

    Only rows already committed are visible here, and positions only grow, so a feed reader
    who has seen position N will never later find an event below N.
    """
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(7291001)"))
    ids = (
        await session.scalars(
            select(Event.id)
            .where(Event.seq.is_(None))
            .order_by(Event.created_at, Event.id)
            .limit(batch)
        )
    ).all()
    if not ids:
        return 0
    top = int(await session.scalar(select(func.coalesce(func.max(Event.seq), 0))) or 0)
    await session.execute(
        update(Event), [{"id": event_id, "seq": top + n} for n, event_id in enumerate(ids, 1)]
    )
    return len(ids)


async def purge_events(session: AsyncSession, *, older_than: timedelta = EVENT_RETENTION) -> int:
    """Delete events and attempts past retention; returns how many events went.

    The event holding the highest feed position stays whatever its age: positions continue
    from it, so a cursor kept through a quiet month still sees every event written after.
    """
    cutoff = utcnow() - older_than
    top = select(func.max(Event.seq)).scalar_subquery()
    result = await session.execute(
        delete(Event).where(Event.created_at < cutoff, or_(Event.seq.is_(None), Event.seq < top))
    )
    await session.execute(delete(WebhookAttempt).where(*_attempts_before(cutoff)))
    return int(getattr(result, "rowcount", 0) or 0)


def _attempts_before(cutoff: datetime) -> tuple[ColumnElement[bool], ...]:
    """The attempts recorded before ``cutoff``, as a range of their ids.

    Attempts are numbered as they are recorded, so the old ones hold the lowest ids: the
    delete reads the rows it deletes through the primary key, up to the first attempt kept,
    rather than the whole table (an index on ``created_at`` would cost each attempt another
    write). An old attempt numbered after a recent one, its transaction having committed
    late, goes with a later day's purge.
    """
    first_kept = (
        select(WebhookAttempt.id)
        .where(WebhookAttempt.created_at >= cutoff)
        .order_by(WebhookAttempt.id)
        .limit(1)
        .scalar_subquery()
    )
    # None kept: the range runs past the last id (still a range, so still the primary key).
    last = select(func.max(WebhookAttempt.id)).scalar_subquery()
    return (
        WebhookAttempt.id < func.coalesce(first_kept, last + 1),
        WebhookAttempt.created_at < cutoff,
    )


async def get_event(session: AsyncSession, organization_id: str, event_id: str) -> Event:
    event = await session.scalar(
        select(Event).where(Event.id == event_id, Event.organization_id == organization_id)
    )
    if event is None:
        raise EventNotFound(f"No event {event_id}.")
    return event


async def list_events(
    session: AsyncSession,
    organization_id: str,
    *,
    after: int,
    limit: int,
    types: Sequence[str] = (),
) -> list[Event]:
    for index, name in enumerate(types):
        if name not in EVENT_TYPES:
            raise ValidationFailed.field(
                f"type[{index}]" if len(types) > 1 else "type",
                f"Unknown event type {name!r}; known: {', '.join(EVENT_TYPES)}.",
                code="invalid-choice",
            )
    await sequence_events(session)
    query = select(Event).where(
        Event.organization_id == organization_id,
        Event.seq.is_not(None),
        Event.seq > after,
        Event.type != TEST_EVENT,
    )
    if types:
        query = query.where(Event.type.in_(list(types)))
    return list((await session.scalars(query.order_by(Event.seq).limit(limit))).all())


async def redeliver(
    session: AsyncSession, organization_id: str, event_id: str, *, endpoint_id: str | None
) -> list[str]:
    event = await get_event(session, organization_id, event_id)
    if endpoint_id is not None:
        endpoint = await get_endpoint(session, organization_id, endpoint_id)
        if not endpoint.enabled:
            # Its job would only record "endpoint disabled": say so now instead.
            raise WebhookEndpointDisabled(
                f"Webhook endpoint {endpoint.id} is disabled; enable it, then redeliver."
            )
        targets = [endpoint.id]
    else:
        targets = [
            e
            for e, wanted, format_ in await _subscribers(session, organization_id)
            if _wants(wanted, format_, event.type)
        ]
    for target in targets:
        enqueue(session, DELIVER_TASK, {"endpoint_id": target, "event_id": event.id})
    return targets


# ---- endpoints ------------------------------------------------------------------------------


async def check_destination(url: str, allowed: frozenset[str], *, field: str = "url") -> None:
    try:
        host, port = check_url_syntax(url)
        await resolve_public(host, port, allowed=allowed)
    except ForbiddenDestination as exc:
        raise WebhookUrlRefused.field(field, f"The URL is refused: {exc}.", code="refused") from exc


def validate_event_types(events: list[str]) -> list[str]:
    if not events:
        raise ValidationFailed.field("events", 'Subscribe to at least one event, or ["*"].')
    for index, name in enumerate(events):
        if name != "*" and name not in EVENT_TYPES:
            raise ValidationFailed.field(
                f"events[{index}]",
                f"Unknown event type {name!r}; known: *, {', '.join(EVENT_TYPES)}.",
                code="invalid-choice",
            )
    return list(dict.fromkeys(events))


async def create_endpoint(
    session: AsyncSession,
    organization_id: str,
    *,
    url: str,
    events: list[str],
    description: str | None,
    signing_key: bytes,
    format_: str = formats.STANDARD,
) -> tuple[WebhookEndpoint, str]:
    secret = signing.new_secret()
    now = utcnow()
    endpoint = WebhookEndpoint(
        id=new_id("whk"),
        organization_id=organization_id,
        url=url,
        description=description,
        events=validate_event_types(events),
        format=format_,
        enabled=True,
        secrets=[_secret_entry(signing_key, secret, now)],
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


async def reencrypt_secrets(session: AsyncSession, keys: Sequence[bytes]) -> int:
    """Every endpoint's signing secrets encrypted again with the first of ``keys`` (read with
    any of them), after a change of the secret key; returns how many were rewritten."""
    count = 0
    for endpoint in await session.scalars(select(WebhookEndpoint).with_for_update()):
        entries = [{**e, "value": crypto.reencrypt(keys, e["value"])} for e in endpoint.secrets]
        endpoint.secrets = entries
        count += len(entries)
    return count


def _secret_entry(signing_key: bytes, secret: str, now: datetime) -> dict[str, Any]:
    return {
        "value": crypto.encrypt(signing_key, secret),
        "created_at": isoformat_z(now),
        "expires_at": None,
    }


async def rotate_secret(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    *,
    signing_key: bytes,
    overlap: timedelta = DEFAULT_OVERLAP,
) -> str:
    # Two rotations at once would each keep the old list and add their own secret: the
    # second would drop the first's, which its caller was just shown.
    await lock_row(session, endpoint)
    now = utcnow()
    kept = []
    for entry in endpoint.secrets:
        expires = entry.get("expires_at")
        if expires is None:
            entry = {**entry, "expires_at": isoformat_z(now + overlap)}
        elif datetime.fromisoformat(expires) <= now:
            continue
        kept.append(entry)
    secret = signing.new_secret()
    endpoint.secrets = [*kept, _secret_entry(signing_key, secret, now)]
    endpoint.updated_at = now
    await session.flush()
    return secret


async def get_endpoint(
    session: AsyncSession, organization_id: str, endpoint_id: str
) -> WebhookEndpoint:
    endpoint = await session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.organization_id == organization_id,
        )
    )
    if endpoint is None:
        raise WebhookEndpointNotFound(f"No webhook endpoint {endpoint_id}.")
    return endpoint


def set_enabled(endpoint: WebhookEndpoint, enabled: bool, *, reason: str | None = None) -> None:
    endpoint.enabled = enabled
    endpoint.disabled_reason = None if enabled else (reason or "disabled through the API")
    if enabled:
        endpoint.failing_since = None
    endpoint.updated_at = utcnow()


async def list_attempts(
    session: AsyncSession, endpoint: WebhookEndpoint, *, limit: int, before: int | None = None
) -> list[WebhookAttempt]:
    """The endpoint's delivery attempts, newest first, those before the attempt id ``before``
    (a page further back); ``limit`` of them at most."""
    query = select(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint.id)
    if before is not None:
        query = query.where(WebhookAttempt.id < before)
    return list(
        (await session.scalars(query.order_by(WebhookAttempt.id.desc()).limit(limit))).all()
    )


async def get_attempt(
    session: AsyncSession, endpoint: WebhookEndpoint, attempt_id: int
) -> WebhookAttempt | None:
    """One of the endpoint's attempts (an id of another endpoint's: ``None``)."""
    return await session.scalar(
        select(WebhookAttempt).where(
            WebhookAttempt.id == attempt_id, WebhookAttempt.endpoint_id == endpoint.id
        )
    )


async def send_test(session: AsyncSession, endpoint: WebhookEndpoint) -> str:
    """A ping for this endpoint alone (not in the events feed)."""
    now = utcnow()
    event_id = new_id("evt")
    data = {"endpoint_id": endpoint.id, "message": "Test event from Tabellion."}
    session.add(
        Event(
            id=event_id,
            organization_id=endpoint.organization_id,
            type=TEST_EVENT,
            body=event_body(event_id, TEST_EVENT, now, data),
            created_at=now,
        )
    )
    enqueue(session, DELIVER_TASK, {"endpoint_id": endpoint.id, "event_id": event_id})
    return event_id


# ---- sending --------------------------------------------------------------------------------


class Outcome(NamedTuple):
    success: bool
    status_code: int | None
    latency_ms: int
    error: str | None
    retry_after: float | None = None
    gone: bool = False
    # Nothing was sent: the endpoint is disabled. Recorded as failed, without other effect.
    disabled: bool = False


def retry_delay(attempt: int) -> float:
    """Delay before the next attempt after failed attempt number ``attempt`` (1-based)."""
    base = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS)) - 1]
    return base * random.uniform(0.9, 1.1)


def next_delay(outcome: Outcome, attempt: int) -> float:
    """Seconds before the attempt after ``attempt`` failed with ``outcome``.

    A ``Retry-After`` (429, 503) is honoured: the retry never comes sooner than it asks. Nor
    sooner than the schedule: a receiver that keeps answering "Retry-After: 1" must not use
    up the ten attempts, meant to span about three days, within seconds.
    """
    scheduled = retry_delay(attempt)
    if outcome.retry_after is None:
        return scheduled
    return max(outcome.retry_after, scheduled)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    if value.strip().isdigit():
        return min(max(float(value), MIN_RETRY_AFTER), MAX_RETRY_AFTER)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max((moment - utcnow()).total_seconds(), MIN_RETRY_AFTER), MAX_RETRY_AFTER)


async def post_event(
    http: WebhookHttp,
    url: str,
    *,
    event_id: str,
    body: bytes,
    secrets_: list[str],
    extra_headers: Sequence[tuple[str, str]] = (),
) -> Outcome:
    """One signed POST; never raises for what the receiver or the network does."""
    timestamp = int(time.time())
    headers = [
        ("content-type", "application/json"),
        ("webhook-id", event_id),
        ("webhook-timestamp", str(timestamp)),
        ("webhook-signature", signing.signature_header(secrets_, event_id, timestamp, body)),
        *extra_headers,
    ]
    started = time.perf_counter()
    try:
        answer = await http.post(url, body=body, headers=headers)
    except ForbiddenDestination as exc:
        return Outcome(False, None, _ms(started), f"destination refused: {exc}")
    except TimeoutError:
        return Outcome(False, None, _ms(started), f"timed out after {http.timeout:g} s")
    except SendError as exc:
        return Outcome(False, None, _ms(started), str(exc)[:500])
    latency = _ms(started)
    code = answer.status_code
    if 200 <= code < 300:
        return Outcome(True, code, latency, None)
    if code == 410:
        return Outcome(False, code, latency, "410 Gone: endpoint disabled", gone=True)
    retry_after = _retry_after(answer.headers) if code in (429, 503) else None
    error = f"HTTP {code}" + (" (redirects are not followed)" if 300 <= code < 400 else "")
    return Outcome(False, code, latency, error, retry_after=retry_after)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
