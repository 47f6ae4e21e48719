# pyHanko's PDF objects (generic.*) and writer methods carry no type hints.
# mypy: disable-error-code="no-untyped-call"
"""Completion of an envelope, as a durable job: for each document the recipients' field values
are flattened onto its pages, the audit certificate is appended, and the result is PAdES-sealed
with the evidence seal. The originals are kept; the certificate is also stored alone.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import io
import zlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
from fpdf import FPDF
from fpdf.fonts import CORE_FONTS_CHARWIDTHS
from PIL import Image, ImageDraw, ImageFont
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import update

from tabellion.config import Settings
from tabellion.db import transaction
from tabellion.document.encryption import put_for
from tabellion.document.storage import read_blob
from tabellion.envelope import repository
from tabellion.envelope.evidence import Kind, evidence_of, record
from tabellion.envelope.placeholders import clear
from tabellion.evidence.rendering.pdf import draw_qr, seal_pdf
from tabellion.evidence.sealing.seal import seal_pending
from tabellion.identity import envelopes as identity_envelopes
from tabellion.jobs.queue import enqueue
from tabellion.kit.pdftext import wrap_lines
from tabellion.kit.time import isoformat_z, utcnow
from tabellion.models.envelope import Envelope, EnvelopeDocument, EnvelopeField, EnvelopeRecipient
from tabellion.models.evidence import Evidence
from tabellion.models.organization import Organization
from tabellion.portal.i18n import human_time
from tabellion.runtime import Runtime

COMPLETE_TASK = "envelope.complete"
DELIVER_TASK = "envelope.deliver_signed"
PIXELS_PER_POINT = 3  # field images at about 216 dpi: crisp when printed
INK = (11, 31, 77, 255)
QR_MM = 30.0


def verify_url(settings: Settings, envelope_id: str) -> str:
    return f"{settings.base_url}/verify?envelope={envelope_id}"


# Typed signatures and initials: Dancing Script (SIL Open Font License 1.1, static/fonts/OFL.txt),
# the font the signing page shows them in.
HANDWRITING = Path(__file__).parent / "static" / "fonts" / "DancingScript-Regular.otf"


@functools.lru_cache(maxsize=64)
def _font(size: int, *, hand: bool) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Cached: loading a face costs more than drawing a field with it.
    if hand:
        return ImageFont.truetype(str(HANDWRITING), size=size)
    return ImageFont.load_default(size=size)


def _text_image(text: str, width: int, height: int, *, hand: bool = False) -> Image.Image:
    image = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    size = max(8, int(height * (0.8 if hand else 0.6)))
    font = _font(size, hand=hand)
    while size > 8 and draw.textlength(text, font=font) > width:
        size = int(size * 0.9)
        font = _font(size, hand=hand)
    draw.text((2, height / 2), text, fill=INK, font=font, anchor="lm")
    return image


def _field_image(field: EnvelopeField, width: int, height: int) -> Image.Image | None:
    """What the field shows, for a ``width`` × ``height`` pixel box: a picture at its own
    size (the PDF scales it into place, see ``_fit``), or text drawn at the box's size."""
    value = field.value or {}
    if value.get("kind") == "image":
        raw = base64.b64decode(str(value["image"]).split(",", 1)[1])
        picture: Image.Image = Image.open(io.BytesIO(raw))
        picture.load()
        if picture.mode != "RGBA":  # (converting to the same mode would copy it)
            picture = picture.convert("RGBA")
        # Resampled only when far finer than print needs (a photo, say): a file that stays
        # small. A drawing from the signing page's canvas goes in as drawn.
        if picture.width > 2 * width or picture.height > 2 * height:
            picture.thumbnail((2 * width, 2 * height), Image.Resampling.LANCZOS)
        return picture
    if "checked" in value:
        return _text_image("X", width, height) if value["checked"] else None
    text = value.get("text")
    return _text_image(str(text), width, height, hand=field.type in HAND) if text else None


