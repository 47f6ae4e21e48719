"""2,000 notification e-mails to a local SMTP sink: our path vs a bare aiosmtplib loop.

Ours: one message dispatched to 2,000 recipients through the API (not timed), then the real
Worker runs the notification jobs with the SmtpTransport and N connections: load the delivery,
compose the notice in the recipient's language, send it with its VERP envelope, record
NOTIFIED (evidence, deadline, reminders). Timed until every job is done. The dispatch's own
work (sealing its SENT proofs) is done before the clock starts; the NOTIFIED proofs' sealing
runs in the same worker and steps aside while notices are due (at most 30 s, see
``step_aside_for`` in evidence/sealing/seal.py), as it does in production.
Baseline: N aiosmtplib connections sending the same notices (composed beforehand) from N tasks,
each with the bare MAIL, RCPT and DATA commands (what our transport sends, ``send_raw``).
The sink is aiosmtpd in its own process; it counts messages and Message-IDs, so the run also
checks that each notice arrived exactly once. Target: ratio ≥ 0.6×. Beside the wall clock, the
CPU time per message of this process (all its threads) and of the sink's, for each side: on a
shared machine it moves less with other people's jobs than the wall clock does.

    .venv/bin/python -m bench.bench_smtp [--messages 2000] [--connections 16] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
from sqlalchemy import func, select

from bench.common import (
    Cpu,
    bench_settings,
    free_port,
    fresh_postgres,
    pg_url,
    report,
    start_process,
    wait_for_port,
)
from tabellion.app import create_app
from tabellion.config import Settings
from tabellion.db import transaction
from tabellion.evidence.sealing.seal import seal_pending
from tabellion.jobs.worker import Worker, freeze_startup_heap
from tabellion.kit import loop as event_loop
from tabellion.message.service.message import NOTICE_TASK
from tabellion.migrations import upgrade_database
from tabellion.models.job import Job
from tabellion.models.message import Delivery, Message
from tabellion.models.organization import Organization
from tabellion.notification.bounces import verp_address
from tabellion.notification.compose import compose_notice
from tabellion.notification.smtp import after_data
from tabellion.organization.service import create_api_key, create_organization
from tabellion.runtime import Runtime

PG_URL = pg_url("_smtp")
MAIL_FROM = "Tabellion <no-reply@bench.test>"

# ---- the sink (its own process) -------------------------------------------------------------


class SinkHandler:
    """Accepts everything; VRFY ``stats`` reports, VRFY ``reset`` clears."""

    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        head = content[: content.find(b"\r\n\r\n")]
        for line in head.split(b"\r\n"):
            if line[:11].lower() == b"message-id:":
                self.ids[line[11:].strip().decode()] += 1
                break
        else:
            self.ids[""] += 1
        return "250 2.0.0 Ok: queued"

    async def handle_VRFY(self, server: Any, session: Any, envelope: Any, address: str) -> str:
        total, unique = sum(self.ids.values()), len(self.ids)
        duplicates = sum(1 for n in self.ids.values() if n > 1)
        if address == "reset":
            self.ids.clear()
        return f"250 total={total} unique={unique} duplicates={duplicates}"


def run_sink(port: int) -> None:
    from aiosmtpd.smtp import SMTP

    async def serve() -> None:
        handler = SinkHandler()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="sink.bench.test", data_size_limit=None),
            host="127.0.0.1",
            port=port,
        )
        async with server:
            await server.serve_forever()

    event_loop.run(serve())


async def sink_stats(port: int, command: str = "stats") -> dict[str, int]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    await client.connect()
    try:
        answer = await client.vrfy(command)
    finally:
        await client.quit()
    return {k: int(v) for k, v in (pair.split("=") for pair in answer.message.split())}


# ---- our path -------------------------------------------------------------------------------


def recipients(count: int) -> list[dict[str, str]]:
    languages = ("en", "fr", "nl", "de")
    return [
        {
            "email": f"r{i}@example.test",
            "first_name": "Jane",
            "last_name": f"Doe {i}",
            "language": languages[i % 4],
        }
        for i in range(count)
    ]


async def dispatch(runtime: Runtime, count: int) -> None:
    async with transaction(runtime.sessions) as session:
        org = await create_organization(session, name="Bench")
        key = await create_api_key(session, org)
    auth = {"Authorization": f"Bearer {key.secret}"}
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as c:
        body = {"mode": "registered", "subject": "Bench", "body_html": "<p>Hi</p>"}
        created = await c.post(
            "/v1/messages", json={**body, "recipients": recipients(count)}, headers=auth
        )
        created.raise_for_status()
        response = await c.post(f"/v1/messages/{created.json()['id']}/dispatch", headers=auth)
        response.raise_for_status()


async def job_kinds(runtime: Runtime) -> dict[str, tuple[int, int]]:
    """kind -> (jobs done, jobs not done)."""
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
        )
        out: dict[str, list[int]] = {}
        for kind, status, n in rows:
            out.setdefault(kind, [0, 0])[0 if status == "done" else 1] += n
    return {k: (v[0], v[1]) for k, v in out.items()}


async def drain_other_jobs(runtime: Runtime, concurrency: int) -> None:
    """Run what the dispatch enqueued besides the notices, so the timing is theirs alone."""
    from sqlalchemy import update

    far = datetime(2999, 1, 1, tzinfo=UTC)
    async with transaction(runtime.sessions) as session:
        due = (await session.scalars(select(Job.run_at).where(Job.kind == NOTICE_TASK))).first()
        await session.execute(update(Job).where(Job.kind == NOTICE_TASK).values(run_at=far))
    await Worker(runtime, concurrency=concurrency).run_until_idle(timeout=600)
    # The sealing job waits TABELLION_SEAL_DELAY_SECONDS, so it is not due yet: seal now.
    await seal_pending(runtime)
    async with transaction(runtime.sessions) as session:
        await session.execute(update(Job).where(Job.kind == NOTICE_TASK).values(run_at=due))


async def run_until_notified(runtime: Runtime, worker: Worker, count: int) -> float:
    """Run the worker until every delivery is notified; returns the seconds it took.

    The NOTIFIED evidence of each notice enqueues sealing work of its own, which comes after
    the notices in the queue; the worker stops once the notices are through.
    """
    stop = asyncio.Event()
    started = time.perf_counter()
    running = asyncio.create_task(worker.run(stop))
    query = select(func.count()).where(Delivery.status == "notified")
    try:
        while not running.done():
            await asyncio.sleep(0.025)
            # Read on a read connection: the writer's one SQLite connection is the worker's.
            async with runtime.read_engine.connect() as conn:
                if await conn.scalar(query) >= count:
                    return time.perf_counter() - started
        running.result()
        raise RuntimeError("the worker stopped early")
    finally:
        stop.set()
        await running


async def ours(
    port: int,
    count: int,
    connections: int,
    concurrency: int,
    database_url: str | None,
    cpu: Cpu,
    *,
    profile: bool,
) -> tuple[float, dict[str, int], Outgoing]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(
            Path(tmp),
            database_url,
            smtp_url=f"smtp://127.0.0.1:{port}",
            smtp_connections=connections,
            worker_concurrency=concurrency,
            mail_from=MAIL_FROM,
        )
        upgrade_database(settings.resolved_database_url)
        runtime = Runtime.build(settings)
        try:
            await dispatch(runtime, count)
            await drain_other_jobs(runtime, concurrency)
            before = await job_kinds(runtime)
            freeze_startup_heap()  # as `tabellion worker` does once started
            worker = Worker(runtime, concurrency=concurrency, grace_seconds=30)
            profiler = cProfile.Profile(time.thread_time) if profile else None
            if profiler:
                profiler.enable()
            started = time.perf_counter()
            with cpu.measure():
                elapsed = await run_until_notified(runtime, worker, count)
            if profiler:
                profiler.disable()
                stats = pstats.Stats(profiler, stream=sys.stderr)
                stats.sort_stats("cumulative").print_stats(45)
                stats.sort_stats("tottime").print_stats(30)
            assert elapsed > 0, started
            after = await job_kinds(runtime)
            ran = {
                kind: after[kind][0] - before.get(kind, (0, 0))[0]
                for kind in after
                if after[kind][0] - before.get(kind, (0, 0))[0]
            }
            # The worker's shutdown wrote the last outcomes: every notice job ran once.
            assert ran.get(NOTICE_TASK) == count, ran
            assert after[NOTICE_TASK] == (count, 0), after
            async with runtime.sessions() as session:
                statuses = Counter((await session.scalars(select(Delivery.status))).all())
            assert statuses == {"notified": count}, statuses
            notices = await same_notices(runtime, count)
        finally:
            await runtime.close()
    return elapsed, ran, notices


Outgoing = list[tuple[EmailMessage, str]]  # (message, envelope sender)


async def same_notices(runtime: Runtime, count: int) -> Outgoing:
    """The baseline's messages: the very notices of this run, composed again."""
    async with runtime.sessions() as session:
        deliveries = (await session.scalars(select(Delivery).order_by(Delivery.id))).all()
        message = (await session.scalars(select(Message))).one()
        organization = await session.get(Organization, message.organization_id)
    assert organization is not None and len(deliveries) == count
    at = datetime.now(UTC)
    out = []
    for delivery in deliveries:
        notice = compose_notice(runtime.settings, delivery, message, organization, at=at)
        # Sent with the same envelope as ours; a fresh Message-ID keeps the sink's count exact.
        mail = notice.message
        mail.replace_header("Message-ID", notice.message_id.replace(".notice@", ".base@"))
        out.append((mail, verp_address(delivery.id, MAIL_FROM)))
    return out


