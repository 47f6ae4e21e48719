"""Read path: GET a delivery, a message and a list page at N connections, vs a bare app.

Both servers run as separate uvicorn processes on the same database; the load generator
(``wrk`` when installed, ``apt-get install wrk``; else httpx in this process) keeps
``--connections`` requests in flight, after one warm-up request per path. The floor is a bare
FastAPI app doing the same essential work by the plainest means: it looks up the API key's
row by its prefix and compares the hash (then trusts the key for 5 s, as ours does), selects
the same rows with the same tenant filter (a delivery and its evidence; a message, its
attachments, its deliveries and their evidence; a page of deliveries and their evidence)
with plain SQL on aiosqlite (as many connections as ours) or psycopg, and answers the same
JSON document (the same fields, the same signed links) serialised in one call, with no ORM,
dependency graph or response model.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import Request, Response

from bench.common import (
    bench_settings,
    cpu_seconds,
    free_port,
    freeze_floor_heap,
    fresh_postgres,
    report,
    start_process,
    wait_for_port,
)

LIST_LIMIT = 50
# The floor's statements: what our endpoints read, as plain SQL ({p}: a parameter).
KEY_SQL = (
    "SELECT organization_id, key_hash, scopes, expires_at, revoked_at FROM api_keys "
    "WHERE prefix = {p}"
)
_DELIVERY_COLUMNS = (
    "id, message_id, mode, status, status_reason, email, first_name, last_name, company, "
    "siren, language, deadline_at, notified_at, created_at, updated_at, token_salt"
)
# A delivery and its evidence in one statement, as ours reads them.
DELIVERY_WITH_EVIDENCE_SQL = (
    "SELECT "
    + ", ".join(f"d.{name}" for name in _DELIVERY_COLUMNS.split(", "))
    + ", e.id AS evidence_id, e.type AS evidence_type, e.event AS evidence_event, "
    "e.occurred_at AS evidence_occurred_at "
    "FROM deliveries d LEFT OUTER JOIN evidence e ON e.delivery_id = d.id "
    "WHERE d.id = {p} AND (d.organization_id = {p} OR d.submitted_by_organization_id = {p}) "
    "ORDER BY e.occurred_at, e.id"
)
LIST_SQL = (
    f"SELECT {_DELIVERY_COLUMNS} FROM deliveries "
    "WHERE (organization_id = {p} OR submitted_by_organization_id = {p}) AND message_id = {p} "
    f"ORDER BY id DESC LIMIT {LIST_LIMIT + 1}"
)
MESSAGE_SQL = (
    "SELECT * FROM messages "
    "WHERE id = {p} AND (organization_id = {p} OR submitted_by_organization_id = {p})"
)
MESSAGE_DELIVERIES_SQL = (
    f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE message_id = {{p}} ORDER BY id"
)
ATTACHMENTS_SQL = (
    "SELECT id, filename, content_type, size, sha256, created_at FROM attachments "
    "WHERE message_id = {p} ORDER BY created_at, id"
)
EVIDENCE_SQL = (
    "SELECT id, delivery_id, type, event, occurred_at FROM evidence "
    "WHERE delivery_id IN ({ids}) ORDER BY occurred_at, id"
)
RECIPIENT_FIELDS = ("email", "first_name", "last_name", "company", "siren", "language")


def bare_app() -> Any:
    """uvicorn factory: the floor, configured by BENCH_DATABASE_URL and BENCH_DATA_DIR."""
    from fastapi import FastAPI
    from fastapi.routing import APIRoute
    from pydantic_core import to_json

    from tabellion.db import SQLITE_READ_CONNECTIONS
    from tabellion.evidence.links import LinkSigner
    from tabellion.kit.pagination import encode_cursor
    from tabellion.message.service.tracking import PATH, tracking_token
    from tabellion.organization.service import VERIFIED_KEY_SECONDS

    url = os.environ["BENCH_DATABASE_URL"]
    settings = bench_settings(Path(os.environ["BENCH_DATA_DIR"]), url)
    signer = LinkSigner(settings.base_url, settings.signing_key)
    postgres = url.startswith("postgresql")
    mark = "%s" if postgres else "?"
    pool: asyncio.Queue[Any] = asyncio.Queue()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if postgres:
            import psycopg
            from psycopg.rows import dict_row

            dsn = url.replace("postgresql+psycopg", "postgresql")
            for _ in range(10):
                pool.put_nowait(
                    await psycopg.AsyncConnection.connect(
                        dsn, row_factory=dict_row, options="-c TimeZone=UTC"
                    )
                )
        else:
            import aiosqlite

            # As many connections as ours: the floor too was fastest with two (1, 2, 3 and 4
            # tried on the 2-core machine: 2,670, 3,108-3,313, 2,897 and 2,388-2,707 req/s).
            for _ in range(SQLITE_READ_CONNECTIONS):
                connection = await aiosqlite.connect(url.split("///", 1)[1])
                connection.row_factory = aiosqlite.Row
                pool.put_nowait(connection)
        freeze_floor_heap()
        yield

    # FastAPI's own telemetry off, as ours is with no provider set (it would look the
    # providers up at every request: ~30,000 instructions of the floor's ~680,000).
    app = FastAPI(lifespan=lifespan, telemetry={"tracing": False, "metrics": False, "logs": False})

    async def select(connection: Any, sql: str, *params: Any) -> list[dict[str, Any]]:
        if postgres:
            cursor = await connection.execute(sql.format(p=mark), params)
            rows = await cursor.fetchall()  # psycopg has them already: no round trip
        else:  # one trip to aiosqlite's thread, as ours takes for a statement
            rows = await connection.execute_fetchall(sql.format(p=mark), params)
        return [dict(row) for row in rows]

    async def evidence(connection: Any, deliveries: list[dict[str, Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {d["id"]: [] for d in deliveries}
        if out:
            sql = EVIDENCE_SQL.format(ids=", ".join([mark] * len(out)))
            for row in await select(connection, sql, *out):
                out[row["delivery_id"]].append(row)
        return out

    def when(value: Any) -> str | None:
        if value is None or isinstance(value, str):  # SQLite: "2026-12-04 10:00:00.123456"
            return None if value is None else value.replace(" ", "T") + "Z"
        return str(value.isoformat().replace("+00:00", "Z"))

    def delivery_doc(row: dict[str, Any], proofs: list[dict[str, Any]]) -> dict[str, Any]:
        salt = row["token_salt"]
        return {
            "id": row["id"],
            "message_id": row["message_id"],
            "mode": row["mode"],
            "status": row["status"],
            "status_reason": row["status_reason"],
            "recipient": {name: row[name] for name in RECIPIENT_FIELDS},
            "deadline_at": when(row["deadline_at"]),
            "notified_at": when(row["notified_at"]),
            "created_at": when(row["created_at"]),
            "updated_at": when(row["updated_at"]),
            "tracking_url": (
                signer.base_url + PATH + tracking_token(signer.key, row["id"], salt)
                if salt
                else None
            ),
            "evidence": [
                {
                    "id": e["id"],
                    "type": e["type"],
                    "event": e["event"],
                    "occurred_at": when(e["occurred_at"]),
                    "pdf_url": signer.url("pdf", e["id"]),
                    "json_url": signer.url("json", e["id"]),
                }
                for e in proofs
            ],
        }

    def loaded(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    def message_doc(
        row: dict[str, Any], attachments: list[dict[str, Any]], deliveries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return {
            "id": row["id"],
            "mode": row["mode"],
            "status": row["status"],
            "subject": row["subject"],
            "body_html": row["body_html"],
            "body_text": row["body_text"],
            "sender": {"email": row["sender_email"], "name": row["sender_name"]},
            "recipients": [
                {**dict.fromkeys(RECIPIENT_FIELDS), **r} for r in loaded(row["recipients"])
            ],
            "recipient_count": row["recipient_count"],
            "on_behalf_of": row["organization_id"] if row["submitted_by_organization_id"] else None,
            "submitted_by": row["submitted_by_organization_id"],
            "reference": row["reference"],
            "campaign": row["campaign"],
            "guid": row["guid"],
            "acceptance_days": row["acceptance_days"],
            "copy_to_mailbox_after_acceptance": bool(row["copy_to_mailbox"]),
            "notify_sender": bool(row["notify_sender"]),
            "identification": loaded(row["identification"]),
            "attachments": [{**a, "created_at": when(a["created_at"])} for a in attachments],
            "created_at": when(row["created_at"]),
            "updated_at": when(row["updated_at"]),
            "dispatched_at": when(row["dispatched_at"]),
            "deliveries": deliveries,
        }

    # As ours (``organization.service.authenticate_api_key``): a key verified against its row
    # is trusted for VERIFIED_KEY_SECONDS without reading the row again.
    verified: dict[str, tuple[str, float]] = {}  # the key's SHA-256 -> (organisation, until)

    async def caller(connection: Any, request: Request) -> str | None:
        """The organisation of the request's API key, or None (as our 401)."""
        secret = request.headers.get("authorization", "").removeprefix("Bearer ")
        digest = hashlib.sha256(secret.encode()).hexdigest()
        known = verified.get(digest)
        if known is not None and known[1] > time.monotonic():
            return known[0]
        rows = await select(connection, KEY_SQL, secret[:12])
        if not rows or not hmac.compare_digest(rows[0]["key_hash"], digest):
            return None
        key = rows[0]
        if key["revoked_at"] is not None or key["expires_at"] is not None:
            return None  # the benchmark's key never expires: nothing to compare it with
        verified[digest] = (str(key["organization_id"]), time.monotonic() + VERIFIED_KEY_SECONDS)
        return str(key["organization_id"])

    async def answer(request: Request, build: Any) -> Response:
        connection = await pool.get()
        try:
            org = await caller(connection, request)
            if org is None:
                return Response(status_code=401)
            document = await build(connection, org)
            if postgres:
                await connection.rollback()
        finally:
            pool.put_nowait(connection)
        if document is None:
            return Response(status_code=404)
        return Response(to_json(document), media_type="application/json")

    async def delivery(request: Request) -> Response:
        value = request.path_params["value"]

        async def build(connection: Any, org: str) -> Any:
            rows = await select(connection, DELIVERY_WITH_EVIDENCE_SQL, value, org, org)
            if not rows:
                return None
            proofs = [
                {
                    "id": row["evidence_id"],
                    "type": row["evidence_type"],
                    "event": row["evidence_event"],
                    "occurred_at": row["evidence_occurred_at"],
                }
                for row in rows
                if row["evidence_id"] is not None
            ]
            return delivery_doc(rows[0], proofs)

        return await answer(request, build)

    async def message(request: Request) -> Response:
        value = request.path_params["value"]

        async def build(connection: Any, org: str) -> Any:
            rows = await select(connection, MESSAGE_SQL, value, org, org)
            if not rows:
                return None
            attachments = await select(connection, ATTACHMENTS_SQL, value)
            deliveries = await select(connection, MESSAGE_DELIVERIES_SQL, value)
            proofs = await evidence(connection, deliveries)
            documents = [delivery_doc(d, proofs[d["id"]]) for d in deliveries]
            return message_doc(rows[0], attachments, documents)

        return await answer(request, build)

    async def listing(request: Request) -> Response:
        value = request.path_params["value"]

        async def build(connection: Any, org: str) -> Any:
            rows = await select(connection, LIST_SQL, org, org, value)
            page = rows[:LIST_LIMIT]
            proofs = await evidence(connection, page)
            more = len(rows) > LIST_LIMIT  # a real cursor would encode the last id
            return {
                "data": [delivery_doc(d, proofs[d["id"]]) for d in page],
                "next_cursor": encode_cursor([page[-1]["id"]]) if more else None,
            }

        return await answer(request, build)

    # FastAPI's routing and request wrapper, as ours, with the endpoint called on the request
    # alone: ours solves a route of path parameters by a plan made once (``kit.lean_route``),
    # so FastAPI's per-request dependency solver would cost the floor what ours no longer pays.
    class PlainRoute(APIRoute):
        def get_route_handler(self) -> Any:
            return self.endpoint

    for path, endpoint in (
        ("/delivery/{value}", delivery),
        ("/message/{value}", message),
        ("/list/{value}", listing),
    ):
        app.router.routes.append(PlainRoute(path, endpoint, methods=["GET"]))
    return app


