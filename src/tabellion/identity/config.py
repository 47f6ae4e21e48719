"""Identity providers as the operator configures them (``TABELLION_IDENTITY_PROVIDERS``).

A JSON object, one entry per provider, keyed by the name messages use::

    TABELLION_IDENTITY_PROVIDERS='{"fc": {"preset": "franceconnect_plus",
        "discovery_url": "https://.../.well-known/openid-configuration",
        "client_id": "...", "client_secret": "..."}}'

A preset fills in what the provider always wants (scopes, claim names, token
authentication, the level of assurance it gives, the ``acr`` to ask for); anything given
explicitly wins. This module imports nothing of the service, so the settings can use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

Level = Literal["low", "substantial", "high"]
LEVELS: tuple[Level, ...] = ("low", "substantial", "high")
Attribute = Literal["first_name", "last_name", "birth_date"]
ATTRIBUTES: tuple[Attribute, ...] = ("first_name", "last_name", "birth_date")
Preset = Literal["generic", "idin", "franceconnect", "franceconnect_plus", "itsme"]
TokenAuth = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]

_STANDARD_CLAIMS: dict[Attribute, str] = {
    "first_name": "given_name",
    "last_name": "family_name",
    "birth_date": "birthdate",
}

# What each preset brings; see docs/identity.md for where the values come from.
PRESETS: dict[str, dict[str, Any]] = {
    "generic": {
        "label": "OpenID Connect",
        "scopes": ["openid", "profile"],
        "claims": _STANDARD_CLAIMS,
        "level": "low",
    },
    # iDIN (Dutch banks) through an OIDC broker; the subject is the bank's pseudonymous BIN.
    "idin": {
        "label": "iDIN",
        "scopes": ["openid", "profile", "birthdate"],
        "claims": _STANDARD_CLAIMS,
        "level": "substantial",
    },
    # FranceConnect: eIDAS low ("eidas1"); FranceConnect+: substantial ("eidas2").
    "franceconnect": {
        "label": "FranceConnect",
        "scopes": ["openid", "given_name", "family_name", "birthdate"],
        "claims": _STANDARD_CLAIMS,
        "level": "low",
        "acr_values": ["eidas1"],
        "token_auth": "client_secret_post",
    },
    "franceconnect_plus": {
        "label": "FranceConnect+",
        "scopes": ["openid", "given_name", "family_name", "birthdate"],
        "claims": _STANDARD_CLAIMS,
        "level": "substantial",
        "acr_values": ["eidas2"],
        "token_auth": "client_secret_post",
    },
    # itsme (Belgium), notified at eIDAS high; the national number is hashed in evidence.
    "itsme": {
        "label": "itsme",
        "scopes": ["openid", "profile", "eid"],
        "claims": _STANDARD_CLAIMS,
        "level": "high",
        "token_auth": "private_key_jwt",
        "hashed_claims": ["http://itsme.services/v2/claim/BENationalNumber"],
    },
}


class IdentityProvider(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: Preset = "generic"
    label: str = Field(default="OpenID Connect", min_length=1, max_length=60)
    discovery_url: str = Field(pattern=r"^https?://", max_length=2000)
    client_id: str = Field(min_length=1, max_length=255)
    client_secret: SecretStr | None = None
    # private_key_jwt: the PEM private key that signs client assertions, and its key id.
    private_key_file: Path | None = None
    private_key_id: str | None = None
    token_auth: TokenAuth | None = None
    scopes: list[str] = Field(default_factory=lambda: ["openid"])
    # Our attribute -> the claim of the ID token (or of the userinfo answer) that holds it.
    claims: dict[Attribute, str] = Field(default_factory=lambda: dict(_STANDARD_CLAIMS))
    level: Level = "low"
    # Asked for, and then required of the ID token's ``acr`` claim, when set.
    acr_values: list[str] = Field(default_factory=list)
    # Claims that are personal numbers: recorded as SHA-256 hashes, never in clear.
    hashed_claims: list[str] = Field(default_factory=list)
    # The subject itself is a personal number (some national schemes): hash it too.
    subject_is_personal_number: bool = False
    # Clock skew allowed on exp/iat/nbf.
    leeway_seconds: int = Field(default=60, ge=0, le=600)
    # Keep the ID token, as the provider signed it, in the evidence (a third party can check
    # it against the provider's keys). Turn off for a provider whose ID token carries a
    # personal number in clear.
    keep_id_token: bool = True
    # Read the userinfo endpoint too (claims some providers give only there).
    userinfo: bool = True

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        preset = PRESETS.get(str(data.get("preset", "generic")))
        return {**(preset or {}), **data}

    @model_validator(mode="after")
    def _authentication(self) -> Self:
        if "openid" not in self.scopes:
            raise ValueError("scopes must include 'openid'")
        method = self.method
        if method == "private_key_jwt" and self.private_key_file is None:
            raise ValueError("private_key_jwt needs private_key_file")
        if method != "private_key_jwt" and self.client_secret is None:
            raise ValueError(f"{method} needs client_secret")
        return self

    @property
    def method(self) -> TokenAuth:
        if self.token_auth is not None:
            return self.token_auth
        return "private_key_jwt" if self.private_key_file else "client_secret_basic"


def level_at_least(given: str, wanted: str) -> bool:
    order: tuple[str, ...] = LEVELS
    return order.index(given) >= order.index(wanted)
