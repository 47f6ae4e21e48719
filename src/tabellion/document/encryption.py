"""Encryption at rest: AES-256-GCM in fixed-size chunks, envelope keys (docs/data.md).

Three levels of keys:

- the **master key** comes from a :class:`KeyProvider` (built in: :class:`FileKeyProvider`,
  ``TABELLION_MASTER_KEY_FILE``; a PKCS#11 token or AWS KMS in
  ``tabellion.document.key_providers``); it only wraps organisation keys;
- each **organisation key** (table ``storage_keys``, one row per version) is a random 256-bit
  key stored wrapped by the master key (AES key wrap, RFC 3394, with a key file);
- each **blob** gets a random 256-bit data key, wrapped by the current organisation key and
  kept in the database (table ``blob_keys``, one row per blob, by the blob's address): deleting
  the row shreds the blob, in the store and in every copy of it taken before. Blobs of layout
  1 kept the wrapped data key in their own header; they are still read.

Layout of an encrypted blob (all integers big-endian)::

    magic      8 bytes   b"\\x89TBLENC\\n"
    version    1 byte    2 (1: the older layout, with the two fields marked 1 below)
    hlen       2 bytes   length of the rest of the header
    chunk size 4 bytes   plaintext bytes per chunk (the last may be shorter, even empty)
    prefix     8 bytes   random nonce prefix of this blob
    key id     1 + n     1: length, then the ``storage_keys`` id (ASCII) that wrapped the data key
    wrapped    1 + 40    1: length, then the data key wrapped by that key
    chunks     ...       each AES-256-GCM(ciphertext || 16-byte tag)

In layout 2 the data key, and the ``storage_keys`` id that wraps it, are in the blob's row of
``blob_keys``, found by the blob's address: a random name of 64 hex digits chosen as it is
written (blobs written before were addressed by the SHA-256 of their ciphertext; both read).
The backend neither hashes such a blob as it stores it nor checks a hash as it reads it: every
chunk is authenticated, and a blob stored under another one's name is read with that name's
data key, so its first chunk fails.

Chunk ``i`` uses the nonce ``prefix || i`` (4 bytes) and the associated data
``header || final`` where ``header`` is every header byte above and ``final`` is 1 for the
last chunk, else 0. So a chunk moved to another place (its nonce changes), taken from another
blob (another data key and prefix), a cut-off blob (no chunk marked final), a blob with chunks
appended after the final one, or an altered header all fail authentication: the reader raises
:class:`BlobCorrupted` before serving a byte of the chunk at fault.

Blobs that do not begin with the magic are legacy plain blobs and are served as they are. Their
address is their SHA-256, as is that of a blob of layout 1: a full read of either checks it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import os
import secrets
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)
from sqlalchemy import delete, select

from tabellion.document.storage import (
    SNIFF_BYTES,
    BlobCorrupted,
    BlobStore,
    BlobStoreProxy,
    BlobTooLarge,
    StoredBlob,
    StoredFileUnavailable,
)
from tabellion.kit import metrics
from tabellion.kit.ids import new_id
from tabellion.kit.time import utcnow
from tabellion.models.encryption import BlobKey, StorageKey

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

MAGIC = b"\x89TBLENC\n"
VERSION = 2  # what new blobs are written in; 1 is still read
LAYOUTS = (1, 2)
CHUNK_SIZE = 64 * 1024
TAG = 16
_FIXED = struct.Struct(">8sBH")  # magic, version, hlen
HEADER_MAX = _FIXED.size + 4 + 8 + 1 + 255 + 1 + 255


class KeyUnavailable(StoredFileUnavailable):
    """A key needed to read or write a blob is missing (erased) or cannot be unwrapped."""

    code = "storage-key-unavailable"
    title = "An encryption key is unavailable"


class MasterKeyUnavailable(KeyUnavailable):
    """The master key's token or KMS cannot be used now (unreachable, PIN refused, key
    missing): nothing was read or written; the caller retries later."""

    status = 503
    RETRY_AFTER = 30

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": str(self.RETRY_AFTER)})


# ---- the master key ------------------------------------------------------------------------


class KeyProvider(Protocol):
    """Wraps and unwraps organisation keys with a master key it never hands out.

    The built-in provider reads the key from a file; the PKCS#11 and KMS providers
    (``tabellion.document.key_providers``) implement the same three members and raise
    :class:`MasterKeyUnavailable` when their token or service cannot be used. The members may
    block (a token, a network call): the keyring calls them in a thread.
    """

    @property
    def key_id(self) -> str:
        """A stable name of the master key (recorded beside every key it wraps)."""
        ...

    def wrap(self, key: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes) -> bytes: ...


class FileKeyProvider:
    """The master key from a file: 32 bytes, raw or written as hex or base64."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the master key must be 32 bytes (256 bits)")
        self._key = key
        self._id = hashlib.sha256(b"tabellion master key id\0" + key).hexdigest()[:16]

    @classmethod
    def from_file(cls, path: Path) -> FileKeyProvider:
        return cls(parse_key(path.read_bytes()))

    @property
    def key_id(self) -> str:
        return self._id

    def wrap(self, key: bytes) -> bytes:
        return aes_key_wrap(self._key, key)

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return aes_key_unwrap(self._key, wrapped)
        except (InvalidUnwrap, ValueError) as exc:  # ValueError: not wrapped by a key file
            raise KeyUnavailable("A storage key does not unwrap with the master key.") from exc


