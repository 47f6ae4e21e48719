"""Crypto-shredding of what a recipient's erasure, the retention purge and the expiry of proofs
delete (docs/data.md, Erasure): a copy of the storage taken before no longer decrypts the
deleted files, the organisation's key still present, while every other file in the copy still
does; on local disk and on S3 (moto)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tabellion.config import Settings
from tabellion.document.encryption import EncryptedBlobStore, FileKeyProvider, Keyring
from tabellion.document.local import LocalBlobStore
from tabellion.document.s3 import S3BlobStore
from tabellion.document.storage import BlobStore, StoredFileUnavailable, read_blob
from tabellion.evidence.sealing.seal import seal_pending
from tabellion.evidence.verification.check import check_chains
from tabellion.models.encryption import BlobKey, StorageKey
from tabellion.models.evidence import Evidence
from tabellion.models.message import Attachment
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.fixtures.s3 import PREFIX, REGION, S3Bucket
from tests.retention.helpers import accept, age, letter, pdf, run_retention_timer

Snapshot = Callable[[], Coroutine[Any, Any, BlobStore]]


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(
    request: pytest.FixtureRequest,
    backend: str,
    data_dir: Path,
    database_url: str,
    master_key: Path,
) -> Settings:
    extra: dict[str, object] = {}
    if backend == "s3":
        extra["storage_url"] = request.getfixturevalue("s3_bucket").url
    return make_settings(data_dir, database_url, master_key_file=master_key, **extra)


@pytest.fixture
def snapshot(
    request: pytest.FixtureRequest, backend: str, data_dir: Path, tmp_path: Path
) -> Snapshot:
    """Takes a copy of the storage as it is (a backup of the directory, or of the bucket into
    another bucket), and opens it as a bare backend."""

    async def take() -> BlobStore:
        if backend == "local":
            copy = tmp_path / "blobs-copy"
            shutil.copytree(data_dir / "blobs", copy)
            return LocalBlobStore(copy)
        bucket: S3Bucket = request.getfixturevalue("s3_bucket")
        name = f"{bucket.name}-copy"
        bucket.client.create_bucket(Bucket=name)
        for key in bucket.keys():  # noqa: SIM118 - a bucket's listing, not a dict
            bucket.client.copy_object(
                Bucket=name, Key=key, CopySource={"Bucket": bucket.name, "Key": key}
            )
        return S3BlobStore.from_url(
            f"s3://{name}/{PREFIX}?endpoint_url={bucket.endpoint}&region={REGION}"
        )

    return take


def reader_of(copy: BlobStore, runtime: Runtime, master_key: Path) -> EncryptedBlobStore:
    """The copy read as the service would, with the database's keys as they are now."""
    return EncryptedBlobStore(
        copy, Keyring(FileKeyProvider.from_file(master_key), runtime.sessions)
    )


async def key_rows(runtime: Runtime, addresses: list[str]) -> int:
    async with runtime.sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(BlobKey).where(BlobKey.address.in_(addresses))
            )
            or 0
        )


async def assert_shredded(
    copy: BlobStore, runtime: Runtime, master_key: Path, gone: list[str], kept: dict[str, bytes]
) -> None:
    """In the copy taken before, read as the service would with the database's keys as they
    are now: each blob of ``gone`` is still there but opens no more (its data key is deleted),
    each of ``kept`` still reads as it was."""
    reader = reader_of(copy, runtime, master_key)  # nothing cached from before
    assert gone and await key_rows(runtime, gone) == 0
    for key in gone:
        assert await copy.exists(key)  # the ciphertext is in the copy ...
        with pytest.raises(StoredFileUnavailable):  # ... and opens no more
            await read_blob(reader, key)
    assert await key_rows(runtime, list(kept)) == len(kept)
    for key, data in kept.items():
        assert await read_blob(reader, key) == data


async def attachment_blob(runtime: Runtime, message_id: str) -> str:
    async with runtime.sessions() as session:
        key = await session.scalar(
            select(Attachment.storage_key).where(Attachment.message_id == message_id)
        )
    assert key is not None
    return key