# ---- the baseline ---------------------------------------------------------------------------


# (envelope sender, recipients, the bytes sent after DATA: dot-stuffed, with the final ".")
FlatMessage = tuple[str, list[str], bytes]
Flat = list[FlatMessage]


def flattened(messages: Outgoing) -> Flat:
    """The messages as they go on the wire, made ready before the floor's clock starts: CRLF
    line ends (the SMTP policy), a line's leading dot doubled, the closing line added."""
    return [
        (
            sender,
            [address for _, address in getaddresses(message.get_all("To", []))],
            after_data(message.as_bytes(policy=SMTP_POLICY)),
        )
        for message, sender in messages
    ]


async def baseline(port: int, messages: Outgoing, connections: int, cpu: Cpu) -> float:
    """The floor: the same messages, flattened before the clock starts, sent with the bare
    MAIL, RCPT and DATA commands.

    Flattening is work our pipeline does too; the floor leaves it out, so the ratio shows
    everything our path adds on top of putting the bytes on the wire.
    """
    return await send_flattened(port, flattened(messages), connections, cpu)


async def send_flattened(port: int, messages: Flat, connections: int, cpu: Cpu) -> float:
    """The floor's timed part: ``messages`` sent over ``connections``, as many tasks.

    Each message is MAIL, RCPT and DATA, as our transport (``smtp.send_raw``) sends it, and
    with fewer checks: not ``sendmail``, which parses each address four times (since 7
    December, when ours stopped doing so; before, both sides called ``sendmail``). After DATA
    the bytes made ready beforehand are written as they are, as ours writes its own (since 7
    December, night; before, both sides called aiosmtplib's ``data``, which runs two regular
    expressions over each message).
    """
    queue: asyncio.Queue[FlatMessage] = asyncio.Queue()
    for item in messages:
        queue.put_nowait(item)
    clients = [
        aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        for _ in range(connections)
    ]

    async def run(client: aiosmtplib.SMTP) -> None:
        await client.ehlo()
        while not queue.empty():
            sender, to, data = queue.get_nowait()
            # No timeout: aiosmtplib's (``asyncio.wait_for``) resumes the task one turn of the
            # event loop after each answer; ours keeps its own deadlines (``smtp._command``).
            mail = b"FROM:<" + sender.encode() + b">"
            await client.execute_command(b"MAIL", mail, timeout=None)
            for address in to:
                rcpt = b"TO:<" + address.encode() + b">"
                await client.execute_command(b"RCPT", rcpt, timeout=None)
            await client.execute_command(b"DATA", timeout=None)
            assert client.protocol is not None
            client.protocol.write(data)
            await client.protocol.read_response(timeout=None)

    started = time.perf_counter()
    with cpu.measure():
        await asyncio.gather(*(client.connect() for client in clients))
        await asyncio.gather(*(run(client) for client in clients))
    elapsed = time.perf_counter() - started
    await asyncio.gather(*(client.quit() for client in clients))
    return elapsed


