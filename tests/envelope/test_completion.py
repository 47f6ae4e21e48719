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
import pypdfium2.raw as pdfium_c
import zxingcpp
from fpdf import FPDF
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from tabellion.envelope.completion import flatten
from tabellion.jobs.worker import Worker
from tabellion.models.envelope import EnvelopeField
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
    # Its QR code, read off the rendered first page by a real reader, opens that record.
    cert_pdf = pdfium.PdfDocument(certificate)
    [qr] = zxingcpp.read_barcodes(cert_pdf[0].render(scale=4).to_pil())
    cert_pdf.close()
    assert qr.text == f"http://tabellion.test/verify?envelope={envelope['id']}"
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


def _field(page: int, kind: str, value: dict[str, object], x: float = 10) -> EnvelopeField:
    return EnvelopeField(type=kind, page=page, x=x, y=10, width=40, height=6, value=value,
                         meta={})  # fmt: skip


def _two_pages_one_resource_dictionary() -> bytes:
    """Two pages that share one resource dictionary, inherited from the page tree's root, as
    many producers write them (fpdf2 gives each page its own)."""
    pdf = FPDF(format="A4")
    pdf.set_font("Helvetica", size=11)
    for number in (1, 2):
        pdf.add_page()
        pdf.cell(0, 6, f"Page {number}")
    writer = IncrementalPdfFileWriter(io.BytesIO(bytes(pdf.output())))
    pages_ref = writer.root.raw_get("/Pages")
    pages = pages_ref.get_object()
    shared = None
    for kid in pages["/Kids"]:
        page = kid.get_object()
        shared = shared or page.raw_get("/Resources")
        del page["/Resources"]
        writer.update_container(page)
    pages[generic.NameObject("/Resources")] = shared
    writer.update_container(pages)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _page_text(data: bytes) -> list[str]:
    document = pdfium.PdfDocument(data)
    try:
        return [page.get_textpage().get_text_range() for page in document]
    finally:
        document.close()


def _images(data: bytes) -> list[int]:
    """The number of pictures on each page."""
    document = pdfium.PdfDocument(data)
    try:
        return [len(list(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE])))
                for page in document]  # fmt: skip
    finally:
        document.close()


def test_fields_on_pages_that_share_resources_are_each_drawn() -> None:
    """Names of the added resources are unique across pages that share their dictionary (one
    name used twice is refused by the merge, and the completion job would fail), and across a
    second flattening of a file Tabellion flattened before (a signed PDF sent for signing)."""
    buffer = io.BytesIO()
    Image.new("RGBA", (60, 20), (0, 0, 80, 255)).save(buffer, format="PNG")
    drawn = {"kind": "image", "image": "data:image/png;base64,"
             + base64.b64encode(buffer.getvalue()).decode()}  # fmt: skip
    fields = [
        _field(1, "signature", drawn),
        _field(1, "text", {"text": "Clause one agreed"}, x=55),
        _field(2, "signature", drawn),
        _field(2, "name", {"text": "Ann Approver"}, x=55),
    ]
    once = flatten(_two_pages_one_resource_dictionary(), fields)
    assert _images(once) == [1, 1]
    first, second = _page_text(once)
    assert "Clause one agreed" in first and "Ann Approver" in second
    twice = flatten(once, [_field(1, "text", {"text": "Second round"}, x=55),
                           _field(2, "signature", drawn, x=55)])  # fmt: skip
    assert _images(twice) == [1, 2]
    assert "Second round" in _page_text(twice)[0]
    assert twice.startswith(once)  # an incremental update again


def test_text_is_written_as_text_and_what_helvetica_cannot_show_as_a_picture() -> None:
    original = _two_pages_one_resource_dictionary()
    fields = [
        _field(1, "text", {"text": "Zoë Müller, 12 rue de l'Église"}),
        _field(1, "checkbox", {"checked": True}, x=55),
        _field(2, "name", {"text": "Σωκράτης 王"}),
        _field(2, "text", {"text": "x" * 400}, x=55),  # far wider than its box: made smaller
    ]
    out = flatten(original, fields)
    first, second = _page_text(out)
    assert "Zoë Müller, 12 rue de l'Église" in first and "X" in first
    assert "Σωκράτης" not in second and _images(out) == [0, 1]
    # The long text shrinks to its smallest size, starts in its box and is clipped to it:
    # ink inside the box on its row, none to the right of it.
    document = pdfium.PdfDocument(out)
    try:
        page = document[1]
        [text] = list(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_TEXT]))[-1:]
        assert text.get_font_size() < 3
        left, bottom, _, top = text.get_bounds()
        width, height = page.get_size()
        assert width * 0.55 <= left and height * 0.84 <= bottom and top <= height * 0.90
        image = page.render(scale=2).to_pil().convert("L")
        row = int(image.height * 0.13)
        inside = [
            image.getpixel((x, row))
            for x in range(int(image.width * 0.56), int(image.width * 0.94))
        ]
        outside = [image.getpixel((x, row)) for x in range(int(image.width * 0.955), image.width)]
        assert min(inside) < 200 and min(outside) == 255
    finally:
        document.close()


def _png(image: Image.Image) -> dict[str, object]:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return {"kind": "image", "image": "data:image/png;base64,"
            + base64.b64encode(buffer.getvalue()).decode()}  # fmt: skip


def test_a_drawing_is_cut_to_its_ink_where_it_was_drawn_and_a_photo_needs_no_mask() -> None:
    """A canvas drawing is mostly transparent: only its ink is stored, and it lands where it
    was on the canvas. An opaque picture is stored without a soft mask."""
    drawing = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    drawing.paste((0, 0, 80, 255), (150, 0, 200, 100))  # ink on the right quarter only,
    drawing.paste((0, 0, 0, 0), (160, 0, 170, 10))  # with a gap: its mask is kept
    fields = [
        EnvelopeField(type="signature", page=1, x=10, y=10, width=40, height=20, meta={},
                      value=_png(drawing)),
        EnvelopeField(type="signature", page=2, x=10, y=10, width=40, height=20, meta={},
                      value=_png(Image.new("RGBA", (200, 100), (0, 0, 80, 255)))),
    ]  # fmt: skip
    out = flatten(_two_pages_one_resource_dictionary(), fields)
    document = pdfium.PdfDocument(out)
    try:
        image = document[0].render(scale=1).to_pil().convert("RGB")
        [picture] = list(document[0].get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]))
        assert picture.get_px_size() == (50, 100)  # the ink's pixels, not the canvas's
    finally:
        document.close()
    width, height = image.size
    # The box is x 10-50 %, y 10-30 %; the 2:1 drawing fills it; its ink is the right quarter.
    row = int(height * 0.2)
    assert image.getpixel((int(width * 0.45), row)) == (0, 0, 80)
    assert image.getpixel((int(width * 0.35), row)) == (255, 255, 255)
    # Both pages share the resource dictionary the fields' pictures are added to.
    reader = PdfFileReader(io.BytesIO(out))
    xobjects = reader.root["/Pages"]["/Resources"]["/XObject"]
    masked = {int(xobjects[n]["/Width"]): "/SMask" in xobjects[n] for n in xobjects
              if str(n).startswith("/TabellionField")}  # fmt: skip
    assert masked == {50: True, 200: False}
