"""Encryption at rest: chunked AES-256-GCM over the real stores (local disk, moto S3), in both
layouts (1: the data key in the blob's header; 2: in ``blob_keys``), key rotation, and the
migration of plain and layout-1 blobs (docs/data.md)."""

from __future__ import annotations

import hashlib
import json
import os
import tracemalloc
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import boto3
import httpx
import pytest
from sqlalchemy import func, select

from tabellion.config import Settings
from tabellion.document.encryption import (
    CHUNK_SIZE,
    TAG,
    EncryptedBlobStore,
    FileKeyProvider,
    Header,
    KeyUnavailable,
    generate_key_file,
    put_for,
    rewrap_all,
    rewrap_data_keys,
    rotate_organization_key,
)
from tabellion.document.local import LocalBlobStore
from tabellion.document.migrate import encrypt_storage
from tabellion.document.s3 import S3BlobStore
from tabellion.document.service import check_storage, collect_garbage
from tabellion.document.storage import BlobCorrupted, KeylessBlobStore, StoredFileUnavailable
from tabellion.models.encryption import BlobKey, StorageKey
from tabellion.models.message import Attachment
from tabellion.models.organization import Organization
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.fixtures.factories import create_org_with_key, message_body
from tests.fixtures.s3 import S3Bucket

WINDOW = 16


