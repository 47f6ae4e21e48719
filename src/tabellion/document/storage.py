"""Blob storage: one interface, two backends (local disk, S3-compatible), optionally
encrypted at rest (``tabellion.document.encryption``).

Blobs are content-addressed by SHA-256, except those stored under a name their writer chose
(``put_stream(key=...)``: encrypted blobs of layout 2, whose chunks are authenticated instead).
``put_stream`` consumes an async iterator of chunks, hashing while it writes, and never holds a
whole file in memory. If the iterator raises, the
size limit is exceeded, or the task is cancelled, nothing is left behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from tabellion.errors import ServiceUnavailable, TabellionError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from tabellion.config import Settings

SNIFF_BYTES = 8192


class StorageUnavailable(ServiceUnavailable):
    """The blob store cannot be reached, or answers with its own errors (an S3 outage, a
    throttled bucket): nothing was stored; the caller retries later (``Retry-After``)."""

    code = "storage-unavailable"
    title = "File storage is temporarily unavailable"

    RETRY_AFTER = 30

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": str(self.RETRY_AFTER)})


class BlobTooLarge(TabellionError):
    status = 413
    code = "attachment-too-large"
    title = "Attachment too large"


class StoredFileUnavailable(TabellionError):
    """A stored file is gone or damaged: the operator's problem, never the caller's."""

    status = 500
    code = "stored-file-unavailable"
    title = "A stored file is missing or damaged"


class BlobNotFound(StoredFileUnavailable):
    """The key names no blob."""

    def __init__(self, key: str) -> None:
        super().__init__(f"The stored file {key} is missing.")


class BlobCorrupted(StoredFileUnavailable):
    """The stored bytes no longer match their SHA-256."""


@dataclass(frozen=True)
class StoredBlob:
    key: str
    sha256: str  # of the bytes given; "" when stored under a given key (nothing was hashed)
    size: int
    head: bytes  # the first bytes, for type sniffing


class BlobStore(Protocol):
    async def put_stream(
        self,
        chunks: AsyncIterator[bytes],
        *,
        max_bytes: int | None = None,
        key: str | None = None,
    ) -> StoredBlob:
        """Store the bytes under their SHA-256, or under ``key`` (64 hex digits, a fresh name
        the caller chose) without hashing them."""
        ...

    def open(
        self, key: str, *, start: int = 0, end: int | None = None, verify: bool = True
    ) -> AsyncIterator[bytes]:
        """Stream a blob; a full read checks its hash and raises BlobCorrupted at the end
        (unless ``verify`` is False: a blob stored under a name, or a caller that checks)."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None: ...

    async def delete_stale(self, key: str, *, before: datetime) -> bool:
        """Delete the blob unless it was written (or re-uploaded) at or after ``before``.

        For the collector: an upload of the same bytes racing with it keeps the blob. True if
        the blob was deleted.
        """
        ...

    async def modified_at(self, key: str) -> float | None:
        """When the blob was last written (or re-uploaded), as a POSIX time; None if absent."""
        ...

    def keys_older_than(self, moment: datetime) -> AsyncIterator[str]: ...

    def list_keys(self) -> AsyncIterator[str]:
        """Every stored key, touching nothing (no clean-up of temporary files): for backups,
        which run beside live uploads."""
        ...

    async def close(self) -> None: ...


async def read_blob(store: BlobStore, key: str) -> bytes:
    """A whole stored file, for what needs it all at once (a zip, a PDF to stamp); its
    hash checked as a full read does."""
    out = bytearray()
    async for chunk in store.open(key):
        out += chunk
    return bytes(out)


def open_store(
    url: str,
    settings: Settings | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
    read_sessions: async_sessionmaker[AsyncSession] | None = None,
) -> BlobStore:
    """The store at ``url`` as the service reads it (with ``settings``): encrypting when they
    name a master key (a file, a PKCS#11 token or KMS: docs/data.md), else refusing encrypted
    blobs it cannot read. Without ``settings``, the bare backend, whose bytes are copied as
    they are (backups)."""
    store = _open_backend(url)
    if settings is None:
        return store
    if settings.master_key_source is not None and sessions is not None:
        from tabellion.document.encryption import EncryptedBlobStore, Keyring
        from tabellion.document.key_providers import master_key_provider

        provider = master_key_provider(settings)
        assert provider is not None
        return EncryptedBlobStore(store, Keyring(provider, sessions, read_sessions))
    return KeylessBlobStore(store)


def _open_backend(url: str) -> BlobStore:
    if url.startswith("file://"):
        from tabellion.document.local import LocalBlobStore

        return LocalBlobStore.from_url(url)
    if url.startswith("s3://"):
        from tabellion.document.s3 import S3BlobStore

        return S3BlobStore.from_url(url)
    raise ValueError(f"unsupported TABELLION_STORAGE_URL scheme: {url.split(':', 1)[0]}")


class BlobStoreProxy:
    """A store in front of a backend (``inner``): what a subclass does not change is the
    backend's."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner

    async def put_stream(
        self,
        chunks: AsyncIterator[bytes],
        *,
        max_bytes: int | None = None,
        key: str | None = None,
    ) -> StoredBlob:
        return await self.inner.put_stream(chunks, max_bytes=max_bytes, key=key)

    def open(
        self, key: str, *, start: int = 0, end: int | None = None, verify: bool = True
    ) -> AsyncIterator[bytes]:
        return self.inner.open(key, start=start, end=end, verify=verify)

    async def is_plain(self, key: str) -> bool:
        """Whether the stored bytes are the file itself, not an encrypted blob (docs/data.md)."""
        from tabellion.document.encryption import MAGIC, is_encrypted

        probe = b"".join([c async for c in self.inner.open(key, start=0, end=len(MAGIC))])
        return not is_encrypted(probe)

    async def exists(self, key: str) -> bool:
        return await self.inner.exists(key)

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)

    async def delete_stale(self, key: str, *, before: datetime) -> bool:
        return await self.inner.delete_stale(key, before=before)

    async def modified_at(self, key: str) -> float | None:
        return await self.inner.modified_at(key)

    def keys_older_than(self, moment: datetime) -> AsyncIterator[str]:
        return self.inner.keys_older_than(moment)

    def list_keys(self) -> AsyncIterator[str]:
        return self.inner.list_keys()

    async def close(self) -> None:
        await self.inner.close()


class KeylessBlobStore(BlobStoreProxy):
    """The store when no master key is set. Blobs written while one was (or brought back by a
    restore without it) are refused with ``storage-key-unavailable``, never served as their
    ciphertext; plain blobs are read as they are."""

    async def open(
        self, key: str, *, start: int = 0, end: int | None = None, verify: bool = True
    ) -> AsyncIterator[bytes]:
        from tabellion.document.encryption import MAGIC, KeyUnavailable

        def refused() -> KeyUnavailable:
            return KeyUnavailable(
                f"The stored file {key} is encrypted and no master key is set "
                "(TABELLION_MASTER_KEY_FILE): it is not served as its ciphertext."
            )

        if start > 0 and not await self.is_plain(key):
            raise refused()
        # A whole read looks at its own first bytes: no second request to the backend.
        head = b"" if start == 0 else None
        async for piece in self.inner.open(key, start=start, end=end, verify=verify):
            if head is not None:
                head += piece
                if len(head) < len(MAGIC) and MAGIC.startswith(head):
                    continue  # too short to tell yet
                if head.startswith(MAGIC):
                    raise refused()
                piece, head = head, None
            yield piece
        if head:
            yield head
