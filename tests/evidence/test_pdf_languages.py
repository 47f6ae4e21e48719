"""The PDF proof in every language: no text over other text or over the QR code, nothing
justified, every word of its catalog translated, the recipient-authentication time of the JSON
proof, and a QR code (also a link) that opens /verify with that proof checked."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import httpx
import pypdfium2
import pytest
from babel.messages.pofile import read_po
from pyhanko.pdf_utils.reader import PdfFileReader

from tabellion.config import Settings
from tabellion.evidence.rendering import language as catalogs
from tabellion.evidence.rendering.pdf import QR_SIZE_MM, render
from tabellion.evidence.verification.verify import verify_json_proof
from tabellion.portal import i18n
from tabellion.runtime import Runtime
from tests.evidence.helpers import answer_letter, run_jobs, trust_of
from tests.portal.helpers import dispatch, notify, status_of

UA = {"User-Agent": "evidence-languages/1"}
MM = 72 / 25.4
DATA = Path(__file__).parent / "data"

Box = tuple[float, float, float, float]  # left, bottom, right, top, in points


def text_boxes(data: bytes) -> list[tuple[Box, str]]:
    """Every text segment pdfium finds on every page, with its bounding box."""
    out = []
    document = pypdfium2.PdfDocument(data)
    try:
        for page in document:
            text = page.get_textpage()
            for index in range(text.count_rects()):
                box = text.get_rect(index)
                out.append((box, text.get_text_bounded(*box)))
            text.close()
            page.close()
    finally:
        document.close()
    return out


def overlaps(a: Box, b: Box, slack: float = 0.3) -> bool:
    return min(a[2], b[2]) - max(a[0], b[0]) > slack and min(a[3], b[3]) - max(a[1], b[1]) > slack


def check_layout(data: bytes) -> str:
    """No two pieces of text overlap, none lies on the QR code, no text is justified (a
    non-zero ``Tw`` word spacing); returns the text of the first page."""
    boxes = text_boxes(data)
    assert len(boxes) > 20
    for i, (a, text_a) in enumerate(boxes):
        for b, text_b in boxes[i + 1 :]:
            assert not overlaps(a, b), f"{text_a!r} {a} overlaps {text_b!r} {b}"
    document = pypdfium2.PdfDocument(data)
    page = document[0]
    width, height = page.get_size()
    textpage = page.get_textpage()
    first = str(textpage.get_text_range())
    textpage.close()
    page.close()
    document.close()
    right = width - 10 * MM  # the right margin
    qr: Box = (right - QR_SIZE_MM * MM, height - 12 * MM - QR_SIZE_MM * MM, right, height - 12 * MM)
    for box, text in boxes:
        assert not overlaps(box, qr), f"{text!r} lies on the QR code"
    reader = PdfFileReader(io.BytesIO(data))
    kids = reader.root["/Pages"]["/Kids"]
    for index in range(len(kids)):
        streams = kids[index]["/Contents"]
        raw = b"".join(s.data for s in (streams if isinstance(streams, list) else [streams]))
        spacing = [float(v) for v in re.findall(rb"(-?[\d.]+) Tw", raw)]
        assert not any(spacing), f"justified text (word spacing {spacing})"
    return first


def english_words(language: str) -> list[str]:
    """The catalog's English phrases (several words) whose translation differs."""
    path = catalogs.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    phrases = []
    for message in catalog:
        if isinstance(message.id, str) and message.id and message.string != message.id:
            phrases.append(message.id.split("%(")[0].strip())
    return [p for p in phrases if " " in p]


def translate(language: str, text: str) -> str:
    return catalogs.translations(language).gettext(text)


@pytest.mark.parametrize("language", i18n.LANGUAGES)
async def test_the_pdf_proof_reads_well_in_every_language(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, language: str
) -> None:
    delivery = await dispatch(client, auth, mode="registered", language=language)
    link = await notify(runtime, delivery["id"])
    await answer_letter(client, runtime, link, delivery["id"], "accept", headers=UA)
    await run_jobs(runtime)
    [accepted] = [
        e
        for e in (await status_of(client, auth, delivery["id"]))["evidence"]
        if e["type"] == "ACCEPTED"
    ]
    proof = (await client.get(f"/v1/evidence/{accepted['id']}", headers=auth)).content
    content = verify_json_proof(proof, trust_of(runtime)).content
    assert content is not None
    response = await client.get(f"/v1/evidence/{accepted['id']}/pdf", headers=auth)
    assert response.status_code == 200
    text = check_layout(response.content)

    # The times of the JSON proof, to the millisecond, not another clock's.
    authentication = content["recipient"]["action"]["authentication"]
    assert authentication["method"] == "email-otp" and authentication["time"]
    assert authentication["time"] != content["recipient"]["action"]["time"]
    assert authentication["time"] in text
    assert content["recipient"]["action"]["time"] in text
    # Its words, its event's name and its units in the recipient's language.
    assert translate(language, "Evidence of acceptance") in text
    assert translate(language, "Recipient authentication") in text.replace("\r\n", " ")
    assert translate(language, "Acceptance") in text
    size = i18n.file_size(len(b"%PDF-1.4\n%%EOF\n"), language)
    assert size.replace("\xa0", " ").replace("\u202f", " ") in text
    if language != "en":
        flat = text.replace("\r\n", " ")
        left = [w for w in english_words(language) if re.search(rf"\b{re.escape(w)}\b", flat)]
        assert not left, f"{language}: English left in the PDF: {left}"

    # The QR code is also a link; both open /verify with this proof checked.
    annotations = PdfFileReader(io.BytesIO(response.content)).root["/Pages"]["/Kids"][0]["/Annots"]
    [annotation] = [
        annotations[i] for i in range(len(annotations)) if annotations[i]["/Subtype"] == "/Link"
    ]
    url = str(annotation["/A"]["/URI"])
    assert url == f"http://tabellion.test/verify?evidence={accepted['id']}"
    page = await client.get(url.removeprefix("http://tabellion.test") + f"&lang={language}")
    assert page.status_code == 200
    assert 'class="verdict verdict-authentic"' in page.text
    assert accepted["id"] in page.text and "Jane" not in page.text


async def test_the_verify_page_names_no_proof_it_does_not_hold(client: httpx.AsyncClient) -> None:
    for wrong in ("evd_00000000000000000000000000", "nothing", "evd_" + "x" * 500, "'--"):
        page = await client.get("/verify", params={"evidence": wrong})
        assert page.status_code == 404
        assert 'class="verdict verdict-not-found"' in page.text


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_a_format_1_proof_renders_in_every_language(language: str, settings: Settings) -> None:
    document = json.loads((DATA / "v1-received-proof.json").read_bytes())
    content = verify_json_proof(
        (DATA / "v1-received-proof.json").read_bytes(),
        [],
    ).content
    assert content is not None and content["format"] == "tabellion-evidence/1"
    text = check_layout(render(settings, content, json.dumps(document).encode(), language))
    assert translate(language, "Evidence of receipt") in text
    assert content["content"]["subject_sha256"] in text


def test_every_string_of_the_pdf_is_translated() -> None:
    from scripts.update_evidence_translations import T, extracted

    messages = extracted()
    assert "Recipient authentication" in messages and "Scan to verify" in messages
    for language in ("fr", "nl", "de"):
        for message in messages:
            assert translate(language, message) == T[message][("fr", "nl", "de").index(language)]