def _fit(image: Image.Image, width: float, height: float) -> tuple[float, float, float, float]:
    """Where ``image`` goes in a ``width`` × ``height`` box: as large as fits, its aspect
    ratio kept, centred (offset x, offset y, width, height)."""
    ratio = min(width / image.width, height / image.height)
    drawn_width, drawn_height = image.width * ratio, image.height * ratio
    return (width - drawn_width) / 2, (height - drawn_height) / 2, drawn_width, drawn_height


def _place(
    image: Image.Image | None, box: tuple[int, int], width: float, height: float
) -> tuple[Image.Image, tuple[float, float, float, float]] | None:
    """The image to embed and where it goes in a ``width`` × ``height`` point box: one drawn
    at the box's pixel size (text) fills it, a picture is fitted (``_fit``). Either is cut to
    its ink and placed where the ink was: the same page, a fraction of the pixels to store (a
    signature drawn on the signing page is mostly transparent canvas)."""
    if image is None:
        return None
    ink = image.getchannel("A").getbbox()
    if ink is None:
        return None
    if image.size == box:
        offset_x, offset_y, scale_x, scale_y = 0.0, 0.0, width / box[0], height / box[1]
    else:
        offset_x, offset_y, drawn_width, drawn_height = _fit(image, width, height)
        scale_x, scale_y = drawn_width / image.width, drawn_height / image.height
    left, top, right, bottom = ink
    where = (offset_x + left * scale_x, offset_y + (image.height - bottom) * scale_y,
             (right - left) * scale_x, (bottom - top) * scale_y)  # fmt: skip
    return (image if ink == (0, 0, *image.size) else image.crop(ink)), where


def _box(page: generic.DictionaryObject) -> tuple[float, float, float, float]:
    """The page's visible box (CropBox, else MediaBox; either may be inherited)."""
    for key in ("/CropBox", "/MediaBox"):
        node: Any = page
        while node is not None:
            if key in node:
                left, bottom, right, top = (float(v) for v in node[key])
                return min(left, right), min(bottom, top), max(left, right), max(bottom, top)
            parent = node.get("/Parent")
            node = None if parent is None else parent.get_object()
    return 0.0, 0.0, 612.0, 792.0  # the default of PDF 1.7, 14.11.2


def _image_xobject(writer: IncrementalPdfFileWriter, image: Image.Image) -> generic.IndirectObject:
    """An RGBA picture as an image XObject (its alpha as a soft mask, unless opaque).
    Deflated at level 1: these are mostly flat areas of one ink, which the fastest level packs
    nearly as well as the default one does in a fifth of the time."""

    def xobject(
        pixels: Image.Image, colours: str, **extra: generic.PdfObject
    ) -> generic.IndirectObject:
        head = {
            "/Type": generic.NameObject("/XObject"),
            "/Subtype": generic.NameObject("/Image"),
            "/Width": generic.NumberObject(pixels.width),
            "/Height": generic.NumberObject(pixels.height),
            "/ColorSpace": generic.NameObject(colours),
            "/BitsPerComponent": generic.NumberObject(8),
            "/Filter": generic.NameObject("/FlateDecode"),
            **extra,
        }
        stream = generic.StreamObject(
            generic.DictionaryObject({generic.NameObject(k): v for k, v in head.items()}),
            encoded_data=zlib.compress(pixels.tobytes(), 1),
        )
        return writer.add_object(stream)

    rgba = image if image.mode == "RGBA" else image.convert("RGBA")
    alpha = rgba.getchannel("A")
    if alpha.getextrema() == (255, 255):  # opaque (an uploaded photo, say): no mask
        return xobject(rgba.convert("RGB"), "/DeviceRGB")
    return xobject(rgba.convert("RGB"), "/DeviceRGB", **{"/SMask": xobject(alpha, "/DeviceGray")})