def our_app() -> Any:
    """uvicorn factory: Tabellion on BENCH_DATA_DIR / BENCH_DATABASE_URL, no worker."""
    from tabellion.app import create_app

    data_dir = Path(os.environ["BENCH_DATA_DIR"])
    return create_app(bench_settings(data_dir, os.environ["BENCH_DATABASE_URL"]))


async def seed(data_dir: Path, database_url: str | None, recipients: int) -> dict[str, str]:
    """A dispatched message; the paths to read and the key to read them with."""
    from tests.fixtures.factories import message_body, natural_recipient

    from tabellion.app import create_app
    from tabellion.db import transaction
    from tabellion.migrations import upgrade_database
    from tabellion.organization.service import create_api_key, create_organization
    from tabellion.runtime import Runtime

    settings = bench_settings(data_dir, database_url)
    upgrade_database(settings.resolved_database_url)
    runtime = Runtime.build(settings)
    try:
        async with transaction(runtime.sessions) as session:
            org = await create_organization(session, name="Bench", email="bench@acme.test")
            key = await create_api_key(session, org)
        auth = {"Authorization": f"Bearer {key.secret}"}
        body = message_body(recipients=[natural_recipient(n) for n in range(recipients)])
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
            message = (await c.post("/v1/messages", json=body, headers=auth)).json()
            sent = await c.post(f"/v1/messages/{message['id']}/dispatch", headers=auth)
            delivery = sent.json()["deliveries"][0]["id"]
    finally:
        await runtime.close()
    return {
        "secret": key.secret,
        "database_url": settings.resolved_database_url,
        "our:delivery": f"/v1/deliveries/{delivery}",
        "our:message": f"/v1/messages/{message['id']}",
        "our:list": f"/v1/deliveries?message_id={message['id']}&limit={LIST_LIMIT}",
        "bare:delivery": f"/delivery/{delivery}",
        "bare:message": f"/message/{message['id']}",
        "bare:list": f"/list/{message['id']}",
    }