def document(size: int, seed: int = 7) -> bytes:
    """Incompressible, distinctive bytes: any 16 of them in a row appear nowhere by chance."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(seed.to_bytes(4, "big") + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


async def chunks(data: bytes, size: int = 100_000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read(store: EncryptedBlobStore, key: str, **span: int) -> bytes:
    return b"".join([piece async for piece in store.open(key, **span)])


def leaks(plain: bytes, stored: bytes) -> bool:
    """Whether a 16-byte window of ``plain`` lies in ``stored``: windows side by side, or
    spread over a large file (at least 2048 of them, so any plain run of 1/1000 shows)."""
    step = max(WINDOW, len(plain) // 2048)
    return any(
        plain[i : i + WINDOW] in stored for i in range(0, max(1, len(plain) - WINDOW + 1), step)
    )


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture
def settings(data_dir: Path, database_url: str, master_key: Path) -> Settings:
    return make_settings(data_dir, database_url, master_key_file=master_key)


@pytest.fixture(params=[2, 1], ids=["layout2", "layout1"])
def store(runtime: Runtime, request: pytest.FixtureRequest) -> EncryptedBlobStore:
    """The runtime's store, writing new blobs in layout 2 (as the service does) or 1 (as it
    did: such blobs must still read, and be refused as strictly when altered)."""
    assert isinstance(runtime.storage, EncryptedBlobStore)
    return EncryptedBlobStore(runtime.storage.inner, runtime.storage.keyring, layout=request.param)


async def key_id_of(runtime: Runtime, key: str, raw: bytes) -> str:
    """The ``storage_keys`` id that wraps the blob's data key: in its header (layout 1) or in
    its row of ``blob_keys`` (layout 2)."""
    header = Header.parse(raw, key)
    if header.version == 1:
        assert header.key_id is not None
        return header.key_id
    async with runtime.sessions() as session:
        row = await session.get(BlobKey, key)
    assert row is not None, key
    return row.storage_key_id


def blob_path(store: EncryptedBlobStore, key: str) -> Path:
    assert isinstance(store.inner, LocalBlobStore)
    return store.inner.path_of(key)


# ---- the layout ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 5]
)
async def test_round_trip_and_ranges(store: EncryptedBlobStore, size: int) -> None:
    data = document(size)
    blob = await store.put_stream(chunks(data))
    assert (blob.sha256, blob.size, blob.head) == (
        hashlib.sha256(data).hexdigest(),
        size,
        data[:8192],
    )
    assert blob.key != blob.sha256  # addressed by its ciphertext
    assert await read(store, blob.key) == data
    for start, end in [(0, 10), (CHUNK_SIZE - 3, CHUNK_SIZE + 3), (5, None), (size, None)]:
        want = data[start:end]
        got = (
            await read(store, blob.key, start=start)
            if end is None
            else await read(store, blob.key, start=start, end=end)
        )
        assert got == want, (start, end)
    raw = blob_path(store, blob.key).read_bytes()
    header = Header.parse(raw, blob.key)
    assert header.version == store.layout
    chunks_count = max(1, -(-size // CHUNK_SIZE))
    assert len(raw) == len(header.raw) + size + chunks_count * TAG


@pytest.mark.parametrize("piece", [1, 7, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 200_000])
async def test_pieces_of_any_size_seal_into_the_same_chunks(
    store: EncryptedBlobStore, piece: int
) -> None:
    """The writer seals chunks where they lie in the pieces it receives and gathers only those
    that span two: whatever the pieces, the blob has the same chunks and reads back whole."""
    data = document(3 * CHUNK_SIZE + 5, seed=piece)
    blob = await store.put_stream(chunks(data, piece))
    raw = blob_path(store, blob.key).read_bytes()
    header = Header.parse(raw, blob.key)
    assert len(raw) == len(header.raw) + len(data) + 4 * TAG
    assert await read(store, blob.key) == data


async def test_no_plaintext_on_disk_and_no_sharing_across_organisations(
    runtime: Runtime, store: EncryptedBlobStore, data_dir: Path
) -> None:
    org_a, _ = await create_org_with_key(runtime, "A")
    org_b, _ = await create_org_with_key(runtime, "B")
    data = document(CHUNK_SIZE * 2 + 100)
    a = await store.put_stream(chunks(data), organization_id=org_a)
    b = await store.put_stream(chunks(data), organization_id=org_b)
    again = await store.put_stream(chunks(data), organization_id=org_a)
    assert len({a.key, b.key, again.key}) == 3
    assert a.sha256 == b.sha256 == again.sha256 == hashlib.sha256(data).hexdigest()
    key_a = await key_id_of(runtime, a.key, blob_path(store, a.key).read_bytes())
    key_b = await key_id_of(runtime, b.key, blob_path(store, b.key).read_bytes())
    assert key_a != key_b  # each organisation's own key
    if store.layout == 2:
        # Nothing of the key in the blob: the header is magic, version, size, prefix.
        header = Header.parse(blob_path(store, a.key).read_bytes(), a.key)
        assert len(header.raw) == 23 and header.key_id is None and header.wrapped is None
    files = stored_files(data_dir / "blobs")
    assert len(files) == 3
    for path in files:
        assert not leaks(data, path.read_bytes()), path
    assert await read(store, b.key) == data


async def test_through_the_api_nothing_plain_on_disk(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    data_dir: Path,
) -> None:
    created = await client.post("/v1/messages", json=message_body(mode="simple"), headers=auth)
    message_id = created.json()["id"]
    data = b"%PDF-1.7\n" + document(300_000, seed=3)
    raw = await client.post(
        f"/v1/messages/{message_id}/attachments?filename=contract.pdf",
        content=data,
        headers={**auth, "Content-Type": "application/octet-stream"},
    )
    assert raw.status_code == 201, raw.text
    assert raw.json()["sha256"] == hashlib.sha256(data).hexdigest()  # the proof's hash
    for path in stored_files(data_dir / "blobs"):
        assert not leaks(data, path.read_bytes())
    report = await check_storage(runtime)
    assert report.ok and report.checked == 1, report.problems
    async with runtime.sessions() as session:
        attachment = (await session.scalars(select(Attachment))).one()
        keys = (await session.scalars(select(StorageKey))).all()
    assert [k.organization_id for k in keys] == [attachment.organization_id]
    assert await read(runtime.storage, attachment.storage_key) == data  # type: ignore[arg-type]


# ---- tampering -----------------------------------------------------------------------------


async def stored(store: EncryptedBlobStore, data: bytes) -> tuple[str, Header, bytes]:
    blob = await store.put_stream(chunks(data))
    raw = blob_path(store, blob.key).read_bytes()
    return blob.key, Header.parse(raw, blob.key), raw


def sealed_chunks(header: Header, raw: bytes) -> list[bytes]:
    body = raw[len(header.raw) :]
    return [body[i : i + header.sealed_size] for i in range(0, len(body), header.sealed_size)]


async def served_before_refusal(store: EncryptedBlobStore, key: str, **span: int) -> bytes:
    served = bytearray()

    async def drain() -> None:
        async for piece in store.open(key, **span):
            served.extend(piece)

    with pytest.raises(BlobCorrupted) as caught:
        await drain()
    # The chunk's authentication, or the backend's check of the whole ciphertext's address.
    assert "refused" in str(caught.value.detail) or "does not match its hash" in str(
        caught.value.detail
    )
    return bytes(served)


@pytest.mark.parametrize("case", ["tampered", "truncated", "reordered", "appended", "header"])
async def test_altered_blobs_are_refused(store: EncryptedBlobStore, case: str) -> None:
    data = document(3 * CHUNK_SIZE + 10)
    key, header, raw = await stored(store, data)
    parts = sealed_chunks(header, raw)
    if case == "tampered":
        flipped = bytearray(parts[1])
        flipped[5] ^= 1
        parts[1] = bytes(flipped)
        authentic = data[:CHUNK_SIZE]
    elif case == "truncated":
        parts = parts[:-1]  # cut at a chunk boundary: no final chunk
        authentic = data[: 2 * CHUNK_SIZE]
    elif case == "reordered":
        parts[0], parts[1] = parts[1], parts[0]
        authentic = b""
    else:
        authentic = b""
    body = b"".join(parts)
    if case == "appended":
        body += parts[-1]
        authentic = data[: 3 * CHUNK_SIZE]
    head = header.raw
    if case == "header":
        changed = bytearray(head)
        changed[17] ^= 1  # a byte of the nonce prefix
        head = bytes(changed)
    blob_path(store, key).write_bytes(head + body)
    served = await served_before_refusal(store, key)
    assert served == authentic  # never a byte of an altered chunk
    if case in ("tampered", "reordered"):
        await served_before_refusal(store, key, start=CHUNK_SIZE - 5, end=CHUNK_SIZE + 5)


async def test_chunk_swapped_from_another_blob_is_refused(store: EncryptedBlobStore) -> None:
    data = document(2 * CHUNK_SIZE + 1)
    key, header, raw = await stored(store, data)
    _, other_header, other_raw = await stored(store, data)
    parts = sealed_chunks(header, raw)
    parts[1] = sealed_chunks(other_header, other_raw)[1]  # same index, same plaintext
    blob_path(store, key).write_bytes(header.raw + b"".join(parts))
    assert await served_before_refusal(store, key) == data[:CHUNK_SIZE]
    # A whole header swapped in: the other blob's data key reads nothing of ours.
    blob_path(store, key).write_bytes(other_header.raw + b"".join(sealed_chunks(header, raw)))
    assert await served_before_refusal(store, key) == b""


@pytest.mark.parametrize("altered", [None, 15, 16, 40])
async def test_whole_reads_open_chunks_across_the_backends_pieces(
    store: EncryptedBlobStore, altered: int | None
) -> None:
    """The backend hands a large blob over in 1 MiB pieces, which do not fall on chunk
    boundaries: a chunk split between two pieces (15 here: 16 sealed chunks and the header are
    a little over 1 MiB) is put together, and one altered anywhere is refused, after exactly
    the chunks before it."""
    data = document(40 * CHUNK_SIZE + 123, seed=3)
    key, header, raw = await stored(store, data)
    assert len(header.raw) + 16 * header.sealed_size > 1024 * 1024 > 15 * header.sealed_size
    if altered is None:
        assert await read(store, key) == data
        return
    changed = bytearray(raw)
    changed[len(header.raw) + altered * header.sealed_size + 7] ^= 1
    blob_path(store, key).write_bytes(bytes(changed))
    assert await served_before_refusal(store, key) == data[: altered * CHUNK_SIZE]


async def test_legacy_plain_blobs_still_read(runtime: Runtime, store: EncryptedBlobStore) -> None:
    assert isinstance(store.inner, LocalBlobStore)
    plain = document(CHUNK_SIZE + 3, seed=9)
    legacy = await store.inner.put_stream(chunks(plain))
    assert legacy.key == hashlib.sha256(plain).hexdigest()
    assert await store.is_plain(legacy.key)
    assert await read(store, legacy.key) == plain
    assert await read(store, legacy.key, start=4, end=40) == plain[4:40]
    store.inner.path_of(legacy.key).write_bytes(plain[:-1] + b"!")
    with pytest.raises(BlobCorrupted):
        await read(store, legacy.key)


# ---- addresses: a name for layout 2, the content's hash otherwise --------------------------


def layout_store(runtime: Runtime, layout: int, inner: object = None) -> EncryptedBlobStore:
    assert isinstance(runtime.storage, EncryptedBlobStore)
    backend = runtime.storage.inner if inner is None else inner
    return EncryptedBlobStore(backend, runtime.storage.keyring, layout=layout)  # type: ignore[arg-type]


async def refused(store: EncryptedBlobStore, key: str, **span: int) -> tuple[bytes, str]:
    """What was served before the read was refused, and why."""
    served = bytearray()

    async def drain() -> None:
        async for piece in store.open(key, **span):
            served.extend(piece)

    with pytest.raises(StoredFileUnavailable) as caught:
        await drain()
    assert caught.value.code == "stored-file-unavailable"
    return bytes(served), str(caught.value.detail)


async def test_a_layout_2_blob_is_stored_under_a_name_not_its_hash(runtime: Runtime) -> None:
    store = layout_store(runtime, 2)
    data = document(2 * CHUNK_SIZE + 7)
    blob = await store.put_stream(chunks(data))
    raw = blob_path(store, blob.key).read_bytes()
    assert len(blob.key) == 64 and set(blob.key) <= set("0123456789abcdef")
    assert blob.key != hashlib.sha256(raw).hexdigest()  # a name: nothing hashed it
    assert blob.sha256 == hashlib.sha256(data).hexdigest()  # the plaintext's, for evidence
    assert await read(store, blob.key) == data
    assert (
        await read(store, blob.key, start=CHUNK_SIZE - 1, end=CHUNK_SIZE + 2)
        == data[CHUNK_SIZE - 1 : CHUNK_SIZE + 2]
    )
    assert (await check_storage(runtime)).ok


async def test_a_layout_2_blob_under_another_ones_name_is_refused(runtime: Runtime) -> None:
    """Nothing hashes a layout-2 blob on reading: a whole other blob put in its place (its own
    header, its own chunks) is refused by its first tag, whole or in part."""
    store = layout_store(runtime, 2)
    data = document(3 * CHUNK_SIZE + 1, seed=11)
    mine = await store.put_stream(chunks(data))
    other = await store.put_stream(chunks(data))  # same plaintext, another data key
    blob_path(store, mine.key).write_bytes(blob_path(store, other.key).read_bytes())
    served, why = await refused(store, mine.key)
    assert served == b"" and "chunk 0 fails authentication" in why
    served, why = await refused(store, mine.key, start=CHUNK_SIZE + 5, end=CHUNK_SIZE + 50)
    assert served == b"" and "fails authentication" in why
    assert await read(store, other.key) == data


async def test_a_layout_1_blob_is_still_checked_against_its_hash(runtime: Runtime) -> None:
    """A blob of layout 1 carries its wrapped data key in its header: another whole blob of
    layout 1 in its place authenticates. The store's own check of the content address refuses
    it on a full read, before its last chunk is served (the backend was asked for no check)."""
    store = layout_store(runtime, 1)
    first, second = document(2 * CHUNK_SIZE + 3, seed=1), document(2 * CHUNK_SIZE + 3, seed=2)
    mine = await store.put_stream(chunks(first))
    other = await store.put_stream(chunks(second))
    assert mine.key == hashlib.sha256(blob_path(store, mine.key).read_bytes()).hexdigest()
    blob_path(store, mine.key).write_bytes(blob_path(store, other.key).read_bytes())
    served, why = await refused(store, mine.key)
    assert served == second[: 2 * CHUNK_SIZE] and "does not match its hash" in why
    # The backend, told not to check, serves the bytes as they are.
    assert isinstance(store.inner, LocalBlobStore)
    raw = b"".join([piece async for piece in store.inner.open(mine.key, verify=False)])
    assert raw == blob_path(store, other.key).read_bytes()


async def test_addresses_and_swaps_in_s3(
    runtime: Runtime, s3_bucket: S3Bucket, boto_session: boto3.session.Session
) -> None:
    s3 = S3BlobStore.from_url(s3_bucket.url, session=boto_session)
    try:
        named, hashed = layout_store(runtime, 2, s3), layout_store(runtime, 1, s3)
        big = document(9 * 1024 * 1024 + 5, seed=4)  # a multipart upload
        small = document(CHUNK_SIZE + 9, seed=5)
        blobs = {
            (layout, size): await store.put_stream(chunks(data, 1 << 20))
            for layout, store in ((2, named), (1, hashed))
            for size, data in (("big", big), ("small", small))
        }

        def body(key: str) -> bytes:
            got = s3_bucket.client.get_object(Bucket=s3_bucket.name, Key=s3.object_key(key))
            return bytes(got["Body"].read())

        for (layout, size), blob in blobs.items():
            content = hashlib.sha256(body(blob.key)).hexdigest()
            assert (blob.key == content) is (layout == 1), (layout, size)
            store = named if layout == 2 else hashed
            assert await read(store, blob.key) == (big if size == "big" else small)
        assert sorted(s3_bucket.keys()) == sorted(s3.object_key(b.key) for b in blobs.values())
        assert s3_bucket.pending_uploads() == []

        # Layout 2: another blob under its name fails its first tag, whole or in part.
        mine, other = blobs[2, "small"].key, blobs[2, "big"].key
        s3_bucket.client.put_object(
            Bucket=s3_bucket.name, Key=s3.object_key(mine), Body=body(other)
        )
        assert (await refused(named, mine))[0] == b""
        assert (await refused(named, mine, start=10, end=20))[0] == b""
        # Layout 1: refused by the store's own check of its content address.
        mine, other = blobs[1, "small"].key, blobs[1, "big"].key
        s3_bucket.client.put_object(
            Bucket=s3_bucket.name, Key=s3.object_key(mine), Body=body(other)
        )
        served, why = await refused(hashed, mine)
        assert "does not match its hash" in why and len(served) < len(big)
    finally:
        await s3.close()


# ---- memory ----------------------------------------------------------------------------------


async def test_large_upload_and_download_keep_memory_flat(store: EncryptedBlobStore) -> None:
    size = 48 * 1024 * 1024
    block = os.urandom(1 << 20)

    async def source() -> AsyncIterator[bytes]:
        for _ in range(size // len(block)):
            yield block

    tracemalloc.start()
    try:
        blob = await store.put_stream(source())
        _, peak_up = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        total = 0
        async for piece in store.open(blob.key):
            total += len(piece)
        _, peak_down = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blob.size == total == size
    assert peak_up < 8 * 1024 * 1024, peak_up
    assert peak_down < 8 * 1024 * 1024, peak_down


# ---- rotation ------------------------------------------------------------------------------


async def test_rotation_of_org_and_master_keys_keeps_everything_readable(
    runtime: Runtime, store: EncryptedBlobStore, settings: Settings, tmp_path: Path
) -> None:
    org, _ = await create_org_with_key(runtime)
    first = document(CHUNK_SIZE + 7, seed=1)
    old_blob = await store.put_stream(chunks(first), organization_id=org)
    provider = store.keyring.provider
    async with runtime.sessions() as session, session.begin():
        row = await rotate_organization_key(session, provider, org)
    assert row.version == 2
    store.keyring.forget()
    second = document(10, seed=2)
    new_blob = await store.put_stream(chunks(second), organization_id=org)
    raw_new = blob_path(store, new_blob.key).read_bytes()
    assert await key_id_of(runtime, new_blob.key, raw_new) == row.id
    before = {p: p.read_bytes() for p in stored_files(blob_path(store, old_blob.key).parents[2])}
    # Layout 2: the older blob's data key is wrapped again by the new version, in its row.
    raw_old = blob_path(store, old_blob.key).read_bytes()
    old_version = await key_id_of(runtime, old_blob.key, raw_old)
    assert old_version != row.id
    async with runtime.sessions() as session, session.begin():
        rewrapped = await rewrap_data_keys(session, provider, org)
    assert rewrapped == (1 if store.layout == 2 else 0)
    now_wrapped_by = await key_id_of(runtime, old_blob.key, raw_old)
    assert now_wrapped_by == (row.id if store.layout == 2 else old_version)
    store.keyring.forget()
    assert await read(store, old_blob.key) == first

    new_key = tmp_path / "master-2.key"
    generate_key_file(new_key)
    new_provider = FileKeyProvider.from_file(new_key)
    async with runtime.sessions() as session, session.begin():
        assert await rewrap_all(session, provider, new_provider) == 2
    # No blob was rewritten by either rotation.
    assert {p: p.read_bytes() for p in before} == before

    rotated = Runtime.build(settings.model_copy(update={"master_key_file": new_key}))
    try:
        assert await read(rotated.storage, old_blob.key) == first  # type: ignore[arg-type]
        assert await read(rotated.storage, new_blob.key) == second  # type: ignore[arg-type]
    finally:
        await rotated.close()
    # The old master key no longer unwraps anything.
    store.keyring.forget()
    with pytest.raises(KeyUnavailable):
        await read(store, old_blob.key)


# ---- migration of plain blobs ----------------------------------------------------------------


class Interrupted(Exception):
    pass


async def test_encrypt_migrates_plain_blobs_resumably(
    data_dir: Path, database_url: str, master_key: Path
) -> None:
    plain_runtime = Runtime.build(make_settings(data_dir, database_url), pool_size=5)
    from tabellion.app import create_app

    files = [document(CHUNK_SIZE + n, seed=20 + n) for n in range(3)]
    try:
        _, secret = await create_org_with_key(plain_runtime)
        auth = {"Authorization": f"Bearer {secret}"}
        transport = httpx.ASGITransport(app=create_app(runtime=plain_runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://tabellion.test") as c:
            made = await c.post("/v1/messages", json=message_body(mode="simple"), headers=auth)
            for data in files:
                answer = await c.post(
                    f"/v1/messages/{made.json()['id']}/attachments?filename=f.bin",
                    content=data,
                    headers={**auth, "Content-Type": "application/octet-stream"},
                )
                assert answer.status_code == 201, answer.text
    finally:
        await plain_runtime.close()
    assert any(leaks(files[0], p.read_bytes()) for p in stored_files(data_dir / "blobs"))

    runtime = Runtime.build(make_settings(data_dir, database_url, master_key_file=master_key))
    try:
        steps = 0

        def stop_after_two() -> None:
            nonlocal steps
            steps += 1
            if steps == 2:
                raise Interrupted

        with pytest.raises(Interrupted):
            await encrypt_storage(runtime, advance=stop_after_two)
        # Midway: both kinds read, the check passes.
        report = await check_storage(runtime)
        assert report.ok and report.checked == 3, report.problems

        resumed = await encrypt_storage(runtime, delete_plain=True)
        assert (resumed.encrypted, resumed.skipped, resumed.problems) == (1, 2, [])
        again = await encrypt_storage(runtime)
        assert (again.encrypted, again.skipped) == (0, 3)

        store = runtime.storage
        assert isinstance(store, EncryptedBlobStore)
        async with runtime.sessions() as session:
            rows = (await session.scalars(select(Attachment).order_by(Attachment.size))).all()
        for row, data in zip(rows, files, strict=True):
            assert row.sha256 == hashlib.sha256(data).hexdigest()  # proofs unchanged
            assert not await store.is_plain(row.storage_key)
            assert await read(store, row.storage_key) == data
        for path in stored_files(data_dir / "blobs"):
            assert not any(leaks(data, path.read_bytes()) for data in files), path
        assert (await check_storage(runtime)).ok
    finally:
        await runtime.close()


async def test_encrypt_upgrades_layout_1_blobs_resumably(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, data_dir: Path
) -> None:
    """Blobs written in layout 1 (their data key in their header) still read; ``storage
    encrypt`` rewrites them in layout 2 (new address, the rows repointed, their data keys in
    ``blob_keys``), and deletes the old ones with ``--delete-plain``."""
    store = runtime.storage
    assert isinstance(store, EncryptedBlobStore)
    files = [b"%PDF-1.7\n" + document(CHUNK_SIZE + n, seed=40 + n) for n in range(3)]
    store.layout = 1  # as a release before layout 2 wrote them
    made = await client.post("/v1/messages", json=message_body(mode="simple"), headers=auth)
    for data in files:
        answer = await client.post(
            f"/v1/messages/{made.json()['id']}/attachments?filename=f.pdf",
            content=data,
            headers={**auth, "Content-Type": "application/octet-stream"},
        )
        assert answer.status_code == 201, answer.text
    store.layout = 2
    async with runtime.sessions() as session:
        old = {a.sha256: a.storage_key for a in await session.scalars(select(Attachment))}
        assert (await session.scalar(select(func.count()).select_from(BlobKey))) == 0
    for data in files:
        key = old[hashlib.sha256(data).hexdigest()]
        assert await store.layout_of(key) == 1
        assert await read(store, key) == data  # layout 1 still reads
        assert (
            await read(store, key, start=CHUNK_SIZE - 2, end=CHUNK_SIZE + 2)
            == data[CHUNK_SIZE - 2 : CHUNK_SIZE + 2]
        )

    steps = 0

    def stop_after_one() -> None:
        nonlocal steps
        steps += 1
        if steps == 1:
            raise Interrupted

    with pytest.raises(Interrupted):
        await encrypt_storage(runtime, advance=stop_after_one)
    assert (await check_storage(runtime)).ok  # midway: both layouts read
    resumed = await encrypt_storage(runtime, delete_plain=True)
    assert (resumed.encrypted, resumed.skipped, resumed.problems) == (2, 1, [])
    assert resumed.deleted == 3  # the three layout-1 blobs, no row references them now
    again = await encrypt_storage(runtime)
    assert (again.encrypted, again.skipped) == (0, 3)

    async with runtime.sessions() as session:
        rows = list(await session.scalars(select(Attachment)))
        key_rows = {k.address: k for k in await session.scalars(select(BlobKey))}
    assert len(rows) == 3 and set(key_rows) == {row.storage_key for row in rows}
    for row in rows:
        assert row.storage_key != old[row.sha256]  # a new address
        assert await store.layout_of(row.storage_key) == 2
        assert key_rows[row.storage_key].organization_id == row.organization_id
        assert hashlib.sha256(await read(store, row.storage_key)).hexdigest() == row.sha256
    for key in old.values():
        assert not await store.exists(key)
    assert len(stored_files(data_dir / "blobs")) == 3
    assert (await check_storage(runtime)).ok


async def test_the_collector_deletes_a_blobs_data_key_with_it(runtime: Runtime) -> None:
    """An unreferenced blob (an upload whose row never came) goes with its data key; a data
    key whose blob is gone (a deletion cut short) goes too; a referenced blob keeps both."""
    store = runtime.storage
    assert isinstance(store, EncryptedBlobStore)
    org, _ = await create_org_with_key(runtime)
    orphan = await store.put_stream(chunks(document(100, seed=1)), organization_id=org)
    keyless = await store.put_stream(chunks(document(100, seed=2)), organization_id=org)
    await store.inner.delete(keyless.key)  # behind the store's back: its key row stays
    kept = await store.put_stream(chunks(document(100, seed=3)), organization_id=org)
    async with runtime.sessions() as session, session.begin():
        row = await session.get(Organization, org)
        assert row is not None
        row.logo_key = kept.key  # a row references it

    async def addresses() -> set[str]:
        async with runtime.sessions() as session:
            return set(await session.scalars(select(BlobKey.address)))

    assert await addresses() == {orphan.key, keyless.key, kept.key}
    assert await collect_garbage(runtime) == 0  # younger than the grace period: all stay
    assert await addresses() == {orphan.key, keyless.key, kept.key}
    assert await collect_garbage(runtime, grace=timedelta(seconds=-5)) == 1
    assert await addresses() == {kept.key}
    assert not await store.exists(orphan.key)
    store.keyring.forget()
    with pytest.raises(KeyUnavailable):  # nor from a copy: its data key is gone
        await store.keyring.data_key(orphan.key, orphan.key)
    assert await read(store, kept.key) == document(100, seed=3)


# ---- S3 ------------------------------------------------------------------------------------


async def test_nothing_plain_in_the_bucket(
    runtime: Runtime, s3_bucket: S3Bucket, boto_session: boto3.session.Session
) -> None:
    assert isinstance(runtime.storage, EncryptedBlobStore)
    s3 = S3BlobStore.from_url(s3_bucket.url, session=boto_session)
    store = EncryptedBlobStore(s3, runtime.storage.keyring)
    try:
        org, _ = await create_org_with_key(runtime)
        big = document(9 * 1024 * 1024 + 5, seed=4)  # a multipart upload
        small = document(1000, seed=5)
        blobs = [
            await store.put_stream(chunks(data, 1 << 20), organization_id=org)
            for data in (big, small)
        ]
        keys = s3_bucket.keys()
        assert len(keys) == 2
        for key in keys:
            body = s3_bucket.client.get_object(Bucket=s3_bucket.name, Key=key)["Body"].read()
            assert not leaks(big, body) and not leaks(small, body)
        assert await read(store, blobs[0].key) == big
        assert (
            await read(store, blobs[0].key, start=8 << 20, end=(8 << 20) + 70_000)
            == big[8 << 20 : (8 << 20) + 70_000]
        )
        assert await read(store, blobs[1].key) == small
    finally:
        await s3.close()


async def test_every_writer_stores_under_its_organisations_key(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """Attachments sent with a message (multipart), an envelope's documents (raw and
    multipart), a PDF proof: each under its organisation's key, so that erasing the
    organisation's key erases them; the instance key (for blobs of no organisation) is never
    even created."""
    from tests.envelope.helpers import create_envelope, pdf_bytes
    from tests.evidence.helpers import run_jobs

    created = await client.post(
        "/v1/messages",
        params={"dispatch": "true"},
        data={"message": json.dumps(message_body(mode="simple"))},
        files=[("attachments", ("a.pdf", b"%PDF-1.7\n" + document(70_000), "application/pdf"))],
        headers=auth,
    )
    assert created.status_code == 202, created.text
    envelope = await create_envelope(client, auth)
    raw = await client.post(
        f"/v1/envelopes/{envelope['id']}/documents",
        params={"filename": "raw.pdf"},
        content=pdf_bytes(1),
        headers={**auth, "Content-Type": "application/pdf"},
    )
    assert raw.status_code == 201, raw.text
    multipart = await client.post(
        f"/v1/envelopes/{envelope['id']}/documents",
        files={"file": ("parts.pdf", pdf_bytes(2), "application/pdf")},
        headers=auth,
    )
    assert multipart.status_code == 201, multipart.text
    await run_jobs(runtime)
    [delivery] = created.json()["deliveries"]
    state = (await client.get(f"/v1/deliveries/{delivery['id']}", headers=auth)).json()
    proof = await client.get(f"/v1/evidence/{state['evidence'][0]['id']}/pdf", headers=auth)
    assert proof.status_code == 200, proof.text

    async with runtime.sessions() as session:
        keys = {k.id: k.organization_id for k in await session.scalars(select(StorageKey))}
    assert None not in keys.values(), "a blob was written under the instance key"
    assert len(set(keys.values())) == 1
    store = runtime.storage
    assert isinstance(store, EncryptedBlobStore)
    blobs = [key async for key in store.inner.list_keys()]
    assert len(blobs) >= 4  # attachment, two documents, the PDF proof
    for key in blobs:
        head = b"".join([chunk async for chunk in store.inner.open(key, end=4096)])
        assert Header.parse(head, key).version == 2
        assert keys.get(await key_id_of(runtime, key, head)) is not None, key


async def test_without_its_master_key_an_encrypted_blob_is_refused_not_served(
    data_dir: Path, database_url: str, master_key: Path
) -> None:
    """A restore without the master key (backups leave it out), or the setting dropped: the
    service must answer storage-key-unavailable, never hand out the ciphertext as the file."""
    with_key = Runtime.build(make_settings(data_dir, database_url, master_key_file=master_key))
    try:
        secret = await put_for(with_key.storage, chunks(b"%PDF-1.4 secret"), organization_id=None)
        plain_blob = await with_key.storage.inner.put_stream(chunks(b"plain bytes"))  # type: ignore[attr-defined]
    finally:
        await with_key.close()
    without = Runtime.build(make_settings(data_dir, database_url, storage_encryption=False))
    try:
        assert isinstance(without.storage, KeylessBlobStore)
        for start in (0, 3):
            with pytest.raises(KeyUnavailable):
                async for _ in without.storage.open(secret.key, start=start):
                    pass
        read = b"".join([c async for c in without.storage.open(plain_blob.key)])
        assert read == b"plain bytes"
        assert (
            b"".join([c async for c in without.storage.open(plain_blob.key, start=6)]) == b"bytes"
        )
        assert await without.storage.exists(secret.key)
    finally:
        await without.close()
