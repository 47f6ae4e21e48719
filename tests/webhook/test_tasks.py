"""Webhook jobs run by real workers: a worker that dies mid-send does not lose the event; an
endpoint failing for three days is disabled and its organisation told by e-mail."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook

from tabellion.config import Settings
from tabellion.db import transaction
from tabellion.jobs.maintenance import PURGE_EVENTS
from tabellion.jobs.queue import enqueue
from tabellion.jobs.worker import Worker
from tabellion.kit.time import utcnow
from tabellion.models.job import Job
from tabellion.models.webhook import Event, WebhookEndpoint
from tabellion.runtime import Runtime
from tabellion.webhook.service import DELIVER_TASK, NOTIFY_DISABLED_TASK
from tests.fixtures.receiver import Receiver
from tests.fixtures.smtp import SmtpServer
from tests.webhook.conftest import HoldingReceiver
from tests.webhook.test_delivery import emit_event, run_jobs, setup_endpoint

DELIVERY_JOBS = select(Job).where(Job.kind == DELIVER_TASK)


@pytest.fixture
def settings(data_dir: Path, database_url: str, smtp_server: SmtpServer) -> Settings:
    return smtp_server.settings(data_dir, database_url, webhook_allowed_hosts="127.0.0.1")


def start_worker_process(runtime: Runtime) -> subprocess.Popen[str]:
    """``tabellion worker`` in its own process, on the test's database and secret key."""
    settings = runtime.settings
    assert settings.secret_key is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABELLION_")}
    env.update(
        TABELLION_ENV="test",
        TABELLION_DATA_DIR=str(settings.data_dir),
        TABELLION_DATABASE_URL=settings.resolved_database_url,
        # Endpoint secrets are stored encrypted with the key derived from it.
        TABELLION_SECRET_KEY=settings.secret_key.get_secret_value(),
        TABELLION_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
        TABELLION_LOG_LEVEL="warning",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "tabellion", "worker", "--concurrency", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def request_arrived(receiver: HoldingReceiver, worker: subprocess.Popen[str]) -> bool:
    deadline = time.monotonic() + 60  # a new process starting on a loaded machine
    while not receiver.received:
        if worker.poll() is not None or time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def test_worker_killed_mid_send_sends_again_with_the_same_id(
    runtime: Runtime,
    org_key: tuple[str, str],
    holding_receiver: HoldingReceiver,
    client: httpx.AsyncClient,
    auth: dict[str, str],
) -> None:
    endpoint_id, secret = await setup_endpoint(runtime, org_key[0], holding_receiver.url)
    event_id = await emit_event(runtime, org_key[0])

    worker = start_worker_process(runtime)
    try:
        arrived = await request_arrived(holding_receiver, worker)  # held open: no answer yet
    finally:
        worker.send_signal(signal.SIGKILL)
        output = worker.communicate(timeout=10)[0]
    assert arrived, f"the worker sent nothing within 60 s:\n{output}"
    assert worker.returncode == -signal.SIGKILL, output

    # Nothing was recorded; the job still carries the dead worker's lease.
    async with runtime.sessions() as session:
        (job,) = await session.scalars(DELIVERY_JOBS)
    assert (job.status, job.attempts) == ("running", 1)
    assert job.locked_by is not None and f":{worker.pid}:" in job.locked_by
    listed = await client.get(f"/v1/webhook-endpoints/{endpoint_id}/attempts", headers=auth)
    assert listed.json()["data"] == []

    # A second worker leaves the job alone while the lease runs, and takes it once it ran out.
    survivor = Worker(runtime, poll_interval=0.05)
    assert await survivor.run_until_idle(timeout=10) == 0
    async with transaction(runtime.sessions) as session:
        await session.execute(
            update(Job).where(Job.id == job.id).values(locked_until=utcnow() - timedelta(seconds=1))
        )
    assert await survivor.run_until_idle(timeout=10) == 1

    first, second = holding_receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event_id
    assert first.body == second.body
    for got in (first, second):
        payload = Webhook(secret).verify(got.body, got.headers)
        assert payload["type"] == "delivery.accepted"

    async with runtime.sessions() as session:
        (job,) = await session.scalars(DELIVERY_JOBS)
    assert (job.status, job.attempts, job.locked_by) == ("done", 2, None)
    listed = await client.get(f"/v1/webhook-endpoints/{endpoint_id}/attempts", headers=auth)
    assert [
        (a["event_id"], a["attempt"], a["outcome"], a["status_code"]) for a in listed.json()["data"]
    ] == [(event_id, 2, "succeeded", 200)]


async def failing_since(runtime: Runtime, endpoint_id: str, ago: timedelta) -> None:
    async with transaction(runtime.sessions) as session:
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(failing_since=utcnow() - ago)
        )


