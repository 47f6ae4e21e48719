"""The local-disk blob store: content addressing, limits, failures, reads, ages, memory."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tabellion.document.local import LocalBlobStore
from tabellion.document.storage import (
    SNIFF_BYTES,
    BlobCorrupted,
    BlobNotFound,
    BlobTooLarge,
    open_store,
)

MIB = 1024 * 1024


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def read(store: LocalBlobStore, key: str, **span: int) -> bytes:
    return b"".join([chunk async for chunk in store.open(key, **span)])


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


async def collect(keys: AsyncIterator[str]) -> list[str]:
    return [key async for key in keys]


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


# ---- writing ----------------------------------------------------------------------------------


async def test_round_trip_is_content_addressed(store: LocalBlobStore) -> None:
    data = b"%PDF-1.7\n" + os.urandom(3 * SNIFF_BYTES)
    blob = await store.put_stream(chunks(data[:100], b"", data[100:5000], data[5000:]))

    sha = hashlib.sha256(data).hexdigest()
    assert (blob.key, blob.sha256, blob.size) == (sha, sha, len(data))
    assert blob.head == data[:SNIFF_BYTES]
    path = store.root / sha[:2] / sha[2:4] / sha
    assert files_under(store.root) == [path]
    assert path.read_bytes() == data
    assert await read(store, blob.key) == data
    assert await store.exists(blob.key)


async def test_stored_under_a_given_name_nothing_is_hashed(store: LocalBlobStore) -> None:
    """What an encrypted blob of layout 2 is: stored under the name its writer chose, read
    back without a hash check when told so (a full read with the check refuses it)."""
    name = "ab" * 32
    blob = await store.put_stream(chunks(b"%PDF", b"-1.7 named"), key=name)
    assert (blob.key, blob.sha256, blob.size, blob.head) == (name, "", 14, b"%PDF-1.7 named")
    assert files_under(store.root) == [store.root / "ab" / "ab" / name]
    assert await read(store, name, verify=False) == b"%PDF-1.7 named"
    assert await read(store, name, start=4) == b"-1.7 named"
    with pytest.raises(BlobCorrupted):
        await read(store, name)
    with pytest.raises(FileExistsError):  # a name is fresh: never another blob replaced
        await store.put_stream(chunks(b"other"), key=name)
    with pytest.raises(BlobNotFound):
        await store.put_stream(chunks(b"x"), key="../escape")
    assert await read(store, name, verify=False) == b"%PDF-1.7 named"
    assert files_under(store.root) == [store.root / "ab" / "ab" / name]  # no temporary left


async def test_empty_stream_is_a_blob_too(store: LocalBlobStore) -> None:
    blob = await store.put_stream(chunks())
    assert (blob.key, blob.size, blob.head) == (hashlib.sha256(b"").hexdigest(), 0, b"")
    assert await read(store, blob.key) == b""


async def test_same_content_twice_is_one_file_and_refreshes_its_age(
    store: LocalBlobStore,
) -> None:
    first = await store.put_stream(chunks(b"same ", b"bytes"))
    path = store.path_of(first.key)
    age(path, 3600)
    second = await store.put_stream(chunks(b"same bytes"))

    assert second.key == first.key
    assert files_under(store.root) == [path]
    assert path.stat().st_mtime > time.time() - 60  # the collector sees it as fresh again


async def test_open_store_reads_file_urls(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/with%20space")
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "with space"
    with pytest.raises(ValueError, match="ftp"):
        open_store("ftp://example.test/blobs")


# ---- nothing left behind ----------------------------------------------------------------------


async def test_too_large_leaves_nothing(store: LocalBlobStore) -> None:
    with pytest.raises(BlobTooLarge) as caught:
        await store.put_stream(chunks(b"x" * 600, b"y" * 600), max_bytes=1000)
    assert (caught.value.status, caught.value.code) == (413, "attachment-too-large")
    assert files_under(store.root) == []

    exact = await store.put_stream(chunks(b"z" * 1000), max_bytes=1000)
    assert exact.size == 1000


async def test_too_large_after_buffered_writes_leaves_nothing(store: LocalBlobStore) -> None:
    async def big() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"b" * MIB  # more than one write buffer reaches the temporary file first

    with pytest.raises(BlobTooLarge):
        await store.put_stream(big(), max_bytes=4 * MIB + 10)
    assert files_under(store.root) == []


async def test_failing_iterator_leaves_nothing(store: LocalBlobStore) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"a" * (2 * MIB)
        yield b"b" * 10
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put_stream(broken())
    assert files_under(store.root) == []


async def test_cancelled_upload_leaves_nothing(store: LocalBlobStore) -> None:
    sent = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield b"c" * (2 * MIB)
        yield b"d" * 100
        sent.set()
        await asyncio.Event().wait()  # the client stops sending
        yield b"never"

    task = asyncio.create_task(store.put_stream(stalled()))
    await sent.wait()
    assert len(files_under(store.tmp)) == 1  # written so far, to a temporary file
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert files_under(store.root) == []


async def test_cancelled_by_timeout_leaves_nothing(store: LocalBlobStore) -> None:
    async def slow() -> AsyncIterator[bytes]:
        while True:
            yield b"s" * 4096
            await asyncio.sleep(0.001)

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await store.put_stream(slow())
    assert files_under(store.root) == []


# ---- reading ----------------------------------------------------------------------------------


async def test_corrupted_file_fails_at_the_end_of_a_full_read(store: LocalBlobStore) -> None:
    data = os.urandom(3 * MIB + 5)
    blob = await store.put_stream(chunks(data))
    path = store.path_of(blob.key)
    with path.open("r+b") as fh:
        fh.seek(2 * MIB)
        fh.write(b"\x00" if data[2 * MIB] else b"\x01")

    received = bytearray()

    async def drain() -> None:
        async for chunk in store.open(blob.key):
            received.extend(chunk)

    with pytest.raises(BlobCorrupted, match=blob.key):
        await drain()
    assert len(received) == len(data)  # every byte went out before the check failed
    # A range read does not hash, so it cannot tell.
    assert await read(store, blob.key, start=0, end=10) == data[:10]


async def test_truncated_file_is_corrupted(store: LocalBlobStore) -> None:
    blob = await store.put_stream(chunks(b"0123456789"))
    store.path_of(blob.key).write_bytes(b"01234")
    with pytest.raises(BlobCorrupted):
        await read(store, blob.key)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, None, slice(None)),
        (0, 1, slice(0, 1)),
        (5, None, slice(5, None)),
        (MIB - 3, MIB + 7, slice(MIB - 3, MIB + 7)),  # across read chunks
        (10, 10, slice(0, 0)),
        (20, 10, slice(0, 0)),
        (2 * MIB + 10, 2 * MIB + 1000, slice(2 * MIB + 10, None)),  # end past the size
        (5 * MIB, None, slice(0, 0)),  # start past the size
    ],
)
async def test_range_reads(
    store: LocalBlobStore, start: int, end: int | None, expected: slice
) -> None:
    data = os.urandom(2 * MIB + 100)
    blob = await store.put_stream(chunks(data))
    assert (
        await read(store, blob.key, start=start, **({} if end is None else {"end": end}))
        == (data[expected])
    )


@pytest.mark.parametrize("key", ["0" * 64, "../" * 20 + "etc/passwd", "ABCDEF" + "0" * 58, ""])
async def test_unknown_or_malformed_keys(store: LocalBlobStore, key: str) -> None:
    with pytest.raises(BlobNotFound):
        await read(store, key)
    assert not await store.exists(key)
    assert await store.modified_at(key) is None
    await store.delete(key)  # nothing to do, no error
    assert not await store.delete_stale(key, before=datetime.now(UTC))


async def test_delete_and_exists(store: LocalBlobStore) -> None:
    kept = await store.put_stream(chunks(b"kept"))
    gone = await store.put_stream(chunks(b"gone"))
    await store.delete(gone.key)
    assert not await store.exists(gone.key)
    assert await store.exists(kept.key)
    assert await store.modified_at(gone.key) is None
    with pytest.raises(BlobNotFound):
        await read(store, gone.key)
    await store.delete(gone.key)  # twice is fine


# ---- ages: what the collector relies on -------------------------------------------------------


async def test_keys_older_than_uses_the_modification_time(store: LocalBlobStore) -> None:
    old = await store.put_stream(chunks(b"old"))
    older = await store.put_stream(chunks(b"older"))
    fresh = await store.put_stream(chunks(b"fresh"))
    age(store.path_of(old.key), 2 * 3600)
    age(store.path_of(older.key), 30 * 86400)
    (store.root / "ab" / "cd").mkdir(parents=True)
    stray = store.root / "ab" / "cd" / "not-a-blob.txt"
    stray.write_text("ignored")
    age(stray, 30 * 86400)

    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    assert sorted(await collect(store.keys_older_than(an_hour_ago))) == sorted([old.key, older.key])
    assert await collect(store.keys_older_than(an_hour_ago - timedelta(days=7))) == [older.key]
    modified = await store.modified_at(old.key)
    assert modified is not None and abs(modified - (time.time() - 7200)) < 5
    assert fresh.key not in await collect(store.keys_older_than(an_hour_ago))
    assert stray.exists()


async def test_stale_temporary_files_are_removed_when_listing(store: LocalBlobStore) -> None:
    stale = store.tmp / "abandoned.part"
    stale.write_bytes(b"half an upload from a crashed process")
    age(stale, 2 * 3600)
    in_progress = store.tmp / "in-progress.part"
    in_progress.write_bytes(b"being written")

    assert await collect(store.keys_older_than(datetime.now(UTC) - timedelta(hours=1))) == []
    assert not stale.exists()
    assert in_progress.exists()


async def test_delete_stale_keeps_a_blob_refreshed_by_an_upload(store: LocalBlobStore) -> None:
    blob = await store.put_stream(chunks(b"popular"))
    path = store.path_of(blob.key)
    age(path, 2 * 3600)
    cutoff = datetime.now(UTC) - timedelta(hours=1)
    await store.put_stream(chunks(b"popular"))  # same bytes again, after the listing

    assert not await store.delete_stale(blob.key, before=cutoff)
    assert path.read_bytes() == b"popular"
    assert files_under(store.tmp) == []

    age(path, 2 * 3600)
    assert await store.delete_stale(blob.key, before=cutoff)
    assert files_under(store.root) == []
    assert not await store.delete_stale(blob.key, before=cutoff)  # already gone


# ---- memory -----------------------------------------------------------------------------------


async def test_streaming_a_large_blob_keeps_memory_small(store: LocalBlobStore) -> None:
    import tracemalloc

    total = 200 * MIB
    digest = hashlib.sha256()
    block = os.urandom(MIB)

    def blocks() -> Iterable[bytes]:
        for i in range(total // MIB):
            yield i.to_bytes(8, "big") + block[8:]  # a fresh 1 MiB object each time

    for part in blocks():
        digest.update(part)

    async def generated() -> AsyncIterator[bytes]:
        for part in blocks():
            yield part

    tracemalloc.start()
    try:
        blob = await store.put_stream(generated())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (blob.size, blob.key) == (total, digest.hexdigest())
    assert store.path_of(blob.key).stat().st_size == total
    await store.delete(blob.key)
    assert peak < 16 * MIB, f"peak traced memory {peak / MIB:.1f} MiB"


async def test_list_keys_gives_every_blob_and_keeps_writes_in_progress(
    store: LocalBlobStore,
) -> None:
    """What ``tabellion backup`` reads beside live uploads: nothing may be cleaned up."""
    first = await store.put_stream(chunks(b"one"))
    second = await store.put_stream(chunks(b"two"))
    in_progress = store.tmp / "upload.part"
    in_progress.write_bytes(b"half")
    age(in_progress, 3 * 86_400)
    assert sorted(await collect(store.list_keys())) == sorted([first.key, second.key])
    assert in_progress.exists()


def open_files(path: Path) -> int:
    """How many descriptors of this process are open on ``path``."""
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            count += os.readlink(fd) == str(path)
        except OSError:
            continue
    return count


async def test_a_reader_that_stops_early_leaves_no_file_open(store: LocalBlobStore) -> None:
    """A piece is read ahead while the reader works on the last one: a reader that goes away
    (a client hanging up) must not leave the file open behind it, nor an error unheard."""
    data = os.urandom(3 * MIB + 5)
    blob = await store.put_stream(chunks(data))
    path = store.path_of(blob.key)
    reader = store.open(blob.key)
    first = await anext(reader)
    assert first == data[:MIB]
    assert open_files(path) == 1
    await reader.aclose()
    for _ in range(200):  # the read ahead ends in its thread, then the file closes
        if open_files(path) == 0:
            break
        await asyncio.sleep(0.01)
    assert open_files(path) == 0
    # Whole and ranged reads over several pieces give the bytes in order.
    assert await read(store, blob.key) == data
    assert (
        await read(store, blob.key, start=MIB - 1, end=2 * MIB + 1) == data[MIB - 1 : 2 * MIB + 1]
    )
