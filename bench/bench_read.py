"""Read path: GET a delivery, a message and a list page at N connections, vs a bare app.

Both servers run as separate uvicorn processes on the same database; the load generator
(``wrk`` when installed, ``apt-get install wrk``; else httpx in this process) keeps
``--connections`` requests in flight. The floor is a bare
FastAPI app that answers each path with one plain ``SELECT`` of the same row(s) (aiosqlite
or psycopg), with no auth, ORM or serialisation model. Reported: throughput and p99 ratios.
"""

from __future__ import annotations

import argparse
import asyncio
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

from bench.common import (
    bench_settings,
    free_port,
    fresh_postgres,
    report,
    start_process,
    wait_for_port,
)

LIST_LIMIT = 50
# The bare app's SELECT per path: the same rows our endpoints read.
BARE_QUERIES = {
    "delivery": "SELECT * FROM deliveries WHERE id = {p}",
    "message": "SELECT * FROM messages WHERE id = {p}",
    "list": f"SELECT * FROM deliveries WHERE message_id = {{p}} ORDER BY id LIMIT {LIST_LIMIT}",
}


def bare_app() -> Any:
    """uvicorn factory: the floor, configured by BENCH_DATABASE_URL."""
    from fastapi import FastAPI

    url = os.environ["BENCH_DATABASE_URL"]
    postgres = url.startswith("postgresql")
    pool: asyncio.Queue[Any] = asyncio.Queue()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if postgres:
            import psycopg
            from psycopg.rows import dict_row

            dsn = url.replace("postgresql+psycopg", "postgresql")
            for _ in range(10):
                pool.put_nowait(await psycopg.AsyncConnection.connect(dsn, row_factory=dict_row))
        else:
            import aiosqlite

            for _ in range(4):
                connection = await aiosqlite.connect(url.split("///", 1)[1])
                connection.row_factory = aiosqlite.Row
                pool.put_nowait(connection)
        yield

    app = FastAPI(lifespan=lifespan)

    async def select(kind: str, value: str) -> list[dict[str, Any]]:
        connection = await pool.get()
        try:
            sql = BARE_QUERIES[kind].format(p="%s" if postgres else "?")
            cursor = await connection.execute(sql, (value,))
            rows = [dict(row) for row in await cursor.fetchall()]
            if postgres:
                await connection.rollback()
            return rows
        finally:
            pool.put_nowait(connection)

    @app.get("/delivery/{value}")
    async def delivery(value: str) -> dict[str, Any]:
        return (await select("delivery", value))[0]

    @app.get("/message/{value}")
    async def message(value: str) -> dict[str, Any]:
        return (await select("message", value))[0]

    @app.get("/list/{value}")
    async def listing(value: str) -> dict[str, Any]:
        return {"data": await select("list", value)}

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
) -> tuple[float, float]:
    """Requests per second and p99 latency (s) with ``connections`` requests in flight."""
    latencies: list[float] = []
    remaining = iter(range(requests))
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as client:
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
    return requests / elapsed, statistics.quantiles(latencies, n=100)[98]


WRK_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def load_wrk(
    base: str, path: str, headers: dict[str, str], seconds: int, connections: int
) -> tuple[float, float]:
    """The same figures from ``wrk`` (Debian package), which costs the server no CPU share
    of a Python load generator: requests per second and p99 latency (s)."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*command, base + path], capture_output=True, text=True, check=True
    ).stdout
    assert "Non-2xx" not in output, output
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    return rate, float(value) * WRK_UNITS[unit]


async def measure(
    args: argparse.Namespace, base: str, path: str, headers: dict[str, str]
) -> tuple[float, float]:
    if args.wrk_seconds and shutil.which("wrk"):
        return load_wrk(base, path, headers, args.wrk_seconds, args.connections)
    return await load(base, path, headers, args.requests, args.connections)


async def run(label: str, database_url: str | None, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        seeded = await seed(Path(tmp), database_url, args.recipients)
        env = {"BENCH_DATA_DIR": tmp, "BENCH_DATABASE_URL": seeded["database_url"]}
        servers = {}
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
            wait_for_port(port)
        try:
            for kind in ("delivery", "message", "list"):
                auth = {"Authorization": f"Bearer {seeded['secret']}"}
                ours = await measure(args, servers["our"][0], seeded[f"our:{kind}"], auth)
                floor = await measure(args, servers["bare"][0], seeded[f"bare:{kind}"], {})
                print(
                    f"{label} GET {kind}: ours {ours[0]:7.0f} req/s p99 {ours[1] * 1000:6.0f} ms; "
                    f"bare {floor[0]:7.0f} req/s p99 {floor[1] * 1000:6.0f} ms; "
                    f"p99 ratio {ours[1] / floor[1]:.2f}"
                )
                p99_ratio = ours[1] / floor[1]
                report(
                    f"GET {kind}, {args.connections} conn, {label} (p99 {p99_ratio:.1f}× bare)",
                    ours[0],
                    floor[0],
                    "req/s",
                    "≥ 0.5× floor, p99 ≤ 2× floor",
                )
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
