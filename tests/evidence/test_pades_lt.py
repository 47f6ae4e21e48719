"""PAdES B-LT: with a seal whose CA publishes a CRL, the PDF proof carries that CRL and the
chain in its DSS, in the signed revision; it verifies offline; without the CRL, or with a CRL
that revokes the seal, no PDF is sealed."""

from __future__ import annotations

import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader

from tabellion.config import Settings
from tabellion.evidence.verification.verify import verify_pdf_proof
from tabellion.models.evidence import Evidence
from tabellion.runtime import Runtime
from tests.evidence.helpers import received_delivery, run_jobs
from tests.fixtures.pki import Issued, crl_of, issue, name, seal_leaf
from tests.fixtures.tsa import TimestampAuthority, settings_with, tsa  # noqa: F401
from tests.portal.helpers import status_of


class CertificateAuthority:
    """A CA whose CRL is served over HTTP, as its certificates' distribution point says."""

    def __init__(self) -> None:
        self.root: Issued = issue(name("Test Seal CA", "Test Trust Services"), ca=True)
        self.crl = crl_of(self.root)
        self.fetched = 0
        authority = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                authority.fetched += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/pkix-crl")
                self.end_headers()
                self.wfile.write(authority.crl)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/seal-ca.crl"
        self.seal = seal_leaf(self.root, crl_url=self.url)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ca() -> Iterator[CertificateAuthority]:
    authority = CertificateAuthority()
    try:
        yield authority
    finally:
        authority.stop()


@pytest.fixture
def settings(
    data_dir: Path,
    database_url: str,
    tsa: TimestampAuthority,  # noqa: F811
    ca: CertificateAuthority,
) -> Settings:
    base = settings_with(tsa, data_dir, database_url)
    key = data_dir / "seal-key.pem"
    key.write_bytes(
        ca.seal.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    chain = data_dir / "seal-chain.pem"
    chain.write_bytes(
        b"".join(
            c.public_bytes(serialization.Encoding.PEM)
            for c in (ca.seal.certificate, ca.root.certificate)
        )
    )
    return base.model_copy(update={"seal_key_file": key, "seal_cert_file": chain})


async def _first_pdf(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> tuple[str, httpx.Response]:
    delivery = await received_delivery(client, auth, runtime)
    await run_jobs(runtime)
    ref = (await status_of(client, auth, delivery["id"]))["evidence"][0]
    return ref["id"], await client.get(f"/v1/evidence/{ref['id']}/pdf", headers=auth)


async def test_the_pdf_proof_carries_the_crl_of_its_seal_and_verifies_offline(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    ca: CertificateAuthority,
    tsa: TimestampAuthority,  # noqa: F811
) -> None:
    _, response = await _first_pdf(client, auth, runtime)
    assert response.status_code == 200, response.text
    data = response.content
    assert ca.fetched >= 1
    reader = PdfFileReader(io.BytesIO(data))
    # One revision: the DSS is signed with the rest (a later one would break DocMDP P=1).
    assert reader.xrefs.total_revisions == 2  # the rendered page, then the sealed revision
    dss = reader.root["/DSS"]
    [crl] = [dss["/CRLs"][i].data for i in range(len(dss["/CRLs"]))]
    assert x509.load_der_x509_crl(crl).issuer == ca.root.certificate.subject
    certs = {
        x509.load_der_x509_certificate(dss["/Certs"][i].data) for i in range(len(dss["/Certs"]))
    }
    assert ca.seal.certificate in certs
    tsa_root = x509.load_pem_x509_certificate(tsa.root_pem)
    # The timestamp authority's chain too: its certificate, issued by its root.
    assert any(c.issuer == tsa_root.subject for c in certs), certs
    # Offline: the CRL server is gone, the PDF's own revocation data is used.
    ca.stop()
    verdict = await verify_pdf_proof(data, [ca.root.certificate], [tsa_root])
    assert verdict.authentic, verdict.problems
    assert any(c.startswith("PAdES B-LT: the PDF carries") for c in verdict.checks), verdict.checks
    assert verdict.timestamps and verdict.timestamps[0].covers == "pdf-seal"


async def test_without_the_crl_no_pdf_is_sealed(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, ca: CertificateAuthority
) -> None:
    ca.stop()
    evidence_id, response = await _first_pdf(client, auth, runtime)
    assert response.status_code == 503
    assert response.json()["code"] == "revocation-data-unavailable"
    async with runtime.sessions() as session:
        row = await session.get(Evidence, evidence_id)
        assert row is not None and row.pdf_key is None  # nothing weaker was cached
    # The JSON proof is there meanwhile.
    assert (await client.get(f"/v1/evidence/{evidence_id}", headers=auth)).status_code == 200


async def test_a_revoked_seal_seals_no_pdf(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, ca: CertificateAuthority
) -> None:
    ca.crl = crl_of(ca.root, [ca.seal.certificate])
    _, response = await _first_pdf(client, auth, runtime)
    assert response.status_code == 503
    assert response.json()["code"] == "revocation-data-unavailable"
    assert "revoked" in response.json()["detail"].lower()
