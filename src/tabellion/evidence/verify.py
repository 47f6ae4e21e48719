"""Verifying a proof without the server or its database.

A JSON proof: the JWS signature, its certificate chain up to a trusted root, the canonical
form of its content, the inclusion proof against the signed tree head it carries, and the
RFC 3161 timestamp token when present (its signature, and that its imprint is the proof's
hash); its time and authority are reported, and whether the authority leads to one of the
trusted roots. A PDF proof: the PAdES signature (pyHanko's validator), that it covers the
whole file, its signature timestamp (B-T) when present, and the JSON proof embedded in it.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tabellion.evidence import merkle
from tabellion.evidence.content import FORMAT
from tabellion.evidence.jws import (
    JwsInvalid,
    b64url_decode,
    header_chain,
    verify_compact,
    verify_parts,
)
from tabellion.evidence.rfc3161 import TimestampInvalid, authority_trusted, read_token
from tabellion.kit.jcs import NotCanonicalizable, canonicalize
from tabellion.kit.time import isoformat_z


@dataclass(frozen=True)
class TimestampReport:
    covers: str  # "proof": the JSON proof's content; "pdf-seal": the PDF's PAdES signature
    status: str  # "stamped" | "awaiting"
    gen_time: str | None = None  # the authority's time, ISO 8601 UTC
    authority: str | None = None  # the subject of the authority's certificate
    trusted: bool | None = None  # the authority's certificate leads to a trusted root
    token_sha256: str | None = None  # of the token's DER (proof timestamps)

    def describe(self) -> str:
        if self.status == "awaiting":
            return "awaiting its timestamp from the authority (the proof is valid meanwhile)"
        what = "the proof's hash" if self.covers == "proof" else "the PDF seal"
        trust = (
            "a trusted authority"
            if self.trusted
            else "an authority whose certificate does not lead to a trusted root"
        )
        return f"RFC 3161 timestamp over {what}: {self.gen_time}, by {self.authority} ({trust})"


@dataclass
class Verdict:
    kind: str  # "json-proof" | "pdf-proof" | "unknown"
    authentic: bool = False
    problems: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    content: dict[str, Any] | None = None
    tree_head: dict[str, Any] | None = None
    timestamps: list[TimestampReport] = field(default_factory=list)

    @property
    def evidence_id(self) -> str | None:
        return str(self.content["id"]) if self.content else None

    def fail(self, problem: str) -> Verdict:
        self.problems.append(problem)
        self.authentic = False
        return self


def _chain_trusted(
    chain: list[x509.Certificate], trust: list[x509.Certificate], at: datetime | None
) -> str | None:
    """None if the chain leads to a trusted root, else what is wrong."""
    trusted = {c.public_bytes(serialization.Encoding.DER) for c in trust}
    for cert, issuer in itertools.pairwise(chain):
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, Exception):  # InvalidSignature and kin
            return f"certificate {cert.subject.rfc4514_string()} is not issued by the next one"
    if at is not None:
        leaf = chain[0]
        if not leaf.not_valid_before_utc <= at <= leaf.not_valid_after_utc:
            return "the seal certificate was not valid at the time of the event"
    last = chain[-1]
    if last.public_bytes(serialization.Encoding.DER) in trusted:
        return None
    for root in trust:
        try:
            last.verify_directly_issued_by(root)
            return None
        except Exception:  # noqa: S112 - try the next root
            continue
    return f"the seal chain ends at {last.subject.rfc4514_string()}, which is not trusted"


def _check_timestamp(
    extras: dict[str, Any], content_bytes: bytes, trust: list[x509.Certificate], verdict: Verdict
) -> str | None:
    """None if the timestamp part of the unprotected header holds, else what is wrong."""
    token = extras.get("tabellion_timestamp")
    status = extras.get("tabellion_timestamp_status")
    if not token:
        if status == "stamped":
            return "the proof says it is timestamped but carries no timestamp token"
        if status == "awaiting":
            report = TimestampReport(covers="proof", status="awaiting")
            verdict.timestamps.append(report)
            verdict.checks.append(report.describe())
        return None
    try:
        stamped = read_token(base64.b64decode(str(token), validate=True))
    except (ValueError, TimestampInvalid) as exc:
        return f"the timestamp token is not valid: {exc}"
    if not stamped.covers(content_bytes):
        return "the timestamp token is for another content than this proof's"
    report = TimestampReport(
        covers="proof",
        status="stamped",
        gen_time=isoformat_z(stamped.gen_time),
        authority=stamped.authority,
        trusted=authority_trusted(stamped, trust),
        token_sha256=stamped.fingerprint,
    )
    verdict.timestamps.append(report)
    verdict.checks.append(report.describe())
    return None


def verify_json_proof(data: bytes, trust: list[x509.Certificate]) -> Verdict:
    verdict = Verdict(kind="json-proof")
    try:
        document = json.loads(data)
        protected, payload, signature = (
            document["protected"],
            document["payload"],
            document["signature"],
        )
    except (ValueError, KeyError, TypeError):
        verdict.kind = "unknown"
        return verdict.fail("not a Tabellion JSON proof (a JWS in JSON serialization)")
    try:
        header, content_bytes = verify_parts(protected, payload, signature)
        chain = header_chain(header)
    except JwsInvalid as exc:
        return verdict.fail(f"seal: {exc}")
    verdict.checks.append("the seal signature matches the content")
    try:
        content = json.loads(content_bytes)
        canonical = canonicalize(content) == content_bytes
    except (ValueError, NotCanonicalizable):
        return verdict.fail("the content is not canonical JSON")
    if not canonical or not isinstance(content, dict) or content.get("format") != FORMAT:
        return verdict.fail("the content is not a Tabellion evidence in canonical form")
    verdict.content = content
    try:
        at = datetime.fromisoformat(str(content["occurred_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return verdict.fail("the content has no valid event time")
    problem = _chain_trusted(chain, trust, at)
    if problem:
        return verdict.fail(problem)
    verdict.checks.append(f"sealed by {chain[0].subject.rfc4514_string()}, a trusted chain")
    digest = hashlib.sha256(content_bytes).digest()
    extras = document.get("header") or {}
    if not isinstance(extras, dict):
        return verdict.fail("the unprotected header is not an object")
    problem = _check_timestamp(extras, content_bytes, trust, verdict)
    if problem:
        return verdict.fail(problem)
    log = extras.get("tabellion_log")
    if log:
        problem = _check_inclusion(log, digest, trust, verdict)
        if problem:
            return verdict.fail(problem)
    verdict.authentic = True
    return verdict


def _check_inclusion(
    log: dict[str, Any], digest: bytes, trust: list[x509.Certificate], verdict: Verdict
) -> str | None:
    try:
        head_header, head_bytes = verify_compact(str(log["tree_head"]))
        head = json.loads(head_bytes)
        problem = _chain_trusted(header_chain(head_header), trust, None)
        if problem:
            return f"tree head: {problem}"
        size, index = int(head["tree_size"]), int(log["leaf_index"])
        if int(log["tree_size"]) != size:
            return "the inclusion proof is for another tree size than its tree head"
        path = [b64url_decode(str(h)) for h in log["audit_path"]]
        root = bytes.fromhex(str(head["root_hash"]))
    except (JwsInvalid, KeyError, ValueError, TypeError) as exc:
        return f"the transparency log proof cannot be read ({exc})"
    if not merkle.verify_inclusion(index, size, merkle.leaf_hash(digest), path, root):
        return "the transparency log does not include this proof"
    verdict.tree_head = head
    verdict.checks.append(f"included in the transparency log (leaf {index} of {size})")
    return None


def _embedded_proof(reader: Any) -> bytes | None:
    try:
        names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    except KeyError:
        return None
    for position in range(0, len(names) - 1, 2):
        if str(names[position]) == "evidence.json":
            data: bytes = names[position + 1].get_object()["/EF"]["/F"].get_object().data
            return data
    return None


async def verify_pdf_proof(data: bytes, trust: list[x509.Certificate]) -> Verdict:
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    verdict = Verdict(kind="pdf-proof")
    try:
        reader = PdfFileReader(BytesIO(data), strict=False)
        signatures = reader.embedded_signatures
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        verdict.kind = "unknown"
        return verdict.fail(f"the PDF cannot be read ({exc})")
    if not signatures:
        verdict.kind = "unknown"
        return verdict.fail("the PDF carries no seal")
    roots = [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in trust]
    context = ValidationContext(trust_roots=roots, allow_fetching=False)
    try:
        status = await async_validate_pdf_signature(signatures[0], context)
    except Exception as exc:
        return verdict.fail(f"the seal cannot be validated ({type(exc).__name__}: {exc})")
    if not status.intact or not status.valid:
        return verdict.fail("the PDF was altered after it was sealed")
    if not status.trusted:
        return verdict.fail("the PDF seal does not lead to a trusted root")
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        return verdict.fail("the PDF was changed after its seal (the seal does not cover it all)")
    verdict.checks.append("the PAdES seal covers the whole file and is trusted")
    stamp = status.timestamp_validity
    if stamp is not None:
        if not (stamp.intact and stamp.valid):
            return verdict.fail("the PDF seal's timestamp does not match the seal")
        report = TimestampReport(
            covers="pdf-seal",
            status="stamped",
            gen_time=isoformat_z(stamp.timestamp),
            authority=x509.load_der_x509_certificate(
                stamp.signing_cert.dump()
            ).subject.rfc4514_string(),
            trusted=bool(stamp.trusted),
        )
        verdict.timestamps.append(report)
        verdict.checks.append(report.describe())
    embedded = _embedded_proof(reader)
    if embedded is None:
        return verdict.fail("the PDF carries no evidence.json")
    inner = verify_json_proof(embedded, trust)
    verdict.checks.extend(inner.checks)
    verdict.timestamps.extend(inner.timestamps)
    verdict.content, verdict.tree_head = inner.content, inner.tree_head
    if not inner.authentic:
        verdict.problems.extend(inner.problems)
        return verdict
    verdict.authentic = True
    return verdict


async def verify_bytes(data: bytes, trust: list[x509.Certificate]) -> Verdict:
    head = data[:1024].lstrip()
    if head.startswith(b"%PDF"):
        return await verify_pdf_proof(data, trust)
    if head.startswith(b"{"):
        return verify_json_proof(data, trust)
    return Verdict(kind="unknown", problems=["neither a JSON nor a PDF proof"])


def load_trust(pem: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem)
