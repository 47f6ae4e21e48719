"""``tabellion keys rotate`` and ``tabellion storage encrypt|check`` from the command line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tabellion.cli.storage import storage_app
from tabellion.cli.storage_keys import keys_app
from tabellion.document.encryption import EncryptedBlobStore
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.fixtures.factories import create_org_with_key

runner = CliRunner()
DATA = b"Confidential contract, clause 7: the price is 1 234 567 EUR.\n" * 3000


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
def env(data_dir: Path, database_url: str, master_key: Path) -> dict[str, str]:
    return {
        "TABELLION_DATA_DIR": str(data_dir),
        "TABELLION_DATABASE_URL": database_url,
        "TABELLION_ENV": "development",
        "TABELLION_MASTER_KEY_FILE": str(master_key),
    }


def test_rotate_org_and_master_then_still_readable(
    env: dict[str, str], data_dir: Path, database_url: str, master_key: Path, tmp_path: Path
) -> None:
    async def seed() -> tuple[str, str]:
        runtime = Runtime.build(make_settings(data_dir, database_url, master_key_file=master_key))
        try:
            org, _ = await create_org_with_key(runtime)
            assert isinstance(runtime.storage, EncryptedBlobStore)
            blob = await runtime.storage.put_stream(one(DATA), organization_id=org)
            return org, blob.key
        finally:
            await runtime.close()

    org, key = asyncio.run(seed())
    rotated = runner.invoke(keys_app, ["rotate", "--org", org], env=env)
    assert rotated.exit_code == 0, rotated.output
    # The data key of the file (layout 2) is wrapped by the new version: no file rewritten.
    assert "new key version 2 (1 data keys re-wrapped)" in rotated.output
    unknown = runner.invoke(keys_app, ["rotate", "--org", "org_nope"], env=env)
    assert unknown.exit_code == 1 and "no organisation org_nope" in unknown.output
    neither = runner.invoke(keys_app, ["rotate"], env=env)
    assert neither.exit_code == 2

    new_key = tmp_path / "master-2.key"
    master = runner.invoke(
        keys_app, ["rotate", "--master", "--new-key-file", str(new_key)], env=env
    )
    assert master.exit_code == 0, master.output
    assert "2 keys re-wrapped" in master.output and new_key.exists()

    async def read(master_file: Path) -> bytes:
        settings = make_settings(data_dir, database_url, master_key_file=master_file)
        runtime = Runtime.build(settings)
        try:
            return b"".join([chunk async for chunk in runtime.storage.open(key)])
        finally:
            await runtime.close()

    assert asyncio.run(read(new_key)) == DATA
    env["TABELLION_MASTER_KEY_FILE"] = str(new_key)
    assert runner.invoke(storage_app, ["check"], env=env).exit_code == 0
    encrypted = runner.invoke(storage_app, ["encrypt"], env=env)
    assert encrypted.exit_code == 0, encrypted.output
    assert "0 stored files encrypted" in encrypted.output


def test_encrypt_needs_a_master_key(env: dict[str, str]) -> None:
    del env["TABELLION_MASTER_KEY_FILE"]
    result = runner.invoke(storage_app, ["encrypt"], env=env)
    assert result.exit_code == 2
    assert "TABELLION_MASTER_KEY_FILE" in result.output
    assert runner.invoke(keys_app, ["rotate", "--all"], env=env).exit_code == 2
