"""Completion of an envelope, as a durable job: for each document the recipients' field values
are flattened onto its pages, the audit certificate is appended, and the result is PAdES-sealed
with the evidence seal. The originals are kept; the certificate is also stored alone.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

from tabellion.config import Settings
from tabellion.db import transaction
from tabellion.document.encryption import put_for
from tabellion.envelope import repository
from tabellion.envelope.evidence import Kind, evidence_of, record
from tabellion.envelope.placeholders import clear
from tabellion.evidence.rendering.pdf import draw_qr, seal_pdf
from tabellion.evidence.sealing.seal import seal_pending
from tabellion.identity import envelopes as identity_envelopes
from tabellion.jobs.queue import enqueue
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


def _font(size: int, *, hand: bool) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
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
    value = field.value or {}
    if value.get("kind") == "image":
        raw = base64.b64decode(str(value["image"]).split(",", 1)[1])
        picture = Image.open(io.BytesIO(raw)).convert("RGBA")
        # Fit the field, keeping the aspect ratio (up or down), centred.
        ratio = min(width / picture.width, height / picture.height)
        size = (max(1, int(picture.width * ratio)), max(1, int(picture.height * ratio)))
        picture = picture.resize(size, Image.Resampling.LANCZOS)
        canvas = Image.new("RGBA", (width, height), (255, 255, 255, 0))
        offset = ((width - picture.width) // 2, (height - picture.height) // 2)
        canvas.paste(picture, offset, picture)
        return canvas
    if "checked" in value:
        return _text_image("X", width, height) if value["checked"] else None
    text = value.get("text")
    hand = field.type in ("signature", "initials")
    return _text_image(str(text), width, height, hand=hand) if text else None


def flatten(original: bytes, fields: Sequence[EnvelopeField]) -> bytes:
    """The PDF with each filled field drawn in place (as an image: the same on every reader)."""
    document = pdfium.PdfDocument(original)
    try:
        # One handle per page: objects inserted through a handle live in it until gen_content.
        pages: dict[int, pdfium.PdfPage] = {}
        tags: dict[int, list[dict[str, Any]]] = {}
        for field in fields:
            if (field.meta or {}).get("tag"):
                tags.setdefault(field.page, []).append(field.meta["tag"])
        for number, page_tags in tags.items():
            # Before the values are drawn: a tag's white cover goes under them.
            clear(pages.setdefault(number, document[number - 1]), page_tags)
        for field in fields:
            page = pages.get(field.page) or pages.setdefault(field.page, document[field.page - 1])
            page_width, page_height = page.get_size()
            width = field.width / 100 * page_width
            height = field.height / 100 * page_height
            image = _field_image(
                field, max(1, int(width * PIXELS_PER_POINT)), max(1, int(height * PIXELS_PER_POINT))
            )
            if image is None:
                continue
            obj = pdfium.PdfImage.new(document)
            obj.set_bitmap(pdfium.PdfBitmap.from_pil(image))
            left = field.x / 100 * page_width
            bottom = page_height - (field.y + field.height) / 100 * page_height
            obj.set_matrix(pdfium.PdfMatrix().scale(width, height).translate(left, bottom))
            page.insert_obj(obj)
        for page in pages.values():
            page.gen_content()
        buffer = io.BytesIO()
        document.save(buffer)
        return buffer.getvalue()
    finally:
        document.close()


# Characters CLDR puts in dates that the PDF's core font cannot show, and their look-alikes.
_PLAIN = str.maketrans({"\u202f": " ", "\u2009": " ", "\u2019": "'", "\u2013": "-"})


def _latin(text: object) -> str:
    return str(text).translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")


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
        pdf.multi_cell(text_width, 5, _latin(line), new_x="LMARGIN", new_y="NEXT")
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
            pdf.multi_cell(0, 4.5, _latin(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Helvetica", style="B", size=11)
    pdf.cell(0, 7, "Recipients", new_x="LMARGIN", new_y="NEXT")
    for recipient in recipients:
        pdf.set_font("Helvetica", size=8)
        for line in _recipient_lines(recipient, language=language, timezone=timezone):
            pdf.multi_cell(0, 4.5, _latin(line), new_x="LMARGIN", new_y="NEXT")
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
            pdf.multi_cell(0, 3.5, _latin(line), new_x="LMARGIN", new_y="NEXT")
        pdf.multi_cell(
            0,
            3.5,
            _latin(
                "Each step above is a sealed proof in the organisation's evidence chain and the "
                f"transparency log of {settings.issuer_name}; "
                f"check one at {settings.base_url.rstrip('/')}/verify."
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.ln(2)
    pdf.set_font("Helvetica", size=7)
    pdf.multi_cell(
        0,
        3.5,
        _latin(
            "The signed document carries this certificate as its last pages and is sealed "
            f"(PAdES) by {settings.issuer_name}. Check it at {verify_url(settings, envelope.id)}."
        ),
    )
    return bytes(pdf.output())


def append(document: bytes, extra: bytes) -> bytes:
    target = pdfium.PdfDocument(document)
    source = pdfium.PdfDocument(extra)
    try:
        target.import_pages(source)
        buffer = io.BytesIO()
        target.save(buffer)
        return buffer.getvalue()
    finally:
        source.close()
        target.close()


async def _read(runtime: Runtime, key: str) -> bytes:
    return b"".join([chunk async for chunk in runtime.storage.open(key)])


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
    # The certificate cites each step's sealed proof: seal what is pending first.
    await seal_pending(runtime)
    async with transaction(runtime.sessions) as session:
        envelope = await session.get(Envelope, envelope_id)
        assert envelope is not None
        parts = (await repository.parts_of(session, [envelope.id]))[envelope.id]
        organization = await session.get(Organization, envelope.organization_id)
        timezone = organization.timezone if organization else runtime.settings.timezone
        proofs = [p for p in await evidence_of(session, envelope_id) if p.hash is not None]
        session.expunge_all()
    settings = runtime.settings
    flattened: list[tuple[EnvelopeDocument, bytes]] = []
    for document in parts.documents:
        original = await _read(runtime, document.storage_key)
        # Filled fields, and empty ones that came from a text tag (the tag is covered).
        fields = [
            f
            for f in parts.fields
            if f.document_id == document.id and (f.value or (f.meta or {}).get("tag"))
        ]
        flattened.append((document, await asyncio.to_thread(flatten, original, fields)))
    hashes = [(d, hashlib.sha256(data).hexdigest()) for d, data in flattened]
    cert = await asyncio.to_thread(
        certificate, settings, envelope, parts.recipients, hashes, proofs, timezone=timezone
    )
    owner = envelope.organization_id
    cert_blob = await put_for(runtime.storage, _chunks(cert), organization_id=owner)
    signed: dict[str, tuple[str, str]] = {}
    for document, data in flattened:
        sealed = await seal_pdf(settings, await asyncio.to_thread(append, data, cert), envelope.id)
        blob = await put_for(runtime.storage, _chunks(sealed), organization_id=owner)
        signed[document.id] = (blob.key, blob.sha256)
    async with transaction(runtime.sessions) as session:
        row = await session.get(Envelope, envelope_id, with_for_update=True)
        if row is None or row.certificate_storage_key is not None:
            return
        for document_row in (await repository.parts_of(session, [envelope_id]))[
            envelope_id
        ].documents:
            key, sha = signed[document_row.id]
            document_row.signed_storage_key, document_row.signed_sha256 = key, sha
        row.certificate_storage_key = cert_blob.key
        record(
            session,
            row,
            Kind.SEALED,
            utcnow(),
            documents=[{"id": d, "signed_sha256": sha} for d, (_, sha) in signed.items()],
            certificate_sha256=cert_blob.sha256,
        )
        # Everybody, cc included, gets the result; in the same transaction as the files.
        recipients = (await repository.parts_of(session, [envelope_id]))[envelope_id].recipients
        for recipient in recipients:
            enqueue(session, DELIVER_TASK, {"recipient_id": recipient.id})