async def test_failing_for_three_days_disables_the_endpoint_and_emails_the_contact(
    runtime: Runtime,
    org_key: tuple[str, str],
    receiver: Receiver,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    smtp_server: SmtpServer,
) -> None:
    endpoint_id, _ = await setup_endpoint(runtime, org_key[0], receiver.url)
    url = f"/v1/webhook-endpoints/{endpoint_id}"

    # Not quite three days: still enabled, and the failure does not restart the clock.
    await failing_since(runtime, endpoint_id, timedelta(days=2, hours=23))
    receiver.answer(500)
    await emit_event(runtime, org_key[0])
    assert await run_jobs(runtime) == 1
    endpoint = (await client.get(url, headers=auth)).json()
    assert endpoint["enabled"] is True
    started = datetime.fromisoformat(endpoint["failing_since"])
    assert timedelta(days=2, hours=22) < utcnow() - started < timedelta(days=3)
    # That event's retry (due in ~5 s) is not this step's: on a slow run it came due during
    # the next one and was counted there.
    async with transaction(runtime.sessions) as session:
        await session.execute(
            update(Job)
            .where(Job.kind == DELIVER_TASK, Job.status == "queued")
            .values(run_at=utcnow() + timedelta(hours=1))
        )

    await failing_since(runtime, endpoint_id, timedelta(days=3, minutes=1))
    receiver.answer(500)
    await emit_event(runtime, org_key[0])
    assert await run_jobs(runtime) == 2  # the delivery, then the notice it queued
    endpoint = (await client.get(url, headers=auth)).json()
    assert endpoint["enabled"] is False
    assert endpoint["disabled_reason"] == "Every attempt failed for three days."

    (mail,) = await smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["admin@acme.test"]
    assert mail.message["Subject"] == "Tabellion: a webhook endpoint was disabled"
    assert endpoint_id in mail.text and receiver.url in mail.text
    assert "failed for three days" in mail.text
    assert f"/v1/webhook-endpoints/{endpoint_id}/enable" in mail.text
    async with runtime.sessions() as session:
        notices = (await session.scalars(select(Job).where(Job.kind == NOTIFY_DISABLED_TASK))).all()
    assert [(j.status, j.payload) for j in notices] == [("done", {"endpoint_id": endpoint_id})]

    # Disabled: new events get no job; enabled again, the clock starts afresh.
    await emit_event(runtime, org_key[0])
    assert await run_jobs(runtime) == 0
    enabled = (await client.post(f"{url}/enable", headers=auth)).json()
    assert (enabled["enabled"], enabled["failing_since"]) == (True, None)


async def test_the_purge_job_keeps_a_month_of_events_and_runs_again(
    runtime: Runtime, org_key: tuple[str, str]
) -> None:
    kept = await emit_event(runtime, org_key[0])
    gone = await emit_event(runtime, org_key[0])
    newest = await emit_event(runtime, org_key[0])
    async with transaction(runtime.sessions) as session:
        for event_id, days in ((kept, 31), (gone, 36)):
            await session.execute(
                update(Event)
                .where(Event.id == event_id)
                .values(created_at=utcnow() - timedelta(days=days))
            )
        enqueue(session, PURGE_EVENTS, {})
    assert await run_jobs(runtime) >= 1
    async with runtime.sessions() as session:
        assert set(await session.scalars(select(Event.id))) == {kept, newest}
        (following,) = await session.scalars(
            select(Job).where(Job.kind == PURGE_EVENTS, Job.status == "queued")
        )
    assert following.run_at > utcnow() + timedelta(hours=5)