def _clear_tags(original: bytes, fields: Sequence[EnvelopeField]) -> bytes:
    """The PDF without the text tags its fields came from (pdfium: taking a text object out
    needs a content parser). Only documents placed by tags pay for this rewrite."""
    tags: dict[int, list[dict[str, Any]]] = {}
    for field in fields:
        if (field.meta or {}).get("tag"):
            tags.setdefault(field.page, []).append(field.meta["tag"])
    if not tags:
        return original
    document = pdfium.PdfDocument(original)
    try:
        for number, page_tags in tags.items():
            page = document[number - 1]
            clear(page, page_tags)
            page.gen_content()
        buffer = io.BytesIO()
        document.save(buffer)
        return buffer.getvalue()
    finally:
        document.close()


# Helvetica, one of the PDF's standard fonts (every reader has it, nothing is embedded), in
# WinAnsiEncoding, where Latin-1 without its C1 controls has its own byte values.
_HELVETICA = CORE_FONTS_CHARWIDTHS["helvetica"]  # widths in 1/1000 of the font size
_HELVETICA_MIDDLE = (718 - 207) / 2000  # baseline to the middle of cap height and descender
_TEXT_MARGIN = 2 / PIXELS_PER_POINT  # the left margin a drawn text leaves, in points
_TEXT_MIN = 8 / PIXELS_PER_POINT  # the smallest size a drawn text shrinks to, in points
HAND = ("signature", "initials")  # typed ones are drawn in the handwriting font


def _text_of(field: EnvelopeField) -> str | None:
    """The text a field shows (a check box shows an X), or None: a picture, or nothing."""
    value = field.value or {}
    if value.get("kind") == "image":
        return None
    if "checked" in value:
        return "X" if value["checked"] else None
    text = value.get("text")
    return str(text) if text else None


def _text_ops(text: str, font: str, box: tuple[float, float, float, float]) -> str | None:
    """PDF operators that write ``text`` in Helvetica in the box (left, bottom, width, height),
    as ``_text_image`` draws it: left-aligned, centred vertically, 0.6 of the box's height or
    smaller for a long text, clipped to the box. None when Helvetica cannot show a character
    (the caller draws the text as a picture)."""
    if not all(" " <= c <= "~" or "\xa0" <= c <= "\xff" for c in text):
        return None
    left, bottom, width, height = box
    units = sum(_HELVETICA[c] for c in text)  # core fonts have no kerning
    size = max(_TEXT_MIN, min(0.6 * height, (width - _TEXT_MARGIN) * 1000 / units))
    baseline = bottom + height / 2 - _HELVETICA_MIDDLE * size
    red, green, blue = (channel / 255 for channel in INK[:3])
    return (
        f"q {left:.3f} {bottom:.3f} {width:.3f} {height:.3f} re W n "
        f"BT {font} {size:.3f} Tf {red:.4f} {green:.4f} {blue:.4f} rg "
        f"{left + _TEXT_MARGIN:.3f} {baseline:.3f} Td <{text.encode('latin-1').hex()}> Tj ET Q"
    )


def _pages_for_modification(
    writer: IncrementalPdfFileWriter, numbers: set[int]
) -> dict[int, tuple[generic.IndirectObject, generic.PdfObject]]:
    """The pages numbered ``numbers`` (from 1), each with its resources (its own or inherited),
    in one walk of the page tree. (pyHanko's ``find_page_for_modification`` walks the tree from
    its root for each page, so a field on page 90 costs reading 90 pages each time.)"""
    found: dict[int, tuple[generic.IndirectObject, generic.PdfObject]] = {}
    last = max(numbers)
    seen: set[Any] = set()

    def walk(node_ref: generic.IndirectObject, number: int, resources: generic.PdfObject) -> None:
        node = node_ref.get_object()
        if "/Resources" in node:
            resources = node.raw_get("/Resources")
        for kid_ref in node["/Kids"]:
            if number > last:
                return
            if not isinstance(kid_ref, generic.IndirectObject) or kid_ref.reference in seen:
                raise PdfReadError("The document's page tree is malformed")
            seen.add(kid_ref.reference)
            kid = kid_ref.get_object()
            if kid.get("/Type") == "/Pages":
                count = int(kid["/Count"])
                if any(number <= wanted < number + count for wanted in numbers):
                    walk(kid_ref, number, resources)
                number += count
                continue
            if number in numbers:
                found[number] = (kid_ref, kid.raw_get("/Resources") if "/Resources" in kid
                                 else resources)  # fmt: skip
            number += 1

    walk(writer.root.raw_get("/Pages"), 1, generic.DictionaryObject())
    if len(found) != len(numbers):
        raise PdfReadError("A field is on a page the document does not have")
    return found


