"""Dispatch of one message to 10,000 recipients, through the API, on SQLite and PostgreSQL.

Measures POST /v1/messages/{id}/dispatch end to end in-process (deliveries, SENT evidence and
notification jobs committed, response serialised), and as a baseline a bare bulk insert of
the same rows with the same driver in one transaction (COPY on PostgreSQL, executemany on
SQLite). Target: ≥ 0.8× that floor.

    .venv/bin/python bench/bench_dispatch.py [--recipients 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from psycopg import sql
from psycopg.types.json import Json
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from bench.common import bench_settings, fresh_postgres, report
from tabellion.app import create_app
from tabellion.db import _python_default_value, transaction
from tabellion.evidence.events import EvidenceType
from tabellion.evidence.service import evidence_row
from tabellion.kit.ids import new_id
from tabellion.kit.time import utcnow
from tabellion.migrations import upgrade_database
from tabellion.models import Delivery, Evidence, Job, Message
from tabellion.models.base import table_of
from tabellion.models.webhook import Event
from tabellion.organization.service import create_api_key, create_organization
from tabellion.runtime import Runtime
from tabellion.webhook.service import event_body


def recipients(count: int) -> list[dict[str, str]]:
    return [
        {"email": f"r{i}@example.test", "first_name": "Jane", "last_name": f"Doe {i}"}
        for i in range(count)
    ]


async def through_api(runtime: Runtime, count: int) -> float:
    async with transaction(runtime.sessions) as session:
        org = await create_organization(session, name="Bench")
        key = await create_api_key(session, org)
    auth = {"Authorization": f"Bearer {key.secret}"}
    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as c:
        body = {"mode": "registered", "subject": "Bench", "body_html": "<p>Hi</p>"}
        created = await c.post(
            "/v1/messages", json={**body, "recipients": recipients(count)}, headers=auth
        )
        created.raise_for_status()
        started = time.perf_counter()
        response = await c.post(f"/v1/messages/{created.json()['id']}/dispatch", headers=auth)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        assert len(response.json()["deliveries"]) == count
    return elapsed


async def bare_insert(runtime: Runtime, count: int) -> float:
    """The same rows inserted by the fastest plain means: the floor for any dispatch.

    On PostgreSQL a bare psycopg ``COPY`` per table (what ``db.bulk_insert`` does, minus its
    defaults and type processing); elsewhere Core's executemany. The rows: each recipient's
    delivery, SENT evidence, notice job and ``delivery.sent`` event (its body the delivery's
    representation, as the API's), as a dispatch writes them.
    """
    async with transaction(runtime.sessions) as session:
        org = await create_organization(session, name="Baseline")
        now = utcnow()
        message = Message(
            id=new_id("msg"),
            organization_id=org.id,
            mode="registered",
            subject="x",
            body_html="",
            body_text="",
            created_at=now,
            updated_at=now,
        )
        session.add(message)
    started = time.perf_counter()
    async with transaction(runtime.sessions) as session:
        now = utcnow()
        rows, evidence, jobs, events = [], [], [], []
        for i in range(count):
            delivery_id = new_id("dlv")
            rows.append(
                {
                    "id": delivery_id,
                    "organization_id": org.id,
                    "message_id": message.id,
                    "mode": "registered",
                    "status": "pending",
                    "email": f"r{i}@example.test",
                    "first_name": "Jane",
                    "last_name": f"Doe {i}",
                    "language": "en",
                    "token_salt": new_id("x")[2:18],
                    "token_hash": new_id("x") + str(i),
                    "created_at": now,
                    "updated_at": now,
                }
            )
            evidence.append(
                evidence_row(
                    organization_id=org.id,
                    delivery_id=delivery_id,
                    message_id=message.id,
                    evidence_type=EvidenceType.SENT,
                    occurred_at=now,
                )
            )
            event_id = new_id("evt")
            representation = {
                "id": delivery_id,
                "message_id": message.id,
                "status": "pending",
                "email": f"r{i}@example.test",
                "first_name": "Jane",
                "last_name": f"Doe {i}",
                "language": "en",
                "created_at": now.isoformat(),
                "evidence": [{"id": evidence[-1]["id"], "type": "SENT", "at": now.isoformat()}],
            }
            events.append(
                {
                    "id": event_id,
                    "organization_id": org.id,
                    "type": "delivery.sent",
                    "delivery_id": delivery_id,
                    "body": event_body(
                        event_id, "delivery.sent", now, {"delivery": representation}
                    ),
                    "created_at": now,
                }
            )
            jobs.append(
                {
                    "kind": "notification.send_notice",
                    "payload": {"delivery_id": delivery_id},
                    "status": "queued",
                    "attempts": 0,
                    "max_attempts": 8,
                    "run_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        for model, values in ((Delivery, rows), (Evidence, evidence), (Job, jobs), (Event, events)):
            if session.get_bind().dialect.name == "postgresql":
                await bare_copy(session, table_of(model), values)
            else:
                await session.execute(insert(table_of(model)), values)
    return time.perf_counter() - started


async def bare_copy(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """COPY the rows, with the columns' Python defaults (computed once: none is a key)."""
    defaults = {
        c.name: _python_default_value(c)
        for c in table.columns
        if c.name not in rows[0] and _python_default_value(c) is not None
    }
    columns = [*rows[0], *defaults]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    async with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            await copy.write_row(
                [
                    Json(v) if isinstance(v, dict | list) else v
                    for v in [*row.values(), *defaults.values()]
                ]
            )


async def run(label: str, database_url: str | None, count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(Path(tmp), database_url)
        upgrade_database(settings.resolved_database_url)
        runtime = Runtime.build(settings)
        try:
            ours = await through_api(runtime, count)
            floor = await bare_insert(runtime, count)
        finally:
            await runtime.close()
    rate, floor_rate = count / ours, count / floor
    verdict = "ok" if rate >= 0.8 * floor_rate else "BELOW TARGET"
    print(
        f"{label:10s} dispatch {count} recipients: {ours:6.2f} s = {rate:8.0f} recipients/s "
        f"[{verdict}, target 0.8x the bare insert]; bare insert {floor_rate:8.0f} rows/s; "
        f"ratio {rate / floor_rate:4.2f}x"
    )
    report(f"dispatch {count}, {label}", rate, floor_rate, "recipients/s", "≥ 0.8× floor")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(run("SQLite", None, args.recipients))
    url = fresh_postgres()
    if url:
        asyncio.run(run("PostgreSQL", url, args.recipients))


if __name__ == "__main__":
    main()
