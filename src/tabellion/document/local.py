"""Blobs on local disk, content-addressed: ``<root>/ab/cd/<sha256>`` (or under a name the
writer chose, ``put_stream(key=...)``: then nothing is hashed).

A write goes to a temporary file under ``<root>/tmp`` while it is hashed, is fsynced, then renamed
into place atomically; a crash mid-write leaves at most a temporary file, which the collector
removes. Reads check the hash at the end of a full read (unless told not to: a blob stored
under a name). The collector deletes a blob by first
moving it aside (see ``delete_stale``), so an upload of the same bytes at that moment keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from tabellion.document.storage import (
    SNIFF_BYTES,
    BlobCorrupted,
    BlobNotFound,
    BlobTooLarge,
    StoredBlob,
)
from tabellion.kit import metrics

WRITE_BUFFER = 1 << 20  # bytes gathered before one write call in a thread
READ_CHUNK = 1 << 20
_HEX = frozenset("0123456789abcdef")


def _check_key(key: str) -> str:
    if len(key) != 64 or not set(key) <= _HEX:
        raise BlobNotFound(key)
    return key


def _close_after(fh: BinaryIO, read: asyncio.Future[bytes]) -> None:
    """Close ``fh`` after a read ahead that nobody waits for any more (its error is dropped:
    the reader has gone)."""
    if not read.cancelled():
        read.exception()
    fh.close()


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_url(cls, url: str) -> LocalBlobStore:
        parts = urlsplit(url)
        return cls(Path(unquote(parts.netloc + parts.path)))

    def path_of(self, key: str) -> Path:
        key = _check_key(key)
        return self.root / key[:2] / key[2:4] / key

    # ---- writing ---------------------------------------------------------------------------
    async def put_stream(
        self,
        chunks: AsyncIterator[bytes],
        *,
        max_bytes: int | None = None,
        key: str | None = None,
    ) -> StoredBlob:
        if key is not None:
            _check_key(key)
        temp = self.tmp / f"{uuid.uuid4().hex}.part"
        hasher = hashlib.sha256() if key is None else None
        head = bytearray()
        size = 0
        # Opened in the loop, not a thread: a cancellation while a thread creates the file
        # would leave it behind, unknown to the clean-up below.
        fh = open(temp, "wb")  # noqa: SIM115
        try:
            pending: list[bytes] = []
            pending_size = 0
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise BlobTooLarge(f"The file is larger than the limit of {max_bytes} bytes.")
                if hasher is not None:
                    hasher.update(chunk)
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= WRITE_BUFFER:
                    await asyncio.to_thread(fh.writelines, pending)
                    pending, pending_size = [], 0
            if pending:
                await asyncio.to_thread(fh.writelines, pending)
            await asyncio.to_thread(_flush_and_sync, fh)
            fh.close()
            if hasher is None:
                assert key is not None
                await asyncio.to_thread(self._install_named, temp, key)
                return StoredBlob(key=key, sha256="", size=size, head=bytes(head))
            sha = hasher.hexdigest()
            await asyncio.to_thread(self._install, temp, sha)
        except BaseException:
            _discard(fh, temp)
            raise
        return StoredBlob(key=sha, sha256=sha, size=size, head=bytes(head))

    def _install_named(self, temp: Path, key: str) -> None:
        final = self.path_of(key)
        if final.exists():  # a fresh name never is: refuse rather than replace other bytes
            raise FileExistsError(f"a blob is already stored under {key}")
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, final)
        _sync_dir(final.parent)

    def _install(self, temp: Path, sha: str) -> None:
        final = self.path_of(sha)
        try:
            # Same content already stored: keep it, refresh its age for the collector.
            os.utime(final)
        except FileNotFoundError:
            pass  # new content, or the collector removed it just now: install ours
        else:
            temp.unlink(missing_ok=True)
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, final)
        _sync_dir(final.parent)

    # ---- reading ---------------------------------------------------------------------------
    async def open(
        self, key: str, *, start: int = 0, end: int | None = None, verify: bool = True
    ) -> AsyncIterator[bytes]:
        path = self.path_of(key)
        try:
            fh = await asyncio.to_thread(open, path, "rb")
        except FileNotFoundError as exc:
            metrics.stored_file_unavailable("missing")
            raise BlobNotFound(key) from exc
        full = start == 0 and end is None
        hasher = hashlib.sha256() if full and verify else None

        def read(want: int) -> bytes:
            piece: bytes = fh.read(want)
            if hasher is not None:
                hasher.update(piece)
            return piece

        # One piece is read (and hashed) ahead in a thread while the reader works on the last.
        ahead: asyncio.Future[bytes] | None = None
        try:
            if start:
                await asyncio.to_thread(fh.seek, start)
            remaining = None if end is None else max(0, end - start)
            want = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
            if want > 0:
                ahead = asyncio.ensure_future(asyncio.to_thread(read, want))
            while ahead is not None:
                chunk = await ahead
                ahead = None
                if remaining is not None:
                    remaining -= len(chunk)
                if len(chunk) == want and remaining != 0:  # a short read is the end
                    want = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                    ahead = asyncio.ensure_future(asyncio.to_thread(read, want))
                if chunk:
                    yield chunk
        finally:
            if ahead is None:
                fh.close()
            else:
                # The reader stopped early: the file closes once the thread is done with it.
                ahead.add_done_callback(lambda done: _close_after(fh, done))
        if hasher is not None and hasher.hexdigest() != key:
            metrics.stored_file_unavailable("corrupted")
            raise BlobCorrupted(f"blob {key} does not match its hash")

    async def exists(self, key: str) -> bool:
        try:
            path = self.path_of(key)
        except BlobNotFound:
            return False
        return await asyncio.to_thread(path.exists)

    async def delete(self, key: str) -> None:
        with contextlib.suppress(BlobNotFound):
            await asyncio.to_thread(self.path_of(key).unlink, True)

    async def delete_stale(self, key: str, *, before: datetime) -> bool:
        try:
            path = self.path_of(key)
        except BlobNotFound:
            return False
        return await asyncio.to_thread(self._delete_stale, path, before.timestamp())

    def _delete_stale(self, path: Path, limit: float) -> bool:
        # The file is first moved aside, atomically: an upload of the same bytes that refreshed
        # its age before the move shows in the moved file's mtime, and one after the move finds
        # no file and installs its own copy. A plain check-then-unlink would lose the former.
        aside = self.tmp / f"{path.name}.{uuid.uuid4().hex}.gone"
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return False
        try:
            if aside.stat().st_mtime >= limit:
                os.replace(aside, path)  # same bytes as any copy installed meanwhile
                return False
            aside.unlink()
        except FileNotFoundError:
            pass  # an old file in tmp/: another collector's clean-up took it
        return True

    async def modified_at(self, key: str) -> float | None:
        try:
            stat = await asyncio.to_thread(self.path_of(key).stat)
        except (FileNotFoundError, BlobNotFound):
            return None
        return stat.st_mtime

    async def keys_older_than(self, moment: datetime) -> AsyncIterator[str]:
        """Stored keys last written before ``moment``; stale temporary files are removed."""
        limit = moment.timestamp()
        await asyncio.to_thread(_remove_old_files, self.tmp, limit)
        for level1 in await asyncio.to_thread(_subdirs, self.root):
            if level1.name == "tmp":
                continue
            for level2 in await asyncio.to_thread(_subdirs, level1):
                for entry in await asyncio.to_thread(_old_files, level2, limit):
                    yield entry

    async def list_keys(self) -> AsyncIterator[str]:
        for level1 in await asyncio.to_thread(_subdirs, self.root):
            if level1.name == "tmp":
                continue
            for level2 in await asyncio.to_thread(_subdirs, level1):
                for entry in await asyncio.to_thread(_old_files, level2, float("inf")):
                    yield entry

    async def close(self) -> None:
        return None


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and len(p.name) <= 4)


def _old_files(path: Path, limit: float) -> list[str]:
    found = []
    with os.scandir(path) as entries:
        for entry in entries:
            if len(entry.name) == 64 and entry.is_file() and entry.stat().st_mtime < limit:
                found.append(entry.name)
    return found


def _remove_old_files(path: Path, limit: float) -> None:
    """Abandoned writes (a crash, a killed process) and leftovers of interrupted deletions."""
    with os.scandir(path) as entries:
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file() and entry.stat().st_mtime < limit:
                    os.unlink(entry.path)


def _flush_and_sync(fh: BinaryIO) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def _discard(fh: BinaryIO | None, temp: Path) -> None:
    if fh is not None:
        with contextlib.suppress(OSError):
            fh.close()
    temp.unlink(missing_ok=True)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
