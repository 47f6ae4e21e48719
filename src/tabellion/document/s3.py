"""Blobs in an S3-compatible bucket: ``<prefix>blobs/<sha256>`` (or under a name the writer
chose, ``put_stream(key=...)``: then nothing is hashed).

The hash of a stream is known only at its end, so a large stream goes up as a multipart upload
to a temporary key (``<prefix>tmp/<uuid>``) one part at a time, and is then copied to its
content address; a small one is buffered (at most one part) and put directly. Memory stays
bounded by the part size whatever the file size. A failed or cancelled upload is aborted.

``TABELLION_STORAGE_URL=s3://bucket/prefix?endpoint_url=https://...&region=eu-west-3``;
credentials come from the usual AWS variables (``AWS_ACCESS_KEY_ID``...) or the URL's user info.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tabellion.document.storage import (
    SNIFF_BYTES,
    BlobCorrupted,
    BlobNotFound,
    BlobTooLarge,
    StorageUnavailable,
    StoredBlob,
)
from tabellion.kit import metrics

PART_SIZE = 8 << 20  # S3 parts are at least 5 MiB, except the last
READ_CHUNK = 1 << 20
_HEX = frozenset("0123456789abcdef")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _missing(exc: ClientError) -> bool:
    return _code(exc) in ("404", "NoSuchKey", "NotFound")


# The store's own trouble, not the request's: an answer of 5xx or one of these codes.
_SERVER_CODES = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"})


def _unavailable(exc: Exception) -> StorageUnavailable:
    metrics.stored_file_unavailable("unreachable")
    return StorageUnavailable(
        f"The file storage cannot be reached or failed ({type(exc).__name__}); nothing was "
        "stored. Retry shortly."
    )


async def _s3(call: Any, /, *args: Any, **kwargs: Any) -> Any:
    """``call`` (a client method) in a thread. The bucket unreachable, timing out or answering
    with its own errors (after botocore's few retries) is ``StorageUnavailable``: a 503 with
    ``Retry-After``, not a 500 after minutes."""
    try:
        return await asyncio.to_thread(call, *args, **kwargs)
    except BotoCoreError as exc:
        raise _unavailable(exc) from exc
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if status >= 500 or _code(exc) in _SERVER_CODES:
            raise _unavailable(exc) from exc
        raise


class S3BlobStore:
    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    @classmethod
    def from_url(cls, url: str, *, session: boto3.session.Session | None = None) -> S3BlobStore:
        """``session`` lets many stores share botocore's parsed service models (tests)."""
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        options: dict[str, Any] = {
            "config": Config(
                # An unreachable or failing bucket answers within seconds (a 503 to the
                # caller, a retried job), not after minutes of retries.
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
                max_pool_connections=32,
                s3={"addressing_style": query.get("addressing_style", "auto")},
                # Blobs carry their own SHA-256, checked on every full read. botocore's default
                # extra checksums (CRC32 on every put) are rejected by several S3-compatible
                # stores and cost CPU for nothing here.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
        }
        if "endpoint_url" in query:
            options["endpoint_url"] = query["endpoint_url"]
        if "region" in query:
            options["region_name"] = query["region"]
        if parts.username:
            options["aws_access_key_id"] = unquote(parts.username)
            options["aws_secret_access_key"] = unquote(parts.password or "")
        client = (session or boto3.session.Session()).client("s3", **options)
        return cls(client, parts.hostname or "", parts.path)

    def object_key(self, key: str) -> str:
        if len(key) != 64 or not set(key) <= _HEX:
            raise BlobNotFound(key)
        return f"{self.prefix}blobs/{key}"

    # ---- writing ---------------------------------------------------------------------------
    async def put_stream(
        self,
        chunks: AsyncIterator[bytes],
        *,
        max_bytes: int | None = None,
        key: str | None = None,
    ) -> StoredBlob:
        """Under ``key`` when given (a fresh name: nothing hashed, no existing copy looked
        for), else under the SHA-256 of the bytes."""
        if key is not None:
            self.object_key(key)
        hasher = hashlib.sha256() if key is None else None
        head = bytearray()
        size = 0
        buffer = bytearray()
        upload: _Multipart | None = None
        try:
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
                buffer += chunk
                while len(buffer) >= PART_SIZE:
                    if upload is None:
                        upload = await _Multipart.start(self, f"{self.prefix}tmp/{uuid.uuid4()}")
                    with memoryview(buffer) as view:
                        part = bytes(view[:PART_SIZE])
                    del buffer[:PART_SIZE]
                    await upload.add(part)
            if hasher is None:  # a fresh name: no copy of the same bytes to keep
                assert key is not None
                sha, fresh = key, True
            else:
                sha, fresh = hasher.hexdigest(), False
            final = self.object_key(sha)
            if upload is None:
                if fresh or not await self._touch(final):
                    await _s3(
                        self.client.put_object, Bucket=self.bucket, Key=final, Body=bytes(buffer)
                    )
            else:
                if buffer:
                    await upload.add(bytes(buffer))
                    buffer.clear()
                await upload.complete()
                temp_key, upload = upload.key, None
                try:
                    if fresh or not await self._touch(final):
                        await _s3(
                            self.client.copy,
                            {"Bucket": self.bucket, "Key": temp_key},
                            self.bucket,
                            final,
                        )
                finally:
                    await _s3(self.client.delete_object, Bucket=self.bucket, Key=temp_key)
        except BaseException:
            if upload is not None:
                await asyncio.shield(upload.abort())
            raise
        return StoredBlob(key=sha, sha256="" if fresh else sha, size=size, head=bytes(head))

    async def _touch(self, key: str) -> bool:
        """True if ``key`` exists; its age is then refreshed for the collector."""
        try:
            await _s3(self.client.head_object, Bucket=self.bucket, Key=key)
            await _s3(
                self.client.copy_object,
                Bucket=self.bucket,
                Key=key,
                CopySource={"Bucket": self.bucket, "Key": key},
                MetadataDirective="REPLACE",
            )
        except ClientError as exc:
            # Absent, or removed by the collector between the two calls: store ours.
            if _missing(exc):
                return False
            raise
        return True

    # ---- reading ---------------------------------------------------------------------------
    async def open(
        self, key: str, *, start: int = 0, end: int | None = None, verify: bool = True
    ) -> AsyncIterator[bytes]:
        options: dict[str, Any] = {"Bucket": self.bucket, "Key": self.object_key(key)}
        full = start == 0 and end is None
        if not full:
            if end is not None and end <= start:
                return
            options["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            response = await _s3(self.client.get_object, **options)
        except ClientError as exc:
            if _missing(exc):
                metrics.stored_file_unavailable("missing")
                raise BlobNotFound(key) from exc
            if _code(exc) == "InvalidRange":
                return  # starts past the end: nothing, as on local disk
            raise
        body = response["Body"]
        hasher = hashlib.sha256() if full and verify else None
        try:
            while True:
                try:
                    chunk = await asyncio.to_thread(body.read, READ_CHUNK)
                except BotoCoreError as exc:  # the connection lost or timing out mid-file
                    raise _unavailable(exc) from exc
                if not chunk:
                    break
                if hasher is not None:
                    hasher.update(chunk)
                yield chunk
        finally:
            body.close()
        if hasher is not None and hasher.hexdigest() != key:
            metrics.stored_file_unavailable("corrupted")
            raise BlobCorrupted(f"blob {key} does not match its hash")

    async def exists(self, key: str) -> bool:
        try:
            await _s3(self.client.head_object, Bucket=self.bucket, Key=self.object_key(key))
        except BlobNotFound:
            return False
        except ClientError as exc:
            if _missing(exc):
                return False
            raise
        return True

    async def delete(self, key: str) -> None:
        with contextlib.suppress(BlobNotFound):
            await _s3(self.client.delete_object, Bucket=self.bucket, Key=self.object_key(key))

    async def delete_stale(self, key: str, *, before: datetime) -> bool:
        # S3 has no "delete unless modified since" on ordinary buckets: an upload of the same
        # bytes in the round trip between these two calls can still lose its blob.
        modified = await self.modified_at(key)
        if modified is None or modified >= before.timestamp():
            return False
        await self.delete(key)
        return True

    async def modified_at(self, key: str) -> float | None:
        try:
            head = await _s3(self.client.head_object, Bucket=self.bucket, Key=self.object_key(key))
        except BlobNotFound:
            return None
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return float(head["LastModified"].timestamp())

    async def keys_older_than(self, moment: datetime) -> AsyncIterator[str]:
        """Stored keys last written before ``moment``; stale temporary objects are removed."""
        async for item in self._list(f"{self.prefix}tmp/"):
            if item["LastModified"] < moment:
                await _s3(self.client.delete_object, Bucket=self.bucket, Key=item["Key"])
        async for item in self._uploads(f"{self.prefix}tmp/"):
            if item["Initiated"] < moment:
                with contextlib.suppress(ClientError):
                    await _s3(
                        self.client.abort_multipart_upload,
                        Bucket=self.bucket,
                        Key=item["Key"],
                        UploadId=item["UploadId"],
                    )
        base = f"{self.prefix}blobs/"
        async for item in self._list(base):
            name = item["Key"][len(base) :]
            if item["LastModified"] < moment and len(name) == 64:
                yield name

    async def list_keys(self) -> AsyncIterator[str]:
        base = f"{self.prefix}blobs/"
        async for item in self._list(base):
            name = item["Key"][len(base) :]
            if len(name) == 64:
                yield name

    async def _list(self, prefix: str) -> AsyncIterator[dict[str, Any]]:
        token: str | None = None
        while True:
            options: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                options["ContinuationToken"] = token
            page = await _s3(self.client.list_objects_v2, **options)
            for item in page.get("Contents", []):
                yield item
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    async def _uploads(self, prefix: str) -> AsyncIterator[dict[str, Any]]:
        """Multipart uploads begun and neither completed nor aborted, page after page."""
        markers: dict[str, Any] = {}
        while True:
            page = await _s3(
                self.client.list_multipart_uploads, Bucket=self.bucket, Prefix=prefix, **markers
            )
            for item in page.get("Uploads", []):
                yield item
            if not page.get("IsTruncated"):
                return
            markers = {
                "KeyMarker": page.get("NextKeyMarker", ""),
                "UploadIdMarker": page.get("NextUploadIdMarker", ""),
            }

    async def close(self) -> None:
        await _s3(self.client.close)


class _Multipart:
    def __init__(self, store: S3BlobStore, key: str, upload_id: str) -> None:
        self.store = store
        self.key = key
        self.upload_id = upload_id
        self.parts: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, store: S3BlobStore, key: str) -> _Multipart:
        response = await _s3(store.client.create_multipart_upload, Bucket=store.bucket, Key=key)
        return cls(store, key, response["UploadId"])

    async def add(self, data: bytes) -> None:
        number = len(self.parts) + 1
        response = await _s3(
            self.store.client.upload_part,
            Bucket=self.store.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
        )
        self.parts.append({"PartNumber": number, "ETag": response["ETag"]})

    async def complete(self) -> None:
        await _s3(
            self.store.client.complete_multipart_upload,
            Bucket=self.store.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )

    async def abort(self) -> None:
        # If this fails too, the collector aborts leftovers later.
        with contextlib.suppress(ClientError, StorageUnavailable):
            await _s3(
                self.store.client.abort_multipart_upload,
                Bucket=self.store.bucket,
                Key=self.key,
                UploadId=self.upload_id,
            )
