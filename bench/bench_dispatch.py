"""Dispatch of one message to 10,000 recipients, through the API, on SQLite and PostgreSQL.

Measures POST /v1/messages/{id}/dispatch end to end in-process (deliveries, SENT evidence,
notice jobs, ``delivery.sent`` and ``message.dispatched`` events committed, response
serialised), and as its floor the same work by plain means in one transaction: the draft's
recipients read, the tokens and signed links derived, the same rows bulk-inserted with the
same driver (COPY on PostgreSQL, executemany on SQLite), the same response document
serialised (see ``bare_dispatch``).
Target: ≥ 0.8× that floor.

    .venv/bin/python bench/bench_dispatch.py [--recipients 10000]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from psycopg import sql
from pydantic_core import to_json
from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bench.common import bench_settings, fresh_postgres, report
from tabellion.app import create_app
from tabellion.db import _python_default_value, transaction
from tabellion.evidence.events import EvidenceType, event_uri
from tabellion.jobs.worker import freeze_startup_heap
from tabellion.kit import loop as event_loop
from tabellion.kit.ids import new_id
from tabellion.kit.time import isoformat_z, utcnow
from tabellion.kit.tokens import hmac_sha256
from tabellion.migrations import upgrade_database
from tabellion.models import Delivery, Evidence, Job, Message
from tabellion.models.base import table_of
from tabellion.models.webhook import Event
from tabellion.organization.service import create_api_key, create_organization
from tabellion.runtime import Runtime
from tabellion.webhook.service import event_body

SENT_URI = event_uri(EvidenceType.SENT)
NOTICE_KIND = "notification.send_notice"


def recipients(count: int) -> list[dict[str, str]]:
    return [
        {"email": f"r{i}@example.test", "first_name": "Jane", "last_name": f"Doe {i}"}
        for i in range(count)
    ]


async def through_api(runtime: Runtime, count: int) -> tuple[float, float, int]:
    async with transaction(runtime.sessions) as session:
        org = await create_organization(session, name="Bench")
        key = await create_api_key(session, org)
    auth = {"Authorization": f"Bearer {key.secret}"}
    app = create_app(runtime=runtime)
    freeze_startup_heap()  # as the app's lifespan does once started (ASGITransport runs none)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as c:
        body = {"mode": "registered", "subject": "Bench", "body_html": "<p>Hi</p>"}
        created = await c.post(
            "/v1/messages", json={**body, "recipients": recipients(count)}, headers=auth
        )
        created.raise_for_status()
        await checkpoint(runtime)
        started, cpu = time.perf_counter(), time.process_time()
        response = await c.post(f"/v1/messages/{created.json()['id']}/dispatch", headers=auth)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        response.raise_for_status()
        assert len(response.json()["deliveries"]) == count
    return elapsed, cpu, len(response.content)


async def checkpoint(runtime: Runtime) -> None:
    """On SQLite, empty the write-ahead log before a timed part, so that neither side pays
    for writing back the other's (or the draft's) pages when the log reaches its limit."""
    if runtime.settings.resolved_database_url.startswith("sqlite"):
        async with runtime.engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            await (await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")).close()


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _hmac(key: bytes, text: str) -> str:
    # The project's own HMAC (a copy of an HMAC primed with the key): the fastest plain means.
    return _b64(hmac_sha256(key, text))


async def bare_dispatch(runtime: Runtime, count: int) -> tuple[float, float, int]:
    """The same dispatch by the fastest plain means: the floor for any dispatch.

    Timed from the draft's row to the response's bytes, as ours is: read the draft's recipient
    list; per recipient an id, a salt, the portal token (HMAC) and its SHA-256, the delivery's
    representation (the same fields and signed links as the API's: the tracking link, the SENT
    proof's two links), its delivery, SENT evidence (with the same submission details), notice
    job and ``delivery.sent`` event (its body by the same serialiser as ours) rows, and the
    message's own ``message.dispatched`` event (fitted to 20 kB as ours is), written by
    the fastest plain means (a bare psycopg ``COPY`` per table on PostgreSQL, what
    ``db.bulk_insert`` does minus its defaults and type processing; on SQLite the sqlite3
    driver's executemany of values converted by plain means); then the response (the message
    and its deliveries) serialised in one call.
    Returns the time, this process's CPU time (all its threads) and the response's size (the
    caller holds it equal to ours).
    """
    settings = runtime.settings
    async with transaction(runtime.sessions) as session:
        org = await create_organization(session, name="Baseline")
        now = utcnow()
        message = Message(
            id=new_id("msg"),
            organization_id=org.id,
            mode="registered",
            status="draft",
            subject="Bench",
            body_html="<p>Hi</p>",
            body_text="Hi",
            recipients=[{**r, "language": "en"} for r in recipients(count)],
            recipient_count=count,
            acceptance_days=15,
            created_at=now,
            updated_at=now,
        )
        session.add(message)
    messages = table_of(Message)
    key, base = settings.signing_key, settings.base_url
    await checkpoint(runtime)
    started, cpu = time.perf_counter(), time.process_time()
    async with transaction(runtime.sessions) as session:
        row = (
            await session.execute(
                select(messages).where(messages.c.id == message.id).with_for_update()
            )
        ).one()
        now = utcnow()
        at = isoformat_z(now)
        expires = int((now.replace(second=0, microsecond=0) + timedelta(hours=24)).timestamp())
        submission = {
            "submitted_by": {"api_key_id": "key", "organization_id": org.id, "authentication": "k"},
            "sender": {
                "organization_id": org.id,
                "user_id": None,
                "email": None,
                "vouched_by_api_key_id": None,
            },
            "on_behalf": False,
        }
        shown, rows, evidence, jobs, events = [], [], [], [], []
        for recipient in row.recipients:
            delivery_id, evidence_id, event_id = new_id("dlv"), new_id("evd"), new_id("evt")
            salt = secrets.token_hex(16)
            token = _hmac(key, f"portal-token:{delivery_id}:{salt}")
            person = {
                "email": recipient["email"],
                "first_name": recipient.get("first_name"),
                "last_name": recipient.get("last_name"),
                "company": recipient.get("company"),
                "siren": recipient.get("siren"),
                "language": recipient.get("language", "en"),
            }
            rows.append(
                {
                    "id": delivery_id,
                    "organization_id": org.id,
                    "message_id": message.id,
                    "mode": "registered",
                    "submitted_by_organization_id": None,
                    "status": "pending",
                    **person,
                    "token_salt": salt,
                    "token_hash": hashlib.sha256(f"portal:{token}".encode()).hexdigest(),
                    "identification": None,
                    "phone": None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            evidence.append(
                {
                    "id": evidence_id,
                    "organization_id": org.id,
                    "delivery_id": delivery_id,
                    "message_id": message.id,
                    "type": "SENT",
                    "event": SENT_URI,
                    "occurred_at": now,
                    "details": submission,
                }
            )
            link = f"?expires={expires}&signature="
            ref = {
                "id": evidence_id,
                "type": "SENT",
                "event": SENT_URI,
                "occurred_at": at,
                "pdf_url": f"{base}/v1/evidence/{evidence_id}/pdf{link}"
                + _hmac(key, f"evidence-link:pdf:{evidence_id}:{expires}"),
                "json_url": f"{base}/v1/evidence/{evidence_id}{link}"
                + _hmac(key, f"evidence-link:json:{evidence_id}:{expires}"),
            }
            representation = {
                "id": delivery_id,
                "message_id": message.id,
                "mode": "registered",
                "status": "pending",
                "status_reason": None,
                "recipient": person,
                "deadline_at": None,
                "notified_at": None,
                "created_at": at,
                "updated_at": at,
                "tracking_url": f"{base}/track/{delivery_id}."
                + _hmac(key, f"tracking-token:{delivery_id}:{salt}"),
                "evidence": [ref],
            }
            shown.append(representation)
            events.append(
                {
                    "id": event_id,
                    "organization_id": org.id,
                    "type": "delivery.sent",
                    "delivery_id": delivery_id,
                    "body": event_body(
                        event_id,
                        "delivery.sent",
                        now,
                        {"delivery": representation, "evidence": ref},
                    ),
                    "created_at": now,
                }
            )
            jobs.append(
                {
                    "kind": NOTICE_KIND,
                    "payload": {"delivery_id": delivery_id},
                    "status": "queued",
                    "attempts": 0,
                    "max_attempts": 8,
                    "run_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        await session.execute(
            update(messages)
            .where(messages.c.id == message.id)
            .values(status="dispatched", dispatched_at=now, updated_at=now)
        )
        document = {
            "id": row.id,
            "mode": row.mode,
            "status": "dispatched",
            "subject": row.subject,
            "body_html": row.body_html,
            "body_text": row.body_text,
            "sender": {"email": None, "name": None},
            "recipients": [r["recipient"] for r in shown],
            "recipient_count": row.recipient_count,
            "on_behalf_of": None,
            "submitted_by": None,
            "reference": row.reference,
            "campaign": row.campaign,
            "guid": row.guid,
            "acceptance_days": row.acceptance_days,
            "copy_to_mailbox_after_acceptance": False,
            "notify_sender": False,
            "identification": None,
            "attachments": [],
            "legal_hold": False,
            "content_purged_at": None,
            "proofs_expired_at": None,
            "created_at": isoformat_z(row.created_at),
            "updated_at": at,
            "dispatched_at": at,
            "deliveries": shown,
        }
        # The message's own event, as ours writes it first: the message without its
        # deliveries, fitted to the 20 kB an event may carry (10,000 recipients do not fit).
        dispatched_id = new_id("evt")
        dispatched = {k: v for k, v in document.items() if k != "deliveries"}
        events.insert(
            0,
            {
                "id": dispatched_id,
                "organization_id": org.id,
                "type": "message.dispatched",
                "delivery_id": None,
                "body": event_body(
                    dispatched_id, "message.dispatched", now, {"message": dispatched}
                ),
                "created_at": now,
            },
        )
        for model, values in ((Delivery, rows), (Evidence, evidence), (Job, jobs), (Event, events)):
            if session.get_bind().dialect.name == "postgresql":
                await bare_copy(session, table_of(model), values)
            else:
                await bare_executemany(session, table_of(model), values)
        body = to_json(document)
    return time.perf_counter() - started, time.process_time() - cpu, len(body)


async def bare_copy(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """COPY the rows, with the columns' Python defaults (computed once: none is a key); JSON
    as its text, a value shared by many rows (the evidence's details) serialised once."""
    defaults = {
        c.name: _python_default_value(c)
        for c in table.columns
        if c.name not in rows[0] and _python_default_value(c) is not None
    }
    columns = [*rows[0], *defaults]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    texts: dict[int, str] = {}

    def text(value: Any) -> Any:
        if not isinstance(value, dict | list):
            return value
        if id(value) not in texts:
            texts[id(value)] = json.dumps(value)
        return texts[id(value)]

    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    async with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            await copy.write_row([text(v) for v in [*row.values(), *defaults.values()]])


async def bare_executemany(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """The sqlite3 driver's executemany of the rows, with the columns' Python defaults
    (computed once): the values as SQLite stores them (times as SQLAlchemy's text, JSON as its
    text), each value shared by many rows (the batch's instant, the evidence's details)
    converted once."""
    defaults = {
        c.name: _python_default_value(c)
        for c in table.columns
        if c.name not in rows[0] and _python_default_value(c) is not None
    }
    columns = [*rows[0], *defaults]
    names = ", ".join(f'"{name}"' for name in columns)
    marks = ", ".join("?" for _ in columns)
    statement = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'
    stored: dict[int, Any] = {}

    def value(given: Any) -> Any:
        if not isinstance(given, dict | list | datetime):
            return given
        if id(given) not in stored:
            stored[id(given)] = (
                f"{given.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"
                if isinstance(given, datetime)
                else json.dumps(given)
            )
        return stored[id(given)]

    tail = list(defaults.values())
    connection = await session.connection()
    await connection.exec_driver_sql(
        statement, [tuple(value(v) for v in [*row.values(), *tail]) for row in rows]
    )


async def same_rows(runtime: Runtime, count: int) -> None:
    """Both dispatches wrote as many rows of each kind, which read back through the models."""
    async with runtime.sessions() as session:
        for model, moment in (
            (Delivery, Delivery.created_at),
            (Evidence, Evidence.occurred_at),
            (Event, Event.created_at),
        ):
            counts = (
                await session.execute(
                    select(model.organization_id, func.count(), func.min(moment)).group_by(
                        model.organization_id
                    )
                )
            ).all()
            # Events: each delivery's and the message's own, on both sides.
            wanted = count + 1 if model is Event else count
            assert sorted(n for _, n, _ in counts) == [wanted, wanted], counts
            assert all(isinstance(first, datetime) for _, _, first in counts), counts
        details = (await session.scalars(select(Evidence.details))).all()
        assert len(details) == 2 * count and all(isinstance(d, dict) for d in details)
        jobs = await session.scalar(select(func.count()).where(Job.kind == NOTICE_KIND))
        assert jobs == 2 * count, jobs


async def run(label: str, database_url: str | None, count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(Path(tmp), database_url)
        upgrade_database(settings.resolved_database_url)
        runtime = Runtime.build(settings)
        try:
            ours, cpu, size = await through_api(runtime, count)
            floor, floor_cpu, floor_size = await bare_dispatch(runtime, count)
            await same_rows(runtime, count)
        finally:
            await runtime.close()
    # The same document on both sides: the same fields and links (ids, salts and signatures
    # differ, not their lengths; a time whose microseconds are 0 is 7 characters shorter).
    assert abs(size - floor_size) <= 64, (size, floor_size)
    rate, floor_rate = count / ours, count / floor
    verdict = "ok" if rate >= 0.8 * floor_rate else "BELOW TARGET"
    print(
        f"{label:10s} dispatch {count} recipients: {ours:6.2f} s = {rate:8.0f} recipients/s "
        f"[{verdict}, target 0.8x the floor]; floor {floor_rate:8.0f} recipients/s; "
        f"ratio {rate / floor_rate:4.2f}x; CPU per recipient {cpu / count * 1e6:4.0f} µs, "
        f"floor {floor_cpu / count * 1e6:4.0f} µs (this process, its threads)"
    )
    report(f"dispatch {count}, {label}", rate, floor_rate, "recipients/s", "≥ 0.8× floor")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    args = parser.parse_args()
    event_loop.run(run("SQLite", None, args.recipients))
    url = fresh_postgres()
    if url:
        event_loop.run(run("PostgreSQL", url, args.recipients))


if __name__ == "__main__":
    main()
