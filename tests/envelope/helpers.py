"""Shared pieces of the envelope tests: PDFs, bodies, drafts and the invitation e-mails."""

from __future__ import annotations

import email
import email.policy
import io
import shutil
import subprocess
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pypdfium2 as pdfium
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from tabellion.jobs.worker import Worker
from tabellion.runtime import Runtime
from tests.evidence.helpers import trust_of


def pdf_bytes(pages: int = 3) -> bytes:
    document = pdfium.PdfDocument.new()
    for _ in range(pages):
        document.new_page(595, 842)  # A4 in points
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def encrypted_pdf(*, user_password: str) -> bytes:
    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(pdf_bytes(1))))
    writer.encrypt("owner-secret", user_password)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def envelope_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Service agreement",
        "message": "Please sign",
        "language": "en",
        "reference": "CTR-7",
        "signing_order": "sequential",
        "recipients": [
            {"email": "ann@example.test", "name": "Ann Approver", "role": "approver", "order": 1},
            {"email": "sam@example.test", "name": "Sam Signer", "role": "signer", "order": 2},
            {"email": "cee@example.test", "name": "Cee Copy", "role": "cc"},
        ],
    }
    body.update(extra)
    return body


async def create_envelope(
    client: httpx.AsyncClient, auth: dict[str, str], **extra: Any
) -> dict[str, Any]:
    response = await client.post("/v1/envelopes", json=envelope_body(**extra), headers=auth)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def upload(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    envelope_id: str,
    content: bytes,
    *,
    filename: str = "agreement.pdf",
) -> httpx.Response:
    return await client.post(
        f"/v1/envelopes/{envelope_id}/documents",
        params={"filename": filename},
        content=content,
        headers={**auth, "Content-Type": "application/pdf"},
    )


def field(recipient_id: str, document_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "recipient_id": recipient_id,
        "document_id": document_id,
        "type": "signature",
        "page": 1,
        "x": 10,
        "y": 80,
        "width": 30,
        "height": 8,
        **extra,
    }


async def ready_draft(
    client: httpx.AsyncClient, auth: dict[str, str], **extra: Any
) -> tuple[dict[str, Any], str]:
    """A draft with one 3-page document and a signature field per signer: ready to send."""
    envelope = await create_envelope(client, auth, **extra)
    response = await upload(client, auth, envelope["id"], pdf_bytes(3))
    assert response.status_code == 201, response.text
    document_id = response.json()["id"]
    signers = [r["id"] for r in envelope["recipients"] if r["role"] == "signer"]
    response = await client.post(
        f"/v1/envelopes/{envelope['id']}/fields",
        json={"fields": [field(r, document_id) for r in signers]},
        headers=auth,
    )
    assert response.status_code == 201, response.text
    return envelope, document_id


async def outbox(runtime: Runtime, marker: str) -> list[EmailMessage]:
    """Run the jobs due, then read the e-mails written to the outbox (no SMTP set) whose
    Message-ID holds ``marker``."""
    await Worker(runtime, poll_interval=0.05).run_until_idle()
    mails = []
    folder = runtime.settings.outbox_dir
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(mail, EmailMessage)
        if marker in str(mail["Message-ID"]):
            mails.append(mail)
    return mails


async def invitations(runtime: Runtime) -> list[EmailMessage]:
    return await outbox(runtime, ".invite.")


async def signed_mails(runtime: Runtime) -> list[EmailMessage]:
    return await outbox(runtime, ".signed@")


async def assert_sealed(runtime: Runtime, signed: bytes, tmp_path: Path) -> None:
    """One seal, intact and trusted, covering the whole file, for pyHanko and poppler alike."""
    roots = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
        for c in trust_of(runtime)
    ]
    [embedded] = PdfFileReader(io.BytesIO(signed)).embedded_signatures
    status = await async_validate_pdf_signature(
        embedded, ValidationContext(trust_roots=roots, allow_fetching=False)
    )
    assert status.intact and status.valid and status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert shutil.which("pdfsig"), "pdfsig (poppler-utils) is needed"
    file = tmp_path / "signed.pdf"
    file.write_bytes(signed)
    out = subprocess.run(["pdfsig", str(file)], capture_output=True, text=True, check=False)
    assert "Signature is Valid" in out.stdout, out.stdout + out.stderr
    assert "Total document signed" in out.stdout
