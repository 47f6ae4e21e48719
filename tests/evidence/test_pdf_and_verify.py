"""PDF proofs, the verify API and CLI, the delivery bundle."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx

from tabellion.evidence.verify import verify_pdf_proof
from tabellion.runtime import Runtime
from tests.evidence.helpers import received_delivery, run_jobs, trust_of
from tests.fixtures import tools
from tests.portal.helpers import status_of


async def _proofs(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> tuple[dict, list[dict]]:
    delivery = await received_delivery(client, auth, runtime, language="fr")
    await run_jobs(runtime)  # seals, publishes the tree head, renders the PDFs
    return delivery, (await status_of(client, auth, delivery["id"]))["evidence"]


async def test_pdf_proof_is_sealed_pades_and_embeds_the_json(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, tmp_path: Path
) -> None:
    _, evidence = await _proofs(client, auth, runtime)
    for ref in evidence:
        response = await client.get(f"/v1/evidence/{ref['id']}/pdf", headers=auth)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pdf"
        verdict = await verify_pdf_proof(response.content, trust_of(runtime))
        assert verdict.authentic, verdict.problems
        assert verdict.content is not None and verdict.content["id"] == ref["id"]
    data = (await client.get(f"/v1/evidence/{evidence[0]['id']}/pdf", headers=auth)).content
    # One flipped byte inside the signed range: not authentic.
    for position in (200, len(data) // 3):
        tampered = bytearray(data)
        tampered[position] ^= 0x01
        assert not (await verify_pdf_proof(bytes(tampered), trust_of(runtime))).authentic
    # Another trust root: not trusted.
    assert not (await verify_pdf_proof(data, [])).authentic
    # A public verifier agrees (poppler's pdfsig; skips without it, fails in CI).
    tools.require("pdfsig")
    path = tmp_path / "proof.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    assert "Signature is Valid" in out.stdout, out.stdout + out.stderr


async def test_verify_api_tells_proofs_documents_and_unknown_files_apart(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery, evidence = await _proofs(client, auth, runtime)
    proof = (await client.get(f"/v1/evidence/{evidence[0]['id']}", headers=auth)).content
    anonymous = await client.post("/v1/verify", files={"file": ("p.json", proof)})
    assert anonymous.status_code == 200
    body = anonymous.json()
    assert body["result"] == "authentic" and body["evidence_id"] == evidence[0]["id"]
    assert "recipient" not in body["facts"]  # no personal data without the owner's key
    owner = (
        await client.post("/v1/verify", files={"file": ("p.json", proof)}, headers=auth)
    ).json()
    assert owner["facts"]["recipient"]["email"] == delivery["recipient"]["email"]
    tampered = proof.replace(b'"signature":"', b'"signature":"A', 1)
    bad = (await client.post("/v1/verify", files={"file": ("p.json", tampered)})).json()
    assert bad["result"] == "tampered" and bad["problems"]
    pdf = (await client.get(f"/v1/evidence/{evidence[1]['id']}/pdf", headers=auth)).content
    assert (await client.post("/v1/verify", files={"file": ("p.pdf", pdf)})).json()[
        "result"
    ] == "authentic"
    document = (
        await client.post("/v1/verify", files={"file": ("c.pdf", b"%PDF-1.4\n%%EOF\n")})
    ).json()
    assert document["result"] == "delivered-document"
    assert document["evidence_id"] == evidence[0]["id"]
    assert "filename" not in document["facts"]
    unknown = await client.post("/v1/verify", files={"file": ("x.bin", b"nothing we know")})
    assert unknown.status_code == 200 and unknown.json()["result"] == "not-found"
    missing = await client.post("/v1/verify", data={"other": "x"}, files={"x": ("a", b"a")})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "file"


async def test_cli_verifies_offline(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, tmp_path: Path
) -> None:
    _, evidence = await _proofs(client, auth, runtime)
    json_file = tmp_path / "proof.json"
    json_file.write_bytes(
        (await client.get(f"/v1/evidence/{evidence[0]['id']}", headers=auth)).content
    )
    pdf_file = tmp_path / "proof.pdf"
    pdf_file.write_bytes(
        (await client.get(f"/v1/evidence/{evidence[2]['id']}/pdf", headers=auth)).content
    )
    root = tmp_path / "root.pem"
    root.write_bytes((runtime.settings.seal_dir / "root-ca.pem").read_bytes())
    # A separate process, with no database or server: offline.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABELLION_")}
    env["TABELLION_DATA_DIR"] = str(tmp_path / "empty")

    def verify(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tabellion", "verify", str(path), "--trust", str(root)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )

    for path in (json_file, pdf_file):
        result = await asyncio.to_thread(verify, path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "AUTHENTIC" in result.stdout
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(json_file.read_bytes().replace(b'"payload":"e', b'"payload":"f', 1))
    result = await asyncio.to_thread(verify, tampered)
    assert result.returncode == 1 and "NOT AUTHENTIC" in result.stdout


async def test_bundle_holds_proofs_documents_chain_and_readme(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery, evidence = await _proofs(client, auth, runtime)
    response = await client.get(f"/v1/deliveries/{delivery['id']}/evidence.zip", headers=auth)
    assert response.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    for ref in evidence:
        assert f"evidence/{ref['id']}.json" in names and f"evidence/{ref['id']}.pdf" in names
    assert "documents/contract.pdf" in names
    assert "seal-chain.pem" in names and "README.txt" in names
    other = await client.get(
        "/v1/deliveries/dlv_00000000000000000000000000/evidence.zip", headers=auth
    )
    assert other.status_code == 404


async def test_public_verify_page(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    _, evidence = await _proofs(client, auth, runtime)
    page = await client.get("/verify?lang=fr")
    assert page.status_code == 200
    assert "Vérifier une preuve ou un document" in page.text
    assert "auto-émis" in page.text  # the self-issued seal is said
    proof = (await client.get(f"/v1/evidence/{evidence[0]['id']}/pdf", headers=auth)).content
    result = await client.post("/verify", files={"file": ("proof.pdf", proof)})
    assert result.status_code == 200
    assert "Preuve authentique" in result.text and evidence[0]["id"] in result.text
    assert "jane" not in result.text.lower()  # no personal data on the public page
    unknown = await client.post("/verify", files={"file": ("x.txt", b"hello")})
    assert "Fichier inconnu" in unknown.text
    empty = await client.post("/verify", data={"x": "y"})
    assert empty.status_code == 422
