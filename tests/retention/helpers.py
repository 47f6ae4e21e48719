"""Shared steps of the retention tests: letters with files of their own, answered for real."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select, update

from tabellion.db import transaction
from tabellion.jobs.maintenance import APPLY_RETENTION, ensure_periodic
from tabellion.jobs.worker import Worker
from tabellion.kit.time import utcnow
from tabellion.models.job import Job
from tabellion.models.message import Delivery
from tabellion.runtime import Runtime
from tests.fixtures.factories import message_body, natural_recipient
from tests.portal.helpers import notify, signed_in


async def letter(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    data: bytes,
    *,
    recipients: int = 1,
    first: int = 0,
    filename: str = "contract.pdf",
) -> dict:
    """A registered letter with one PDF of ``data``, dispatched; the message as answered."""
    body = message_body(
        subject="Retention subject",
        body_html="<p>Secret body</p>",
        recipients=[natural_recipient(first + n) for n in range(recipients)],
    )
    created = (await client.post("/v1/messages", json=body, headers=auth)).json()
    uploaded = await client.post(
        f"/v1/messages/{created['id']}/attachments?filename={filename}",
        content=data,
        headers={**auth, "Content-Type": "application/pdf"},
    )
    assert uploaded.status_code == 201, uploaded.text
    response = await client.post(f"/v1/messages/{created['id']}/dispatch", headers=auth)
    assert response.status_code == 202, response.text
    return response.json()


def pdf(tag: str) -> bytes:
    return b"%PDF-1.4\n% " + tag.encode() + b"\n%%EOF\n"


async def accept(client: httpx.AsyncClient, runtime: Runtime, delivery_id: str) -> str:
    """As the recipient: confirm the code and accept; returns the portal link."""
    link = await notify(runtime, delivery_id)
    token = await signed_in(client, runtime, link, delivery_id)
    answer = {"decision": "accept", "confirm": "yes", "csrf_token": token}
    assert (await client.post(f"{link}/answer", data=answer)).status_code == 303
    return link


async def age(runtime: Runtime, message_id: str, days: int) -> None:
    """Let ``days`` pass since the message's deliveries last changed."""
    async with transaction(runtime.sessions) as session:
        for delivery in await session.scalars(
            select(Delivery).where(Delivery.message_id == message_id)
        ):
            await session.execute(
                update(Delivery)
                .where(Delivery.id == delivery.id)
                .values(updated_at=delivery.updated_at - timedelta(days=days))
            )


async def run_retention_timer(runtime: Runtime) -> None:
    """The hourly retention job falls due; the real worker runs what is due."""
    await ensure_periodic(runtime)
    async with transaction(runtime.sessions) as session:
        await session.execute(
            update(Job)
            .where(Job.kind == APPLY_RETENTION, Job.status == "queued")
            .values(run_at=utcnow() - timedelta(seconds=1))
        )
    await Worker(runtime, poll_interval=0.05, concurrency=2).run_until_idle()
