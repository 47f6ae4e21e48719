"""The S3 blob store against moto's real server, alone and behind the API."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import httpx
import pytest

from tabellion.config import Settings
from tabellion.document import s3
from tabellion.document.s3 import S3BlobStore
from tabellion.document.service import collect_garbage
from tabellion.document.storage import (
    SNIFF_BYTES,
    BlobCorrupted,
    BlobNotFound,
    BlobTooLarge,
    open_store,
)
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.fixtures.factories import message_body
from tests.fixtures.s3 import PREFIX, REGION, S3Bucket
from tests.portal.helpers import csrf, notify

MIB = 1024 * 1024
BIG = 2 * s3.PART_SIZE + 3 * MIB + 17  # three parts, the last one short


def pattern(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(seed.to_bytes(4, "big")).digest() * (MIB // 32)
    return (block * (size // len(block) + 1))[:size]


async def chunks(data: bytes, size: int = MIB) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read(store: S3BlobStore, key: str, **span: int) -> bytes:
    return b"".join([chunk async for chunk in store.open(key, **span)])


@pytest.fixture
async def store(
    s3_bucket: S3Bucket, boto_session: boto3.session.Session
) -> AsyncIterator[S3BlobStore]:
    opened = S3BlobStore.from_url(s3_bucket.url, session=boto_session)
    try:
        yield opened
    finally:
        await opened.close()


def assert_nothing_left(bucket: S3Bucket) -> None:
    assert bucket.keys() == []
    assert bucket.pending_uploads() == []


# ---- writing ----------------------------------------------------------------------------------


async def test_small_round_trip_is_one_put(store: S3BlobStore, s3_bucket: S3Bucket) -> None:
    data = b"%PDF-1.7\n" + os.urandom(3 * SNIFF_BYTES)
    blob = await store.put_stream(chunks(data, 1000))

    sha = hashlib.sha256(data).hexdigest()
    assert (blob.key, blob.sha256, blob.size) == (sha, sha, len(data))
    assert blob.head == data[:SNIFF_BYTES]
    assert s3_bucket.keys() == [f"{PREFIX}/blobs/{sha}"]
    assert await read(store, blob.key) == data
    assert await store.exists(blob.key)
    modified = await store.modified_at(blob.key)
    assert modified is not None and abs(modified - time.time()) < 60


async def test_multipart_round_trip(store: S3BlobStore, s3_bucket: S3Bucket) -> None:
    data = pattern(BIG)
    blob = await store.put_stream(chunks(data, 700_001))  # parts do not follow chunk bounds

    sha = hashlib.sha256(data).hexdigest()
    assert (blob.key, blob.size, blob.head) == (sha, BIG, data[:SNIFF_BYTES])
    assert s3_bucket.keys() == [f"{PREFIX}/blobs/{sha}"]  # the temporary object is gone
    assert s3_bucket.pending_uploads() == []
    stored = s3_bucket.client.get_object(Bucket=s3_bucket.name, Key=f"{PREFIX}/blobs/{sha}")
    assert stored["ContentLength"] == BIG
    assert await read(store, blob.key) == data


async def test_same_content_is_stored_once(store: S3BlobStore, s3_bucket: S3Bucket) -> None:
    small = await store.put_stream(chunks(b"same bytes"))
    big = await store.put_stream(chunks(pattern(BIG)))
    assert await store.put_stream(chunks(b"same bytes", 5)) == small
    again = await store.put_stream(chunks(pattern(BIG), 3 * MIB))
    assert again.key == big.key
    assert sorted(s3_bucket.keys()) == sorted(
        f"{PREFIX}/blobs/{key}" for key in (small.key, big.key)
    )
    assert s3_bucket.pending_uploads() == []


async def test_storing_the_same_content_refreshes_its_age(store: S3BlobStore) -> None:
    blob = await store.put_stream(chunks(b"popular"))
    first = await store.modified_at(blob.key)
    await asyncio.sleep(1.1)  # S3 times have a one-second resolution
    await store.put_stream(chunks(b"popular"))
    second = await store.modified_at(blob.key)
    assert first is not None and second is not None and second > first
    assert await read(store, blob.key) == b"popular"


async def test_url_without_prefix_and_with_credentials(s3_bucket: S3Bucket) -> None:
    url = f"s3://AKID%2Bx:se%2Fcret@{s3_bucket.name}?endpoint_url={s3_bucket.endpoint}&region={REGION}"
    store = open_store(url)
    assert isinstance(store, S3BlobStore)
    try:
        credentials = store.client._request_signer._credentials
        assert (credentials.access_key, credentials.secret_key) == ("AKID+x", "se/cret")
        blob = await store.put_stream(chunks(b"at the root"))
        listing = s3_bucket.client.list_objects_v2(Bucket=s3_bucket.name)["Contents"]
        assert [item["Key"] for item in listing] == [f"blobs/{blob.key}"]
        assert await read(store, blob.key) == b"at the root"
    finally:
        await store.close()


# ---- nothing left behind ----------------------------------------------------------------------


async def test_too_large_aborts_the_multipart_upload(
    store: S3BlobStore, s3_bucket: S3Bucket
) -> None:
    limit = 2 * s3.PART_SIZE + MIB  # two parts go up before the limit is crossed
    with pytest.raises(BlobTooLarge):
        await store.put_stream(chunks(pattern(limit + 1)), max_bytes=limit)
    assert_nothing_left(s3_bucket)


async def test_too_large_small_blob_puts_nothing(store: S3BlobStore, s3_bucket: S3Bucket) -> None:
    with pytest.raises(BlobTooLarge):
        await store.put_stream(chunks(b"x" * 1001), max_bytes=1000)
    assert_nothing_left(s3_bucket)
    assert (await store.put_stream(chunks(b"x" * 1000), max_bytes=1000)).size == 1000


@pytest.mark.parametrize("sent", [100, s3.PART_SIZE + MIB])
async def test_failing_iterator_leaves_nothing(
    store: S3BlobStore, s3_bucket: S3Bucket, sent: int
) -> None:
    async def broken() -> AsyncIterator[bytes]:
        async for chunk in chunks(pattern(sent)):
            yield chunk
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put_stream(broken())
    assert_nothing_left(s3_bucket)


async def test_cancelled_multipart_upload_is_aborted(
    store: S3BlobStore, s3_bucket: S3Bucket
) -> None:
    sent = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        async for chunk in chunks(pattern(s3.PART_SIZE + MIB)):
            yield chunk
        sent.set()
        await asyncio.Event().wait()
        yield b"never"

    task = asyncio.create_task(store.put_stream(stalled()))
    await sent.wait()
    assert len(s3_bucket.pending_uploads()) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_nothing_left(s3_bucket)


# ---- reading ----------------------------------------------------------------------------------


async def test_full_read_checks_the_hash(store: S3BlobStore, s3_bucket: S3Bucket) -> None:
    data = pattern(3 * MIB)
    blob = await store.put_stream(chunks(data))
    tampered = data[:MIB] + b"!" + data[MIB + 1 :]
    s3_bucket.client.put_object(
        Bucket=s3_bucket.name, Key=f"{PREFIX}/blobs/{blob.key}", Body=tampered
    )
    received = bytearray()

    async def drain() -> None:
        async for chunk in store.open(blob.key):
            received.extend(chunk)

    with pytest.raises(BlobCorrupted, match=blob.key):
        await drain()
    assert bytes(received) == tampered
    assert await read(store, blob.key, start=0, end=100) == data[:100]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 1, slice(0, 1)),
        (5, None, slice(5, None)),
        (MIB - 3, MIB + 7, slice(MIB - 3, MIB + 7)),
        (10, 10, slice(0, 0)),
        (2 * MIB + 10, 3 * MIB, slice(2 * MIB + 10, None)),  # end past the size
        (5 * MIB, None, slice(0, 0)),  # start past the size
    ],
)
async def test_range_reads(
    store: S3BlobStore, start: int, end: int | None, expected: slice
) -> None:
    data = pattern(2 * MIB + 100)
    blob = await store.put_stream(chunks(data))
    span = {"start": start} if end is None else {"start": start, "end": end}
    assert await read(store, blob.key, **span) == data[expected]


@pytest.mark.parametrize("key", ["0" * 64, "../" * 20 + "etc/passwd", ""])
async def test_unknown_or_malformed_keys(store: S3BlobStore, key: str) -> None:
    with pytest.raises(BlobNotFound):
        await read(store, key)
    assert not await store.exists(key)
    assert await store.modified_at(key) is None
    await store.delete(key)
    assert not await store.delete_stale(key, before=datetime.now(UTC) + timedelta(hours=1))


async def test_delete_and_exists(store: S3BlobStore, s3_bucket: S3Bucket) -> None:
    kept = await store.put_stream(chunks(b"kept"))
    gone = await store.put_stream(chunks(b"gone"))
    await store.delete(gone.key)
    assert not await store.exists(gone.key)
    assert await store.exists(kept.key)
    assert s3_bucket.keys() == [f"{PREFIX}/blobs/{kept.key}"]
    with pytest.raises(BlobNotFound):
        await read(store, gone.key)


# ---- ages ---------------------------------------------------------------------------------------


async def test_keys_older_than_and_stale_uploads(store: S3BlobStore, s3_bucket: S3Bucket) -> None:
    blobs = {(await store.put_stream(chunks(data))).key for data in (b"one", b"two", b"three")}
    client, bucket = s3_bucket.client, s3_bucket.name
    client.put_object(Bucket=bucket, Key=f"{PREFIX}/tmp/left-by-a-crash", Body=b"half")
    client.create_multipart_upload(Bucket=bucket, Key=f"{PREFIX}/tmp/never-finished")
    client.put_object(Bucket=bucket, Key=f"{PREFIX}/blobs/not-a-blob", Body=b"x")
    client.put_object(Bucket=bucket, Key="other-tenant/blobs/" + "a" * 64, Body=b"x")

    past = datetime.now(UTC) - timedelta(minutes=5)
    assert [key async for key in store.keys_older_than(past)] == []
    assert f"{PREFIX}/tmp/left-by-a-crash" in s3_bucket.keys("tmp/")

    future = datetime.now(UTC) + timedelta(minutes=5)
    assert {key async for key in store.keys_older_than(future)} == blobs
    assert s3_bucket.keys("tmp/") == []
    assert s3_bucket.pending_uploads() == []

    key = next(iter(blobs))
    assert not await store.delete_stale(key, before=past)
    assert await store.delete_stale(key, before=future)
    assert not await store.exists(key)


# ---- behind the API ---------------------------------------------------------------------------


@pytest.fixture
def settings(data_dir: Path, database_url: str, s3_bucket: S3Bucket) -> Settings:
    return make_settings(data_dir, database_url, storage_url=s3_bucket.url)


async def test_attachments_through_the_api_live_in_s3(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    s3_bucket: S3Bucket,
    data_dir: Path,
) -> None:
    assert isinstance(runtime.storage.inner, S3BlobStore)  # behind the key-less guard
    created = await client.post("/v1/messages", json=message_body(mode="simple"), headers=auth)
    message_id = created.json()["id"]
    big = b"%PDF-1.7\n" + pattern(s3.PART_SIZE + 2 * MIB, seed=1)
    raw = await client.post(
        f"/v1/messages/{message_id}/attachments?filename=contract.pdf",
        content=big,
        headers={**auth, "Content-Type": "application/octet-stream"},
    )
    assert raw.status_code == 201, raw.text
    small = "Résumé, signed.\n".encode()
    form = await client.post(
        f"/v1/messages/{message_id}/attachments",
        files={"file": ("résumé.txt", small, "text/html")},
        headers=auth,
    )
    assert form.status_code == 201, form.text
    assert raw.json()["sha256"] == hashlib.sha256(big).hexdigest()
    assert (raw.json()["size"], raw.json()["content_type"]) == (len(big), "application/pdf")
    assert (form.json()["filename"], form.json()["content_type"]) == ("résumé.txt", "text/plain")
    assert sorted(s3_bucket.keys()) == sorted(
        f"{PREFIX}/blobs/{hashlib.sha256(data).hexdigest()}" for data in (big, small)
    )
    assert s3_bucket.pending_uploads() == []
    assert not (data_dir / "blobs").exists()  # nothing went to local disk

    dispatched = await client.post(f"/v1/messages/{message_id}/dispatch", headers=auth)
    assert dispatched.status_code == 202, dispatched.text
    delivery = dispatched.json()["deliveries"][0]
    link = await notify(runtime, delivery["id"])
    landing = await client.get(link)
    await client.post(f"{link}/open", data={"csrf_token": csrf(landing.text)})
    for uploaded, data in ((raw, big), (form, small)):
        file = await client.get(f"{link}/files/{uploaded.json()['id']}")
        assert file.status_code == 200, file.text
        assert file.content == data
        assert file.headers["content-length"] == str(len(data))
        assert file.headers["x-content-type-options"] == "nosniff"
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9.txt" in file.headers["content-disposition"]


async def test_too_large_upload_through_the_api_leaves_nothing_in_s3(
    data_dir: Path, database_url: str, s3_bucket: S3Bucket
) -> None:
    from tabellion.app import create_app
    from tests.fixtures.factories import create_org_with_key

    limit = s3.PART_SIZE + MIB
    settings = make_settings(
        data_dir, database_url, storage_url=s3_bucket.url, max_attachment_bytes=limit
    )
    runtime = Runtime.build(settings, pool_size=2)
    try:
        _, key = await create_org_with_key(runtime)
        auth = {"Authorization": f"Bearer {key}"}
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as client:
            created = await client.post("/v1/messages", json=message_body(), headers=auth)
            response = await client.post(
                f"/v1/messages/{created.json()['id']}/attachments?filename=big.bin",
                content=chunks(pattern(2 * limit)),  # no Content-Length: caught while streaming
                headers=auth,
            )
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "attachment-too-large"
        assert_nothing_left(s3_bucket)
    finally:
        await runtime.close()


async def test_collector_deletes_only_unreferenced_blobs_in_s3(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, s3_bucket: S3Bucket
) -> None:
    created = await client.post("/v1/messages", json=message_body(), headers=auth)
    attached = await client.post(
        f"/v1/messages/{created.json()['id']}/attachments?filename=a.txt",
        content=b"referenced",
        headers=auth,
    )
    kept = attached.json()["sha256"]
    orphan = (await runtime.storage.put_stream(chunks(b"unreferenced"))).key
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=f"{PREFIX}/tmp/abandoned", Body=b"x")

    # S3 sets object times itself: a grace in the past makes every object old enough.
    assert await collect_garbage(runtime, grace=timedelta(seconds=-60)) == 1
    assert s3_bucket.keys() == [f"{PREFIX}/blobs/{kept}"]
    assert not await runtime.storage.exists(orphan)
    assert await collect_garbage(runtime) == 0  # nothing is 6 hours old


async def test_list_keys_gives_every_blob_and_keeps_writes_in_progress(
    store: S3BlobStore, s3_bucket: S3Bucket
) -> None:
    """What ``tabellion backup`` reads beside live uploads: nothing may be cleaned up."""
    first = await store.put_stream(chunks(b"one"))
    second = await store.put_stream(chunks(b"two"))
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=f"{PREFIX}/tmp/upload", Body=b"half")
    assert sorted([key async for key in store.list_keys()]) == sorted([first.key, second.key])
    assert f"{PREFIX}/tmp/upload" in s3_bucket.keys("tmp/")


# ---- the bucket in trouble ----------------------------------------------------------------


async def answering_503() -> tuple[asyncio.Server, int]:
    """A real HTTP server on loopback that answers every request 503 (an S3 outage)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                if length:
                    await reader.readexactly(length)
                body = b"<Error><Code>ServiceUnavailable</Code><Message>down</Message></Error>"
                writer.write(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize("trouble", ["unreachable", "answering-503"])
async def test_a_bucket_in_trouble_answers_503_and_stores_nothing(
    data_dir: Path, database_url: str, trouble: str
) -> None:
    """The bucket down (nothing listening) or failing (5xx): the upload answers 503
    ``storage-unavailable`` with ``Retry-After`` after botocore's few quick retries, not a 500
    after minutes; no attachment is recorded."""
    from tabellion.app import create_app
    from tests.fixtures.factories import create_org_with_key
    from tests.fixtures.server import free_port

    server = None
    if trouble == "unreachable":
        port = free_port()  # nothing listens there
    else:
        server, port = await answering_503()
    url = f"s3://key:secret@bucket/prefix?endpoint_url=http://127.0.0.1:{port}&region=eu-west-3"
    settings = make_settings(data_dir, database_url, storage_url=url)
    runtime = Runtime.build(settings, pool_size=2)
    try:
        _, key = await create_org_with_key(runtime)
        auth = {"Authorization": f"Bearer {key}"}
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t.test", timeout=120
        ) as client:
            created = await client.post("/v1/messages", json=message_body(), headers=auth)
            message_id = created.json()["id"]
            for body in (b"%PDF-1.7\nsmall\n", pattern(s3.PART_SIZE + MIB)):  # put; multipart
                response = await client.post(
                    f"/v1/messages/{message_id}/attachments?filename=a.pdf",
                    content=body,
                    headers={**auth, "Content-Type": "application/pdf"},
                )
                assert response.status_code == 503, response.text
                assert response.json()["code"] == "storage-unavailable"
                assert response.headers["retry-after"] == "30"
            message = await client.get(f"/v1/messages/{message_id}", headers=auth)
            assert message.json()["attachments"] == []
    finally:
        await runtime.close()
        if server is not None:
            server.close()
            await server.wait_closed()
