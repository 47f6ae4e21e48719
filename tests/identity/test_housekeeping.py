"""Old sign-in requests are deleted by a periodic job; starting sign-ins has its own limit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tabellion.config import Settings
from tabellion.db import transaction
from tabellion.jobs.maintenance import PURGE_IDENTITY_REQUESTS, ensure_periodic
from tabellion.jobs.worker import Worker
from tabellion.kit.ids import new_id
from tabellion.kit.time import utcnow
from tabellion.models.identity import IdentityRequest
from tabellion.models.job import Job
from tabellion.models.message import Delivery
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.identity.conftest import PROVIDERS
from tests.identity.test_pages import pending_sign_in
from tests.portal.helpers import csrf


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    return make_settings(
        data_dir,
        database_url,
        identity_providers=PROVIDERS,
        rate_limits={"identity-start.ip": "3/hour", "code-request.ip": "10/hour"},
    )


async def test_old_requests_are_purged_by_the_periodic_job(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery_id, _ = await pending_sign_in(client, auth, runtime, age=timedelta(hours=2))
    async with transaction(runtime.sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        recent = IdentityRequest(
            id=new_id("idr"),
            state_hash="f" * 64,
            organization_id=delivery.organization_id,
            delivery_id=delivery_id,
            provider="bank",
            nonce="n",
            code_verifier="v" * 64,
            created_at=utcnow() - timedelta(minutes=5),
        )
        session.add(recent)
    await ensure_periodic(runtime)
    async with transaction(runtime.sessions) as session:
        purge = (
            await session.scalars(select(Job).where(Job.kind == PURGE_IDENTITY_REQUESTS))
        ).one()
        purge.run_at = utcnow()
    await Worker(runtime, poll_interval=0.05).run_until_idle()
    async with runtime.sessions() as session:
        left = list(await session.scalars(select(IdentityRequest.id)))
        assert left == [recent.id]
        following = list(
            await session.scalars(
                select(Job).where(Job.kind == PURGE_IDENTITY_REQUESTS, Job.status == "queued")
            )
        )
        assert len(following) == 1


async def test_sign_in_starts_have_their_own_limit(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    _, link = await pending_sign_in(client, auth, runtime, age=timedelta(0))
    for _ in range(3):
        assert (await client.get(f"{link}/identify/nope")).status_code == 303
    throttled = await client.get(f"{link}/identify/nope")
    assert throttled.status_code == 429
    assert "retry-after" in throttled.headers
    # The e-mail code requests count apart: the same client may still ask for one.
    form = await client.get("/vault")
    asked = await client.post(
        "/vault/code", data={"email": "someone@example.test", "csrf_token": csrf(form.text)}
    )
    assert asked.status_code in (200, 303), asked.text
