"""Client keys: public keys an organisation registers, whose JWTs authenticate its requests.

A client signs a short-lived JWT with its private key (``iss`` = the key's ``issuer``) and sends
it as ``Authorization: Bearer <JWT>``. Verification is joserfc's, with the algorithms fixed by
the key's type (never taken from the token's header), so ``alg: none`` and HMAC tokens "signed"
with the public key (key confusion) are refused before any claim is read.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from joserfc.jwt import JWTClaimsRegistry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.auth.subjects import ApiKeySubject
from tabellion.db import touch
from tabellion.errors import FieldError, NotFound, Unauthorized, ValidationFailed
from tabellion.kit.ids import new_id, possible_id
from tabellion.kit.time import utcnow
from tabellion.kit.tokens import random_base62
from tabellion.models.organization import ClientKey, Organization
from tabellion.organization.service import LAST_USED_PRECISION

MIN_RSA_BITS = 2048
MAX_PEM_CHARS = 16_384  # an RSA-16384 public key fits; anything longer is not a public key
# RS256/PS256 for RSA keys, ES256 for P-256 keys: nothing else, whatever a token's header says.
ALGORITHMS = {"RSA": ("RS256", "PS256"), "EC": ("ES256",)}
MAX_LIFETIME = timedelta(hours=1)  # exp at most this far ahead
CLOCK_SKEW = timedelta(seconds=60)  # allowed on exp, nbf and iat
DEFAULT_SCOPES = ("messages:write",)
ISSUER_CHARS = 32
MAX_TOKEN_CHARS = 8_192


class ClientKeyNotFound(NotFound):
    code = "client-key-not-found"
    title = "Client key not found"


class InvalidPublicKey(ValidationFailed):
    code = "invalid-public-key"
    title = "The public key is not one Tabellion accepts"


@dataclass(frozen=True)
class ParsedKey:
    key_type: str  # RSA | EC
    pem: str  # normalised: SubjectPublicKeyInfo PEM
    thumbprint: str


def parse_public_key(pem: str) -> ParsedKey:
    """An RSA (≥ 2048 bits) or EC P-256 public key in PEM, or 422 on ``public_key_pem``."""

    def refuse(message: str) -> InvalidPublicKey:
        error = FieldError(field="public_key_pem", code="invalid-public-key", message=message)
        return InvalidPublicKey(message, errors=[error])

    if len(pem) > MAX_PEM_CHARS or "PRIVATE KEY" in pem:
        # Someone pasting a private key must not have it stored, even refused.
        raise refuse(
            "Give the PUBLIC key in PEM (-----BEGIN PUBLIC KEY-----), never a private key."
        )
    try:
        key = serialization.load_pem_public_key(pem.strip().encode())
    except (ValueError, TypeError, UnicodeError) as exc:
        raise refuse("Not a PEM public key (-----BEGIN PUBLIC KEY-----).") from exc
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise refuse(
                f"An RSA key needs at least {MIN_RSA_BITS} bits; this one has {key.key_size}."
            )
        key_type = "RSA"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise refuse(
                f"An EC key must be on P-256 (for ES256); this one is on {key.curve.name}."
            )
        key_type = "EC"
    else:
        raise refuse("Only RSA (at least 2048 bits) and EC P-256 keys are accepted.")
    normalised = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return ParsedKey(key_type, normalised, _jwk(key_type, normalised).thumbprint())


def _jwk(key_type: str, pem: str) -> RSAKey | ECKey:
    if key_type == "RSA":
        return RSAKey.import_key(pem)
    return ECKey.import_key(pem)


async def create_client_key(
    session: AsyncSession,
    organization: Organization,
    *,
    name: str,
    public_key_pem: str,
    scopes: list[str] | None = None,
) -> ClientKey:
    parsed = parse_public_key(public_key_pem)
    now = utcnow()
    key = ClientKey(
        id=new_id("ckey"),
        organization_id=organization.id,
        name=name,
        issuer=random_base62(ISSUER_CHARS),
        key_type=parsed.key_type,
        public_key_pem=parsed.pem,
        thumbprint=parsed.thumbprint,
        scopes=scopes or list(DEFAULT_SCOPES),
        created_at=now,
        updated_at=now,
    )
    session.add(key)
    await session.flush()
    return key


async def revoke_client_key(session: AsyncSession, organization_id: str, key_id: str) -> ClientKey:
    key = None
    if possible_id(key_id):
        key = await session.scalar(
            select(ClientKey).where(
                ClientKey.id == key_id, ClientKey.organization_id == organization_id
            )
        )
    if key is None:
        raise ClientKeyNotFound(f"No client key {key_id}.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def looks_like_jwt(credential: str) -> bool:
    """Whether a bearer credential is a compact JWS (three base64url parts), not an API key."""
    return credential.count(".") == 2 and len(credential) <= MAX_TOKEN_CHARS


def _unverified_issuer(token: str) -> str | None:
    """The ``iss`` a token claims, read only to find the key that must then verify it."""
    try:
        payload = jws.extract_compact(token.encode()).payload
        claims = json.loads(payload)
    except (JoseError, ValueError, TypeError):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None


async def authenticate_jwt(
    session: AsyncSession, token: str, *, issuer: str | None
) -> ApiKeySubject:
    """The subject a JWT signed by a registered client key stands for, or 401.

    ``issuer`` is the issuer the request names besides the token (Documentd's
    ``SP-Company-Api-Id``); the token's ``iss`` must be the same. Without it, the token's own
    ``iss`` picks the key, which must then verify the signature.
    """
    claimed = _unverified_issuer(token) if looks_like_jwt(token) else None
    if claimed is None:
        raise Unauthorized("The bearer token is not a JWT with an `iss` claim.")
    if issuer is not None and claimed != issuer:
        raise Unauthorized("The token's `iss` is not the company API id of the request.")
    key = None
    if possible_id(claimed):
        key = await session.scalar(select(ClientKey).where(ClientKey.issuer == claimed))
    if key is None or key.revoked_at is not None:
        raise Unauthorized("No client key is registered for this issuer, or it was revoked.")
    try:
        verified = jwt.decode(
            token, _jwk(key.key_type, key.public_key_pem), ALGORITHMS[key.key_type]
        )
    except JoseError as exc:
        raise Unauthorized(
            f"The token's signature does not verify with the registered key "
            f"({' or '.join(ALGORITHMS[key.key_type])} only)."
        ) from exc
    _check_claims(verified.claims, issuer=key.issuer)
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_PRECISION:
        touch(session, key, last_used_at=now)
    return ApiKeySubject(
        organization_id=key.organization_id,
        api_key_id=key.id,
        scopes=frozenset(key.scopes),
        authentication="client-key-jwt",
    )


def _check_claims(claims: dict[str, object], *, issuer: str) -> None:
    now = utcnow().timestamp()
    skew = int(CLOCK_SKEW.total_seconds())
    registry = JWTClaimsRegistry(
        now=int(now), leeway=skew, iss={"essential": True, "value": issuer}, exp={"essential": True}
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise Unauthorized(f"The token is not valid now: {exc.description or exc.error}.") from exc
    exp = claims["exp"]
    assert isinstance(exp, int | float) and math.isfinite(exp)  # checked by the registry
    if exp > now + (MAX_LIFETIME + CLOCK_SKEW).total_seconds():
        raise Unauthorized(
            "The token's `exp` is more than one hour ahead; make short-lived tokens."
        )