async def load(
    base: str, path: str, headers: dict[str, str], requests: int, connections: int
) -> tuple[float, float, int]:
    """Requests per second, p99 latency (s) and requests made, with ``connections`` requests
    in flight."""
    latencies: list[float] = []
    remaining = iter(range(requests))
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    # A minute, as wrk's --timeout below: at 100 connections on a busy machine a request may
    # wait longer than httpx's 5 s, which would end the run instead of counting in the p99.
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=60
    ) as client:
        await client.get(path)  # warm-up

        async def worker() -> None:
            for _ in remaining:
                started = time.perf_counter()
                response = await client.get(path)
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return requests / elapsed, statistics.quantiles(latencies, n=100)[98], requests


WRK_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def load_wrk(
    base: str, path: str, headers: dict[str, str], seconds: int, connections: int
) -> tuple[float, float, int]:
    """The same figures from ``wrk`` (Debian package), which costs the server no CPU share
    of a Python load generator: requests per second, p99 latency (s), requests made."""
    # Warm-up (routes are set up lazily), once the previous run's backlog has drained.
    httpx.get(base + path, headers=headers, timeout=120).raise_for_status()
    # wrk leaves a request slower than --timeout out of its latencies (default 2 s): at 100
    # connections a slow server's p99 would read as 2 s however slow it is.
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "60s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*command, base + path], capture_output=True, text=True, check=True
    ).stdout
    assert "Non-2xx" not in output and "Socket errors" not in output, output
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    made = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    return rate, float(value) * WRK_UNITS[unit], made


