"""JWS (RFC 7515) with the seal: flattened JSON serialization for proofs, compact for tree heads.

Signing uses ``cryptography`` directly; any JWS library verifies the result (the tests use
``joserfc``). The seal's certificate chain travels in the protected ``x5c`` header.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from tabellion.evidence.sealing.keys import Seal
from tabellion.kit.jcs import canonicalize

_HASHES: dict[str, tuple[type[hashes.HashAlgorithm], int]] = {
    "ES256": (hashes.SHA256, 32),
    "ES384": (hashes.SHA384, 48),
    "ES512": (hashes.SHA512, 66),
    "PS256": (hashes.SHA256, 0),
}


class JwsInvalid(Exception):
    """The JWS is malformed or its signature does not verify."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise JwsInvalid("not base64url") from exc


def protected_header(seal: Seal, typ: str) -> str:
    """The encoded protected header; constant per seal and type, so computed once."""
    header = {"alg": seal.algorithm, "typ": typ, "x5c": seal.x5c}
    return b64url(canonicalize(header))


def _sign(seal: Seal, signing_input: bytes) -> bytes:
    algorithm = seal.algorithm
    hash_cls, size = _HASHES[algorithm]
    if isinstance(seal.key, ec.EllipticCurvePrivateKey):
        der = seal.key.sign(signing_input, ec.ECDSA(hash_cls()))
        r, s = decode_dss_signature(der)
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    assert isinstance(seal.key, rsa.RSAPrivateKey)
    return seal.key.sign(
        signing_input,
        padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=padding.PSS.DIGEST_LENGTH),
        hash_cls(),
    )


def sign_flattened(seal: Seal, payload: bytes, protected: str) -> dict[str, str]:
    encoded = b64url(payload)
    signature = _sign(seal, f"{protected}.{encoded}".encode())
    return {"protected": protected, "payload": encoded, "signature": b64url(signature)}


def flattened_json(jws: dict[str, str]) -> str:
    """A flattened JWS as compact JSON, as ``json.dumps`` writes it. Its members are base64url
    text, which JSON never escapes, so the text is put together directly: a proof's header
    carries the certificate chain, kilobytes that ``json.dumps`` would scan for escapes."""
    return '{{"protected":"{protected}","payload":"{payload}","signature":"{signature}"}}'.format(
        **jws
    )


def sign_compact(seal: Seal, payload: bytes, typ: str) -> str:
    jws = sign_flattened(seal, payload, protected_header(seal, typ))
    return f"{jws['protected']}.{jws['payload']}.{jws['signature']}"


def _verify_signature(
    certificate: x509.Certificate, algorithm: str, signing_input: bytes, signature: bytes
) -> None:
    if algorithm not in _HASHES:
        raise JwsInvalid(f"unsupported algorithm {algorithm!r}")
    hash_cls, size = _HASHES[algorithm]
    key = certificate.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and algorithm.startswith("ES"):
            if len(signature) != 2 * size:
                raise JwsInvalid("the signature has the wrong length")
            der = encode_dss_signature(
                int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            )
            key.verify(der, signing_input, ec.ECDSA(hash_cls()))
        elif isinstance(key, rsa.RSAPublicKey) and algorithm == "PS256":
            key.verify(
                signature,
                signing_input,
                padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=padding.PSS.DIGEST_LENGTH),
                hash_cls(),
            )
        else:
            raise JwsInvalid("the key does not match the algorithm")
    except InvalidSignature as exc:
        raise JwsInvalid("the signature does not match the content") from exc


def decode_header(protected: str) -> dict[str, Any]:
    try:
        header = json.loads(b64url_decode(protected))
    except ValueError as exc:
        raise JwsInvalid("the protected header is not JSON") from exc
    if not isinstance(header, dict):
        raise JwsInvalid("the protected header is not an object")
    return header


def header_chain(header: dict[str, Any]) -> list[x509.Certificate]:
    x5c = header.get("x5c")
    if not isinstance(x5c, list) or not x5c:
        raise JwsInvalid("the header carries no x5c certificate chain")
    try:
        return [x509.load_der_x509_certificate(base64.b64decode(c)) for c in x5c]
    except (ValueError, TypeError) as exc:
        raise JwsInvalid("the x5c chain cannot be read") from exc


def verify_parts(protected: str, payload: str, signature: str) -> tuple[dict[str, Any], bytes]:
    """Check the signature with the header's own leaf certificate; returns (header, payload).

    Whether that certificate is trusted is the caller's question (see ``verification/verify.py``).
    """
    header = decode_header(protected)
    chain = header_chain(header)
    _verify_signature(
        chain[0],
        str(header.get("alg")),
        f"{protected}.{payload}".encode(),
        b64url_decode(signature),
    )
    return header, b64url_decode(payload)


def verify_compact(token: str) -> tuple[dict[str, Any], bytes]:
    parts = token.split(".")
    if len(parts) != 3:
        raise JwsInvalid("not a compact JWS")
    return verify_parts(*parts)
