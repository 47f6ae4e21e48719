"""The PDF proof: the facts of one evidence on a page or two, sealed PAdES (pyHanko).

The sealed JSON proof is embedded in the PDF (``evidence.json``), so the PDF alone carries
the machine-checkable form too. A QR code leads to the public verify page. With a
time-stamping authority configured the signature is PAdES B-T, else B-B.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from datetime import datetime
from functools import cache
from io import BytesIO
from typing import Any

import zxingcpp
from asn1crypto import algos as asn1_algos
from asn1crypto import cms as asn1_cms
from asn1crypto import keys as asn1_keys
from asn1crypto import tsp as asn1_tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID
from fpdf import FPDF
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.attributes import CMSAttributeProvider, SignedAttributeProviderSpec
from pyhanko.sign.general import SigningError, as_signing_certificate_v2
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathError, ValidationError
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.registry import SimpleCertificateStore

from tabellion.config import Settings
from tabellion.evidence.rendering.facts import Facts
from tabellion.evidence.sealing.keys import Seal, load_seal
from tabellion.evidence.sealing.pkcs11 import Pkcs11EcKey
from tabellion.kit.pdftext import wrap_lines

log = logging.getLogger(__name__)


class _SealParts(signers.Signer):
    """The parts of a seal's CMS signature that depend on its certificate alone, encoded once.

    pyHanko builds them again for each signature: the signer's identifier and the
    signing-certificate-v2 attribute each copy the certificate's issuer name into a new
    asn1crypto structure, which re-encodes it piece by piece (about 45 % of a seal's time).
    Here they are encoded once per signer and read back, still encoded, into each signature.
    The signature itself is the one pyHanko makes.
    """

    def encode_once(self) -> None:
        certificate = self.signing_cert
        assert certificate is not None
        self._signer_id = asn1_cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": certificate.issuer, "serial_number": certificate.serial_number},
        ).dump()
        self.signed_attr_prov_spec = _PadesSignedAttributes(certificate)

    def signer_info(
        self, digest_algorithm: str, signed_attrs: Any, signature: bytes
    ) -> asn1_cms.SignerInfo:
        """pyHanko's ``SignerInfo`` (for the SHA-2 digests a seal uses), with the identifier
        encoded once."""
        return asn1_cms.SignerInfo(
            {
                "version": "v1",
                "sid": asn1_cms.SignerIdentifier.load(self._signer_id),
                "digest_algorithm": asn1_algos.DigestAlgorithm({"algorithm": digest_algorithm}),
                "signature_algorithm": self.get_signature_mechanism_for_digest(digest_algorithm),
                "signed_attrs": signed_attrs,
                "signature": signature,
            }
        )


class _PadesSignedAttributes(SignedAttributeProviderSpec):
    """The signed attributes pyHanko adds to a PAdES signature without CAdES extras (besides
    the content type and the digest, which it always adds): signing-certificate-v2, encoded
    once."""

    def __init__(self, certificate: asn1_x509.Certificate) -> None:
        self._signing_certificate = as_signing_certificate_v2(certificate).dump()

    def signed_attr_providers(
        self, data_digest: bytes, digest_algorithm: str
    ) -> list[CMSAttributeProvider]:
        return [_Encoded("signing_certificate_v2", self._signing_certificate)]


class _Encoded(CMSAttributeProvider):
    def __init__(self, attribute_type: str, value: bytes) -> None:
        self.attribute_type = attribute_type
        self._value = value

    async def build_attr_value(self, dry_run: bool = False) -> asn1_tsp.SigningCertificateV2:
        return asn1_tsp.SigningCertificateV2.load(self._value)


# The digests a seal signs with (PAdES: SHA-2), for ``cryptography``'s ECDSA.
_ECDSA_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


class _KeySigner(_SealParts, signers.SimpleSigner):
    """Signs with a seal key held in memory: an EC key as it was parsed when the seal was
    loaded (pyHanko's ``SimpleSigner`` parses its DER again at each signature, ~40 µs)."""

    key: ec.EllipticCurvePrivateKey | None = None

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        if self.key is None:
            return super().sign_raw(data, digest_algorithm)  # RSA: pyHanko's own padding
        return self.key.sign(data, ec.ECDSA(_ECDSA_HASHES[digest_algorithm.lower()]))


class _TokenSigner(_SealParts):
    """Signs with a seal key that cannot be exported (a PKCS#11 token's) through its
    ``cryptography`` interface."""

    def __init__(self, seal: Seal, chain: list[asn1_x509.Certificate]) -> None:
        digest = {256: "sha256", 384: "sha384", 521: "sha512"}[seal.key.key_size]
        super().__init__(
            signing_cert=chain[0],
            cert_registry=SimpleCertificateStore.from_certs(chain[1:]),  # type: ignore[no-untyped-call]
            signature_mechanism=asn1_algos.SignedDigestAlgorithm({"algorithm": f"{digest}_ecdsa"}),
        )
        self.key = seal.key

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if dry_run:  # pyHanko sizes the signature first: the longest DER ECDSA value
            return bytes(2 * ((self.key.key_size + 7) // 8) + 9)
        assert isinstance(self.key, ec.EllipticCurvePrivateKey)
        return self.key.sign(data, ec.ECDSA(_ECDSA_HASHES[digest_algorithm.lower()]))


@cache
def _signer(seal: Seal) -> signers.Signer:
    """Built once per process and seal: the key is parsed once, not per signature."""
    chain = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in seal.chain
    ]
    signer: _SealParts
    if isinstance(seal.key, Pkcs11EcKey):
        signer = _TokenSigner(seal, chain)
    else:
        key_der = seal.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        signer = _KeySigner(
            signing_cert=chain[0],
            signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
            cert_registry=SimpleCertificateStore.from_certs(chain[1:]),  # type: ignore[no-untyped-call]
        )
        if isinstance(seal.key, ec.EllipticCurvePrivateKey):
            signer.key = seal.key
    signer.encode_once()
    return signer


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


LABEL_WIDTH_MM = 50.0
FONT_SIZE = 9.0
MONO_SIZE = 8.0


def render(settings: Settings, content: dict[str, Any], proof_json: bytes, language: str) -> bytes:
    """The unsealed PDF of one evidence content, in ``language``.

    The facts are a two-column table whose rows grow with their tallest cell, so a label that
    wraps never runs into the next row; text is aligned left (never justified), and nothing is
    drawn over the QR code."""
    facts = Facts(content, language)
    pdf = _Page(format="A4")
    pdf.footer_text = facts.footer(settings.base_url + "/verify")
    pdf.set_title(f"{facts.title()} {content['id']}")
    pdf.set_author(content["issuer"]["name"])
    pdf.set_creator("Tabellion")
    pdf.set_lang(language)
    pdf.add_page()
    pdf.set_auto_page_break(True, margin=18)
    heading = pdf.epw - QR_SIZE_MM - 4
    pdf.set_font("Helvetica", style="B", size=18)
    pdf.set_text_color(11, 92, 173)
    pdf.multi_cell(heading, 9, _latin(facts.title()), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=8)
    pdf.set_text_color(85, 96, 110)
    for line in (content["id"], content["event"]["uri"]):
        pdf.multi_cell(heading, 4, _latin(line), align="L", new_x="LMARGIN", new_y="NEXT")
    size = QR_SIZE_MM
    x0, y0 = pdf.w - pdf.r_margin - size, 12.0
    draw_qr(pdf, verify_url(settings, content["id"]), x0, y0, size)
    pdf.set_font("Helvetica", size=7)
    pdf.set_xy(x0, y0 + size)
    pdf.cell(size, 3.5, _latin(facts.qr_caption()), align="C")
    pdf.set_y(max(pdf.get_y() + 6, y0 + size + 6))
    pdf.set_text_color(27, 31, 36)
    pdf.set_draw_color(210, 214, 220)
    _facts_table(pdf, facts.rows())
    occurred = datetime.fromisoformat(content["occurred_at"].replace("Z", "+00:00"))
    pdf.embed_file(
        bytes=proof_json,
        basename="evidence.json",
        mime_type="application/json",
        desc="Sealed JSON proof (JWS, RFC 7515)",
        modification_date=occurred,
    )
    return bytes(pdf.output())


LINE_HEIGHT = 4.4
PAD_Y, PAD_X = 1.6, 1.5  # above and below a row's text; left and right of each cell's


def _facts_table(pdf: FPDF, rows: Any) -> None:
    """The facts as two columns: the label in bold, the value (monospaced for digests and
    ids) beside it, each wrapped in its column; a row is as tall as its taller cell, rows are
    ruled apart, and a row that does not fit on the page starts the next one (a row taller than
    a page goes on line by line). Drawn line by line (``kit.pdftext``): fpdf2's ``table`` laid
    out every cell twice with its quadratic line breaker, most of a proof's rendering time."""
    value_width = pdf.epw - LABEL_WIDTH_MM
    x_label = pdf.l_margin + PAD_X
    x_value = pdf.l_margin + LABEL_WIDTH_MM + PAD_X
    fonts = {
        "label": ("Helvetica", "B", FONT_SIZE),
        "text": ("Helvetica", "", FONT_SIZE),
        "mono": ("Courier", "", MONO_SIZE),
    }

    def lines_of(kind: str, text: str, width: float) -> list[tuple[str, str]]:
        pdf.set_font(*fonts[kind])
        return [
            (kind, line)
            for paragraph in _latin(text).split("\n")
            for line in wrap_lines(pdf, paragraph, width - 2 * PAD_X)
        ]

    first = True
    for row in rows:
        labels = lines_of("label", row.label, LABEL_WIDTH_MM)
        values = lines_of("mono" if row.mono else "text", row.value, value_width)
        height = max(len(labels), len(values)) * LINE_HEIGHT + 2 * PAD_Y
        if pdf.get_y() + height > pdf.page_break_trigger and height <= (
            pdf.page_break_trigger - pdf.t_margin
        ):
            pdf.add_page()
            first = True
        if not first:
            pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + pdf.epw, pdf.get_y())
        first = False
        top = pdf.get_y() + PAD_Y
        # Each cell's lines in turn, so that a reader (or text extraction) meets a wrapped label
        # whole; a row taller than the page goes on to the next one line by line.
        bottom = top
        for x, cell in ((x_label, labels), (x_value, values)):
            y = top
            for kind, line in cell:
                if y + LINE_HEIGHT > pdf.page_break_trigger:
                    pdf.add_page()
                    y = top = pdf.get_y() + PAD_Y
                pdf.set_font(*fonts[kind])
                # Where ``cell`` puts the baseline: mid-line, lowered by 0.3 em.
                pdf.text(x, y + LINE_HEIGHT / 2 + 0.3 * pdf.font_size, line)
                y += LINE_HEIGHT
            bottom = max(bottom, y)
        pdf.set_y(bottom + PAD_Y)


QR_SIZE_MM = 30.0  # the QR code's square, quiet zone included, at the top right


def qr_matrix(url: str) -> list[bytes]:
    """The modules of a QR code of ``url`` (error correction M), a row of bytes each, dark
    ones non-zero. zxing-cpp (C++) makes it, choosing the mask as the standard asks, in a
    fraction of a millisecond: segno, in Python, spent 10 ms, most of a PDF proof's drawing."""
    symbol = zxingcpp.create_barcode(url, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    modules = memoryview(symbol.to_image(scale=1, add_quiet_zones=False))  # type: ignore[arg-type]
    rows, columns = modules.shape  # type: ignore[misc]
    flat = modules.tobytes()
    # to_image draws dark modules black (0) on white (255).
    return [bytes(255 - b for b in flat[r * columns : (r + 1) * columns]) for r in range(rows)]


def draw_qr(pdf: FPDF, url: str, x0: float, y0: float, size: float) -> None:
    """A QR code of ``url`` in a ``size`` mm square (quiet zone included), also a link."""
    matrix = qr_matrix(url)
    cell = size / (len(matrix) + 8)
    pdf.set_fill_color(0, 0, 0)
    for row_index, row in enumerate(matrix):
        # One rectangle per run of dark modules in a row: a third of the drawing calls.
        col_index = 0
        while col_index < len(row):
            if not row[col_index]:
                col_index += 1
                continue
            start = col_index
            while col_index < len(row) and row[col_index]:
                col_index += 1
            x, y = x0 + (start + 4) * cell, y0 + (row_index + 4) * cell
            pdf.rect(x, y, (col_index - start) * cell, cell, "F")
    # Readers on a screen follow the QR code as a link too.
    pdf.link(x0, y0, size, size, url)


def verify_url(settings: Settings, evidence_id: str) -> str:
    """Where the QR code of a PDF proof leads: the public verify page."""
    return f"{settings.base_url}/verify?evidence={evidence_id}"


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


async def seal_pdf(
    settings: Settings,
    data: bytes,
    evidence_id: str,
    *,
    extend: Callable[[IncrementalPdfFileWriter], None] | None = None,
) -> bytes:
    """``data`` PAdES-sealed in an incremental update. ``extend`` adds to that same update
    before it is signed (pages, say): one parse of the file and one write, not two of each."""
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
    if extend is not None:
        extend(writer)
    tsa_roots = (
        x509.load_pem_x509_certificates(settings.tsa_trust_file.read_bytes())
        if settings.tsa_trust_file
        else []
    )
    if not publishes_revocation(seal) or (urls and not tsa_roots):
        if publishes_revocation(seal):
            log.warning(
                "PDF proofs stay PAdES B-T: B-LT also embeds the timestamp authority's chain, "
                "which needs its roots in TABELLION_TSA_TRUST_FILE"
            )
        signer = signers.PdfSigner(meta, _signer(seal), timestamper=timestamper)
        reserved = await _reserved_bytes(signer, data, (seal.fingerprint, *urls))
        out = await signer.async_sign_pdf(writer, bytes_reserved=reserved)
        return out.getvalue()  # type: ignore[no-any-return]
    # PAdES B-LT in the signed revision itself: the chain and its CRLs or OCSP answers in the
    # DSS, fetched now, so that the seal can be checked once they are gone. A DSS added in a
    # later revision would be a change that the certification (P=1) forbids.
    fetchers = AIOHttpFetcherBackend(per_request_timeout=10)
    meta = dataclasses.replace(
        meta,
        embed_validation_info=True,
        validation_context=ValidationContext(
            trust_roots=[_asn1_cert(c) for c in (seal.root, *tsa_roots)],
            other_certs=[_asn1_cert(c) for c in seal.chain[1:]],
            allow_fetching=True,
            revocation_mode="hard-fail",
            fetcher_backend=fetchers,
        ),
        dss_settings=DSSContentSettings(
            placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE, include_vri=False
        ),
    )
    try:
        out = await signers.async_sign_pdf(writer, meta, _signer(seal), timestamper=timestamper)
    except SigningError as exc:
        if isinstance(exc.__cause__, ValidationError | PathError):
            raise RevocationUnavailable(str(exc.__cause__)) from exc
        raise
    finally:
        await fetchers.close()  # type: ignore[no-untyped-call]
    return out.getvalue()  # type: ignore[no-any-return]


# The room for the signature in the file, by seal and timestamp authorities. pyHanko sizes it
# with a whole dummy signature (and a dummy timestamp, fetched from the authority), which costs
# as much as the real one. Without embedded revocation data the size depends on nothing else,
# so the first estimate (pyHanko adds a 50 % margin) serves every later PAdES B-T proof.
_RESERVED: dict[tuple[str, ...], int] = {}


async def _reserved_bytes(signer: signers.PdfSigner, data: bytes, key: tuple[str, ...]) -> int:
    if key not in _RESERVED:
        session = signer.init_signing_session(IncrementalPdfFileWriter(BytesIO(data)))
        _RESERVED[key] = await session.estimate_signature_container_size(None)
    return _RESERVED[key]


class RevocationUnavailable(Exception):
    """The revocation status of the seal's chain could not be fetched (its CRL or OCSP
    responder unreachable) or says the chain is not valid: no PDF is sealed without it."""


def publishes_revocation(seal: Seal) -> bool:
    """Whether a certificate of the seal's chain (its root aside) names where its revocation
    status is published: a CRL distribution point or an OCSP responder."""
    for certificate in seal.chain[:-1] if len(seal.chain) > 1 else seal.chain:
        extensions = certificate.extensions
        try:
            extensions.get_extension_for_class(x509.CRLDistributionPoints)
            return True
        except x509.ExtensionNotFound:
            pass
        try:
            access = extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        except x509.ExtensionNotFound:
            continue
        if any(d.access_method == AuthorityInformationAccessOID.OCSP for d in access):
            return True
    return False


def _asn1_cert(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def proof_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2, ensure_ascii=False).encode()
