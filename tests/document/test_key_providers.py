"""The master key in a PKCS#11 token (SoftHSM 2) or in KMS (moto's server): blobs written and
read back, organisation keys stored wrapped only, the master key moved file → PKCS#11 → KMS →
file without a blob rewritten, and every failure of the token or KMS answered 503
``storage-key-unavailable`` (docs/data.md, Keys)."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from tabellion.cli.main import bootstrap, start_notices
from tabellion.cli.storage import storage_app
from tabellion.cli.storage_keys import keys_app
from tabellion.config import ConfigError, Settings
from tabellion.document.encryption import (
    EncryptedBlobStore,
    KeyUnavailable,
    MasterKeyUnavailable,
    put_for,
)
from tabellion.document.key_providers import Pkcs11KeyProvider
from tabellion.models.encryption import StorageKey
from tabellion.models.message import Attachment
from tabellion.models.organization import Organization
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.fixtures.factories import create_org_with_key, message_body
from tests.fixtures.s3 import REGION
from tests.fixtures.server import free_port
from tests.fixtures.softhsm import MODULE, SoftToken, softhsm  # noqa: F401

pytestmark = pytest.mark.requires_tools("softhsm2-util")

runner = CliRunner()
HSM_KEYS = ("master-1", "master-2")


def document(size: int, seed: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}/{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture(scope="module")
def token(softhsm: SoftToken) -> SoftToken:  # noqa: F811
    """The token with two non-extractable AES-256 keys, and an extractable one (refused)."""
    from pkcs11 import Attribute, KeyType

    with softhsm.session() as session:
        for n, label in enumerate(HSM_KEYS, start=1):
            session.generate_key(
                KeyType.AES,
                256,
                label=label,
                id=bytes([n]),
                store=True,
                template={Attribute.EXTRACTABLE: False, Attribute.SENSITIVE: True},
            )
        session.generate_key(
            KeyType.AES, 256, label="loose", store=True, template={Attribute.EXTRACTABLE: True}
        )
    return softhsm


class Kms:
    def __init__(self, endpoint: str, client: Any) -> None:
        self.endpoint, self.client = endpoint, client
        self.alias = f"alias/tabellion-{uuid.uuid4().hex[:8]}"
        key_id = client.create_key(Description="tabellion master key")["KeyMetadata"]["KeyId"]
        client.create_alias(AliasName=self.alias, TargetKeyId=key_id)


@pytest.fixture
def kms(s3_endpoint: str, boto_session: boto3.session.Session) -> Iterator[Kms]:
    client = boto_session.client("kms", endpoint_url=s3_endpoint, region_name=REGION)
    try:
        yield Kms(s3_endpoint, client)
    finally:
        client.close()


def pkcs11_settings(
    token: SoftToken, key: str = "master-1", pin: str | None = None
) -> dict[str, Any]:
    return {
        "master_key_pkcs11_module": MODULE,
        "master_key_pkcs11_token": token.label,
        "master_key_pkcs11_key": key,
        "master_key_pkcs11_pin": pin or token.pin,
    }


def kms_settings(kms: Kms, key: str | None = None, endpoint: str | None = None) -> dict[str, Any]:
    return {
        "master_key_kms_key_id": key or kms.alias,
        "master_key_kms_endpoint_url": endpoint or kms.endpoint,
        "master_key_kms_region": REGION,
    }


def in_module(token: SoftToken) -> list[str]:
    return ["--pkcs11-module", str(MODULE), "--pkcs11-token", token.label]


def env_of(overrides: dict[str, Any]) -> dict[str, str]:
    return {f"TABELLION_{name.upper()}": str(value) for name, value in overrides.items()}


@pytest.fixture(params=["pkcs11", "kms"])
def settings(
    request: pytest.FixtureRequest, data_dir: Path, database_url: str, token: SoftToken, kms: Kms
) -> Settings:
    source = pkcs11_settings(token) if request.param == "pkcs11" else kms_settings(kms)
    return make_settings(data_dir, database_url, **source)


@asynccontextmanager
async def api(settings: Settings) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    from tabellion.app import create_app

    runtime = Runtime.build(settings, pool_size=2)
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://tabellion.test") as c:
            yield runtime, c
    finally:
        await runtime.close()


async def read(runtime: Runtime, key: str) -> bytes:
    return b"".join([chunk async for chunk in runtime.storage.open(key)])


def blob_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in (data_dir / "blobs").rglob("*") if p.is_file())


# ---- each provider -----------------------------------------------------------------------


async def test_blobs_written_through_the_api_are_read_back_under_the_providers_key(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, data_dir: Path
) -> None:
    store = runtime.storage
    assert isinstance(store, EncryptedBlobStore)
    created = await client.post("/v1/messages", json=message_body(mode="simple"), headers=auth)
    data = b"%PDF-1.7\n" + document(200_000, seed=1)
    raw = await client.post(
        f"/v1/messages/{created.json()['id']}/attachments?filename=contract.pdf",
        content=data,
        headers={**auth, "Content-Type": "application/octet-stream"},
    )
    assert raw.status_code == 201, raw.text
    async with runtime.sessions() as session:
        attachment = (await session.scalars(select(Attachment))).one()
        rows = (await session.scalars(select(StorageKey))).all()
    for path in blob_files(data_dir):
        assert data[1000:1032] not in path.read_bytes()
    store.keyring.forget()  # unwrapped again by the token or KMS, as another process would
    assert await read(runtime, attachment.storage_key) == data
    kind = runtime.settings.master_key_source
    assert [row.organization_id for row in rows] == [attachment.organization_id]
    for row in rows:
        key = await store.keyring.by_id(row.id)
        assert row.master_key_id == store.keyring.provider.key_id
        assert row.master_key_id.startswith("p11-" if kind == "pkcs11" else "kms-")
        assert key not in row.wrapped_key and len(row.wrapped_key) > len(key)
        if kind == "pkcs11":  # iv, ciphertext, tag: sealed by the token
            assert len(row.wrapped_key) == 12 + 32 + 16


async def test_the_pkcs11_key_id_names_the_token_key_and_its_id(token: SoftToken) -> None:
    first = Pkcs11KeyProvider(str(MODULE), token.label, "master-1", token.pin)
    again = Pkcs11KeyProvider(str(MODULE), token.label, "master-1", token.pin)
    other = Pkcs11KeyProvider(str(MODULE), token.label, "master-2", token.pin)
    assert first.key_id == again.key_id != other.key_id
    wrapped = first.wrap(bytes(range(32)))
    assert again.unwrap(wrapped) == bytes(range(32))
    with pytest.raises(MasterKeyUnavailable):  # another key of the token does not open it
        other.unwrap(wrapped)
    loose = Pkcs11KeyProvider(str(MODULE), token.label, "loose", token.pin)
    with pytest.raises(MasterKeyUnavailable, match="non-extractable"):
        loose.wrap(bytes(32))


# ---- rotation ------------------------------------------------------------------------------


def test_the_master_key_moves_file_to_pkcs11_to_kms_to_file_without_rewriting_a_blob(
    data_dir: Path,
    database_url: str,
    master_key: Path,
    tmp_path: Path,
    token: SoftToken,
    kms: Kms,
) -> None:
    base = {
        "TABELLION_DATA_DIR": str(data_dir),
        "TABELLION_DATABASE_URL": database_url,
        "TABELLION_ENV": "development",
    }
    files = {"master_key_file": master_key}
    datas = [document(70_000 + n, seed=n) for n in range(3)]

    async def seed() -> tuple[list[str], dict[str, bytes]]:
        runtime = Runtime.build(make_settings(data_dir, database_url, **files))
        try:
            assert isinstance(runtime.storage, EncryptedBlobStore)
            a, _ = await create_org_with_key(runtime, "A")
            b, _ = await create_org_with_key(runtime, "B")
            owners: list[str | None] = [a, b, None]
            blobs = [
                (await put_for(runtime.storage, one(d), organization_id=o)).key
                for d, o in zip(datas, owners, strict=True)
            ]
            async with runtime.sessions() as session:
                rows = (await session.scalars(select(StorageKey))).all()
            keys = {row.id: await runtime.storage.keyring.by_id(row.id) for row in rows}
            return blobs, keys
        finally:
            await runtime.close()

    async def check(source: dict[str, Any], prefix: str) -> None:
        runtime = Runtime.build(make_settings(data_dir, database_url, **source))
        try:
            assert [await read(runtime, key) for key in blobs] == datas
            async with runtime.sessions() as session:
                rows = (await session.scalars(select(StorageKey))).all()
            assert {row.id for row in rows} == set(org_keys)
            for row in rows:
                assert row.master_key_id.startswith(prefix), row.master_key_id
                assert org_keys[row.id] not in row.wrapped_key
        finally:
            await runtime.close()

    async def refused(source: dict[str, Any]) -> None:
        runtime = Runtime.build(make_settings(data_dir, database_url, **source))
        try:
            with pytest.raises(KeyUnavailable):
                await read(runtime, blobs[0])
        finally:
            await runtime.close()

    blobs, org_keys = asyncio.run(seed())
    assert len(org_keys) == 3  # two organisations and the instance key
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in blob_files(data_dir)}

    to_pkcs11 = runner.invoke(
        keys_app,
        ["rotate", "--master", "--to-pkcs11-key", "master-2", *in_module(token)],
        env={**base, **env_of(files), "TABELLION_NEW_MASTER_KEY_PKCS11_PIN": token.pin},
    )
    assert to_pkcs11.exit_code == 0, to_pkcs11.output
    assert "3 keys re-wrapped" in to_pkcs11.output
    assert "TABELLION_MASTER_KEY_PKCS11_KEY=master-2" in to_pkcs11.output
    in_token = pkcs11_settings(token, key="master-2")
    asyncio.run(check(in_token, "p11-"))
    asyncio.run(refused(files))  # the old key file opens nothing any more

    in_kms = kms_settings(kms)
    to_kms = runner.invoke(
        keys_app,
        [
            "rotate",
            "--master",
            "--to-kms-key",
            kms.alias,
            "--kms-endpoint-url",
            kms.endpoint,
            "--kms-region",
            REGION,
        ],
        env={**base, **env_of(in_token)},
    )
    assert to_kms.exit_code == 0, to_kms.output
    assert f"TABELLION_MASTER_KEY_KMS_KEY_ID={kms.alias}" in to_kms.output
    asyncio.run(check(in_kms, "kms-"))
    asyncio.run(refused(in_token))

    new_file = tmp_path / "master-3.key"
    back = runner.invoke(
        keys_app,
        ["rotate", "--master", "--new-key-file", str(new_file)],
        env={**base, **env_of(in_kms)},
    )
    assert back.exit_code == 0, back.output
    assert new_file.exists() and new_file.stat().st_mode & 0o777 == 0o600
    asyncio.run(check({"master_key_file": new_file}, ""))
    asyncio.run(refused(in_kms))

    # No blob was rewritten by the three moves: same bytes, same modification times.
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in blob_files(data_dir)} == before


def test_rotate_refuses_a_new_key_it_cannot_use(
    data_dir: Path, database_url: str, master_key: Path, token: SoftToken
) -> None:
    env = {
        "TABELLION_DATA_DIR": str(data_dir),
        "TABELLION_DATABASE_URL": database_url,
        "TABELLION_ENV": "development",
        "TABELLION_MASTER_KEY_FILE": str(master_key),
    }
    missing = runner.invoke(
        keys_app,
        [
            "rotate",
            "--master",
            "--to-pkcs11-key",
            "nope",
            "--pkcs11-pin",
            token.pin,
            *in_module(token),
        ],
        env=env,
    )
    assert missing.exit_code == 1
    assert "cannot be used" in missing.output and "Nothing was changed" in missing.output
    two = runner.invoke(
        keys_app, ["rotate", "--master", "--to-kms-key", "k", "--new-key-file", "f"], env=env
    )
    assert two.exit_code == 2 and "needs one of" in two.output
    half = runner.invoke(keys_app, ["rotate", "--master", "--to-pkcs11-key", "x"], env=env)
    assert half.exit_code == 2 and "--pkcs11-module" in half.output


# ---- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["missing token key", "unknown kms key", "kms down"])
async def test_an_unusable_master_key_answers_503_and_stores_nothing(
    failure: str, data_dir: Path, database_url: str, token: SoftToken, kms: Kms
) -> None:
    source = {
        "missing token key": pkcs11_settings(token, key="no-such-key"),
        "unknown kms key": kms_settings(kms, key="alias/no-such-key"),
        "kms down": kms_settings(kms, endpoint=f"http://127.0.0.1:{free_port()}"),
    }[failure]
    async with api(make_settings(data_dir, database_url, **source)) as (runtime, client):
        _, secret = await create_org_with_key(runtime)
        auth = {"Authorization": f"Bearer {secret}"}
        created = await client.post("/v1/messages", json=message_body(mode="simple"), headers=auth)
        upload = await client.post(
            f"/v1/messages/{created.json()['id']}/attachments?filename=a.pdf",
            content=b"%PDF-1.7 secret words",
            headers={**auth, "Content-Type": "application/octet-stream"},
        )
        assert upload.status_code == 503, upload.text
        assert upload.json()["code"] == "storage-key-unavailable"
        assert upload.headers["retry-after"] == "30"
        assert "secret words" not in upload.text
        async with runtime.sessions() as session:
            assert (await session.scalars(select(StorageKey))).all() == []
            assert (await session.scalars(select(Attachment))).all() == []
    assert blob_files(data_dir) == []


def test_blobs_written_are_refused_not_served_while_kms_is_down(
    data_dir: Path, database_url: str, kms: Kms
) -> None:
    async def write() -> str:
        up = Runtime.build(make_settings(data_dir, database_url, **kms_settings(kms)))
        try:
            org, _ = await create_org_with_key(up)
            blob = await put_for(up.storage, one(b"secret words"), organization_id=org)
            async with up.sessions() as session, session.begin():  # referenced: checked
                await session.execute(
                    update(Organization).where(Organization.id == org).values(logo_key=blob.key)
                )
            return blob.key
        finally:
            await up.close()

    async def read_while_down() -> None:
        runtime = Runtime.build(make_settings(data_dir, database_url, **down))
        try:
            with pytest.raises(MasterKeyUnavailable) as refused:
                await read(runtime, key)
            assert refused.value.status == 503
            assert refused.value.code == "storage-key-unavailable"
        finally:
            await runtime.close()

    key = asyncio.run(write())
    down = kms_settings(kms, endpoint=f"http://127.0.0.1:{free_port()}")
    asyncio.run(read_while_down())
    # `tabellion storage check` stops and says why, rather than call every file damaged.
    env = {"TABELLION_DATA_DIR": str(data_dir), "TABELLION_DATABASE_URL": database_url}
    checked = runner.invoke(storage_app, ["check"], env={**env, **env_of(down)})
    assert checked.exit_code == 1
    assert "cannot be used" in checked.output and "damaged" not in checked.output


def test_a_wrong_pin_answers_storage_key_unavailable_and_is_not_tried_again(
    token: SoftToken,
) -> None:
    # In a process of its own: PKCS#11 logs a whole process in at once, and this one is.
    script = (
        "from tabellion.document.key_providers import Pkcs11KeyProvider\n"
        "from tabellion.document.encryption import MasterKeyUnavailable\n"
        f"p = Pkcs11KeyProvider({str(MODULE)!r}, {token.label!r}, 'master-1', '000000')\n"
        "for _ in range(2):\n"
        "    try:\n"
        "        p.unwrap(bytes(60))\n"
        "    except MasterKeyUnavailable as exc:\n"
        "        print(exc.status, exc.code, exc.detail)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout + done.stderr
    for line in lines:
        assert line.startswith("503 storage-key-unavailable "), line
        assert "PinIncorrect" in line and "not tried again" in line


# ---- configuration -------------------------------------------------------------------------


def test_two_master_key_sources_are_refused_at_start(
    data_dir: Path, database_url: str, master_key: Path, token: SoftToken, kms: Kms
) -> None:
    file = {"master_key_file": master_key}
    for pair in (
        {**file, **kms_settings(kms)},
        {**file, **pkcs11_settings(token)},
        {**pkcs11_settings(token), **kms_settings(kms)},
    ):
        with pytest.raises(ConfigError, match="one master key source only"):
            Runtime.build(make_settings(data_dir, database_url, **pair))
        started = runner.invoke(
            storage_app,
            ["check"],
            env={
                "TABELLION_DATA_DIR": str(data_dir),
                "TABELLION_DATABASE_URL": database_url,
                **env_of(pair),
            },
        )
        assert started.exit_code == 2 and "one master key source only" in started.output
    half = {"master_key_pkcs11_module": MODULE, "master_key_pkcs11_key": "master-1"}
    with pytest.raises(ConfigError, match="TABELLION_MASTER_KEY_PKCS11_TOKEN"):
        make_settings(data_dir, database_url, **half).check()


async def test_no_master_key_file_is_made_when_the_key_is_in_kms(
    data_dir: Path, database_url: str, kms: Kms
) -> None:
    settings = make_settings(data_dir, database_url, **kms_settings(kms))
    assert await bootstrap(settings) is not None
    assert not (data_dir / "master.key").exists()
    assert settings.resolved_master_key_file is None and settings.master_key_source == "kms"
    notices = " ".join(start_notices(settings))
    assert "not encrypted" not in notices and "master.key" not in notices
    # A key file left in the data dir from before the move is not used, and said so.
    (data_dir / "master.key").write_bytes(bytes(32))
    assert settings.master_key_source == "kms"
    assert f"{data_dir / 'master.key'} is not used" in " ".join(start_notices(settings))
