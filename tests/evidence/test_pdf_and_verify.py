"""PDF proofs, the verify API and CLI, the delivery bundle."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.sign import signers
from sqlalchemy import select

from tabellion.db import transaction
from tabellion.evidence.rendering import pdf
from tabellion.evidence.sealing.keys import load_seal
from tabellion.evidence.sealing.seal import RENDER_TASK
from tabellion.evidence.verification.verify import verify_pdf_proof
from tabellion.kit.time import utcnow
from tabellion.models.evidence import Evidence
from tabellion.models.job import Job
from tabellion.runtime import Runtime
from tests.evidence.helpers import received_delivery, run_jobs, trust_of
from tests.fixtures import tools
from tests.portal.helpers import status_of


async def _proofs(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> tuple[dict, list[dict]]:
    delivery = await received_delivery(client, auth, runtime, language="fr")
    await run_jobs(runtime)  # seals and publishes the tree head; PDFs render a minute later
    return delivery, (await status_of(client, auth, delivery["id"]))["evidence"]


async def test_the_render_job_stores_each_pdf_ahead_of_its_first_request(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    _, evidence = await _proofs(client, auth, runtime)
    ids = [ref["id"] for ref in evidence]
    async with transaction(runtime.sessions) as session:
        assert {e.pdf_key for e in await session.scalars(select(Evidence))} == {None}
        jobs = list(await session.scalars(select(Job).where(Job.kind == RENDER_TASK)))
        assert sorted(i for j in jobs for i in j.payload["evidence_ids"]) == sorted(ids)
        for job in jobs:
            job.run_at = utcnow()  # the minute is over
    await run_jobs(runtime)
    async with runtime.sessions() as session:
        rows = {e.id: e for e in await session.scalars(select(Evidence))}
        statuses = {
            j.status for j in await session.scalars(select(Job).where(Job.kind == RENDER_TASK))
        }
    assert statuses == {"done"}
    for evidence_id in ids:
        key = rows[evidence_id].pdf_key
        assert key is not None
        stored = b"".join([chunk async for chunk in runtime.storage.open(key)])
        served = await client.get(f"/v1/evidence/{evidence_id}/pdf", headers=auth)
        assert served.content == stored
        assert (await verify_pdf_proof(stored, trust_of(runtime))).authentic


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
    assert body["kind"] == "json-proof"
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
    # JSON that is no proof at all is not a "tampered" proof: a file we do not know.
    stranger = (await client.post("/v1/verify", files={"file": ("x.json", b'{"a": 1}')})).json()
    assert (stranger["result"], stranger["kind"]) == ("not-found", "unknown")
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
    # A QR code's link to a proof this service does not hold says so, not "unknown file".
    for wrong in ("evd_01jzzzzzzzzzzzzzzzzzzzzzzz", "not-an-id"):
        absent = await client.get(f"/verify?evidence={wrong}&lang=fr")
        assert absent.status_code == 404
        assert "Aucune preuve de ce nom ici" in absent.text
        assert "Fichier inconnu" not in absent.text


async def test_pdf_proofs_are_certified_and_an_incremental_update_is_flagged(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, tmp_path: Path
) -> None:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import MDPPerm

    _, evidence = await _proofs(client, auth, runtime)
    data = (await client.get(f"/v1/evidence/{evidence[0]['id']}/pdf", headers=auth)).content
    [signature] = PdfFileReader(io.BytesIO(data)).embedded_signatures
    assert signature.docmdp_level == MDPPerm.NO_CHANGES  # a certification signature, P=1
    verdict = await verify_pdf_proof(data, trust_of(runtime))
    assert verdict.authentic, verdict.problems
    assert "a certification seal: no change to the PDF is allowed (DocMDP)" in verdict.checks
    # An incremental update that leaves the signed bytes untouched: still flagged.
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    writer.root["/PageMode"] = generic.NameObject("/UseOutlines")
    writer.update_root()
    updated = io.BytesIO()
    writer.write(updated)
    changed = await verify_pdf_proof(updated.getvalue(), trust_of(runtime))
    assert not changed.authentic
    assert changed.problems == [
        "the PDF was changed after its seal (the seal does not cover it all)"
    ]
    tools.require("pdfsig")
    path = tmp_path / "updated.pdf"
    path.write_bytes(updated.getvalue())
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    assert "Total document signed" not in out.stdout, out.stdout


async def test_the_seal_signer_writes_the_cms_parts_pyhanko_writes(runtime: Runtime) -> None:
    """The signer identifier and the signed attributes, encoded once per seal, are those that
    pyHanko's own signer builds for each signature."""
    ours = pdf._signer(load_seal(runtime.settings))
    assert isinstance(ours, signers.SimpleSigner)
    stock = signers.SimpleSigner(
        signing_cert=ours.signing_cert,
        signing_key=ours.signing_key,
        cert_registry=ours.cert_registry,
    )
    digest = hashlib.sha256(b"a PDF's signed byte ranges").digest()
    for _ in range(2):  # and the second time too, from the encoded parts
        attributes = await ours.signed_attrs(digest, "sha256", use_pades=True)
        expected = await stock.signed_attrs(digest, "sha256", use_pades=True)
        assert attributes.dump() == expected.dump()
        info = ours.signer_info("sha256", attributes, b"signature")
        assert info.dump() == stock.signer_info("sha256", expected, b"signature").dump()
    # Signed with the key parsed once: a signature the seal's certificate verifies, as
    # pyHanko's own signer's is (ECDSA signatures differ at each signing).
    public = load_seal(runtime.settings).chain[0].public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    for signer in (ours, stock):
        signature = await signer.async_sign_raw(b"signed attributes", "sha256")
        public.verify(signature, b"signed attributes", ec.ECDSA(hashes.SHA256()))
