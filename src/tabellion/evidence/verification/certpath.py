"""RFC 5280 path validation of seal and time-stamping certificates (``cryptography``'s verifier).

Checking each certificate's signature against the next is not enough: a certificate issued
by an end-entity certificate (CA:FALSE), by a CA whose path length forbids it, by an expired
issuer, or meant for another purpose, must not make a proof authentic. ``cryptography``'s
``x509.verification`` builds and validates the path as RFC 5280 does (basicConstraints and
pathLenConstraint, keyUsage keyCertSign on issuers, validity of every certificate at the
given time, signature algorithms); the extension policies below add what a seal and a
time-stamping authority must be:

- a seal certificate: not a CA, keyUsage digitalSignature or nonRepudiation, and, when it has
  an extended key usage, id-kp-documentSigning (RFC 9336, which Tabellion puts in the seal
  certificates it issues). A certificate with no extended key usage at all is valid for any
  purpose (RFC 5280 4.2.1.12): seal certificates issued before this rule, and many qualified
  seal certificates, have none; the verifier accepts it with a warning (see ``verify.py``).
- a time-stamping certificate: extended key usage timeStamping (RFC 3161 2.3).

Issuers may carry an extended key usage of their own (a TSA's intermediate often says
timeStamping): it is not held against them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

# id-kp-documentSigning, RFC 9336: "signing documents", what a seal does.
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
MAX_DEPTH = 8


class PathInvalid(Exception):
    """No valid path from the certificate to a trusted root; the message says why."""


def _not_ca(_: Policy, cert: x509.Certificate, value: x509.BasicConstraints | None) -> None:
    if value is not None and value.ca:
        raise ValueError("a CA certificate cannot seal")


def _seal_usage(_: Policy, cert: x509.Certificate, value: x509.KeyUsage) -> None:
    if not (value.digital_signature or value.content_commitment):
        raise ValueError("its key usage allows neither digitalSignature nor nonRepudiation")


def _seal_purpose(_: Policy, cert: x509.Certificate, value: x509.ExtendedKeyUsage | None) -> None:
    if value is not None and DOCUMENT_SIGNING not in value:
        purposes = ", ".join(oid._name for oid in value)
        raise ValueError(f"not a seal certificate (its extended key usage is {purposes})")


def _stamp_purpose(_: Policy, cert: x509.Certificate, value: x509.ExtendedKeyUsage) -> None:
    if ExtendedKeyUsageOID.TIME_STAMPING not in value:
        raise ValueError("not a time-stamping certificate (no extended key usage timeStamping)")


_ISSUERS = ExtensionPolicy.webpki_defaults_ca().may_be_present(
    x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None
)
_SEAL = (
    ExtensionPolicy.permit_all()
    .may_be_present(x509.BasicConstraints, Criticality.AGNOSTIC, _not_ca)
    .require_present(x509.KeyUsage, Criticality.AGNOSTIC, _seal_usage)
    .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _seal_purpose)
)
_STAMP = (
    ExtensionPolicy.permit_all()
    .may_be_present(x509.BasicConstraints, Criticality.AGNOSTIC, _not_ca)
    .require_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _stamp_purpose)
)


def _validate(
    policy: ExtensionPolicy,
    leaf: x509.Certificate,
    others: Sequence[x509.Certificate],
    trust: Sequence[x509.Certificate],
    at: datetime,
) -> list[x509.Certificate]:
    if not trust:
        raise PathInvalid("no trusted root was given")
    verifier = (
        PolicyBuilder()
        .store(Store(list(trust)))
        .time(at)
        .max_chain_depth(MAX_DEPTH)
        .extension_policies(ca_policy=_ISSUERS, ee_policy=policy)
        .build_client_verifier()
    )
    try:
        return verifier.verify(leaf, [c for c in others if c != leaf]).chain
    except VerificationError as exc:
        raise PathInvalid(_reason(str(exc))) from exc


_NOISE = re.compile(
    r"validation failed: |Python extension validator failed: |ValueError: "
    r"|candidates exhausted: | \(encountered processing <Certificate.*\)$"
)


def _reason(message: str) -> str:
    """The verifier's message without its wrapping (the validator's own words stay)."""
    message = _NOISE.sub("", message)
    return _PLAIN.get(message, message)


_PLAIN = {
    "all candidates exhausted with no interior errors": (
        "no chain of its certificates leads to a trusted root"
    ),
    "cert is not valid at validation time": (
        "a certificate of its chain is expired or not yet valid at that time"
    ),
}


def validate_seal(
    chain: Sequence[x509.Certificate], trust: Sequence[x509.Certificate], at: datetime
) -> list[x509.Certificate]:
    """The validated path of a seal chain (leaf first) at ``at``; raises :class:`PathInvalid`."""
    return _validate(_SEAL, chain[0], chain[1:], trust, at)


def validate_authority(
    certificate: x509.Certificate,
    carried: Sequence[x509.Certificate],
    trust: Sequence[x509.Certificate],
    at: datetime,
) -> list[x509.Certificate]:
    """The validated path of a time-stamping authority's certificate at ``at``."""
    return _validate(_STAMP, certificate, carried, trust, at)


def has_seal_purpose(certificate: x509.Certificate) -> bool:
    """Whether the certificate's extended key usage names documentSigning (absent: False)."""
    try:
        usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return DOCUMENT_SIGNING in usage
