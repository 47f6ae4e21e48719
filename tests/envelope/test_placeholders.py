"""Text tags in an uploaded PDF (``{{signature, r1}}``) become fields, and leave the signed PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pypdfium2 as pdfium
import pytest
from fpdf import FPDF

from tabellion.runtime import Runtime
from tests.conftest import count_rows
from tests.envelope.helpers import assert_sealed, invitations, upload
from tests.envelope.test_pages import _post, _token
from tests.message.test_endpoints import assert_problem, fields

RECIPIENTS = [
    {"email": "ann@example.test", "name": "Ann Approver", "role": "approver", "order": 1},
    {"email": "sam@example.test", "name": "Sam Signer", "role": "signer", "order": 2},
    {"email": "cee@example.test", "name": "Cee Copy", "role": "cc", "order": 3},
]


def tagged_pdf(*lines: tuple[int, float, float, str]) -> bytes:
    """A two-page A4 PDF with ``(page, x, y, text)`` written in points from the top left."""
    pdf = FPDF(format="A4", unit="pt")
    pdf.set_font("helvetica", size=11)
    for number in (1, 2):
        pdf.add_page()
        for page, x, y, text in lines:
            if page == number:
                pdf.text(x, y, text)
    return bytes(pdf.output())


CONTRACT = tagged_pdf(
    (1, 60, 100, "Company: {{text, r1, label=Company, optional}}"),
    (1, 60, 700, "{{signature, r2}}"),
    (2, 400, 300, "{{date, r2}}"),
)


async def _draft(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    body = {"title": "Tagged", "signing_order": "sequential", "recipients": RECIPIENTS}
    response = await client.post("/v1/envelopes", json=body, headers=auth)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def _gray_pixels(pdf: bytes, page: int, box: tuple[float, float, float, float]) -> int:
    """Pixels of black-ish text (gray: r == g == b, dark) inside a box (percent of the page)."""
    document = pdfium.PdfDocument(pdf)
    image = document[page - 1].render(scale=2).to_pil().convert("RGB")
    x, y, w, h = box
    crop = image.crop(
        (
            int(x / 100 * image.width),
            int(y / 100 * image.height),
            int((x + w) / 100 * image.width),
            int((y + h) / 100 * image.height),
        )
    )
    raw = crop.tobytes()
    pixels = (raw[i : i + 3] for i in range(0, len(raw), 3))
    return sum(1 for r, g, b in pixels if r == g == b and r < 160)


async def test_tags_become_fields_and_leave_the_signed_pdf(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str], tmp_path: Path
) -> None:
    envelope = await _draft(client, auth)
    ann, sam, _ = (r["id"] for r in envelope["recipients"])
    response = await upload(client, auth, envelope["id"], CONTRACT)
    assert response.status_code == 201, response.text
    assert response.json()["placeholders"] == 3
    state = (await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()
    company, signature, date = state["fields"]
    assert (company["recipient_id"], company["type"], company["page"]) == (ann, "text", 1)
    assert company["required"] is False and company["meta"]["label"] == "Company"
    assert (signature["recipient_id"], signature["type"], signature["page"]) == (
        sam,
        "signature",
        1,
    )
    assert signature["required"] is True
    # Where the tag was written: 60 pt from the left (of 595), its baseline at 700 pt (of 842)
    # (the page size comes from the pages tree: pdfium alone reports Letter for the page).
    assert signature["x"] == pytest.approx(60 / 595.28 * 100, abs=1)
    _, tag_y, _, tag_height = signature["meta"]["tag"]["box"]
    assert tag_y + tag_height == pytest.approx(700 / 841.89 * 100, abs=2)
    assert signature["y"] == tag_y
    assert (signature["width"], signature["height"]) == (25.0, 6.0)  # grown to a usable size
    assert signature["meta"]["tag"]["text"] == "{{signature, r2}}"
    assert (date["type"], date["page"]) == ("date", 2)

    response = await client.post(f"/v1/envelopes/{envelope['id']}/send", headers=auth)
    assert response.status_code == 202, response.text
    assert (await _post(client, await _token(runtime, ann), "approve", {})).status_code == 303
    signed = await _post(
        client,
        await _token(runtime, sam),
        "sign",
        {
            f"typed_{signature['id']}": "Sam Signer",
            f"f_{date['id']}": "2026-12-04",
            "consent": "yes",
        },
    )
    assert signed.status_code == 303, signed.text
    await invitations(runtime)  # the worker completes the envelope
    document_id = state["documents"][0]["id"]
    result = await client.get(
        f"/v1/envelopes/{envelope['id']}/documents/{document_id}/signed", headers=auth
    )
    assert result.status_code == 200
    pdf = result.content
    await assert_sealed(runtime, pdf, tmp_path)

    text = "".join(p.get_textpage().get_text_range() for p in pdfium.PdfDocument(pdf))
    assert "{{signature, r2}}" not in text and "{{date, r2}}" not in text  # removed
    assert "Company:" in text  # the line around the optional tag stays
    # The tag sharing its line is covered: no black text left where it was.
    tag_box = tuple(company["meta"]["tag"]["box"])
    assert _gray_pixels(CONTRACT, 1, tag_box) > 50  # the original shows it
    assert _gray_pixels(pdf, 1, tag_box) == 0


async def test_upload_without_tags_or_with_tags_switched_off(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    envelope = await _draft(client, auth)
    plain = tagged_pdf((1, 60, 100, "No tags here {{ but braces }}"))
    response = await upload(client, auth, envelope["id"], plain)
    assert response.json()["placeholders"] == 0
    response = await client.post(
        f"/v1/envelopes/{envelope['id']}/documents",
        params={"filename": "c.pdf", "placeholders": "false"},
        content=CONTRACT,
        headers={**auth, "Content-Type": "application/pdf"},
    )
    assert response.status_code == 201 and response.json()["placeholders"] == 0
    state = (await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()
    assert state["fields"] == []


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("{{signature, r9}}", "the envelope has 3 recipient(s), no r9."),
        ("{{signature, r1}}", "A approver cannot own a signature field."),
        ("{{text, r3}}", "A cc cannot own a text field."),
        ("{{stamp, r2}}", "Input should be 'signature'"),
        ("{{dropdown, r2}}", "at least two meta.options"),
    ],
)
async def test_a_bad_tag_is_refused_with_nothing_written(
    client: httpx.AsyncClient, runtime: Runtime, auth: dict[str, str], tag: str, message: str
) -> None:
    envelope = await _draft(client, auth)
    response = await upload(client, auth, envelope["id"], tagged_pdf((2, 60, 100, tag)))
    problem = assert_problem(response, 422, "bad-placeholder")
    assert fields(problem) == ["file"]
    assert problem["detail"].startswith(f"page 2, {tag}: ")
    assert message in problem["detail"]
    assert await count_rows(runtime, "envelope_documents") == 0
    assert await count_rows(runtime, "envelope_fields") == 0


async def test_a_dropdown_tag_with_options(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    envelope = await _draft(client, auth)
    pdf = tagged_pdf((1, 60, 100, "{{dropdown, r2, label=Plan, options=Basic|Pro, default=Pro}}"))
    response = await upload(client, auth, envelope["id"], pdf)
    assert response.status_code == 201, response.text
    state = (await client.get(f"/v1/envelopes/{envelope['id']}", headers=auth)).json()
    [dropdown] = state["fields"]
    assert dropdown["meta"]["options"] == ["Basic", "Pro"] and dropdown["meta"]["default"] == "Pro"