# ---- the run --------------------------------------------------------------------------------


async def compare(
    label: str,
    port: int,
    sink_pid: int,
    count: int,
    connections: int,
    concurrency: int,
    database_url: str | None,
    *,
    profile: bool,
) -> float:
    await sink_stats(port, "reset")
    our_cpu, floor_cpu = Cpu(sink_pid), Cpu(sink_pid)
    mine, ran, notices = await ours(
        port, count, connections, concurrency, database_url, our_cpu, profile=profile
    )
    seen = await sink_stats(port, "reset")
    await baseline(port, notices[:100], connections, Cpu(sink_pid))  # warm-up
    await sink_stats(port, "reset")
    theirs = await baseline(port, notices, connections, floor_cpu)
    base_seen = await sink_stats(port, "reset")
    ratio = theirs / mine
    others = ", ".join(f"{k} {n}" for k, n in sorted(ran.items()) if k != NOTICE_TASK)
    print(f"{label}: {count} notification e-mails, {connections} SMTP connections")
    print(
        f"  floor (pre-serialised, bare MAIL/RCPT/DATA): {count / theirs:8.0f} messages/s  "
        f"({theirs:.2f} s)"
    )
    print(
        f"  tabellion worker pipeline:             {count / mine:8.0f} messages/s  ({mine:.2f} s, "
        f"worker concurrency {concurrency})"
    )
    print(f"  ratio: {ratio:.2f}x  [{'ok' if ratio >= 0.6 else 'BELOW TARGET'}, target 0.6x]")
    print(
        f"  CPU per message: floor {floor_cpu.per_item(count)}; "
        f"ours {our_cpu.per_item(count)}  (load {os.getloadavg()[0]:.1f})"
    )
    report(f"notices ({count}), {label}", count / mine, count / theirs, "msg/s", "≥ 0.6× floor")
    print(
        f"  sink saw {seen['total']} notices, {seen['unique']} unique Message-IDs, "
        f"{seen['duplicates']} duplicated; baseline {base_seen['total']}"
    )
    if others:
        print(
            f"  other jobs the worker ran meanwhile (sealing, mostly after the notices): {others}"
        )
    return ratio


