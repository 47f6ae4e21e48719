"""RFC 3161 time-stamp tokens: the request, the checks of an answer, reading a token.

Pure functions over DER bytes, shared by the timestamp job and the offline verifier:
asn1crypto reads the structures, pyHanko checks the CMS signature, ``cryptography`` the
authority's certificate. A token is read only when its signature holds with the certificate
it carries, that certificate may stamp time (extended key usage timeStamping) and was valid at
the token's ``genTime``; whether the authority is trusted is the verifier's question
(``verification/verify.py``, with ``verification/certpath.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from asn1crypto import cms, core, tsp
from cryptography import x509

# The imprint of a proof's token is SHA-256 of its canonical content (see stamps.py).
IMPRINT_ALGORITHM = "sha256"
QUERY_MEDIA_TYPE = "application/timestamp-query"
REPLY_MEDIA_TYPE = "application/timestamp-reply"
_GRANTED = ("granted", "granted_with_mods")


class _Reply(core.Sequence):  # type: ignore[misc]
    """``TimeStampResp``, whose token is optional (asn1crypto's requires it, so a refusal,
    which carries none, would not parse)."""

    _fields = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class TimestampInvalid(Exception):
    """A token, or an authority's answer, fails a check; the message says which."""


@dataclass(frozen=True)
class TimestampToken:
    """A token whose signature has been checked (see :func:`read_token`)."""

    der: bytes
    gen_time: datetime
    imprint_algorithm: str
    imprint: bytes
    nonce: int | None
    serial_number: int
    policy: str
    certificate: x509.Certificate  # the authority's signing certificate
    certificates: tuple[x509.Certificate, ...]  # every certificate the token carries

    @property
    def authority(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @cached_property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.der).hexdigest()

    def covers(self, data: bytes) -> bool:
        """Whether the imprint is the hash of ``data``."""
        return hmac.compare_digest(_digest(self.imprint_algorithm, data), self.imprint)


def _digest(algorithm: str, data: bytes) -> bytes:
    try:
        return hashlib.new(algorithm, data).digest()
    except ValueError as exc:
        raise TimestampInvalid(f"unsupported hash algorithm {algorithm!r}") from exc


def new_nonce() -> int:
    return secrets.randbits(63)


def request_body(digest: bytes, nonce: int) -> bytes:
    """A DER ``TimeStampReq`` for a SHA-256 ``digest``, asking for the authority's certificate."""
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": IMPRINT_ALGORITHM},
                "hashed_message": digest,
            },
            "nonce": nonce,
            "cert_req": True,
        }
    )
    der: bytes = request.dump()
    return der


def token_from_reply(reply: bytes, *, digest: bytes, nonce: int) -> bytes:
    """The DER token of an authority's answer to :func:`request_body`, once checked.

    The answer must grant the request, and its token must be validly signed, over ``digest``
    (SHA-256) and carry ``nonce``.
    """
    try:
        response = _Reply.load(reply)
        status = response["status"]
        granted = status["status"].native
        token = response["time_stamp_token"]
        der: bytes | None = None if isinstance(token, core.Void) else token.dump()
    except Exception as exc:  # asn1crypto parses lazily and raises several kinds
        raise TimestampInvalid("the answer is not an RFC 3161 reply") from exc
    if granted not in _GRANTED:
        texts = "; ".join(status["status_string"].native or []) or "no reason given"
        raise TimestampInvalid(f"the authority answered {granted!r} ({texts})")
    if der is None:
        raise TimestampInvalid("the authority granted the request but sent no token")
    stamped = read_token(der)
    if stamped.imprint_algorithm != IMPRINT_ALGORITHM or not hmac.compare_digest(
        stamped.imprint, digest
    ):
        raise TimestampInvalid("the token is for another imprint than the one requested")
    if stamped.nonce != nonce:
        raise TimestampInvalid("the token does not carry the nonce of the request")
    return der


def _signer_certificate(signer_info: Any, certificates: list[Any]) -> Any | None:
    sid = signer_info["sid"]
    for certificate in certificates:
        if sid.name == "issuer_and_serial_number":
            chosen = sid.chosen
            if certificate.serial_number == chosen["serial_number"].native and (
                # Byte equality first: comparing names by their rules is slow.
                certificate.issuer.dump() == chosen["issuer"].dump()
                or certificate.issuer == chosen["issuer"]
            ):
                return certificate
        elif certificate.key_identifier == sid.chosen.native:
            return certificate
    return None


def read_token(der: bytes) -> TimestampToken:
    """Read a DER ``TimeStampToken`` and check its signature; raises :class:`TimestampInvalid`."""
    from pyhanko.sign.validation.generic_cms import validate_sig_integrity

    try:
        info = cms.ContentInfo.load(der)
        if info["content_type"].native != "signed_data":
            raise TimestampInvalid("the token is not a CMS SignedData")
        signed = info["content"]
        encapsulated = signed["encap_content_info"]
        if encapsulated["content_type"].native != "tst_info":
            raise TimestampInvalid("the token does not hold a TSTInfo")
        tst_bytes = bytes(encapsulated["content"])
        tst = tsp.TSTInfo.load(tst_bytes)
        imprint = tst["message_imprint"]
        fields = (
            tst["gen_time"].native,
            imprint["hash_algorithm"]["algorithm"].native,
            imprint["hashed_message"].native,
            tst["nonce"].native,
            tst["serial_number"].native,
            tst["policy"].dotted,
        )
        signer_infos = list(signed["signer_infos"])
        carried = signed["certificates"]
        certificates = (
            []
            if isinstance(carried, core.Void)
            else [c.chosen for c in carried if c.name == "certificate"]
        )
    except TimestampInvalid:
        raise
    except Exception as exc:  # asn1crypto parses lazily and raises several kinds
        raise TimestampInvalid("the token cannot be read") from exc
    if len(signer_infos) != 1:
        raise TimestampInvalid("the token must have exactly one signer")
    signer_info = signer_infos[0]
    certificate = _signer_certificate(signer_info, certificates)
    if certificate is None:
        raise TimestampInvalid("the token does not carry its authority's certificate")
    try:
        content_digest = _digest(signer_info["digest_algorithm"]["algorithm"].native, tst_bytes)
        intact, valid = validate_sig_integrity(signer_info, certificate, "tst_info", content_digest)
    except TimestampInvalid:
        raise
    except Exception as exc:  # pyHanko's SignatureValidationError and asn1crypto errors
        raise TimestampInvalid(f"the token's signature cannot be checked ({exc})") from exc
    if not intact:
        raise TimestampInvalid("the token's content does not match its signature")
    if not valid:
        raise TimestampInvalid("the token's signature does not verify with its authority's key")
    usage = certificate.extended_key_usage_value
    if usage is None or "time_stamping" not in usage.native:
        raise TimestampInvalid("the signing certificate is not a time-stamping certificate")
    gen_time, algorithm, hashed, nonce, serial, policy = fields
    signer = x509.load_der_x509_certificate(certificate.dump())
    if not signer.not_valid_before_utc <= gen_time <= signer.not_valid_after_utc:
        raise TimestampInvalid("the authority's certificate was not valid at the token's time")
    return TimestampToken(
        der=der,
        gen_time=gen_time,
        imprint_algorithm=algorithm,
        imprint=hashed,
        nonce=nonce,
        serial_number=serial,
        policy=policy,
        certificate=signer,
        certificates=tuple(x509.load_der_x509_certificate(c.dump()) for c in certificates),
    )
