"""1,000 events to one local receiver: our webhook pipeline vs bare h11 on asyncio streams.

Ours: events emitted (one job each, not timed), then the real Worker delivers them: claim,
load endpoint and event, sign, POST, record the attempt, settle the job. Timed until every job
is done. The webhook client gets N connections, so at most N requests are in flight, while the
worker runs as many jobs at once as `tabellion worker` does (``worker_concurrency``, 256 unless
configured): the jobs waiting for a connection or for their attempt's commit are what fills each
group commit. (``--concurrency 16`` gives the former setting, 2 × N: batches of a dozen.)
Floor: N keep-alive connections speaking bare h11 over asyncio streams (the HTTP library our
sender uses), posting the same bodies with the same headers, each signed as it is sent (HMAC-SHA256
of id, timestamp and body, the Standard Webhooks signature), N requests in flight. The receiver
runs in its own process and counts webhook-ids, so the run also checks that no event was
delivered twice. Rounds alternate the floor and ours, since other programs share the machine.
Besides the wall clock, each side's CPU time per event is printed (this process, all its
threads, and the receiver's): on a busy machine it is the steadier figure. Target: ratio ≥ 0.5×.

    .venv/bin/python -m bench.bench_webhooks [--events 1000] [--connections 8] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import hashlib
import hmac
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import h11
import httpx
from sqlalchemy import func, select

from bench.common import (
    Cpu,
    bench_settings,
    free_port,
    freeze_floor_heap,
    fresh_postgres,
    pg_url,
    report,
    start_process,
    wait_for_port,
)
from tabellion.config import Settings
from tabellion.db import transaction
from tabellion.jobs.worker import Worker, freeze_startup_heap
from tabellion.kit import loop as event_loop
from tabellion.kit.time import utcnow
from tabellion.migrations import upgrade_database
from tabellion.models.job import Job
from tabellion.models.webhook import WebhookAttempt
from tabellion.organization.service import create_organization
from tabellion.runtime import Runtime
from tabellion.webhook import service, signing
from tabellion.webhook.delivery import outbound, webhook_ledger
from tabellion.webhook.service import DELIVER_TASK, NewEvent
from tabellion.webhook.transport import USER_AGENT

PG_URL = pg_url("_webhooks")


def event_data(i: int) -> dict[str, object]:
    return {"delivery": {"id": f"dlv_{i:026d}", "status": "accepted", "evidence": []}}


# ---- the baseline ---------------------------------------------------------------------------


async def baseline(url: str, count: int, connections: int, cpu: Cpu) -> float:
    now = utcnow()
    bodies = [
        service.event_body(f"evt_{i}", "delivery.accepted", now, event_data(i)).encode()
        for i in range(count)
    ]
    # An endpoint's secret, decoded once; every request is signed as it is sent.
    key = base64.b64decode(signing.new_secret().removeprefix(signing.SECRET_PREFIX))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    target = urlsplit(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80

    async def run() -> None:
        """One keep-alive connection: bare h11 over asyncio streams, as our sender speaks."""
        reader, writer = await asyncio.open_connection(host, port)
        connection = h11.Connection(our_role=h11.CLIENT)
        while not queue.empty():
            i = queue.get_nowait()
            event_id = f"evt_base{i:022d}"  # as long as our ids
            timestamp = str(int(time.time()))
            mac = hmac.new(key, f"{event_id}.{timestamp}.".encode() + bodies[i], hashlib.sha256)
            headers = [
                ("host", target.netloc),
                ("content-length", str(len(bodies[i]))),
                ("content-type", "application/json"),
                ("webhook-id", event_id),
                ("webhook-timestamp", timestamp),
                ("webhook-signature", "v1," + base64.b64encode(mac.digest()).decode()),
                ("user-agent", USER_AGENT),
            ]
            request = h11.Request(method="POST", target=target.path or "/", headers=headers)
            # One write, as ours: three would be three sends on the socket.
            writer.write(
                (connection.send(request) or b"")
                + (connection.send(h11.Data(data=bodies[i])) or b"")
                + (connection.send(h11.EndOfMessage()) or b"")
            )
            await writer.drain()
            status = 0
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    connection.receive_data(await reader.read(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.EndOfMessage):
                    break
            assert 200 <= status < 300, status
            connection.start_next_cycle()
        writer.close()

    with cpu.measure():
        started = time.perf_counter()
        await asyncio.gather(*(run() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return elapsed


# ---- ours -----------------------------------------------------------------------------------


async def ours(
    url: str,
    count: int,
    connections: int,
    concurrency: int,
    database_url: str | None,
    cpu: Cpu,
    *,
    profile: bool,
) -> tuple[float, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        if database_url:
            fresh_postgres(database_url)
        settings = bench_settings(
            Path(tmp),
            database_url,
            webhook_allowed_hosts="127.0.0.1",
            worker_concurrency=concurrency,
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
            # The same number of requests in flight as the baseline's tasks.
            outbound(runtime, connections=connections)
            worker = Worker(runtime, concurrency=concurrency, grace_seconds=1)
            freeze_startup_heap()  # as `tabellion worker` does once started
            profiler = cProfile.Profile(time.thread_time) if profile else None
            if profiler:
                profiler.enable()
            with cpu.measure():
                started = time.perf_counter()
                done = await worker.run_until_idle(timeout=600)
                elapsed = time.perf_counter() - started
            if profiler:
                profiler.disable()
                stats = pstats.Stats(profiler, stream=sys.stderr)
                stats.sort_stats("cumulative").print_stats(40)
                stats.sort_stats("tottime").print_stats(25)
            assert done >= count, done
            facts = await check(runtime, count)
            facts["transactions"] = webhook_ledger(runtime).transactions
        finally:
            await runtime.close()
    return elapsed, facts


async def check(runtime: Runtime, count: int) -> dict[str, Any]:
    """Every job done, one succeeded attempt per event."""
    async with runtime.sessions() as session:
        jobs = dict(
            (
                await session.execute(
                    select(Job.status, func.count())
                    .where(Job.kind == DELIVER_TASK)
                    .group_by(Job.status)
                )
            ).all()
        )
        outcomes = dict(
            (
                await session.execute(
                    select(WebhookAttempt.outcome, func.count()).group_by(WebhookAttempt.outcome)
                )
            ).all()
        )
    assert jobs == {"done": count}, jobs
    assert outcomes == {"succeeded": count}, outcomes
    return {"outcomes": outcomes}


# ---- the run --------------------------------------------------------------------------------


def per_event(cpu: Cpu, count: int) -> str:
    return f"{cpu.mine / count * 1e6:.0f} µs + receiver {cpu.sink / count * 1e6:.0f} µs"


async def compare(
    label: str, url: str, sink_pid: int, args: argparse.Namespace, database_url: str | None
) -> None:
    concurrency = args.concurrency or Settings.model_fields["worker_concurrency"].default
    freeze_floor_heap()  # its first round runs before ``ours`` freezes the heap
    async with httpx.AsyncClient() as sink:
        await baseline(url, 100, args.connections, Cpu(sink_pid))  # warm-up
        theirs: list[float] = []
        mine: list[float] = []
        cpu_theirs: list[float] = []
        cpu_mine: list[float] = []
        for round_ in range(args.rounds):
            await sink.delete(url)
            floor_cpu, our_cpu = Cpu(sink_pid), Cpu(sink_pid)
            theirs.append(await baseline(url, args.events, args.connections, floor_cpu))
            base_seen = (await sink.get(url)).json()
            await sink.delete(url)
            elapsed, facts = await ours(
                url,
                args.events,
                args.connections,
                concurrency,
                database_url,
                our_cpu,
                profile=args.profile and round_ == 0,
            )
            mine.append(elapsed)
            cpu_theirs.append(floor_cpu.mine / args.events)
            cpu_mine.append(our_cpu.mine / args.events)
            seen = (await sink.get(url)).json()
            print(
                f"{label} round {round_ + 1}: baseline {args.events / theirs[-1]:6.0f}/s, "
                f"ours {args.events / elapsed:6.0f}/s, ratio {theirs[-1] / elapsed:.2f}x; "
                f"CPU per event: baseline {per_event(floor_cpu, args.events)}, "
                f"ours {per_event(our_cpu, args.events)} (load {os.getloadavg()[0]:.1f})"
            )
            print(
                f"  receiver: {seen['total']} requests, {seen['unique']} unique webhook-ids, "
                f"{seen['duplicates']} duplicated (baseline {base_seen['total']}); "
                f"{facts['transactions']} ledger transactions"
            )
            assert seen["duplicates"] == 0 and seen["unique"] == args.events, seen
    ratio = statistics.median(theirs) / statistics.median(mine)
    print(
        f"{label}: {args.events} webhook events, {args.connections} connections, "
        f"worker concurrency {concurrency}"
    )
    print(f"  floor (bare h11, asyncio): {args.events / statistics.median(theirs):6.0f} events/s")
    print(f"  tabellion worker pipeline: {args.events / statistics.median(mine):6.0f} events/s")
    floor_us, ours_us = statistics.median(cpu_theirs) * 1e6, statistics.median(cpu_mine) * 1e6
    print(f"  CPU per event in this process, medians: floor {floor_us:.0f}, ours {ours_us:.0f} µs")
    print(
        f"  ratio of medians: {ratio:.2f}x  [{'ok' if ratio >= 0.5 else 'BELOW TARGET'}, "
        "target 0.5x]"
    )
    report(
        f"webhooks ({args.events}), {label}",
        args.events / statistics.median(mine),
        args.events / statistics.median(theirs),
        "events/s",
        "≥ 0.5× floor",
    )


async def main_async(args: argparse.Namespace) -> None:
    port = free_port()
    sink = start_process(["bench/webhook_sink.py", str(port)])
    url = f"http://127.0.0.1:{port}/hooks"
    try:
        wait_for_port(port)
        await compare("SQLite", url, sink.pid, args, None)
        if args.postgres and fresh_postgres(PG_URL):
            await compare("PostgreSQL", url, sink.pid, args, PG_URL)
    finally:
        sink.terminate()
        sink.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument(
        "--connections", type=int, default=8, help="requests in flight, ours and the baseline's"
    )
    parser.add_argument(
        "--concurrency", type=int, default=0, help="worker slots (default: worker_concurrency's)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per database")
    parser.add_argument("--postgres", action="store_true", help="also run on PostgreSQL")
    parser.add_argument("--profile", action="store_true", help="cProfile our first round")
    args = parser.parse_args()
    event_loop.run(main_async(args))


if __name__ == "__main__":
    main()
