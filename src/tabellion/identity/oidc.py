"""The OpenID Connect authorisation code flow, as a relying party (authlib + joserfc).

``authorization_url`` starts it (PKCE S256, ``state``, ``nonce``, ``acr_values`` when the
provider's level needs one); ``finish`` exchanges the code (client secret or
``private_key_jwt``) and checks the ID token: its signature against the provider's published
keys, ``iss`` (the discovery document's issuer), ``aud`` (our client id, and ``azp`` when
there are several audiences), ``exp``/``iat``/``nbf`` with the provider's leeway, the
``nonce`` of this very request, and ``acr`` when required. Anything wrong raises
``IdentityRefused`` naming what.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    JoseError,
)
from joserfc.jwk import KeySet

from tabellion.identity.config import IdentityProvider

with warnings.catch_warnings():
    # authlib 1.9 prefers the httpx2 fork and warns when it falls back to httpx, which is
    # what the rest of Tabellion uses; the client works the same on both.
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import AsyncOAuth2Client

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
_CACHE_SECONDS = 3600.0
_TIMEOUT = httpx.Timeout(10.0)


class IdentityRefused(Exception):
    """The sign-in cannot be trusted; ``reason`` is a stable code, shown with a clear text."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None


@dataclass(frozen=True)
class Verified:
    """What a provider vouched for: the checked ID token, its claims and the userinfo."""

    id_token: str
    claims: dict[str, Any]
    userinfo: dict[str, Any]


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class OidcClient:
    """Discovery documents and key sets, cached per process for an hour (and the keys read
    again at once when a token names a key the cached set lacks: a rotation)."""

    def __init__(self) -> None:
        self._metadata: dict[str, tuple[float, Metadata]] = {}
        self._keys: dict[str, tuple[float, KeySet]] = {}
        self._lock = asyncio.Lock()

    async def metadata(self, provider: IdentityProvider) -> Metadata:
        cached = self._metadata.get(provider.discovery_url)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        document = await _get_json(provider.discovery_url, "discovery document")
        try:
            metadata = Metadata(
                issuer=str(document["issuer"]),
                authorization_endpoint=str(document["authorization_endpoint"]),
                token_endpoint=str(document["token_endpoint"]),
                jwks_uri=str(document["jwks_uri"]),
                userinfo_endpoint=document.get("userinfo_endpoint"),
            )
        except KeyError as exc:
            raise IdentityRefused("provider-unavailable", f"discovery lacks {exc}") from None
        self._metadata[provider.discovery_url] = (time.monotonic() + _CACHE_SECONDS, metadata)
        return metadata

    async def keys(self, metadata: Metadata, *, fresh: bool = False) -> KeySet:
        cached = self._keys.get(metadata.jwks_uri)
        if cached and cached[0] > time.monotonic() and not fresh:
            return cached[1]
        document = await _get_json(metadata.jwks_uri, "key set")
        try:
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError) as exc:
            raise IdentityRefused("provider-unavailable", f"unreadable key set: {exc}") from None
        self._keys[metadata.jwks_uri] = (time.monotonic() + _CACHE_SECONDS, keys)
        return keys

    async def authorization_url(
        self,
        provider: IdentityProvider,
        *,
        redirect_uri: str,
        state: str,
        nonce: str,
        code_verifier: str,
    ) -> str:
        metadata = await self.metadata(provider)
        extra: dict[str, str] = {"nonce": nonce}
        if provider.acr_values:
            extra["acr_values"] = " ".join(provider.acr_values)
        async with _client(provider, redirect_uri, metadata) as client:
            url, _ = client.create_authorization_url(
                metadata.authorization_endpoint,
                state=state,
                code_verifier=code_verifier,
                **extra,
            )
        return str(url)

    async def finish(
        self,
        provider: IdentityProvider,
        *,
        redirect_uri: str,
        code: str,
        nonce: str,
        code_verifier: str,
    ) -> Verified:
        metadata = await self.metadata(provider)
        async with _client(provider, redirect_uri, metadata) as client:
            try:
                token = await client.fetch_token(
                    metadata.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                )
            except Exception as exc:  # the provider refused the code, or could not be reached
                raise IdentityRefused("token-exchange-failed", _describe(exc)) from None
            id_token = token.get("id_token")
            if not isinstance(id_token, str):
                raise IdentityRefused("token-missing", "the provider returned no ID token")
            claims = await self.check_id_token(provider, metadata, id_token, nonce=nonce)
            userinfo: dict[str, Any] = {}
            if provider.userinfo and metadata.userinfo_endpoint and token.get("access_token"):
                userinfo = await _userinfo(client, metadata.userinfo_endpoint, claims["sub"])
        return Verified(id_token=id_token, claims=claims, userinfo=userinfo)

    async def check_id_token(
        self, provider: IdentityProvider, metadata: Metadata, id_token: str, *, nonce: str
    ) -> dict[str, Any]:
        keys = await self.keys(metadata)
        try:
            try:
                token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
            except (ValueError, JoseError) as exc:
                if "key" not in str(exc).lower() or isinstance(exc, BadSignatureError):
                    raise
                # A key we do not know yet: the provider may have rotated its keys.
                token = jwt.decode(id_token, await self.keys(metadata, fresh=True), ALGORITHMS)
        except BadSignatureError:
            raise IdentityRefused("token-bad-signature", "the signature does not verify") from None
        except (ValueError, JoseError) as exc:
            raise IdentityRefused("token-unreadable", _describe(exc)) from None
        claims = dict(token.claims)
        registry = jwt.JWTClaimsRegistry(
            leeway=provider.leeway_seconds,
            iss={"essential": True, "value": metadata.issuer},
            sub={"essential": True},
            aud={"essential": True, "value": provider.client_id},
            exp={"essential": True},
            iat={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise IdentityRefused("token-expired", "the ID token has expired") from None
        except ClaimError as exc:
            claim = getattr(exc, "claim", "")
            reason = {"iss": "token-wrong-issuer", "aud": "token-wrong-audience"}.get(
                claim, "token-invalid"
            )
            raise IdentityRefused(reason, _describe(exc)) from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != provider.client_id:
            raise IdentityRefused("token-wrong-audience", "azp is not our client")
        if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(
            claims["nonce"], nonce
        ):
            raise IdentityRefused("token-wrong-nonce", "the nonce is not this sign-in's")
        if provider.acr_values and claims.get("acr") not in provider.acr_values:
            raise IdentityRefused("token-wrong-level", f"acr {claims.get('acr')!r}")
        return claims


def _client(provider: IdentityProvider, redirect_uri: str, metadata: Metadata) -> AsyncOAuth2Client:
    method = provider.method
    if method == "private_key_jwt":
        assert provider.private_key_file is not None  # checked by the configuration
        secret: str = provider.private_key_file.read_text()
    else:
        assert provider.client_secret is not None
        secret = provider.client_secret.get_secret_value()
    client = AsyncOAuth2Client(
        client_id=provider.client_id,
        client_secret=secret,
        scope=" ".join(provider.scopes),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=method,
        timeout=_TIMEOUT,
    )
    if method == "private_key_jwt":
        headers = {"kid": provider.private_key_id} if provider.private_key_id else None
        client.register_client_auth_method(PrivateKeyJWT(metadata.token_endpoint, headers=headers))
    return client


async def _get_json(url: str, what: str) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=_TIMEOUT) as http:
            response = await http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise IdentityRefused("provider-unavailable", f"{what}: {_describe(exc)}") from None
    if not isinstance(document, dict):
        raise IdentityRefused("provider-unavailable", f"{what} is not a JSON object")
    return document


async def _userinfo(client: AsyncOAuth2Client, endpoint: str, subject: str) -> dict[str, Any]:
    try:
        response = await client.get(endpoint)
        response.raise_for_status()
        info = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise IdentityRefused("provider-unavailable", f"userinfo: {_describe(exc)}") from None
    if not isinstance(info, dict) or info.get("sub") != subject:
        # OpenID Connect Core §5.3.2: a userinfo answer about someone else is to be ignored;
        # here it would decide who opened a letter, so the sign-in fails.
        raise IdentityRefused("userinfo-mismatch", "the userinfo is about another subject")
    return info


def _describe(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:300]
