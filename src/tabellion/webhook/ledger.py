"""Group commit for webhook deliveries: the sends of many jobs, one short transaction.

A delivery needs its endpoint and event before it sends, and a durable record of the attempt
after. One job at a time, that is two transactions per send, and on SQLite each statement is
a round trip to the driver's thread that waits for the event loop's next turn. The ledger
serves every delivery running in this process together instead:

- Attempts are recorded in groups: what finishes while one transaction is in flight goes into
  the next. A job still awaits the commit of its own attempt before it returns, so the worker
  never marks a job done whose attempt is not recorded; if the transaction fails, every job in
  it fails and the worker retries them (at least once, as always).
- Events never change once written, so a load reads ahead: the events that follow it (the jobs
  that come next, most often) are kept, within a memory budget, for the sends that need them.
- Endpoints are kept for at most ``ENDPOINT_TTL`` and read again by every transaction that
  records an attempt for them (it locks their row anyway), so while sends flow the copy is as
  fresh as the last transaction. Changes made through this process's API are seen at once;
  made elsewhere (another process, the database), within ``ENDPOINT_TTL``.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from tabellion.db import bulk_insert
from tabellion.jobs.queue import enqueue
from tabellion.kit import crypto
from tabellion.kit.time import utcnow
from tabellion.models.webhook import Event, WebhookAttempt, WebhookEndpoint
from tabellion.webhook.service import DISABLE_AFTER_FAILING, NOTIFY_DISABLED_TASK, Outcome

# Bounds one transaction; whatever is left waits for the next.
MAX_BATCH = 256
# Seconds between the starts of two transactions while requests keep coming, so that each
# carries more; a lone request (an idle system) goes at once.
MIN_INTERVAL = 0.005
# Seconds an endpoint's copy serves sends without being read again.
ENDPOINT_TTL = 2.0
MAX_CACHED_ENDPOINTS = 10_000
# Events read after the one a send asked for, and the memory kept for event bodies.
READ_AHEAD = 64
MAX_CACHED_EVENT_BYTES = 8 * 1024 * 1024

GONE_REASON = "The endpoint answered 410 Gone."
FAILING_REASON = "Every attempt failed for three days."

_endpoints = cast(Table, WebhookEndpoint.__table__)
_events = cast(Table, Event.__table__)
_event_columns = (_events.c.id, _events.c.type, _events.c.delivery_id, _events.c.body)

# Core statements, built once: the ORM adds nothing here but time.
_ENDPOINTS = (
    select(
        _endpoints.c.id,
        _endpoints.c.organization_id,
        _endpoints.c.url,
        _endpoints.c.format,
        _endpoints.c.enabled,
        _endpoints.c.disabled_reason,
        _endpoints.c.failing_since,
        _endpoints.c.secrets,
    )
    .where(_endpoints.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_endpoints.c.id)
    # Locked in id order (PostgreSQL; SQLite holds the database lock anyway): a concurrent
    # delete waits, so the attempts' foreign key holds, and two ledgers cannot deadlock.
    .with_for_update()
)
_EVENTS = select(*_event_columns).where(_events.c.id.in_(bindparam("ids", expanding=True)))
_EVENTS_FROM = (
    select(*_event_columns)
    .where(_events.c.id >= bindparam("first"))
    .order_by(_events.c.id)
    .limit(bindparam("limit"))
)
_attempts = cast(Table, WebhookAttempt.__table__)
_UPDATE_ENDPOINT = (
    update(_endpoints)
    .where(_endpoints.c.id == bindparam("b_id"))
    .values(
        enabled=bindparam("b_enabled"),
        disabled_reason=bindparam("b_reason"),
        failing_since=bindparam("b_failing_since"),
        updated_at=bindparam("b_now"),
    )
)


# Named tuples, not frozen dataclasses: made for every send (as the worker's ``ClaimedJob``,
# which says why).
class Secret(NamedTuple):
    value: str
    expires_at: datetime | None


class EndpointCopy(NamedTuple):
    id: str
    organization_id: str
    url: str
    format: str
    enabled: bool
    failing_since: datetime | None
    secrets: tuple[Secret, ...]  # newest first

    def signing_secrets(self, now: datetime) -> list[str]:
        """A rotated-out secret signs too until its overlap window closes."""
        return [s.value for s in self.secrets if s.expires_at is None or s.expires_at > now]


class EventCopy(NamedTuple):
    id: str
    type: str
    delivery_id: str | None
    body: bytes  # the exact bytes every attempt sends


class Target(NamedTuple):
    """What one send needs."""

    endpoint: EndpointCopy
    event: EventCopy


class AttemptRecord(NamedTuple):
    endpoint_id: str
    event_id: str
    event_type: str
    attempt: int
    outcome: Outcome
    delay: float | None  # before the next attempt, when there is one
    is_last: bool


@dataclass(slots=True)
class _EndpointState:
    """An endpoint, locked for the transaction, and what the batch's attempts do to it."""

    id: str
    organization_id: str
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    changed: bool = False
    notify: bool = False

    def apply(self, record: AttemptRecord, now: datetime) -> str:
        outcome = record.outcome
        if outcome.disabled:
            return "failed"
        if outcome.success:
            self._set_failing(None)
            return "succeeded"
        if outcome.gone:
            self._disable(GONE_REASON)
            return "failed"
        since = self.failing_since or now
        self._set_failing(since)
        if self.enabled and now - since >= DISABLE_AFTER_FAILING:
            self._disable(FAILING_REASON)
            self.notify = True
        return "dead" if record.is_last else "retrying"

    def _set_failing(self, since: datetime | None) -> None:
        if self.failing_since != since:
            self.failing_since = since
            self.changed = True

    def _disable(self, reason: str) -> None:
        self.enabled = False
        self.disabled_reason = reason
        self.changed = True