def _free_name(resources: generic.PdfObject, kind: str, stem: str, taken: set[str]) -> str:
    """A resource name the page does not use yet: not by its producer, not by an earlier
    Tabellion flattening (a signed PDF signed again), not by another page that shares the
    same resource dictionary."""
    listed = resources.get_object().get(kind)
    used = set(listed.get_object()) if listed is not None else set()
    number = 0
    while f"/{stem}{number}" in used or f"/{stem}{number}" in taken:
        number += 1
    taken.add(f"/{stem}{number}")
    return f"/{stem}{number}"


def _add_content(
    writer: IncrementalPdfFileWriter,
    page_ref: generic.IndirectObject,
    resources: generic.PdfObject,
    ops: list[str],
    added: generic.DictionaryObject,
) -> None:
    """``ops`` drawn over the page, whose own content goes between ``q`` and ``Q`` (whatever
    state it leaves cannot move them), and ``added`` merged into its resources: what two
    calls of pyHanko's ``add_stream_to_page`` do, without walking the page tree again."""
    page = page_ref.get_object()
    before = writer.add_object(generic.StreamObject(stream_data=b"q\n"))
    after = writer.add_object(
        generic.StreamObject(stream_data=("Q\n" + "\n".join(ops) + "\n").encode())
    )
    contents = page.raw_get("/Contents") if "/Contents" in page else generic.ArrayObject()
    target = contents.get_object()
    own = list(target) if isinstance(target, generic.ArrayObject) else [contents]
    page[generic.NameObject("/Contents")] = writer.add_object(
        generic.ArrayObject([before, *own, after])
    )
    if isinstance(resources, generic.IndirectObject):
        if writer.merge_resources(resources.get_object(), added):
            writer.mark_update(resources)
    else:  # inherited or the page's own, written in the page: the page gets its own copy
        copy = generic.DictionaryObject(resources)
        writer.merge_resources(copy, added)
        page[generic.NameObject("/Resources")] = writer.add_object(copy)
    writer.mark_update(page_ref)


def flatten(original: bytes, fields: Sequence[EnvelopeField]) -> bytes:
    """The PDF with each filled field drawn in place, written as an incremental update: the
    original bytes stay the file's first revision, and only the touched pages, their new
    content and the pictures are added after them. Text is written in Helvetica (crisp and
    searchable, a few bytes); signatures, initials, uploaded pictures and text Helvetica
    cannot show are drawn as pictures (the same on every reader)."""
    data = _clear_tags(original, fields)
    by_page: dict[int, list[EnvelopeField]] = {}
    for field in fields:
        if field.value:
            by_page.setdefault(field.page, []).append(field)
    if not by_page:
        return data
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    font: generic.IndirectObject | None = None
    taken: set[str] = set()
    drawn = False
    pages = _pages_for_modification(writer, set(by_page))
    for number, (page_ref, resources) in sorted(pages.items()):
        left0, bottom0, right0, top0 = _box(page_ref.get_object())
        page_width, page_height = right0 - left0, top0 - bottom0
        images, fonts = generic.DictionaryObject(), generic.DictionaryObject()
        ops: list[str] = []
        for field in by_page[number]:
            width = field.width / 100 * page_width
            height = field.height / 100 * page_height
            left = left0 + field.x / 100 * page_width
            bottom = top0 - (field.y + field.height) / 100 * page_height
            text = None if field.type in HAND else _text_of(field)
            if text is not None:
                name = next(iter(fonts), None) or _free_name(resources, "/Font", "TabellionText",
                                                              taken)  # fmt: skip
                written = _text_ops(text, name, (left, bottom, width, height))
                if written is not None:
                    font = font or writer.add_object(_helvetica())
                    fonts[generic.NameObject(name)] = font
                    ops.append(written)
                    continue
            box = (max(1, int(width * PIXELS_PER_POINT)), max(1, int(height * PIXELS_PER_POINT)))
            placed = _place(_field_image(field, *box), box, width, height)
            if placed is None:
                continue
            image, (dx, dy, drawn_width, drawn_height) = placed
            name = _free_name(resources, "/XObject", "TabellionField", taken)
            images[generic.NameObject(name)] = _image_xobject(writer, image)
            ops.append(f"q {drawn_width:.3f} 0 0 {drawn_height:.3f} {left + dx:.3f} "
                       f"{bottom + dy:.3f} cm {name} Do Q")  # fmt: skip
        if not ops:
            continue
        added = generic.DictionaryObject()
        for kind, named in (("/XObject", images), ("/Font", fonts)):
            if named:
                added[generic.NameObject(kind)] = named
        _add_content(writer, page_ref, resources, ops, added)
        drawn = True
    if not drawn:
        return data
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _helvetica() -> generic.DictionaryObject:
    return generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Font"),
            generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
            generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica"),
            generic.NameObject("/Encoding"): generic.NameObject("/WinAnsiEncoding"),
        }
    )


