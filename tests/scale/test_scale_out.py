"""Scale-out, end to end: two API processes (``tabellion serve --no-worker``) and three worker
processes (``tabellion worker``) on one PostgreSQL database and one S3 bucket (moto's server),
mailing through an aiosmtpd server and posting webhooks to a receiver, all real.

Letters go through both APIs in turn; once every delivery is notified, each was notified
exactly once (one e-mail per delivery at the SMTP server, Message-IDs unique), each proof
sealed once (one place in its chain and in the transparency log, none pending), each webhook
event delivered once (webhook-ids unique), and ``tabellion evidence check`` is clean.

``TABELLION_SCALE_LETTERS`` sets the number of letters (default 80: CI's; ``make scale``
sends 5,000).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url

from tests.conftest import TEST_DATABASE_URL
from tests.fixtures.cluster import Sender, cluster_env, database, running_cluster, settle, tally
from tests.fixtures.database import database_beside, drop_database_beside
from tests.fixtures.receiver import running_receiver
from tests.fixtures.s3 import (  # noqa: F401 (fixtures)
    S3Bucket,
    boto_session,
    s3_bucket,
    s3_client,
    s3_endpoint,
)
from tests.fixtures.smtp import SmtpServer

pytestmark = [pytest.mark.scale, pytest.mark.postgres_only]

LETTERS = int(os.environ.get("TABELLION_SCALE_LETTERS", "80"))


@pytest.fixture
def cluster_database() -> Iterator[str]:
    """A database of the cluster's own beside the test one, migrated by the first API."""
    assert TEST_DATABASE_URL is not None
    name = f"{make_url(TEST_DATABASE_URL).database}_scale"
    url = database_beside(TEST_DATABASE_URL, name, fresh=True)
    try:
        yield url
    finally:
        drop_database_beside(TEST_DATABASE_URL, name)


async def test_two_apis_three_workers_notify_each_letter_once(
    tmp_path: Path,
    cluster_database: str,
    s3_bucket: S3Bucket,  # noqa: F811
    smtp_server: SmtpServer,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # Production's lease (the crash harness shortens it): nothing is killed here, and a
    # worker whose event loop is held by renders on a saturated machine must keep its jobs.
    env = cluster_env(
        data_dir,
        cluster_database,
        s3_bucket.url,
        smtp_server.url(),
        TABELLION_WORKER_LEASE_SECONDS="60",
    )
    async with (
        running_receiver() as receiver,
        running_cluster(env, tmp_path, apis=2, workers=3, concurrency=32) as cluster,
    ):
        sender = Sender(cluster)
        try:
            await sender.subscribe(receiver.url)
            started = time.monotonic()
            await sender.send_many(LETTERS, prefix="scale", clients=16)
            with database(cluster_database) as engine:
                await settle(engine, cluster, timeout=120 + LETTERS * 0.5)
                elapsed = time.monotonic() - started
                # Webhooks are recorded as sent once the receiver answered: all are in.
                found = tally(engine, sender, list(smtp_server.messages), receiver.received)
        finally:
            await sender.aclose()
        code, output = await asyncio.to_thread(cluster.cli, "evidence", "check")
    print(
        f"\n{LETTERS} letters through 2 APIs and 3 workers in {elapsed:.1f} s "
        f"({LETTERS / elapsed:.1f} notified/s): {found}"
    )
    assert found.problems == [], found.problems
    assert found.deliveries == found.notices == LETTERS
    assert found.resent_notices == 0 and found.resent_webhooks == 0
    # SENT and NOTIFIED per letter; message.dispatched, delivery.sent, delivery.notified.
    assert found.proofs == 2 * LETTERS
    assert found.webhooks == 3 * LETTERS
    assert code == 0, output
    assert f"ok: {2 * LETTERS} proofs in 1 chains" in output
