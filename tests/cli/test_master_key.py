"""Encryption at rest on by default: a first start without TABELLION_MASTER_KEY_FILE makes a
master key in the data dir (0600), every later process uses it, and the start notices say to
keep it out of the data dir's backups."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from tabellion.cli.main import bootstrap, start_notices
from tabellion.document.encryption import EncryptedBlobStore, put_for
from tabellion.runtime import Runtime
from tests.conftest import make_settings


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_first_start_makes_a_master_key(data_dir: Path, database_url: str) -> None:
    settings = make_settings(data_dir, database_url)
    # The test database is migrated already but holds no organisation: a first start.
    assert await bootstrap(settings) is not None
    key = data_dir / "master.key"
    assert key.exists() and key.stat().st_mode & 0o777 == 0o600
    assert settings.resolved_master_key_file == key
    made = key.read_bytes()
    assert await bootstrap(settings) is None  # a later start keeps it
    assert key.read_bytes() == made
    notices = " ".join(start_notices(settings))
    assert f"Move {key} out of the data dir's backups" in notices

    runtime = Runtime.build(settings, pool_size=1)
    try:
        assert isinstance(runtime.storage, EncryptedBlobStore)
        blob = await put_for(runtime.storage, _one(b"secret words"), organization_id=None)
        stored = next(p for p in (data_dir / "blobs").rglob("*") if p.name == blob.key)
        assert b"secret words" not in stored.read_bytes()
        assert b"".join([c async for c in runtime.storage.open(blob.key)]) == b"secret words"
    finally:
        await runtime.close()


async def test_no_key_made_when_one_is_configured(
    data_dir: Path, database_url: str, tmp_path: Path
) -> None:
    from tabellion.document.encryption import generate_key_file

    own = tmp_path / "elsewhere.key"
    generate_key_file(own)
    settings = make_settings(data_dir, database_url, master_key_file=own)
    assert await bootstrap(settings) is not None
    assert not (data_dir / "master.key").exists()
    assert settings.resolved_master_key_file == own
    assert "master key" not in " ".join(start_notices(settings)).lower()


def test_without_any_key_the_notice_says_so(data_dir: Path, database_url: str) -> None:
    settings = make_settings(data_dir, database_url)
    assert settings.resolved_master_key_file is None
    assert "Stored files are not encrypted" in " ".join(start_notices(settings))


async def test_encryption_can_be_turned_off_where_the_disk_encrypts(
    data_dir: Path, database_url: str
) -> None:
    """TABELLION_STORAGE_ENCRYPTION=false: no key is made and files are stored plain (for a
    disk or bucket that encrypts, where deduplication matters more); a key file named
    explicitly still encrypts."""
    settings = make_settings(data_dir, database_url, storage_encryption=False)
    assert await bootstrap(settings) is not None
    assert not (data_dir / "master.key").exists()
    assert settings.resolved_master_key_file is None
    assert "Stored files are not encrypted" in " ".join(start_notices(settings))
    runtime = Runtime.build(settings, pool_size=1)
    try:
        assert not isinstance(runtime.storage, EncryptedBlobStore)
        blob = await put_for(runtime.storage, _one(b"plain words"), organization_id=None)
        stored = next(p for p in (data_dir / "blobs").rglob("*") if p.name == blob.key)
        assert stored.read_bytes() == b"plain words"
    finally:
        await runtime.close()
    named = data_dir / "elsewhere.key"
    named.write_bytes(bytes(range(32)))
    explicit = make_settings(
        data_dir, database_url, storage_encryption=False, master_key_file=named
    )
    assert explicit.resolved_master_key_file == named