def parse_key(data: bytes) -> bytes:
    """32 raw bytes, or 64 hex digits, or base64 of 32 bytes (surrounding blanks ignored)."""
    if len(data) == 32:
        return data
    text = data.strip()
    try:
        if len(text) == 64:
            return binascii.unhexlify(text)
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the master key file holds neither 32 bytes, hex nor base64") from exc
    if len(decoded) != 32:
        raise ValueError("the master key must be 32 bytes (256 bits)")
    return decoded


def generate_key_file(path: Path) -> None:
    """Write a new random master key (base64), readable by the owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(base64.b64encode(os.urandom(32)) + b"\n")


# ---- organisation keys ---------------------------------------------------------------------


@dataclass(frozen=True)
class OrgKey:
    id: str
    key: bytes


# How long a process trusts an organisation key it unwrapped: an erasure in another process
# (``tabellion org erase``) deletes the key rows, and this one stops using them after this long.
KEY_CACHE_SECONDS = 60.0
# How many blobs' data keys (layout 2) a process keeps unwrapped: 32 bytes and an address each.
DATA_KEY_CACHE = 4096


class Keyring:
    """Organisation keys: created on first use, unwrapped and cached for a minute; and the data
    keys of blobs of layout 2 (``blob_keys``), cached for as long.

    Lookups go through ``read_sessions`` when given (on SQLite, the read connections: a
    lookup never waits for the one write connection a request may hold).
    """

    def __init__(
        self,
        provider: KeyProvider,
        sessions: async_sessionmaker[AsyncSession],
        read_sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.provider = provider
        self.sessions = sessions
        self.read_sessions = read_sessions or sessions
        self._by_id: dict[str, bytes] = {}
        self._current: dict[str | None, OrgKey] = {}
        self._data: dict[str, bytes] = {}  # blob address -> data key, oldest first
        self._lock = asyncio.Lock()
        self._loaded = time.monotonic()

    def forget(self) -> None:
        """Drop cached keys (after a rotation or an erasure made elsewhere)."""
        self._by_id.clear()
        self._current.clear()
        self._data.clear()
        self._loaded = time.monotonic()

    def _expire(self) -> None:
        if time.monotonic() - self._loaded > KEY_CACHE_SECONDS:
            self.forget()

    async def current(self, organization_id: str | None) -> OrgKey:
        """The key new blobs of ``organization_id`` are written with (made if none yet)."""
        self._expire()
        found = self._current.get(organization_id)
        if found is not None:
            return found
        async with self._lock:
            found = self._current.get(organization_id)
            if found is None:
                found = await self._load_or_create(organization_id)
                self._current[organization_id] = found
            return found

    async def _load_or_create(self, organization_id: str | None) -> OrgKey:
        async with self.sessions() as session:
            row = await _current_row(session, organization_id)
            if row is None:
                row = await asyncio.to_thread(
                    new_key_row, self.provider, organization_id, version=1
                )
                session.add(row)
                await session.commit()
        key = await asyncio.to_thread(self.provider.unwrap, row.wrapped_key)
        self._by_id[row.id] = key
        return OrgKey(row.id, key)

    async def by_id(self, key_id: str) -> bytes:
        self._expire()
        found = self._by_id.get(key_id)
        if found is not None:
            return found
        async with self.read_sessions() as session:
            row = await session.get(StorageKey, key_id)
        if row is None:
            raise KeyUnavailable(f"The storage key {key_id} is unknown (erased?).")
        key = await asyncio.to_thread(self.provider.unwrap, row.wrapped_key)
        self._by_id[key_id] = key
        return key

    # ---- data keys of blobs (layout 2)

    def remember(self, address: str, data_key: bytes) -> None:
        self._data[address] = data_key
        if len(self._data) > DATA_KEY_CACHE:
            del self._data[next(iter(self._data))]

    async def record(
        self, address: str, organization_id: str | None, org_key: OrgKey, wrapped: bytes
    ) -> None:
        """Keep the wrapped data key of the blob just written at ``address``."""
        async with self.sessions() as session, session.begin():
            session.add(
                BlobKey(
                    address=address,
                    organization_id=organization_id,
                    storage_key_id=org_key.id,
                    wrapped_key=wrapped,
                    created_at=utcnow(),
                )
            )

    async def data_key(self, address: str, where: str) -> bytes:
        """The data key of the blob at ``address``: one lookup by primary key, then cached.
        KeyUnavailable if its row is gone (the blob was deleted or erased)."""
        self._expire()
        found = self._data.get(address)
        if found is not None:
            return found
        async with self.read_sessions() as session:
            row = (
                await session.execute(
                    select(BlobKey.storage_key_id, BlobKey.wrapped_key).where(
                        BlobKey.address == address
                    )
                )
            ).first()
        if row is None:
            raise KeyUnavailable(f"The data key of the stored file {where} is gone (erased?).")
        org_key = await self.by_id(row.storage_key_id)
        try:
            data_key = aes_key_unwrap(org_key, row.wrapped_key)
        except InvalidUnwrap:
            raise _corrupted(where, "its data key does not unwrap") from None
        self.remember(address, data_key)
        return data_key

    def evict(self, addresses: list[str]) -> None:
        """Forget the cached data keys of the blobs at ``addresses`` (their rows are gone)."""
        for address in addresses:
            self._data.pop(address, None)

    async def drop(self, addresses: list[str]) -> None:
        """Delete the data keys of the blobs at ``addresses`` (in their own transaction)."""
        self.evict(addresses)
        async with self.sessions() as session, session.begin():
            await drop_blob_keys(session, addresses)


async def drop_blob_keys(session: AsyncSession, addresses: list[str]) -> None:
    """Delete the data keys of the blobs at ``addresses`` in the caller's transaction: once
    committed, those blobs no longer decrypt, from the store or from any copy of it."""
    for start in range(0, len(addresses), 500):
        batch = addresses[start : start + 500]
        await session.execute(
            delete(BlobKey)
            .where(BlobKey.address.in_(batch))
            .execution_options(synchronize_session=False)
        )


async def _current_row(session: AsyncSession, organization_id: str | None) -> StorageKey | None:
    owner = (
        StorageKey.organization_id.is_(None)
        if organization_id is None
        else StorageKey.organization_id == organization_id
    )
    return (
        await session.scalars(
            select(StorageKey).where(owner).order_by(StorageKey.version.desc()).limit(1)
        )
    ).first()


def new_key_row(provider: KeyProvider, organization_id: str | None, *, version: int) -> StorageKey:
    return StorageKey(
        id=new_id("sk"),
        organization_id=organization_id,
        version=version,
        master_key_id=provider.key_id,
        wrapped_key=provider.wrap(os.urandom(32)),
        created_at=utcnow(),
    )


async def rotate_organization_key(
    session: AsyncSession, provider: KeyProvider, organization_id: str | None
) -> StorageKey:
    """A new version of the organisation's key for new blobs; no blob is rewritten. Older
    versions stay to read older blobs: those of layout 1 (data keys in their headers) and
    those of layout 2 until :func:`rewrap_data_keys` wraps their data keys again."""
    previous = await _current_row(session, organization_id)
    version = 1 if previous is None else previous.version + 1
    if previous is not None:
        provider.unwrap(previous.wrapped_key)  # refuse to rotate under a wrong master key
        previous.retired_at = utcnow()
    row = new_key_row(provider, organization_id, version=version)
    session.add(row)
    await session.flush()
    return row


async def rewrap_data_keys(
    session: AsyncSession, provider: KeyProvider, organization_id: str | None
) -> int:
    """The data keys of the organisation's blobs of layout 2 (rows of ``blob_keys``) wrapped
    again by its current key, in the caller's transaction; no blob is rewritten. Returns how
    many were."""
    current = await _current_row(session, organization_id)
    if current is None:
        return 0
    new_key = provider.unwrap(current.wrapped_key)
    owner = (
        BlobKey.organization_id.is_(None)
        if organization_id is None
        else BlobKey.organization_id == organization_id
    )
    unwrapped: dict[str, bytes] = {}
    count = 0
    rows = await session.stream_scalars(
        select(BlobKey).where(owner, BlobKey.storage_key_id != current.id).order_by(BlobKey.address)
    )
    async for blob_key in rows:
        old = unwrapped.get(blob_key.storage_key_id)
        if old is None:
            stored = await session.get(StorageKey, blob_key.storage_key_id)
            assert stored is not None  # a foreign key
            old = unwrapped[stored.id] = provider.unwrap(stored.wrapped_key)
        data_key = aes_key_unwrap(old, blob_key.wrapped_key)
        blob_key.wrapped_key = aes_key_wrap(new_key, data_key)
        blob_key.storage_key_id = current.id
        count += 1
        if count % 500 == 0:
            await session.flush()
    await session.flush()
    return count


async def rewrap_all(session: AsyncSession, old: KeyProvider, new: KeyProvider) -> int:
    """Master key rotation: every organisation key unwrapped by ``old`` and wrapped by
    ``new``, in one transaction. The keys themselves (and so every blob) are unchanged."""
    count = 0
    for row in (await session.scalars(select(StorageKey).order_by(StorageKey.id))).all():
        key = old.unwrap(row.wrapped_key)
        row.wrapped_key = new.wrap(key)
        row.master_key_id = new.key_id
        count += 1
    await session.flush()
    return count


# ---- the chunk layout ----------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    raw: bytes
    chunk_size: int
    prefix: bytes
    version: int = VERSION
    # Layout 1 only: the ``storage_keys`` id and the wrapped data key (layout 2: in the
    # blob's row of ``blob_keys``).
    key_id: str | None = None
    wrapped: bytes | None = None

    @classmethod
    def make(cls, chunk_size: int = CHUNK_SIZE) -> Header:
        """The header of a new blob (layout 2)."""
        prefix = os.urandom(8)
        rest = struct.pack(">I", chunk_size) + prefix
        raw = _FIXED.pack(MAGIC, 2, len(rest)) + rest
        return cls(raw, chunk_size, prefix)

    @classmethod
    def make_layout_1(cls, key_id: str, wrapped: bytes, chunk_size: int = CHUNK_SIZE) -> Header:
        """The header of a blob in the older layout (tests, and reading them stays tested)."""
        ident = key_id.encode("ascii")
        prefix = os.urandom(8)
        rest = (
            struct.pack(">I", chunk_size)
            + prefix
            + bytes([len(ident)])
            + ident
            + bytes([len(wrapped)])
            + wrapped
        )
        raw = _FIXED.pack(MAGIC, 1, len(rest)) + rest
        return cls(raw, chunk_size, prefix, 1, key_id, wrapped)

    @classmethod
    def parse(cls, data: bytes, where: str) -> Header:
        """The header at the start of ``data``; BlobCorrupted if malformed or cut short."""
        if len(data) < _FIXED.size:
            raise _corrupted(where, "its header is cut short")
        magic, version, length = _FIXED.unpack_from(data)
        if magic != MAGIC:
            raise _corrupted(where, "it has no encryption header")
        if version not in LAYOUTS:
            raise _corrupted(where, f"its layout version {version} is unknown")
        end = _FIXED.size + length
        if len(data) < end or length < (14 if version == 1 else 12):
            raise _corrupted(where, "its header is cut short")
        rest = data[_FIXED.size : end]
        if version == 2:
            (chunk_size,) = struct.unpack_from(">I", rest)
            if length != 12 or not 0 < chunk_size <= 1 << 24:
                raise _corrupted(where, "its header is malformed")
            return cls(bytes(data[:end]), chunk_size, bytes(rest[4:12]))
        try:
            (chunk_size,) = struct.unpack_from(">I", rest)
            prefix = rest[4:12]
            n = rest[12]
            key_id = rest[13 : 13 + n].decode("ascii")
            m = rest[13 + n]
            wrapped = rest[14 + n : 14 + n + m]
        except (IndexError, UnicodeDecodeError, struct.error) as exc:
            raise _corrupted(where, "its header is malformed") from exc
        if 14 + n + m != length or len(wrapped) != m or not 0 < chunk_size <= 1 << 24:
            raise _corrupted(where, "its header is malformed")
        return cls(bytes(data[:end]), chunk_size, prefix, 1, key_id, wrapped)

    @property
    def sealed_size(self) -> int:
        return self.chunk_size + TAG

    def nonce(self, index: int) -> bytes:
        return self.prefix + struct.pack(">I", index)

    def aad(self, final: bool) -> bytes:
        return self.raw + (b"\x01" if final else b"\x00")


def _corrupted(where: str, why: str) -> BlobCorrupted:
    metrics.stored_file_unavailable("corrupted")
    return BlobCorrupted(f"The encrypted blob {where} is refused: {why}.")


def is_encrypted(head: bytes) -> bool:
    return head.startswith(MAGIC)


def seal_chunk(
    cipher: AESGCM,
    header: Header,
    index: int,
    data: bytes | bytearray | memoryview,
    final: bool,
) -> bytes:
    return cipher.encrypt(header.nonce(index), data, header.aad(final))


def open_chunk(
    cipher: AESGCM,
    header: Header,
    index: int,
    data: bytes | bytearray | memoryview,
    final: bool,
    where: str,
) -> bytes:
    try:
        return cipher.decrypt(header.nonce(index), data, header.aad(final))
    except InvalidTag:
        raise _corrupted(
            where,
            f"chunk {index} fails authentication (altered, moved, swapped or cut off)",
        ) from None


# ---- the store -----------------------------------------------------------------------------


class EncryptedBlobStore(BlobStoreProxy):
    """A :class:`BlobStore` that encrypts what it writes to ``inner`` and decrypts what it
    reads (plain legacy blobs are read as they are).

    A blob's key is a fresh random name (layout 2; layout 1: the SHA-256 of its ciphertext), so
    two uploads of the same file (in one organisation or two) never share a stored object;
    :attr:`StoredBlob.sha256` is the SHA-256 of the plaintext, as recorded in evidence.

    The backend is asked for no hash of a blob of layout 2, written or read: its chunks are
    authenticated instead. A full read of any other blob checks the SHA-256 of what it read
    against the address here, as the backend would.
    """

    def __init__(self, inner: BlobStore, keyring: Keyring, *, layout: int = VERSION) -> None:
        super().__init__(inner)
        self.keyring = keyring
        self.layout = layout  # what new blobs are written in: 1 only to test reading them

    async def put_stream(
        self,
        chunks: AsyncIterator[bytes],
        *,
        max_bytes: int | None = None,
        key: str | None = None,
        organization_id: str | None = None,
    ) -> StoredBlob:
        """Under ``key`` when given (a fresh name), else a new random one (layout 1: the
        SHA-256 of the ciphertext)."""
        if key is not None and self.layout != 2:
            raise ValueError("a blob of layout 1 is addressed by its content")
        org_key = await self.keyring.current(organization_id)
        data_key = AESGCM.generate_key(bit_length=256)
        wrapped = aes_key_wrap(org_key.key, data_key)
        header = Header.make() if self.layout == 2 else Header.make_layout_1(org_key.id, wrapped)
        cipher = AESGCM(data_key)
        hasher = hashlib.sha256()
        head = bytearray()
        size = 0

        async def sealed() -> AsyncIterator[bytes]:
            nonlocal size, head
            yield header.raw
            pending = bytearray()
            index = 0
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise BlobTooLarge(f"The file is larger than the limit of {max_bytes} bytes.")
                hasher.update(chunk)
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                # Chunks are sealed where they lie in the piece received; only a chunk that
                # spans two pieces is gathered in ``pending``. A chunk is sealed as not the last
                # only when a byte follows it: the last chunk is known only at the end.
                whole = header.chunk_size
                at = 0
                with memoryview(chunk) as view:
                    if pending:
                        at = min(len(chunk), whole - len(pending))
                        pending += view[:at]
                        if len(pending) == whole and at < len(chunk):
                            yield seal_chunk(cipher, header, index, pending, False)
                            pending.clear()
                            index += 1
                    while len(chunk) - at > whole:
                        yield seal_chunk(cipher, header, index, view[at : at + whole], False)
                        at += whole
                        index += 1
                    pending += view[at:]
            yield seal_chunk(cipher, header, index, bytes(pending), True)

        if header.version == 2:
            blob = await self.inner.put_stream(sealed(), key=key or secrets.token_hex(32))
            # Recorded after the blob is written: a failure in between leaves a blob nobody
            # can read, which the collector deletes.
            await self.keyring.record(blob.key, organization_id, org_key, wrapped)
            self.keyring.remember(blob.key, data_key)
        else:
            blob = await self.inner.put_stream(sealed())
        return StoredBlob(key=blob.key, sha256=hasher.hexdigest(), size=size, head=bytes(head))

    async def open(
        self, key: str, *, start: int = 0, end: int | None = None, verify: bool = True
    ) -> AsyncIterator[bytes]:
        """``verify``: whether a full read of a plain or layout-1 blob checks its address (the
        chunks of an encrypted blob are authenticated whatever it says)."""
        if start == 0 and end is None:
            async for piece in self._open_full(key, verify):
                yield piece
            return
        probe = b"".join([c async for c in self.inner.open(key, start=0, end=HEADER_MAX)])
        if not is_encrypted(probe):
            async for piece in self.inner.open(key, start=start, end=end):
                yield piece
            return
        header = Header.parse(probe, key)
        cipher = AESGCM(await self._data_key(header, key))
        if end is not None and end <= start:
            return
        first = start // header.chunk_size
        skip = start - first * header.chunk_size
        remaining = None if end is None else end - start
        offset = len(header.raw) + first * header.sealed_size
        index = first
        buffer = bytearray()
        stream = self.inner.open(key, start=offset)
        ended = False
        async for piece in stream:
            buffer += piece
            while len(buffer) > header.sealed_size:
                plain = self._chunk(cipher, header, index, buffer, False, key)
                index += 1
                out, skip = plain[skip:], 0
                if remaining is not None:
                    out = out[:remaining]
                    remaining -= len(out)
                if out:
                    yield out
                if remaining == 0:
                    ended = True
                    break
            if ended:
                break
        if ended:
            return
        if not buffer and index == first and first > 0:
            # Nothing at or after ``start``: past the end if the chunk before is the final one
            # (a cut-off blob is refused).
            before = len(header.raw) + (first - 1) * header.sealed_size
            previous = bytearray()
            async for piece in self.inner.open(key, start=before, end=offset):
                previous += piece
            self._chunk(cipher, header, first - 1, previous, True, key)
            return
        plain = self._chunk(cipher, header, index, buffer, True, key)
        out = plain[skip:]
        if remaining is not None:
            out = out[:remaining]
        if out:
            yield out

    def _chunk(
        self,
        cipher: AESGCM,
        header: Header,
        index: int,
        buffer: bytearray,
        final: bool,
        key: str,
    ) -> bytes:
        size = min(len(buffer), header.sealed_size)
        with memoryview(buffer) as view:
            sealed = bytes(view[:size])
        del buffer[:size]
        if final and buffer:
            raise _corrupted(key, "bytes follow its final chunk")
        return open_chunk(cipher, header, index, sealed, final, key)

    async def _open_full(self, key: str, verify: bool) -> AsyncIterator[bytes]:
        # The backend checks no hash: the header tells whether one is needed (a plain blob,
        # layout 1), and then it is checked here, over the bytes as read.
        stream = self.inner.open(key, verify=False)
        hasher: hashlib._Hash | None = hashlib.sha256() if verify else None
        buffer = bytearray()  # the header, then only a chunk that spans two pieces
        header: Header | None = None
        cipher: AESGCM | None = None
        index = 0
        async for piece in stream:
            if hasher is not None:
                hasher.update(piece)
            if header is None:
                buffer += piece
                if len(buffer) < len(MAGIC) and not MAGIC.startswith(bytes(buffer)):
                    yield bytes(buffer)  # plain legacy blob
                    buffer.clear()
                    async for rest in _hashed(stream, hasher):
                        yield rest
                    _check_address(key, hasher)
                    return
                if len(buffer) < len(MAGIC):
                    continue
                if not is_encrypted(bytes(buffer[: len(MAGIC)])):
                    yield bytes(buffer)
                    buffer.clear()
                    async for rest in _hashed(stream, hasher):
                        yield rest
                    _check_address(key, hasher)
                    return
                if len(buffer) < _FIXED.size:
                    continue
                _, _, length = _FIXED.unpack_from(buffer)
                if len(buffer) < _FIXED.size + length:
                    continue
                header = Header.parse(bytes(buffer), key)
                if header.version == 2:
                    hasher = None  # authenticated chunk by chunk, whatever its address
                cipher = AESGCM(await self._data_key(header, key))
                piece = bytes(buffer[len(header.raw) :])
                buffer.clear()
            assert cipher is not None
            # Chunks are opened where they lie in the backend's piece; only one that spans two
            # pieces is gathered in ``buffer``. A chunk is opened as not the last only when a
            # byte follows it: the last chunk is known only at the end.
            sealed_size = header.sealed_size
            size = len(piece)
            at = 0
            with memoryview(piece) as view:
                if buffer:
                    need = sealed_size - len(buffer)
                    if size <= need:
                        buffer += view
                        continue
                    buffer += view[:need]
                    at = need
                    yield open_chunk(cipher, header, index, buffer, False, key)
                    buffer.clear()
                    index += 1
                while size - at > sealed_size:
                    with view[at : at + sealed_size] as sealed:
                        plain = open_chunk(cipher, header, index, sealed, False, key)
                    yield plain
                    at += sealed_size
                    index += 1
                buffer += view[at:]
        if header is None:
            if buffer and not is_encrypted(bytes(buffer)):
                yield bytes(buffer)  # a plain blob shorter than the magic
                _check_address(key, hasher)
                return
            if buffer:
                Header.parse(bytes(buffer), key)  # raises: cut short
            _check_address(key, hasher)
            return  # an empty plain blob
        assert cipher is not None
        plain = self._chunk(cipher, header, index, buffer, True, key)
        _check_address(key, hasher)  # layout 1, before its last chunk is served
        if plain:
            yield plain

    async def _data_key(self, header: Header, where: str) -> bytes:
        if header.version == 2:
            return await self.keyring.data_key(where, where)
        assert header.key_id is not None and header.wrapped is not None  # layout 1
        org_key = await self.keyring.by_id(header.key_id)
        try:
            return aes_key_unwrap(org_key, header.wrapped)
        except InvalidUnwrap:
            raise _corrupted(where, "its data key does not unwrap") from None

    async def layout_of(self, key: str) -> int:
        """0 for a plain blob, else the layout of its encryption header."""
        probe = b"".join([c async for c in self.inner.open(key, start=0, end=_FIXED.size)])
        if not is_encrypted(probe) or len(probe) < _FIXED.size:
            return 0
        _, version, _ = _FIXED.unpack_from(probe)
        return int(version)

    async def delete(self, key: str) -> None:
        """Delete the blob and its data key (the key first: a blob whose deletion fails
        stays unreadable, and the collector deletes it)."""
        await self.keyring.drop([key])
        await self.inner.delete(key)

    async def delete_stale(self, key: str, *, before: datetime) -> bool:
        deleted = await self.inner.delete_stale(key, before=before)
        if deleted:
            await self.keyring.drop([key])
        return deleted


async def _hashed(
    stream: AsyncIterator[bytes], hasher: hashlib._Hash | None
) -> AsyncIterator[bytes]:
    async for piece in stream:
        if hasher is not None:
            hasher.update(piece)
        yield piece


def _check_address(key: str, hasher: hashlib._Hash | None) -> None:
    """A blob addressed by its content (plain, layout 1) read whole: BlobCorrupted unless the
    bytes read hash to its address (None: layout 2, nothing to check)."""
    if hasher is not None and hasher.hexdigest() != key:
        metrics.stored_file_unavailable("corrupted")
        raise BlobCorrupted(f"blob {key} does not match its hash")


def stored_under_a_name(head: bytes) -> bool:
    """Whether a stored blob beginning with ``head`` is of layout 2, whose address is a name,
    not the SHA-256 of its bytes (backups check the others' addresses)."""
    return len(head) > len(MAGIC) and is_encrypted(head) and head[len(MAGIC)] == 2


async def put_for(
    storage: BlobStore,
    chunks: AsyncIterator[bytes],
    *,
    organization_id: str | None,
    max_bytes: int | None = None,
) -> StoredBlob:
    """Store under ``organization_id``'s key when the store encrypts; plain otherwise."""
    if isinstance(storage, EncryptedBlobStore):
        return await storage.put_stream(
            chunks, max_bytes=max_bytes, organization_id=organization_id
        )
    return await storage.put_stream(chunks, max_bytes=max_bytes)