async def measure(
    args: argparse.Namespace, base: str, path: str, headers: dict[str, str], pid: int
) -> tuple[float, float, float]:
    """Requests per second, p99 latency (s), and the server's CPU time per request (s, all
    its threads): on a shared machine the wall clock counts other jobs too, CPU time not."""
    started = cpu_seconds(pid)
    if args.wrk_seconds and shutil.which("wrk"):
        rate, p99, made = load_wrk(base, path, headers, args.wrk_seconds, args.connections)
    else:
        rate, p99, made = await load(base, path, headers, args.requests, args.connections)
    return rate, p99, (cpu_seconds(pid) - started) / made


async def run(label: str, database_url: str | None, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        seeded = await seed(Path(tmp), database_url, args.recipients)
        env = {"BENCH_DATA_DIR": tmp, "BENCH_DATABASE_URL": seeded["database_url"]}
        servers: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}
        try:
            for name, factory in (("our", "our_app"), ("bare", "bare_app")):
                port = free_port()
                servers[name] = (
                    f"http://127.0.0.1:{port}",
                    start_process(
                        [
                            "-m",
                            "uvicorn",
                            "--factory",
                            f"bench.bench_read:{factory}",
                            "--port",
                            str(port),
                            "--log-level",
                            "warning",
                            "--no-access-log",
                        ],
                        env,
                    ),
                )
                wait_for_port(port, timeout=180)  # importing the app takes long on a busy machine
            for kind in ("delivery", "message", "list"):
                auth = {"Authorization": f"Bearer {seeded['secret']}"}
                (our_base, our_server), (bare_base, bare_server) = servers["our"], servers["bare"]
                ours = await measure(args, our_base, seeded[f"our:{kind}"], auth, our_server.pid)
                floor = await measure(
                    args, bare_base, seeded[f"bare:{kind}"], auth, bare_server.pid
                )
                print(
                    f"{label} GET {kind}: ours {ours[0]:7.0f} req/s p99 {ours[1] * 1000:6.0f} ms "
                    f"CPU {ours[2] * 1000:5.2f} ms/req; "
                    f"bare {floor[0]:7.0f} req/s p99 {floor[1] * 1000:6.0f} ms "
                    f"CPU {floor[2] * 1000:5.2f} ms/req; p99 ratio {ours[1] / floor[1]:.2f}"
                )
                figure = f"GET {kind}, {args.connections} conn, {label}"
                report(figure, ours[0], floor[0], "req/s", "≥ 0.5× floor")
                # The p99 as a figure of its own (a name that changes from run to run would
                # keep run_all.py from grouping the runs): its ratio is ours ÷ bare, lower is
                # better.
                report(f"{figure}, p99", ours[1] * 1000, floor[1] * 1000, "ms", "≤ 2× floor")
        finally:
            for _, process in servers.values():
                process.terminate()
                process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5_000, help="per path and server")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--recipients", type=int, default=100)
    parser.add_argument(
        "--wrk-seconds", type=int, default=10, help="per path with wrk if installed; 0: httpx"
    )
    args = parser.parse_args()
    asyncio.run(run("SQLite", None, args))
    database_url = fresh_postgres()
    if database_url:
        asyncio.run(run("PostgreSQL", database_url, args))


if __name__ == "__main__":
    main()
