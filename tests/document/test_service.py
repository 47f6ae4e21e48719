"""The blob collector: what it deletes, what it keeps, and its periodic job in the worker."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from tabellion.db import transaction
from tabellion.document import service
from tabellion.document.local import LocalBlobStore
from tabellion.document.service import GRACE, collect_garbage
from tabellion.jobs.maintenance import COLLECT_BLOBS
from tabellion.jobs.queue import enqueue
from tabellion.jobs.worker import Worker
from tabellion.kit.time import utcnow
from tabellion.models.evidence import Evidence
from tabellion.models.job import Job
from tabellion.models.message import Delivery
from tabellion.portal.replies import add_reply
from tabellion.runtime import Runtime
from tests.fixtures.factories import message_body

OLD = GRACE + timedelta(hours=1)


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def local(runtime: Runtime) -> LocalBlobStore:
    backend = runtime.storage.inner  # the disk behind the key-less guard
    assert isinstance(backend, LocalBlobStore)
    return backend


async def put(runtime: Runtime, data: bytes, *, older_by: timedelta | None = None) -> str:
    key = (await runtime.storage.put_stream(one(data))).key
    if older_by is not None:
        age(runtime, key, older_by)
    return key


def age(runtime: Runtime, key: str, by: timedelta) -> None:
    then = time.time() - by.total_seconds()
    os.utime(local(runtime).path_of(key), (then, then))


async def upload(
    client: httpx.AsyncClient, auth: dict[str, str], message_id: str, data: bytes
) -> str:
    response = await client.post(
        f"/v1/messages/{message_id}/attachments?filename=a.bin", content=data, headers=auth
    )
    assert response.status_code == 201, response.text
    sha: str = response.json()["sha256"]
    assert sha == hashlib.sha256(data).hexdigest()
    return sha


async def draft(client: httpx.AsyncClient, auth: dict[str, str], **extra: object) -> str:
    response = await client.post("/v1/messages", json=message_body(**extra), headers=auth)
    assert response.status_code == 201, response.text
    message_id: str = response.json()["id"]
    return message_id


async def test_keeps_referenced_and_fresh_blobs_deletes_old_orphans(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    # An attachment of a secure message, dispatched: its row holds the key.
    message_id = await draft(client, auth, mode="secure")
    attached = await upload(client, auth, message_id, b"the contract")
    dispatched = await client.post(f"/v1/messages/{message_id}/dispatch", headers=auth)
    assert dispatched.status_code == 202, dispatched.text
    delivery_id = dispatched.json()["deliveries"][0]["id"]
    # A file of a reply: only the reply's JSON list holds the key.
    replied = await put(runtime, b"the signed copy")
    async with transaction(runtime.sessions) as session:
        delivery = await session.get(Delivery, delivery_id)
        assert delivery is not None
        await add_reply(
            session,
            delivery,
            author="sender",
            body_html="<p>See attached.</p>",
            files=[
                {
                    "id": "att_reply",
                    "filename": "signed.pdf",
                    "content_type": "application/pdf",
                    "size": 15,
                    "sha256": replied,
                    "storage_key": replied,
                }
            ],
        )
    # A rendered evidence PDF: the evidence row holds the key.
    proof = await put(runtime, b"%PDF-1.7 sealed proof")
    async with transaction(runtime.sessions) as session:
        evidence = await session.scalar(select(Evidence).where(Evidence.delivery_id == delivery_id))
        assert evidence is not None
        evidence.pdf_key = proof
    # The attachment of a draft deleted since: nothing holds it any more.
    dropped_id = await draft(client, auth)
    dropped = await upload(client, auth, dropped_id, b"a draft's file")
    assert (await client.delete(f"/v1/messages/{dropped_id}", headers=auth)).status_code == 204
    orphan = await put(runtime, b"from a request that failed")
    fresh_orphan = await put(runtime, b"from a request still running")
    for key in (attached, replied, proof, dropped, orphan):
        age(runtime, key, OLD)

    assert await collect_garbage(runtime) == 2

    store = runtime.storage
    for key in (attached, replied, proof, fresh_orphan):
        assert await store.exists(key), key
    assert not await store.exists(dropped)
    assert not await store.exists(orphan)
    assert await collect_garbage(runtime) == 0


async def test_grace_decides_what_is_old(runtime: Runtime) -> None:
    key = await put(runtime, b"unreferenced", older_by=timedelta(minutes=10))
    assert await collect_garbage(runtime, grace=timedelta(minutes=11)) == 0
    assert await runtime.storage.exists(key)
    assert await collect_garbage(runtime, grace=timedelta(minutes=9)) == 1
    assert not await runtime.storage.exists(key)


async def test_uploading_the_same_bytes_again_saves_an_old_orphan(runtime: Runtime) -> None:
    key = await put(runtime, b"sent twice", older_by=OLD)
    # A new request stores the same bytes; its row is not committed yet.
    assert await put(runtime, b"sent twice") == key
    assert await collect_garbage(runtime) == 0
    assert await runtime.storage.exists(key)


async def test_many_blobs_go_in_batches(
    runtime: Runtime,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service, "BATCH", 3)
    message_id = await draft(client, auth)
    kept = [await upload(client, auth, message_id, f"kept {i}".encode()) for i in range(4)]
    orphans = [await put(runtime, f"orphan {i}".encode()) for i in range(7)]
    for key in kept + orphans:
        age(runtime, key, OLD)

    assert await collect_garbage(runtime) == 7
    assert [await runtime.storage.exists(key) for key in kept] == [True] * 4
    assert [await runtime.storage.exists(key) for key in orphans] == [False] * 7


async def test_stale_temporary_files_go_too(runtime: Runtime) -> None:
    tmp = local(runtime).tmp
    abandoned = tmp / "crashed-upload.part"
    abandoned.write_bytes(b"half")
    then = time.time() - OLD.total_seconds()
    os.utime(abandoned, (then, then))
    running = tmp / "running-upload.part"
    running.write_bytes(b"still coming")

    assert await collect_garbage(runtime) == 0
    assert not abandoned.exists()
    assert running.exists()


async def test_the_periodic_job_collects_through_the_worker(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    message_id = await draft(client, auth)
    attached = await upload(client, auth, message_id, b"kept by its attachment row")
    orphan = await put(runtime, b"nobody's")
    fresh = await put(runtime, b"nobody's yet")
    for key in (attached, orphan):
        age(runtime, key, OLD)
    async with transaction(runtime.sessions) as session:
        job = enqueue(session, COLLECT_BLOBS, {})
        await session.flush()
        job_id = job.id

    assert await Worker(runtime, poll_interval=0.05).run_until_idle() == 1

    assert await runtime.storage.exists(attached)
    assert await runtime.storage.exists(fresh)
    assert not await runtime.storage.exists(orphan)
    async with runtime.sessions() as session:
        done = await session.get(Job, job_id)
        assert done is not None and done.status == "done", done and done.last_error
        following = (
            await session.scalars(
                select(Job).where(Job.kind == COLLECT_BLOBS, Job.status == "queued")
            )
        ).all()
    assert len(following) == 1  # the next run, hours from now
    assert following[0].run_at > utcnow() + timedelta(hours=5)
