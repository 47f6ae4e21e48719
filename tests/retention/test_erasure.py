"""Erasure: an organisation's (crypto-shredding: a copy of the storage taken before no longer
decrypts) and a recipient's (their data gone or pseudonymised); proofs stay verifiable."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tabellion.cli.main import app
from tabellion.config import Settings
from tabellion.document.encryption import (
    EncryptedBlobStore,
    FileKeyProvider,
    Keyring,
    KeyUnavailable,
)
from tabellion.document.local import LocalBlobStore
from tabellion.document.storage import StoredFileUnavailable
from tabellion.evidence.proofs import proof_document
from tabellion.evidence.sealing.seal import seal_pending
from tabellion.evidence.transparency.log import dumps
from tabellion.evidence.verification.check import check_chains
from tabellion.models.encryption import BlobKey, StorageKey
from tabellion.models.evidence import Evidence
from tabellion.models.message import Attachment
from tabellion.models.organization import Organization
from tabellion.runtime import Runtime
from tests.cli.test_main import cli_env
from tests.conftest import make_settings
from tests.fixtures.factories import bearer, create_org_with_key
from tests.message.test_endpoints import assert_problem
from tests.portal.helpers import notify
from tests.retention.helpers import accept, letter, pdf

runner = CliRunner()


@pytest.fixture
def settings(data_dir: Path, database_url: str, master_key: Path) -> Settings:
    return make_settings(data_dir, database_url, master_key_file=master_key)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


async def _proofs(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, org: str
) -> dict[str, bytes]:
    await seal_pending(runtime)
    async with runtime.sessions() as session:
        ids = list(
            await session.scalars(select(Evidence.id).where(Evidence.organization_id == org))
        )
    return {i: (await client.get(f"/v1/evidence/{i}", headers=auth)).content for i in ids}


async def test_org_erase_shreds_its_blobs_even_in_an_earlier_copy(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    org_key: tuple[str, str],
    runtime: Runtime,
    settings: Settings,
    data_dir: Path,
    database_url: str,
    master_key: Path,
    tmp_path: Path,
) -> None:
    org_id = org_key[0]
    other_id, other_secret = await create_org_with_key(runtime, name="Other")
    data = pdf("confidential")
    sent = await letter(client, auth, data)
    await accept(client, runtime, sent["deliveries"][0]["id"])
    kept = await letter(client, bearer(other_secret), pdf("other"))
    proofs = await _proofs(client, auth, runtime, org_id)
    pdf_proof = (
        await client.get(f"/v1/evidence/{next(iter(proofs))}/pdf", headers=auth)
    ).content  # a PDF proof, stored encrypted under the organisation's key
    assert pdf_proof.startswith(b"%PDF")

    store = runtime.storage
    assert isinstance(store, EncryptedBlobStore)
    async with runtime.sessions() as session:
        key = await session.scalar(
            select(Attachment.storage_key).where(Attachment.message_id == sent["id"])
        )
        other_key = await session.scalar(
            select(Attachment.storage_key).where(Attachment.message_id == kept["id"])
        )
    assert key is not None and other_key is not None
    blobs = data_dir / "blobs"
    copy = tmp_path / "blobs-copy"
    shutil.copytree(blobs, copy)  # a backup taken before the erasure

    # Before the erasure, the copy decrypts with the database's keys.
    before = EncryptedBlobStore(
        LocalBlobStore(copy), Keyring(FileKeyProvider.from_file(master_key), runtime.sessions)
    )
    assert b"".join([c async for c in before.open(key)]) == data

    refused = runner.invoke(
        app, ["org", "erase", org_id], env=_env(data_dir, database_url, master_key)
    )
    assert refused.exit_code == 2 and "--yes" in refused.output
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        ["org", "erase", org_id, "--yes"],
        env=_env(data_dir, database_url, master_key),
    )
    assert result.exit_code == 0, result.output
    assert f"Erased organisation {org_id}" in result.output

    async with runtime.sessions() as session:
        left = await session.scalar(
            select(func.count()).select_from(StorageKey).where(StorageKey.organization_id == org_id)
        )
        data_keys = await session.scalar(
            select(func.count()).select_from(BlobKey).where(BlobKey.organization_id == org_id)
        )
        org = await session.get(Organization, org_id)
        erased = await session.scalar(
            select(Evidence).where(
                Evidence.organization_id == org_id, Evidence.type == "ORGANIZATION_ERASED"
            )
        )
    assert left == 0 and data_keys == 0
    assert org is not None and org.erased_at is not None
    assert erased is not None and len(erased.details["storage_keys_destroyed"]) >= 1
    assert not await store.exists(key)

    # The copy still holds the ciphertext, which no key in the database opens any more.
    reader = EncryptedBlobStore(
        LocalBlobStore(copy), Keyring(FileKeyProvider.from_file(master_key), runtime.sessions)
    )
    copied = [p for p in _files(copy)]
    assert copied
    opened_other = 0
    for path in copied:
        name = path.name
        if name == other_key:
            opened_other += 1
            assert b"".join([c async for c in reader.open(name)]) == pdf("other")
            continue
        if not path.read_bytes().startswith(b"\x89TBLENC\n"):
            continue
        with pytest.raises(StoredFileUnavailable):
            b"".join([c async for c in reader.open(name)])
    assert opened_other == 1  # the other organisation's file still reads
    assert [p.name for p in copied].count(key) == 1
    with pytest.raises(KeyUnavailable):
        b"".join([c async for c in reader.open(key)])

    # Its API key is gone; its proofs still verify, the erasure's own too.
    assert (await client.get("/v1/organization", headers=auth)).status_code == 401
    for proof in proofs.values():
        verdict = (await client.post("/v1/verify", files={"file": ("p.json", proof)})).json()
        assert verdict["result"] == "authentic", verdict
    assert (await client.post("/v1/verify", files={"file": ("p.pdf", pdf_proof)})).json()[
        "result"
    ] == "authentic"
    await seal_pending(runtime)
    async with runtime.sessions() as session:
        row = await session.get(Evidence, erased.id)
        assert row is not None
        erasure_proof = dumps(await proof_document(session, row)).encode()
    verdict = (await client.post("/v1/verify", files={"file": ("e.json", erasure_proof)})).json()
    assert verdict["result"] == "authentic"
    assert (await check_chains(runtime)).ok
    # The other organisation is untouched; erasing again is refused.
    other = await client.get(f"/v1/messages/{kept['id']}", headers=bearer(other_secret))
    assert other.status_code == 200 and other.json()["body_html"] == "<p>Secret body</p>"
    again = await asyncio.to_thread(
        runner.invoke,
        app,
        ["org", "erase", org_id, "--yes"],
        env=_env(data_dir, database_url, master_key),
    )
    assert again.exit_code == 1 and "was erased" in again.output
    unknown = await asyncio.to_thread(
        runner.invoke,
        app,
        ["org", "erase", "org_nope", "--yes"],
        env=_env(data_dir, database_url, master_key),
    )
    assert unknown.exit_code == 1 and "No organisation org_nope" in unknown.output
    assert other_id


def _env(data_dir: Path, database_url: str, master_key: Path) -> dict[str, str]:
    return cli_env(data_dir, database_url, TABELLION_MASTER_KEY_FILE=str(master_key))


async def test_org_erase_refused_while_a_message_is_held(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    org_key: tuple[str, str],
    data_dir: Path,
    database_url: str,
    master_key: Path,
) -> None:
    sent = await letter(client, auth, pdf("held"))
    assert (
        await client.post(f"/v1/messages/{sent['id']}/legal-hold", headers=auth)
    ).status_code == 200
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        ["org", "erase", org_key[0], "--yes"],
        env=_env(data_dir, database_url, master_key),
    )
    assert result.exit_code == 1 and "legal hold" in result.output
    assert (await client.get("/v1/organization", headers=auth)).status_code == 200


async def test_recipient_erasure(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    jane = "jane0@example.test"
    alone = await letter(client, auth, pdf("alone"))  # to jane0 only
    await accept(client, runtime, alone["deliveries"][0]["id"])
    shared = await letter(client, auth, pdf("shared"), recipients=2)  # jane0 and jane1
    for delivery in shared["deliveries"]:
        await accept(client, runtime, delivery["id"])
    held = await letter(client, auth, pdf("held"))
    await accept(client, runtime, held["deliveries"][0]["id"])
    await client.post(f"/v1/messages/{held['id']}/legal-hold", headers=auth)
    under_way = await letter(client, auth, pdf("under way"))
    await notify(runtime, under_way["deliveries"][0]["id"])
    proofs = await _proofs(
        client, auth, runtime, (await client.get("/v1/organization", headers=auth)).json()["id"]
    )

    other_auth = bearer((await create_org_with_key(runtime, name="Other"))[1])
    nothing = await client.post("/v1/erasures", json={"email": jane}, headers=other_auth)
    assert nothing.status_code == 200, nothing.text
    assert nothing.json()["deliveries"] == [] and nothing.json()["evidence_id"] is None

    response = await client.post("/v1/erasures", json={"email": "Jane0@Example.test"}, headers=auth)
    assert response.status_code == 200, response.text
    report = response.json()
    jane_shared = next(d for d in shared["deliveries"] if d["recipient"]["email"] == jane)
    other_shared = next(d for d in shared["deliveries"] if d["recipient"]["email"] != jane)
    assert sorted(report["deliveries"]) == sorted([alone["deliveries"][0]["id"], jane_shared["id"]])
    assert report["messages_purged"] == [alone["id"]]
    assert report["held"] == [held["deliveries"][0]["id"]]
    assert report["in_progress"] == [under_way["deliveries"][0]["id"]]
    assert report["files_purged"] == 1
    assert report["email_sha256"] == hashlib.sha256(jane.encode()).hexdigest()

    gone = (await client.get(f"/v1/messages/{alone['id']}", headers=auth)).json()
    assert gone["content_purged_at"] is not None and gone["body_html"] == ""
    assert jane not in json.dumps(gone)
    erased = (await client.get(f"/v1/deliveries/{jane_shared['id']}", headers=auth)).json()
    assert erased["recipient"]["email"].endswith("@erased.invalid")
    assert erased["recipient"]["first_name"] is None and erased["recipient"]["last_name"] is None
    kept = (await client.get(f"/v1/messages/{shared['id']}", headers=auth)).json()
    assert kept["content_purged_at"] is None and kept["body_html"] == "<p>Secret body</p>"
    other = (await client.get(f"/v1/deliveries/{other_shared['id']}", headers=auth)).json()
    assert other["recipient"] == other_shared["recipient"]
    for untouched in (held, under_way):
        delivery = (
            await client.get(f"/v1/deliveries/{untouched['deliveries'][0]['id']}", headers=auth)
        ).json()
        assert delivery["recipient"]["email"] == jane

    proof = await client.get(f"/v1/evidence/{report['evidence_id']}", headers=auth)
    assert proof.status_code == 200
    for document in [*proofs.values(), proof.content]:
        verdict = (await client.post("/v1/verify", files={"file": ("p.json", document)})).json()
        assert verdict["result"] == "authentic", verdict
    # Anyone holding the proof learns the erasure happened, not the address.
    anonymous = (await client.post("/v1/verify", files={"file": ("p.json", proof.content)})).json()
    assert jane not in json.dumps(anonymous).lower()
    assert (await check_chains(runtime)).ok


async def test_erasure_and_export_bad_input(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for path in ("/v1/erasures", "/v1/exports"):
        problem = assert_problem(
            await client.post(path, json={"email": "not an address"}, headers=auth),
            422,
            "validation-failed",
        )
        assert [e["field"] for e in problem["errors"]] == ["email"]
        missing = assert_problem(
            await client.post(path, json={}, headers=auth), 422, "validation-failed"
        )
        assert [e["field"] for e in missing["errors"]] == ["email"]
        assert_problem(await client.post(path, json={"email": "a@b.test"}), 401, "unauthorized")