# Characters CLDR puts in dates that the PDF's core font cannot show, and their look-alikes.
_PLAIN = str.maketrans({"\u202f": " ", "\u2009": " ", "\u2019": "'", "\u2013": "-"})


def _latin(text: object) -> str:
    return str(text).translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")


def _write(pdf: FPDF, text: str, height: float, width: float = 0) -> None:
    """``multi_cell(width, height, text)``, left-aligned, at a fraction of its cost: fpdf2's
    line breaker takes time quadratic in a line's length, and the certificate's lines are
    long (hashes, user agents)."""
    inner = (width or pdf.epw) - 2 * pdf.c_margin
    for line in wrap_lines(pdf, _latin(text), inner):
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()
        # Where ``cell`` puts the baseline: the middle of the line, lowered by 0.3 em.
        pdf.text(pdf.l_margin + pdf.c_margin, pdf.get_y() + height / 2 + 0.3 * pdf.font_size, line)
        pdf.set_xy(pdf.l_margin, pdf.get_y() + height)


def _when(value: datetime | str | None, language: str, timezone: str) -> str:
    """A moment as the pages and e-mails show it (the envelope's language, the organisation's
    time zone by name), then the exact UTC time, as the evidence PDF shows it."""
    if value is None or value == "":
        return "-"
    try:
        moment = (
            value
            if isinstance(value, datetime)
            else datetime.fromisoformat(value.replace("Z", "+00:00"))
        )
    except ValueError:
        return str(value)
    return f"{human_time(moment, language, timezone)} ({isoformat_z(moment)})"


def _recipient_lines(
    recipient: EnvelopeRecipient, *, language: str = "en", timezone: str = "UTC"
) -> list[str]:
    def when(value: datetime | str | None) -> str:
        return _when(value, language, timezone)

    trail: dict[str, Any] = recipient.trail or {}
    lines = [
        f"{recipient.name} <{recipient.email}>  -  {recipient.role}, order {recipient.position}",
        f"Status: {recipient.status}",
    ]
    for earlier in trail.get("reassigned", []):
        lines.append(
            f"Reassigned from {earlier.get('name')} <{earlier.get('email')}> "
            f"at {when(earlier.get('at'))}, before they acted"
        )
    if recipient.sent_at:
        lines.append(f"Invited: {when(recipient.sent_at)} (link by e-mail to this address)")
    for step in ("opened", "assisted", "signed", "approved", "viewed", "rejected"):
        if step in trail:
            done = trail[step]
            consent = "; consented to sign electronically" if done.get("consent") else ""
            checks = "".join(
                f"; {label} {done[key]}"
                for key, label in (("access_auth", "access by"), ("action_auth", "confirmed by"))
                if done.get(key)
            )
            lines.append(
                f"{step.capitalize()}: {when(done.get('at'))} from {done.get('ip')}, "
                f"{done.get('user_agent') or 'unknown agent'}{consent}{checks}"
            )
    if identified := identity_envelopes.certificate_line(recipient):
        lines.append(identified)
    auth = ", ".join(["e-mail link", *recipient.access_auth, *recipient.action_auth])
    lines.append(f"Authentication required: {auth}")
    if recipient.reason:
        lines.append(f"Reason: {recipient.reason}")
    return lines


