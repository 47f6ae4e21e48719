"""``tabellion backup`` and ``tabellion restore``, end to end: letters dispatched and proofs
sealed, a backup taken, a fresh installation (new data dir, new database, new storage) restored
from it, and then the chains check clean, every stored file is there and the proofs verify
against the restored root.

The commands run as an operator runs them, in their own process with the environment as
settings. On PostgreSQL the restore goes into a database this test creates and drops; the
shared test database is only read.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tabellion.migrations import sync_url
from tabellion.runtime import Runtime
from tests.conftest import TEST_DATABASE_URL, count_rows
from tests.evidence.helpers import received_delivery, run_jobs
from tests.fixtures.encryption import master_key  # noqa: F401 (fixture)
from tests.fixtures.s3 import (  # noqa: F401 (fixtures)
    S3Bucket,
    boto_session,
    s3_bucket,
    s3_client,
    s3_endpoint,
)
from tests.portal.helpers import dispatch, status_of

SECRET = "test-secret-key-that-is-long-enough-0123456789"


def tabellion(env: dict[str, str], *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "tabellion", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, " ".join((done.stdout + done.stderr).split())


def installation(data_dir: Path, database_url: str | None, storage_url: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABELLION_")}
    env.update(
        TABELLION_ENV="test",
        TABELLION_DATA_DIR=str(data_dir),
        TABELLION_SECRET_KEY=SECRET,
        TABELLION_PUBLIC_URL="http://tabellion.test",
        TABELLION_LOG_LEVEL="warning",
        COLUMNS="200",
    )
    if database_url:
        env["TABELLION_DATABASE_URL"] = database_url
    if storage_url:
        env["TABELLION_STORAGE_URL"] = storage_url
    return env


@pytest.fixture
def fresh_database_url(tmp_path: Path) -> Iterator[str | None]:
    """An empty database for the restore: on PostgreSQL one made for this test (never the
    shared one); on SQLite none named, so the restored data dir's default file is used."""
    if not TEST_DATABASE_URL:
        yield None
        return
    name = f"{make_url(TEST_DATABASE_URL).database}_restore_{uuid.uuid4().hex[:8]}"
    admin = create_engine(sync_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


async def _letters(client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime) -> list:
    """Two opened simple letters and a registered one notified by the worker, all sealed."""
    deliveries = [await received_delivery(client, auth, runtime) for _ in range(2)]
    deliveries.append(await dispatch(client, auth, mode="registered"))
    await run_jobs(runtime)
    return [await status_of(client, auth, d["id"]) for d in deliveries]


async def test_backup_wipe_restore_and_the_proofs_still_verify(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    database_url: str,
    data_dir: Path,
    tmp_path: Path,
    fresh_database_url: str | None,
    s3_bucket: S3Bucket,  # noqa: F811
) -> None:
    deliveries = await _letters(client, auth, runtime)
    assert [d["status"] for d in deliveries] == ["received", "received", "notified"]
    proofs = tmp_path / "proofs"
    proofs.mkdir()
    # A JSON proof and a PDF proof (each verification is a process of its own: two suffice).
    for ref, suffix, path in (
        (deliveries[0]["evidence"][-1], ".json", ""),
        (deliveries[2]["evidence"][0], ".pdf", "/pdf"),
    ):
        body = (await client.get(f"/v1/evidence/{ref['id']}{path}", headers=auth)).content
        (proofs / f"{ref['id']}{suffix}").write_bytes(body)
    evidence_rows = await count_rows(runtime, "evidence")
    assert evidence_rows == 8  # SENT NOTIFIED RECEIVED twice, SENT NOTIFIED
    original_root = (data_dir / "seal" / "root-ca.pem").read_bytes()

    source = installation(data_dir, database_url, None)
    backup = tmp_path / "backup"
    code, output = tabellion(source, "backup", str(backup))
    assert code == 0, output
    assert "key files" in output
    assert stat.S_IMODE(backup.stat().st_mode) == 0o700
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["database"]["kind"] == ("postgresql" if TEST_DATABASE_URL else "sqlite")
    stored = [p for p in (data_dir / "blobs").glob("*/*/*") if len(p.name) == 64]
    assert manifest["blobs"]["count"] == len(stored) >= 1  # the attachment (same bytes thrice)
    restored_to = {f["restore_to"] for f in manifest["files"]}
    assert {"data:seal/seal.key", "data:seal/root-ca.pem", "env"} <= restored_to
    assert (backup / "keys" / "TABELLION_SECRET_KEY").read_text() == SECRET
    # A second backup into the same, no longer empty, folder is refused.
    code, output = tabellion(source, "backup", str(backup))
    assert code == 1 and "not an empty folder" in output

    # The wipe: a new data dir, a new database, and the files in an S3 bucket this time.
    target_dir = tmp_path / "restored"
    target = installation(target_dir, fresh_database_url, s3_bucket.url)
    code, output = tabellion(target, "restore", str(backup))
    assert code == 0, output
    assert "Restored the backup" in output
    assert (target_dir / "seal" / "root-ca.pem").read_bytes() == original_root
    assert stat.S_IMODE((target_dir / "seal" / "seal.key").stat().st_mode) == 0o600
    assert len(s3_bucket.keys("blobs/")) == manifest["blobs"]["count"]

    code, output = tabellion(target, "evidence", "check")
    assert code == 0, output
    assert f"ok: {evidence_rows} proofs in 1 chains" in output
    code, output = tabellion(target, "storage", "check")
    assert code == 0, output
    root = str(target_dir / "seal" / "root-ca.pem")
    for proof in sorted(proofs.iterdir()):
        code, output = tabellion(target, "verify", str(proof), "--trust", root)
        assert code == 0, (proof.name, output)
        assert "AUTHENTIC" in output and "NOT AUTHENTIC" not in output

    # Restoring over a database that holds data is refused before anything is written.
    code, output = tabellion(target, "restore", str(backup))
    assert code == 1 and "not empty" in output
    # The restored installation backs up in turn, from S3 this time: the same files.
    code, output = tabellion(target, "backup", str(tmp_path / "again"))
    assert code == 0, output
    again = json.loads((tmp_path / "again" / "manifest.json").read_text())
    assert again["blobs"] == manifest["blobs"]


def test_a_damaged_or_unfinished_backup_is_refused(tmp_path: Path, data_dir: Path) -> None:
    env = installation(data_dir, None, None)
    code, output = tabellion(env, "db", "upgrade")
    assert code == 0, output
    backup = tmp_path / "backup"
    code, output = tabellion(env, "backup", str(backup))
    assert code == 0, output

    target = installation(tmp_path / "restored", None, None)
    damaged = tmp_path / "damaged"
    shutil.copytree(backup, damaged)
    with (damaged / "database.sqlite").open("r+b") as fh:
        fh.seek(100)
        fh.write(b"\xff")
    code, output = tabellion(target, "restore", str(damaged))
    assert code == 1 and "does not match its SHA-256" in output
    (damaged / "manifest.json").unlink()
    code, output = tabellion(target, "restore", str(damaged))
    assert code == 1 and "not a finished `tabellion backup`" in output
    assert not (tmp_path / "restored" / "tabellion.db").exists()
    assert not (tmp_path / "restored" / "seal").exists()


def test_key_files_named_by_settings_a_changed_secret_and_a_damaged_file(
    tmp_path: Path, data_dir: Path
) -> None:
    import asyncio

    from tabellion.document.local import LocalBlobStore

    async def store_two() -> list[str]:
        store = LocalBlobStore(data_dir / "blobs")

        async def body(data: bytes):  # type: ignore[no-untyped-def]
            yield data

        return [(await store.put_stream(body(b))).key for b in (b"kept", b"damaged")]

    kept, damaged = asyncio.run(store_two())
    (data_dir / "blobs" / damaged[:2] / damaged[2:4] / damaged).write_bytes(b"tampered")
    dkim = tmp_path / "etc" / "dkim.pem"
    dkim.parent.mkdir()
    dkim.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    env = {**installation(data_dir, None, None), "TABELLION_DKIM_KEY_FILE": str(dkim)}
    assert tabellion(env, "db", "upgrade")[0] == 0
    backup = tmp_path / "backup"
    code, output = tabellion(env, "backup", str(backup))
    # Written, but the damaged file is named and left out, and the exit code says so.
    assert code == 1 and f"unreadable stored file: {damaged}" in output
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["damaged_blobs"] == [damaged] and manifest["blobs"]["count"] == 1
    assert (backup / "blobs" / kept[:2] / kept).read_bytes() == b"kept"
    assert (backup / "keys" / "settings" / "dkim_key_file").read_bytes() == dkim.read_bytes()

    # The machine is lost: the key file named by a setting comes back where it was.
    saved = dkim.read_bytes()
    dkim.unlink()
    target = {
        **installation(tmp_path / "restored", None, None),
        "TABELLION_DKIM_KEY_FILE": str(dkim),
        "TABELLION_SECRET_KEY": "another-secret-key-that-is-long-enough-012345",
    }
    code, output = tabellion(target, "restore", str(backup))
    assert code == 0, output
    assert dkim.read_bytes() == saved and stat.S_IMODE(dkim.stat().st_mode) == 0o600
    assert "TABELLION_SECRET_KEY differs from the one backed up" in output
    assert "links and sessions given out before the backup stop working" in output
    code, output = tabellion(target, "storage", "check")
    assert code == 0, output


async def test_blobs_of_layout_2_go_out_and_come_back_under_their_names(
    tmp_path: Path,
    database_url: str,
    data_dir: Path,
    master_key: Path,  # noqa: F811
) -> None:
    """An encrypted blob of layout 2 is addressed by a name, not its hash: the backup copies it
    as it is (its chunks are authenticated when read), the restore stores it under the same
    name; plain blobs are still checked against their hash, and a damaged one left out."""
    from tabellion.cli.backup import _copy_blobs_in, _copy_blobs_out
    from tabellion.document.encryption import EncryptedBlobStore, put_for
    from tabellion.document.local import LocalBlobStore
    from tabellion.document.storage import read_blob
    from tests.conftest import make_settings

    async def body(data: bytes) -> AsyncIterator[bytes]:
        yield data

    runtime = Runtime.build(make_settings(data_dir, database_url, master_key_file=master_key))
    try:
        store = runtime.storage
        assert isinstance(store, EncryptedBlobStore)
        secret = await put_for(store, body(b"%PDF-1.7 secret" * 9000), organization_id=None)
        plain = await store.inner.put_stream(body(b"plain"))
        damaged = await store.inner.put_stream(body(b"damaged"))
        assert isinstance(store.inner, LocalBlobStore)
        store.inner.path_of(damaged.key).write_bytes(b"tampered")

        totals, left_out = await _copy_blobs_out(store.inner, tmp_path / "backup")
        assert totals["count"] == 2 and left_out == [damaged.key]

        restored = LocalBlobStore(tmp_path / "restored")
        await _copy_blobs_in(restored, tmp_path / "backup")
        assert sorted([k async for k in restored.list_keys()]) == sorted([secret.key, plain.key])
        again = EncryptedBlobStore(restored, store.keyring)
        assert await read_blob(again, secret.key) == b"%PDF-1.7 secret" * 9000
        assert await read_blob(again, plain.key) == b"plain"
    finally:
        await runtime.close()