async def test_recipient_erasure_shreds_their_files_in_a_copy_taken_before(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    snapshot: Snapshot,
    master_key: Path,
) -> None:
    alone = await letter(client, auth, pdf("jane alone"))  # to jane0 only
    await accept(client, runtime, alone["deliveries"][0]["id"])
    shared = await letter(client, auth, pdf("shared"), recipients=2)  # jane0 and jane1
    for delivery in shared["deliveries"]:
        await accept(client, runtime, delivery["id"])
    other = await letter(client, auth, pdf("jane1 alone"), first=1)  # jane1 only
    await accept(client, runtime, other["deliveries"][0]["id"])
    kept = {
        await attachment_blob(runtime, shared["id"]): pdf("shared"),
        await attachment_blob(runtime, other["id"]): pdf("jane1 alone"),
    }
    copy = await snapshot()  # a backup of the storage, taken before the erasure
    try:
        reader = reader_of(copy, runtime, master_key)
        erased_blob = await attachment_blob(runtime, alone["id"])
        assert await read_blob(reader, erased_blob) == pdf("jane alone")

        response = await client.post(
            "/v1/erasures", json={"email": "jane0@example.test"}, headers=auth
        )
        assert response.status_code == 200, response.text
        assert response.json()["files_purged"] == 1
        async with runtime.sessions() as session:
            erasure = await session.get(Evidence, response.json()["evidence_id"])
            org_keys = await session.scalar(select(func.count()).select_from(StorageKey))
        assert erasure is not None
        erased = [str(item["blob"]) for item in erasure.details["files"]]
        assert erased == [erased_blob]
        assert org_keys == 1  # the organisation's key is still there

        await assert_shredded(copy, runtime, master_key, erased, kept)
        for key in erased:
            assert not await runtime.storage.exists(key)
        for key, data in kept.items():
            assert await read_blob(runtime.storage, key) == data
        assert (await check_chains(runtime)).ok
    finally:
        await copy.close()


async def test_retention_purge_of_a_message_shreds_its_files_in_a_copy(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    snapshot: Snapshot,
    master_key: Path,
) -> None:
    await client.patch("/v1/organization", json={"content_retention_days": 30}, headers=auth)
    old = await letter(client, auth, pdf("old letter"))
    await accept(client, runtime, old["deliveries"][0]["id"])
    young = await letter(client, auth, pdf("young letter"), first=1)
    await accept(client, runtime, young["deliveries"][0]["id"])
    old_blob = await attachment_blob(runtime, old["id"])
    young_blob = await attachment_blob(runtime, young["id"])
    copy = await snapshot()
    try:
        await age(runtime, old["id"], 31)
        await run_retention_timer(runtime)
        gone = (await client.get(f"/v1/messages/{old['id']}", headers=auth)).json()
        assert gone["content_purged_at"] is not None

        await assert_shredded(
            copy, runtime, master_key, [old_blob], {young_blob: pdf("young letter")}
        )
    finally:
        await copy.close()


async def test_retention_purge_of_an_envelope_shreds_its_files_in_a_copy(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    snapshot: Snapshot,
    master_key: Path,
) -> None:
    from tests.retention.test_envelope_retention import age_envelope, blob_keys, completed

    await client.patch("/v1/organization", json={"content_retention_days": 30}, headers=auth)
    old, _, _ = await completed(client, runtime, auth)
    young, _, _ = await completed(client, runtime, auth)
    old_blobs = await blob_keys(runtime, old["id"])
    young_blobs = await blob_keys(runtime, young["id"])
    copy = await snapshot()
    try:
        young_files = {key: await read_blob(runtime.storage, key) for key in young_blobs}
        await age_envelope(runtime, old["id"], 31)
        await run_retention_timer(runtime)
        after = (await client.get(f"/v1/envelopes/{old['id']}", headers=auth)).json()
        assert after["content_purged_at"] is not None

        assert len(old_blobs) == 3  # the document, as uploaded and signed, and the certificate
        await assert_shredded(copy, runtime, master_key, old_blobs, young_files)
    finally:
        await copy.close()


async def test_expiry_of_proofs_shreds_their_pdfs_in_a_copy(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    snapshot: Snapshot,
    master_key: Path,
) -> None:
    await client.patch("/v1/organization", json={"proof_retention_days": 60}, headers=auth)
    old = await letter(client, auth, pdf("old"))
    young = await letter(client, auth, pdf("young"), first=1)
    pdfs: dict[str, str] = {}
    for sent in (old, young):
        delivery = sent["deliveries"][0]["id"]
        await accept(client, runtime, delivery)
        await seal_pending(runtime)
        async with runtime.sessions() as session:
            accepted = await session.scalar(
                select(Evidence.id).where(
                    Evidence.delivery_id == delivery, Evidence.type == "ACCEPTED"
                )
            )
        rendered = await client.get(f"/v1/evidence/{accepted}/pdf", headers=auth)
        assert rendered.status_code == 200, rendered.text
        async with runtime.sessions() as session:
            row = await session.get(Evidence, accepted)
        assert row is not None and row.pdf_key
        pdfs[sent["id"]] = row.pdf_key
    young_pdf = await read_blob(runtime.storage, pdfs[young["id"]])
    copy = await snapshot()
    try:
        await age(runtime, old["id"], 61)
        await run_retention_timer(runtime)
        message = (await client.get(f"/v1/messages/{old['id']}", headers=auth)).json()
        assert message["proofs_expired_at"] is not None

        await assert_shredded(
            copy, runtime, master_key, [pdfs[old["id"]]], {pdfs[young["id"]]: young_pdf}
        )
    finally:
        await copy.close()