def certificate(
    settings: Settings,
    envelope: Envelope,
    recipients: Sequence[EnvelopeRecipient],
    documents: Sequence[tuple[EnvelopeDocument, str]],
    proofs: Sequence[Evidence] = (),
    *,
    timezone: str = "UTC",
) -> bytes:
    """The audit certificate: who did what, when, from where; each document's SHA-256; the
    sealed evidence of each step (its id, chain position and hash). Times in the envelope's
    language and ``timezone`` (the organisation's), UTC beside."""
    language = envelope.language or "en"
    pdf = FPDF(format="A4")
    pdf.set_title(f"Audit certificate {envelope.id}")
    pdf.set_creator("Tabellion")
    pdf.add_page()
    pdf.set_auto_page_break(True, margin=15)
    x0, y0 = pdf.w - pdf.r_margin - QR_MM, 10.0
    draw_qr(pdf, verify_url(settings, envelope.id), x0, y0, QR_MM)
    text_width = pdf.epw - QR_MM - 4
    pdf.set_font("Helvetica", style="B", size=16)
    pdf.multi_cell(text_width, 9, "Audit certificate", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    head = [
        f"Envelope {envelope.id}: {envelope.title}",
        f"Reference: {envelope.reference or '-'}  -  signing order: {envelope.signing_order}",
        f"Sent: {_when(envelope.sent_at, language, timezone)}",
        f"Completed: {_when(envelope.completed_at, language, timezone)}",
    ]
    for line in head:
        _write(pdf, line, 5, text_width)
    pdf.set_y(max(pdf.get_y() + 4, y0 + QR_MM + 2))
    pdf.set_font("Helvetica", style="B", size=11)
    pdf.cell(0, 7, "Documents", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=8)
    for document, flattened_sha in documents:
        for line in (
            f"{document.filename} ({document.id}, {document.pages} pages)",
            f"  SHA-256 before signing: {document.sha256}",
            f"  SHA-256 after the fields were filled: {flattened_sha}",
        ):
            _write(pdf, line, 4.5)
    pdf.ln(2)
    pdf.set_font("Helvetica", style="B", size=11)
    pdf.cell(0, 7, "Recipients", new_x="LMARGIN", new_y="NEXT")
    for recipient in recipients:
        pdf.set_font("Helvetica", size=8)
        for line in _recipient_lines(recipient, language=language, timezone=timezone):
            _write(pdf, line, 4.5)
        pdf.ln(2)
    if proofs:
        pdf.set_font("Helvetica", style="B", size=11)
        pdf.cell(0, 7, "Evidence", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=7)
        for proof in proofs:
            line = (
                f"{proof.id}  #{proof.seq}  {proof.type}  {isoformat_z(proof.occurred_at)}"
                f"  SHA-256 {proof.hash}"
            )
            _write(pdf, line, 3.5)
        _write(
            pdf,
            "Each step above is a sealed proof in the organisation's evidence chain and the "
            f"transparency log of {settings.issuer_name}; "
            f"check one at {settings.base_url.rstrip('/')}/verify.",
            3.5,
        )
        pdf.ln(2)
    pdf.set_font("Helvetica", size=7)
    _write(
        pdf,
        "The signed document carries this certificate as its last pages and is sealed "
        f"(PAdES) by {settings.issuer_name}. Check it at {verify_url(settings, envelope.id)}.",
        3.5,
    )
    return bytes(pdf.output())


def append_pages(writer: IncrementalPdfFileWriter, extra: bytes) -> None:
    """The pages of ``extra`` added at the end of ``writer``'s document, in its update: as
    children of the page tree's root (``insert_page`` would walk the whole tree to find the
    last page's parent, reading every page of a long document)."""
    source = PdfFileReader(io.BytesIO(extra))
    root_ref = writer.root.raw_get("/Pages")
    root = root_ref.get_object()
    kids = root["/Kids"]
    added = 0
    for ref in source.root["/Pages"]["/Kids"]:
        page = ref.get_object()
        # Without its parent: importing that would bring the other file's page tree along.
        del page["/Parent"]
        imported = writer.import_object(page)
        assert isinstance(imported, generic.DictionaryObject)
        imported[generic.NameObject("/Parent")] = root_ref
        kids.append(writer.add_object(imported))
        added += 1
    root[generic.NameObject("/Count")] = generic.NumberObject(root["/Count"] + added)
    writer.update_container(root)
    writer.update_container(kids)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def complete(runtime: Runtime, envelope_id: str) -> None:
    """Produce the signed documents and the certificate; a rerun after success does nothing."""
    async with transaction(runtime.sessions) as session:
        envelope = await session.get(Envelope, envelope_id)
        if envelope is None or envelope.status != "completed":
            return
        if envelope.certificate_storage_key is not None:
            return
        parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
        organization = await session.get(Organization, envelope.organization_id)
        timezone = organization.timezone if organization else runtime.settings.timezone
        session.expunge_all()
    settings = runtime.settings
    # The fields are flattened onto each document (in threads: pixels and zlib let go of the
    # GIL) while the pending evidence is sealed: the certificate cites each step's sealed proof.
    flattening: list[asyncio.Future[bytes]] = []
    for document in parts.documents:
        original = await read_blob(runtime.storage, document.storage_key)
        # Filled fields, and empty ones that came from a text tag (the tag is covered).
        fields = [
            f
            for f in parts.fields
            if f.document_id == document.id and (f.value or (f.meta or {}).get("tag"))
        ]
        flattening.append(asyncio.ensure_future(asyncio.to_thread(flatten, original, fields)))
    try:
        await seal_pending(runtime)
    finally:
        flat_files = await asyncio.gather(*flattening)
    async with runtime.sessions() as session:
        proofs = [p for p in await evidence_of(session, envelope_id) if p.hash is not None]
        session.expunge_all()
    flattened = list(zip(parts.documents, flat_files, strict=True))
    hashes = [(d, hashlib.sha256(data).hexdigest()) for d, data in flattened]
    cert = await asyncio.to_thread(
        certificate, settings, envelope, parts.recipients, hashes, proofs, timezone=timezone
    )
    owner = envelope.organization_id
    # Stored while the documents are sealed (writing and fsync are off the event loop).
    storing = asyncio.ensure_future(put_for(runtime.storage, _chunks(cert), organization_id=owner))
    signed: dict[str, tuple[str, str]] = {}
    try:
        for document, data in flattened:
            # The certificate's pages go into the seal's own update: one parse and one write.
            sealed = await seal_pdf(
                settings, data, envelope.id, extend=functools.partial(append_pages, extra=cert)
            )
            blob = await put_for(runtime.storage, _chunks(sealed), organization_id=owner)
            signed[document.id] = (blob.key, blob.sha256)
    finally:
        cert_blob = await storing
    async with transaction(runtime.sessions) as session:
        row = await session.get(Envelope, envelope_id, with_for_update=True)
        if row is None or row.certificate_storage_key is not None:
            return
        for document_id, (key, sha) in signed.items():
            await session.execute(
                update(EnvelopeDocument)
                .where(EnvelopeDocument.id == document_id)
                .values(signed_storage_key=key, signed_sha256=sha)
            )
        row.certificate_storage_key = cert_blob.key
        record(
            session,
            row,
            Kind.SEALED,
            utcnow(),
            documents=[{"id": d, "signed_sha256": sha} for d, (_, sha) in signed.items()],
            certificate_sha256=cert_blob.sha256,
        )
        # Everybody, cc included, gets the result; in the same transaction as the files. (A
        # completed envelope's recipients no longer change: those read above are all of them.)
        for recipient in parts.recipients:
            enqueue(session, DELIVER_TASK, {"recipient_id": recipient.id})
