"""Export for access requests: everything an organisation holds about an address, as a zip with
a manifest; another organisation's data never appears."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import zipfile
from pathlib import Path

import httpx
from typer.testing import CliRunner

from tabellion.cli.main import app
from tabellion.runtime import Runtime
from tests.cli.test_main import cli_env
from tests.fixtures.factories import bearer, create_org_with_key
from tests.portal.helpers import dispatch, reply_in_portal
from tests.retention.helpers import accept, letter, pdf

runner = CliRunner()


def _open(data: bytes) -> tuple[zipfile.ZipFile, dict]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    return archive, json.loads(archive.read("manifest.json"))


async def test_export_of_an_address(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    org_key: tuple[str, str],
    runtime: Runtime,
    data_dir: Path,
    database_url: str,
) -> None:
    jane = "jane0@example.test"
    data = pdf("for jane")
    sent = await letter(client, auth, data)
    delivery_id = sent["deliveries"][0]["id"]
    await accept(client, runtime, delivery_id)
    secure = await dispatch(client, auth, mode="secure")
    await reply_in_portal(
        client, runtime, secure["id"], "My reply", files={"files": ("r.txt", b"hers", "text/plain")}
    )
    await letter(client, auth, pdf("for john"), first=5)  # another address: not exported
    other_auth = bearer((await create_org_with_key(runtime, name="Other"))[1])
    await letter(client, other_auth, pdf("other tenant"))  # jane0 too, in another organisation

    response = await client.post("/v1/exports", json={"email": "JANE0@example.test"}, headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    archive, manifest = _open(response.content)
    assert manifest["format"] == "tabellion-export/1"
    assert manifest["organization_id"] == org_key[0]
    assert sorted(d["id"] for d in manifest["deliveries"]) == sorted([delivery_id, secure["id"]])
    # Every file is listed with its digest, and is what the manifest says.
    names = set(archive.namelist())
    for entry in manifest["files"]:
        assert entry["path"] in names
        assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
    base = f"deliveries/{delivery_id}"
    delivery = json.loads(archive.read(f"{base}/delivery.json"))
    assert delivery["recipient"]["email"] == jane and delivery["status"] == "accepted"
    message = json.loads(archive.read(f"{base}/message.json"))
    assert message["body_html"] == "<p>Secret body</p>"
    [attachment] = message["attachments"]
    assert archive.read(f"{base}/files/{attachment['id']}-contract.pdf") == data
    proofs = [n for n in names if n.startswith(f"{base}/evidence/")]
    assert {json.loads(archive.read(n))["payload"] != "" for n in proofs} == {True}
    assert len(proofs) == len([e for e in delivery["evidence"]])
    for name in proofs:
        verdict = (
            await client.post("/v1/verify", files={"file": ("p.json", archive.read(name))})
        ).json()
        assert verdict["result"] == "authentic"
    [reply] = [
        n
        for n in names
        if n.startswith(f"deliveries/{secure['id']}/replies/") and n.endswith(".json")
    ]
    assert json.loads(archive.read(reply))["body_text"] == "My reply"
    [reply_file] = [n for n in names if n.endswith("-r.txt")]
    assert archive.read(reply_file) == b"hers"
    everything = b"".join(archive.read(n) for n in names)
    assert b"for john" not in everything and b"other tenant" not in everything
    assert b"jane5" not in everything

    # The other organisation sees only its own letter to the same address.
    _, theirs = _open(
        (await client.post("/v1/exports", json={"email": jane}, headers=other_auth)).content
    )
    assert len(theirs["deliveries"]) == 1
    assert theirs["deliveries"][0]["id"] not in (delivery_id, secure["id"])

    # The command writes the same export.
    target = data_dir / "export.zip"
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        ["org", "export", org_key[0], "--email", jane, "--output", str(target)],
        env=cli_env(data_dir, database_url),
    )
    assert result.exit_code == 0, result.output
    _, written = _open(target.read_bytes())
    assert [d["id"] for d in written["deliveries"]] == [d["id"] for d in manifest["deliveries"]]
    assert target.stat().st_mode & 0o777 == 0o600
    bad = runner.invoke(
        app,
        ["org", "export", org_key[0], "--email", "nope", "--output", str(data_dir / "x.zip")],
        env=cli_env(data_dir, database_url),
    )
    assert bad.exit_code == 2 and "--email" in bad.output
