"""Completion: the signed PDF (fields flattened, certificate appended, PAdES-sealed) and the
certificate alone, produced by the worker after the last signature."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from pathlib import Path

import httpx
import pypdfium2 as pdfium
from PIL import Image

from tabellion.jobs.worker import Worker
from tabellion.runtime import Runtime
from tests.envelope.helpers import assert_sealed, signed_mails
from tests.envelope.test_pages import _post, _sent, _signature_field, _token
from tests.message.test_endpoints import assert_problem


def _text(data: bytes) -> str:
    document = pdfium.PdfDocument(data)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


async def test_the_signed_pdf_is_flattened_certified_and_sealed(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str], tmp_path: Path
) -> None:
    envelope, document_id = await _sent(client, auth)
    ann, _, sam = envelope["recipients"]
    path = f"/v1/envelopes/{envelope['id']}"
    assert_problem(
        await client.get(f"{path}/certificate", headers=auth), 409, "envelope-not-completed"
    )
    # The certificate's QR code names only completed envelopes; a bad id is no lookup at all.
    for missing in (envelope["id"], "env_01NOTANENVELOPEHERE00000", "env_'<x>"):
        answer = await client.get("/verify", params={"envelope": missing})
        assert answer.status_code == 404 and "No completed envelope" in answer.text
    assert (await _post(client, await _token(runtime, ann["id"]), "approve", {})).status_code == 303
    buffer = io.BytesIO()
    Image.new("RGBA", (120, 40), (0, 0, 80, 255)).save(buffer, format="PNG")
    drawn = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    signature = _signature_field(envelope, "sam@example.test")
    response = await _post(
        client,
        await _token(runtime, sam["id"]),
        "sign",
        {f"f_{signature}": drawn, "consent": "yes"},
    )
    assert response.status_code == 303
    await Worker(runtime, poll_interval=0.05).run_until_idle()

    final = (await client.get(path, headers=auth)).json()
    assert final["status"] == "completed"
    response = await client.get(f"{path}/documents/{document_id}/signed", headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    signed = response.content
    [document] = final["documents"]
    assert document["signed_sha256"] == hashlib.sha256(signed).hexdigest()
    assert document["sha256"] != document["signed_sha256"]
    # The certificate's QR code opens the envelope's record: who signed, and the signed file's
    # SHA-256 to compare; a record, never a verdict on a file it has not seen.
    record = await client.get(
        f"/verify?envelope={envelope['id']}", headers={"Accept-Language": "fr"}
    )
    assert record.status_code == 200
    assert "Sam Signer" in record.text and "Ann Approver" in record.text
    assert document["signed_sha256"] in record.text and 'id="documents"' in record.text
    assert "Signé par ce service" in record.text and "verdict-envelope-record" in record.text

    await assert_sealed(runtime, signed, tmp_path)

    # Three pages of the original, then the certificate; the drawn signature is on page 1.
    pdf = pdfium.PdfDocument(signed)
    cert_pages = len(pdf) - 3
    assert cert_pages >= 1
    first = pdf[0].render(scale=1).to_pil().convert("RGB")
    pdf.close()
    width, height = first.size
    # The field: x 10 %, y 80 %, 30 % × 8 %; its centre is dark ink now, white before.
    assert first.getpixel((int(width * 0.25), int(height * 0.84))) == (0, 0, 80)

    certificate = (await client.get(f"{path}/certificate", headers=auth)).content
    text = _text(certificate)
    for expected in (
        envelope["id"],
        "Ann Approver <ann@example.test>",
        "Sam Signer <sam@example.test>",
        "approver, order 1",
        "signer, order 2",
        document["sha256"],
        "consented to sign electronically",
        "127.0.0.1",
        f"http://tabellion.test/verify?envelope={envelope['id']}",
    ):
        assert expected.replace(" ", "") in text.replace(" ", "").replace("\r", "").replace(
            "\n", ""
        ), expected
    assert "Audit certificate" in _text(signed)
    # The filled document is the signed file's earlier revisions, unchanged: cut at the end of
    # one of them, it has the "after the fields were filled" SHA-256 the certificate gives.
    flat = text.replace(" ", "").replace("\r", "").replace("\n", "")
    [after] = re.findall(r"SHA-256afterthefieldswerefilled:([0-9a-f]{64})", flat)
    ends = [m.end() for m in re.finditer(rb"%%EOF\r?\n?", signed)]
    assert after in [hashlib.sha256(signed[:end]).hexdigest() for end in ends[:-1]]

    # Everybody, cc included, gets the signed PDF attached.
    mails = {m["To"]: m for m in await signed_mails(runtime)}
    assert sorted(mails) == ["ann@example.test", "cee@example.test", "sam@example.test"]
    for mail in mails.values():
        [attachment] = list(mail.iter_attachments())
        assert attachment.get_filename() == "agreement-signed.pdf"
        assert attachment.get_content() == signed
    # The cc's link leads to a page that offers the signed PDF.
    cee_token = await _token(runtime, envelope["recipients"][1]["id"])
    page = await client.get(f"/s/{cee_token}")
    assert "Everyone has signed" in page.text
    download = await client.get(f"/s/{cee_token}/documents/{document_id}/signed.pdf")
    assert download.content == signed


async def test_a_typed_signature_is_drawn_in_the_shipped_handwriting_font(
    client: httpx.AsyncClient,
) -> None:
    from PIL import ImageChops, ImageFont

    from tabellion.envelope.completion import HANDWRITING, _text_image

    assert HANDWRITING.exists()
    assert "SIL Open Font License" in (HANDWRITING.parent / "OFL.txt").read_text()
    assert ImageFont.truetype(str(HANDWRITING), 20).getname() == ("Dancing Script", "Regular")
    hand = _text_image("Sam Signer", 600, 120, hand=True)
    plain = _text_image("Sam Signer", 600, 120)
    assert hand.getbbox() is not None
    assert ImageChops.difference(hand, plain).getbbox() is not None
    # The signing page shows the typed name in the same font, served from the package.
    font = await client.get("/static/fonts/DancingScript-Regular.otf")
    assert font.status_code == 200 and font.content == HANDWRITING.read_bytes()
    css = (await client.get("/static/signing.css")).text
    assert "/static/fonts/DancingScript-Regular.otf" in css and "input.typed" in css
