"""1,000 events to one local receiver: our webhook pipeline vs a bare httpx client.

Ours: events emitted (one job each), then a Worker with N concurrent jobs delivers them: claim,
load, sign, POST, record the attempt. Baseline: an httpx.AsyncClient posting the same bodies
with N concurrent tasks. The receiver runs in its own process and counts webhook-ids, so the
run also checks that no event was delivered twice. Target: ratio ≥ 0.8×.

    .venv/bin/python -m bench.bench_webhooks [--events 1000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import bench_settings, free_port, start_process, wait_for_port
from tabellion.db import transaction
from tabellion.jobs.worker import Worker
from tabellion.migrations import upgrade_database
from tabellion.organization.service import create_organization
from tabellion.runtime import Runtime
from tabellion.webhook import service
from tabellion.webhook.service import NewEvent


def event_data(i: int) -> dict[str, object]:
    return {"delivery": {"id": f"dlv_{i:026d}", "status": "accepted", "evidence": []}}


async def baseline(url: str, count: int, concurrency: int) -> float:
    bodies = [
        service.event_body(f"evt_{i}", "delivery.accepted", _now(), event_data(i))
        for i in range(count)
    ]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    async with httpx.AsyncClient(timeout=10) as client:

        async def run() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                response = await client.post(
                    url,
                    content=bodies[i].encode(),
                    headers={"content-type": "application/json", "webhook-id": f"base_{i}"},
                )
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(run() for _ in range(concurrency)))
        return time.perf_counter() - started


def _now():
    from tabellion.kit.time import utcnow

    return utcnow()


async def ours(url: str, count: int, concurrency: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(
            Path(tmp), webhook_allowed_hosts="127.0.0.1", worker_concurrency=concurrency
        )
        upgrade_database(settings.resolved_database_url)
        runtime = Runtime.build(settings)
        try:
            async with transaction(runtime.sessions) as session:
                org = await create_organization(session, name="Bench")
                await service.create_endpoint(
                    session,
                    org.id,
                    url=url,
                    events=["*"],
                    description=None,
                    signing_key=settings.signing_key,
                )
                await service.emit_many(
                    session,
                    org.id,
                    [NewEvent("delivery.accepted", event_data(i)) for i in range(count)],
                )
            worker = Worker(runtime, concurrency=concurrency)
            started = time.perf_counter()
            done = await worker.run_until_idle(timeout=600)
            elapsed = time.perf_counter() - started
            assert done >= count, done
        finally:
            await runtime.close()
    return elapsed


async def main_async(count: int, concurrency: int) -> None:
    port = free_port()
    sink = start_process(["bench/webhook_sink.py", str(port)])
    url = f"http://127.0.0.1:{port}/hooks"
    try:
        wait_for_port(port)
        async with httpx.AsyncClient() as c:
            await baseline(url, 50, concurrency)  # warm-up
            await c.delete(url)
            theirs = await baseline(url, count, concurrency)
            await c.delete(url)
            mine = await ours(url, count, concurrency)
            stats = (await c.get(url)).json()
    finally:
        sink.terminate()
        sink.wait(timeout=10)
    ratio = theirs / mine
    print(f"{count} webhook events, concurrency {concurrency}:")
    print(f"  baseline (bare httpx):    {count / theirs:8.0f} events/s")
    print(f"  tabellion worker pipeline:{count / mine:8.0f} events/s")
    print(f"  ratio: {ratio:.2f}x  [{'ok' if ratio >= 0.8 else 'BELOW TARGET'}, target 0.8x]")
    print(
        f"  receiver saw {stats['total']} requests, {stats['unique']} unique webhook-ids, "
        f"{stats['duplicates']} duplicated"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main_async(args.events, args.concurrency))


if __name__ == "__main__":
    main()