@dataclass
class _Pending:
    # (endpoint_id, event_id) -> the loads waiting for it
    loads: dict[tuple[str, str], list[asyncio.Future[Target | None]]] = field(default_factory=dict)
    records: list[tuple[AttemptRecord, asyncio.Future[str]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.loads) + len(self.records)


class Ledger:
    """The process's one gatherer of delivery reads and attempt records."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        keys: Sequence[bytes],
        wakeup: asyncio.Event | None = None,
        endpoint_ttl: float = ENDPOINT_TTL,
    ) -> None:
        self._engine = engine
        self._keys = tuple(keys)
        self._wakeup = wakeup
        self._endpoint_ttl = endpoint_ttl
        self._pending = _Pending()
        self._pump: asyncio.Task[None] | None = None
        self._last_start = float("-inf")
        # endpoint id -> (monotonic time read, copy)
        self._endpoints: dict[str, tuple[float, EndpointCopy]] = {}
        self._events: OrderedDict[str, EventCopy] = OrderedDict()
        self._event_bytes = 0
        # Decrypted secrets, by ciphertext (a rotation is a miss).
        self._plain: dict[str, str] = {}
        self.transactions = 0  # for tests and benchmarks

    async def load(self, endpoint_id: str, event_id: str) -> Target | None:
        """The endpoint and event, or None when either is gone."""
        target = self._cached(endpoint_id, event_id)
        if target is not None:
            return target
        future: asyncio.Future[Target | None] = asyncio.get_running_loop().create_future()
        self._pending.loads.setdefault((endpoint_id, event_id), []).append(future)
        self._start()
        return await future

    async def record(self, record: AttemptRecord) -> str:
        """Record an attempt; returns its label once committed.

        ``succeeded``, ``retrying``, ``dead``, ``failed`` (410: no retry), or ``skipped`` when
        the endpoint was deleted meanwhile (nothing is recorded).
        """
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending.records.append((record, future))
        self._start()
        return await future

    def forget(self, endpoint_id: str) -> None:
        """Read the endpoint afresh for the next send (it was changed through the API)."""
        self._endpoints.pop(endpoint_id, None)

    async def close(self) -> None:
        if self._pump is not None:
            await asyncio.gather(self._pump, return_exceptions=True)

    # ---- the copies ----------------------------------------------------------------------------

    def _cached(self, endpoint_id: str, event_id: str, *, fresh: bool = True) -> Target | None:
        entry = self._endpoints.get(endpoint_id)
        if entry is None or (fresh and time.monotonic() - entry[0] > self._endpoint_ttl):
            return None
        event = self._events.get(event_id)
        if event is None:
            return None
        self._events.move_to_end(event_id)
        return Target(entry[1], event)

    def _fresh_endpoint(self, endpoint_id: str, now: float) -> EndpointCopy | None:
        entry = self._endpoints.get(endpoint_id)
        if entry is None or now - entry[0] > self._endpoint_ttl:
            return None
        return entry[1]

    def _keep_endpoint(self, row: Any, state: _EndpointState | None, read_at: float) -> None:
        if len(self._endpoints) >= MAX_CACHED_ENDPOINTS:
            self._endpoints.clear()
        copy = EndpointCopy(
            id=row.id,
            organization_id=row.organization_id,
            url=row.url,
            format=row.format,
            enabled=row.enabled if state is None else state.enabled,
            failing_since=row.failing_since if state is None else state.failing_since,
            secrets=self._secrets(row.secrets),
        )
        self._endpoints[row.id] = (read_at, copy)

    def _keep_event(self, row: Any) -> None:
        event_id, type_, delivery_id, body = row  # _event_columns' order
        if event_id in self._events:
            return
        copy = EventCopy(event_id, type_, delivery_id, body.encode())
        self._events[event_id] = copy
        self._event_bytes += len(copy.body)
        while self._event_bytes > MAX_CACHED_EVENT_BYTES and len(self._events) > 1:
            _, oldest = self._events.popitem(last=False)
            self._event_bytes -= len(oldest.body)

    def _secrets(self, entries: list[dict[str, Any]]) -> tuple[Secret, ...]:
        out = []
        for entry in reversed(entries):
            token = entry["value"]
            plain = self._plain.get(token)
            if plain is None:
                if len(self._plain) >= MAX_CACHED_ENDPOINTS:
                    self._plain.clear()
                plain = self._plain[token] = crypto.decrypt(self._keys, token)
            expires = entry.get("expires_at")
            out.append(Secret(plain, datetime.fromisoformat(expires) if expires else None))
        return tuple(out)

    # ---- the pump ---------------------------------------------------------------------------

    def _start(self) -> None:
        # A task, not the caller: a cancelled job must not cancel the others' transaction.
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            wait = self._last_start + MIN_INTERVAL - loop.time()
            if wait > 0 and len(self._pending) < MAX_BATCH:
                await asyncio.sleep(wait)
            self._last_start = loop.time()
            loads = self._take_loads()
            records = self._pending.records[:MAX_BATCH]
            del self._pending.records[:MAX_BATCH]
            if not loads and not records:
                continue
            try:
                labels = await self._exchange(list(loads), [record for record, _ in records])
            except Exception as exc:
                for waiting in loads.values():
                    _fail(waiting, exc)
                _fail([future for _, future in records], exc)
                continue
            for (_, recorded), label in zip(records, labels, strict=True):
                if not recorded.done():
                    recorded.set_result(label)
            for (endpoint_id, event_id), waiting in loads.items():
                # Just read: as fresh as can be, whatever the time to live.
                target = self._cached(endpoint_id, event_id, fresh=False)
                for loaded in waiting:
                    if not loaded.done():
                        loaded.set_result(target)

    def _take_loads(self) -> dict[tuple[str, str], list[asyncio.Future[Target | None]]]:
        """Up to MAX_BATCH loads still to read; those a read-ahead has served meanwhile end."""
        taken: dict[tuple[str, str], list[asyncio.Future[Target | None]]] = {}
        pending = self._pending.loads
        for key in list(pending):
            if len(taken) >= MAX_BATCH:
                break
            waiting = pending.pop(key)
            target = self._cached(*key)
            if target is None:
                taken[key] = waiting
                continue
            for loaded in waiting:
                if not loaded.done():
                    loaded.set_result(target)
        return taken

    async def _exchange(
        self, keys: Sequence[tuple[str, str]], records: Sequence[AttemptRecord]
    ) -> list[str]:
        try:
            return await self._exchange_once(keys, records, lock_all=False)
        except IntegrityError:
            # An endpoint taken as unchanged was deleted meanwhile: lock them all this time.
            return await self._exchange_once(keys, records, lock_all=True)

    async def _exchange_once(
        self, keys: Sequence[tuple[str, str]], records: Sequence[AttemptRecord], *, lock_all: bool
    ) -> list[str]:
        """One transaction: record the attempts, read what the loads miss."""
        self.transactions += 1
        now = time.monotonic()
        # An endpoint whose fresh copy says enabled and not failing, and whose attempts here
        # all succeeded, stays as it is: its attempts need neither its row nor its lock.
        unchanged: dict[str, _EndpointState] = {}
        if not lock_all:
            failed = {r.endpoint_id for r in records if not r.outcome.success}
            for endpoint_id in {r.endpoint_id for r in records} - failed:
                copy = self._fresh_endpoint(endpoint_id, now)
                if copy is not None and copy.enabled and copy.failing_since is None:
                    unchanged[endpoint_id] = _EndpointState(
                        copy.id, copy.organization_id, True, None, None
                    )
        to_read = {r.endpoint_id for r in records if r.endpoint_id not in unchanged}
        to_read.update(key[0] for key in keys if self._fresh_endpoint(key[0], now) is None)
        missing = sorted({event_id for _, event_id in keys if event_id not in self._events})
        async with self._engine.begin() as conn:
            rows = []
            if to_read:
                rows = list(await conn.execute(_ENDPOINTS, {"ids": sorted(to_read)}))
            states = {
                row.id: _EndpointState(
                    row.id, row.organization_id, row.enabled, row.disabled_reason, row.failing_since
                )
                for row in rows
            }
            labels = await self._write(conn, {**unchanged, **states}, records) if records else []
            events = await self._read_events(conn, missing) if missing else []
            notify = [state.id for state in states.values() if state.notify]
            if notify:
                async with AsyncSession(bind=conn) as session:
                    for endpoint_id in notify:
                        enqueue(session, NOTIFY_DISABLED_TASK, {"endpoint_id": endpoint_id})
                    await session.flush()
        for endpoint_id in to_read:
            self._endpoints.pop(endpoint_id, None)
        for row in rows:
            self._keep_endpoint(row, states[row.id], now)
        for row in events:
            self._keep_event(row)
        if notify and self._wakeup is not None:
            self._wakeup.set()
        return labels

    async def _read_events(self, conn: AsyncConnection, missing: list[str]) -> list[Any]:
        # The jobs that follow are most often for the events that follow.
        rows = list(
            await conn.execute(
                _EVENTS_FROM, {"first": missing[0], "limit": max(READ_AHEAD, len(missing))}
            )
        )
        found = {row.id for row in rows}
        rest = [event_id for event_id in missing if event_id not in found]
        if rest:
            rows += await conn.execute(_EVENTS, {"ids": rest})
        return rows

    async def _write(
        self,
        conn: AsyncConnection,
        states: dict[str, _EndpointState],
        records: Sequence[AttemptRecord],
    ) -> list[str]:
        """Insert the attempts and apply their effect on the endpoints; returns their labels."""
        now = utcnow()
        labels: list[str] = []
        attempts: list[dict[str, Any]] = []
        for record in records:
            state = states.get(record.endpoint_id)
            if state is None:
                labels.append("skipped")
                continue
            label = state.apply(record, now)
            labels.append(label)
            retry_at = None
            if label == "retrying" and record.delay:
                retry_at = now + timedelta(seconds=record.delay)
            attempts.append(
                {
                    "organization_id": state.organization_id,
                    "endpoint_id": state.id,
                    "event_id": record.event_id,
                    "event_type": record.event_type,
                    "attempt": record.attempt,
                    "outcome": label,
                    "status_code": record.outcome.status_code,
                    "latency_ms": record.outcome.latency_ms,
                    "error": record.outcome.error,
                    "next_retry_at": retry_at,
                    "created_at": now,
                }
            )
        if attempts:
            await bulk_insert(conn, _attempts, attempts)
        changed = [
            {
                "b_id": state.id,
                "b_enabled": state.enabled,
                "b_reason": state.disabled_reason,
                "b_failing_since": state.failing_since,
                "b_now": now,
            }
            for state in states.values()
            if state.changed
        ]
        if changed:
            await conn.execute(_UPDATE_ENDPOINT, changed)
        return labels


def _fail(futures: Sequence[asyncio.Future[Any]], exc: Exception) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(exc)
