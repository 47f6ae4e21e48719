"""The PDF proof: the facts of one evidence on a page or two, sealed PAdES (pyHanko).

The sealed JSON proof is embedded in the PDF (``evidence.json``), so the PDF alone carries
the machine-checkable form too. A QR code leads to the public verify page. With a
time-stamping authority configured the signature is PAdES B-T, else B-B.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from io import BytesIO
from typing import Any

import segno
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from fpdf import FPDF
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from tabellion.config import Settings
from tabellion.evidence.sealing.keys import Seal, load_seal
from tabellion.portal import i18n

TITLES = {
    "SENT": "Evidence of sending",
    "NOTIFIED": "Evidence of notification",
    "UNDELIVERED": "Evidence of non-delivery",
    "RECEIVED": "Evidence of receipt",
    "ACCEPTED": "Evidence of acceptance",
    "REFUSED": "Evidence of refusal",
    "EXPIRED": "Evidence of expiry",
    "DOWNLOADED": "Evidence of download",
    "REPLIED": "Evidence of reply",
}


@cache
def _signer(seal: Seal) -> signers.SimpleSigner:
    """Built once per process and seal: the key is parsed once, not per signature."""
    key_der = seal.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    chain = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in seal.chain
    ]
    return signers.SimpleSigner(
        signing_cert=chain[0],
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs(chain[1:]),  # type: ignore[no-untyped-call]
    )


_TYPOGRAPHY = str.maketrans(
    {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
     "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u20ac": "EUR", "\u00a0": " ",
     "\u202f": " "}
)  # fmt: skip


def _latin(text: object) -> str:
    """The built-in PDF fonts speak Latin-1; the JSON proof keeps the exact text."""
    return str(text).translate(_TYPOGRAPHY).encode("latin-1", "replace").decode("latin-1")


class _Page(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", size=7)
        self.set_text_color(90, 96, 110)
        self.multi_cell(0, 3.5, _latin(self.footer_text), align="C")


def render(settings: Settings, content: dict[str, Any], proof_json: bytes, language: str) -> bytes:
    """The unsealed PDF of one evidence content."""
    t = i18n.translations(language)
    _ = t.gettext
    when: Any = i18n.context(language)["when"]
    pdf = _Page(format="A4")
    pdf.footer_text = _(
        "This document is sealed. Its signature and the embedded evidence.json can be checked "
        "with any PDF reader, with `tabellion verify`, or at %(url)s."
    ) % {"url": settings.base_url + "/verify"}
    pdf.set_title(f"{TITLES.get(content['type'], 'Evidence')} {content['id']}")
    pdf.set_author(content["issuer"]["name"])
    pdf.set_creator("Tabellion")
    pdf.set_lang(language)
    pdf.add_page()
    pdf.set_auto_page_break(True, margin=18)
    # The heading stays left of the QR code, and the table starts below it: no text over it.
    heading = pdf.epw - QR_SIZE_MM - 4
    pdf.set_font("Helvetica", style="B", size=18)
    pdf.set_text_color(11, 92, 173)
    pdf.multi_cell(
        heading,
        10,
        _latin(_(TITLES.get(content["type"], "Evidence"))),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Helvetica", size=9)
    pdf.set_text_color(85, 96, 110)
    pdf.multi_cell(
        heading,
        5,
        _latin(f"{content['id']}  ·  {content['event']['uri']}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    size = QR_SIZE_MM
    x0, y0 = pdf.w - pdf.r_margin - size, 12.0
    draw_qr(pdf, verify_url(settings, content["id"]), x0, y0, size)
    pdf.set_y(max(pdf.get_y() + 6, y0 + size + 2))
    occurred = datetime.fromisoformat(content["occurred_at"].replace("Z", "+00:00"))
    sender = content["sender"]
    recipient = content["recipient"]
    person = " ".join(p for p in (recipient.get("first_name"), recipient.get("last_name")) if p)
    rows: list[tuple[str, str]] = [
        (_("Event"), f"{content['type']} ({content['event']['uri'].rsplit('/', 1)[-1]})"),
        (_("Date and time"), f"{when(occurred, 'full')} ({content['occurred_at']})"),
        (_("Issuer"), f"{content['issuer']['name']} - {content['issuer']['url']}"),
        (_("Sender"), f"{sender['name']} ({sender['organization']['id']})"),
        (_("Sender authentication"), _auth_text(sender["authentication"])),
        (
            _("Recipient"),
            ", ".join(p for p in (person, recipient.get("company") or "", recipient["email"]) if p),
        ),
        (_("Message"), content["message_id"]),
        (_("Delivery"), content["delivery_id"]),
        (_("Subject (SHA-256)"), _digest(content["content"], "subject")),
        (_("Body (SHA-256)"), _digest(content["content"], "body")),
    ]
    if content["event"]["reasons"]:
        rows.append((_("Reason"), "; ".join(_reason(r) for r in content["event"]["reasons"])))
    action = recipient.get("action")
    if action:
        auth = action.get("authentication") or {}
        method = str(auth.get("method", "personal-link"))
        rows.append(
            (
                _("Recipient authentication"),
                f"{method} · {action['time']}" if action.get("time") else method,
            )
        )
        rows.append(
            (_("From"), f"IP {action.get('ip') or '-'} · {action.get('user_agent') or '-'}")
        )
    for attachment in content["content"]["attachments"]:
        rows.append(
            (
                _("Document"),
                f"{attachment['filename']} ({attachment['size']} B)\n"
                f"SHA-256 {attachment['sha256']}",
            )
        )
    chain = content["chain"]
    rows.append((_("Chain"), f"#{chain['sequence']} · {_('previous')} {chain['previous'] or '-'}"))
    pdf.set_text_color(27, 31, 36)
    for label, text in rows:
        pdf.set_font("Helvetica", style="B", size=9)
        y = pdf.get_y()
        pdf.multi_cell(48, 5, _latin(label), new_x="RIGHT", new_y="TOP")
        pdf.set_font("Helvetica", size=9)
        pdf.multi_cell(0, 5, _latin(text), new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(max(pdf.get_y(), y + 5) + 1.5)
    pdf.embed_file(
        bytes=proof_json,
        basename="evidence.json",
        mime_type="application/json",
        desc="Sealed JSON proof (JWS, RFC 7515)",
        modification_date=occurred,
    )
    return bytes(pdf.output())


QR_SIZE_MM = 30.0  # the QR code's square, quiet zone included, at the top right


def draw_qr(pdf: FPDF, url: str, x0: float, y0: float, size: float) -> None:
    """A QR code of ``url`` in a ``size`` mm square (quiet zone included), also a link."""
    matrix = list(segno.make(url, error="m").matrix)
    cell = size / (len(matrix) + 8)
    pdf.set_fill_color(0, 0, 0)
    for row_index, row in enumerate(matrix):
        for col_index, value in enumerate(row):
            if value:
                pdf.rect(x0 + (col_index + 4) * cell, y0 + (row_index + 4) * cell, cell, cell, "F")
    # Readers on a screen follow the QR code as a link too.
    pdf.link(x0, y0, size, size, url)


def verify_url(settings: Settings, evidence_id: str) -> str:
    """Where the QR code of a PDF proof leads: the public verify page."""
    return f"{settings.base_url}/verify?evidence={evidence_id}"


def _auth_text(auth: dict[str, Any]) -> str:
    parts = [str(auth.get("method", ""))]
    if auth.get("api_key_id"):
        parts.append(f"key {auth['api_key_id']}")
    if auth.get("submitted_by_organization_id"):
        parts.append(f"on behalf, by {auth['submitted_by_organization_id']}")
    return " · ".join(parts)


class FallbackTimeStamper(TimeStamper):
    """The authorities of TABELLION_TSA_URL, asked in order until one answers with a token."""

    def __init__(self, urls: list[str]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.authorities = [HTTPTimeStamper(url, timeout=10) for url in urls]

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> Any:
        failure: Exception | None = None
        for authority in self.authorities:
            try:
                return await authority.async_timestamp(message_digest, md_algorithm)
            except (TimestampRequestError, OSError, ValueError) as exc:
                failure = exc  # the next authority, if any
        assert failure is not None
        raise failure


async def seal_pdf(settings: Settings, data: bytes, evidence_id: str) -> bytes:
    seal = load_seal(settings)
    meta = signers.PdfSignatureMetadata(
        field_name="TabellionSeal",
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=f"Tabellion evidence {evidence_id}",
        location=settings.base_url,
        name=settings.issuer_name,
        # A certification signature forbidding any change (DocMDP P=1): generic readers then
        # flag an incremental update (added pages, annotations, a second signature) too.
        certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
    )
    urls = settings.tsa_urls
    timestamper = FallbackTimeStamper(urls) if urls else None
    writer = IncrementalPdfFileWriter(BytesIO(data))
    out = await signers.async_sign_pdf(writer, meta, _signer(seal), timestamper=timestamper)
    return out.getvalue()  # type: ignore[no-any-return]


def proof_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2, ensure_ascii=False).encode()


def _digest(parts: dict[str, Any], name: str) -> str:
    """A part's SHA-256: ``{name}_sha256`` in format 1, ``{name}.sha256`` in format 2."""
    part = parts.get(name)
    return str(part["sha256"] if isinstance(part, dict) else parts[f"{name}_sha256"])


def _reason(reason: Any) -> str:
    """Format 1 reasons are words; format 2 reasons a URI with the words recorded."""
    if isinstance(reason, dict):
        return str(reason.get("text") or reason["uri"].rsplit(":", 1)[-1])
    return str(reason)