async def main_async(args: argparse.Namespace) -> None:
    port = free_port()
    sink = start_process(["-m", "bench.bench_smtp", "--sink", str(port)])
    try:
        wait_for_port(port)
        concurrency = args.concurrency or Settings.model_fields["worker_concurrency"].default
        connections = args.connections or Settings.model_fields["smtp_connections"].default
        await compare(
            "SQLite",
            port,
            sink.pid,
            args.messages,
            connections,
            concurrency,
            None,
            profile=args.profile,
        )
        if args.postgres:
            url = fresh_postgres(PG_URL)
            if url:
                await compare(
                    "PostgreSQL",
                    port,
                    sink.pid,
                    args.messages,
                    connections,
                    concurrency,
                    url,
                    profile=args.profile,
                )
    finally:
        sink.terminate()
        sink.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument(
        "--connections",
        type=int,
        default=0,
        help="SMTP connections, ours and the floor's (default: TABELLION_SMTP_CONNECTIONS's)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="worker slots (default: TABELLION_WORKER_CONCURRENCY's default)",
    )
    parser.add_argument("--postgres", action="store_true", help="also run on PostgreSQL")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile our timed part (CPU time of the event loop's thread)",
    )
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink(args.sink)
        return
    event_loop.run(main_async(args))


if __name__ == "__main__":
    main()
