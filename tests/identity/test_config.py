"""Providers as the operator configures them: presets, and what each needs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from tabellion.config import Settings
from tabellion.identity.config import PRESETS, IdentityProvider, level_at_least

BASE = {"discovery_url": "https://op.example.test/.well-known/openid-configuration"}


def test_presets_fill_in_and_explicit_values_win() -> None:
    fc = IdentityProvider.model_validate(
        {**BASE, "preset": "franceconnect_plus", "client_id": "c", "client_secret": "s"}
    )
    assert (fc.label, fc.level, fc.acr_values, fc.method) == (
        "FranceConnect+",
        "substantial",
        ["eidas2"],
        "client_secret_post",
    )
    own = IdentityProvider.model_validate(
        {**BASE, "preset": "idin", "client_id": "c", "client_secret": "s", "label": "My bank"}
    )
    assert own.label == "My bank" and own.level == "substantial"
    assert set(PRESETS) == {"generic", "idin", "franceconnect", "franceconnect_plus", "itsme"}


def test_itsme_needs_a_private_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="private_key_jwt needs private_key_file"):
        IdentityProvider.model_validate({**BASE, "preset": "itsme", "client_id": "c"})
    key = tmp_path / "key.pem"
    itsme = IdentityProvider.model_validate(
        {**BASE, "preset": "itsme", "client_id": "c", "private_key_file": str(key)}
    )
    assert (itsme.method, itsme.level) == ("private_key_jwt", "high")
    assert itsme.hashed_claims == ["http://itsme.services/v2/claim/BENationalNumber"]


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"client_id": "c"}, "client_secret_basic needs client_secret"),
        ({"client_id": "c", "client_secret": "s", "scopes": ["profile"]}, "include 'openid'"),
        ({"client_id": "c", "client_secret": "s", "level": "medium"}, "level"),
        ({"client_id": "c", "client_secret": "s", "typo": 1}, "typo"),
        ({"client_id": "c", "client_secret": "s", "discovery_url": "ftp://x"}, "discovery_url"),
    ],
)
def test_bad_providers_are_refused(extra: dict[str, object], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        IdentityProvider.model_validate({**BASE, **extra})


def test_settings_read_providers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    value = {"fc": {**BASE, "preset": "franceconnect", "client_id": "c", "client_secret": "s"}}
    monkeypatch.setenv("TABELLION_IDENTITY_PROVIDERS", json.dumps(value))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.identity_providers["fc"].label == "FranceConnect"
    monkeypatch.setenv("TABELLION_IDENTITY_PROVIDERS", json.dumps({"Bad Name": value["fc"]}))
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_levels_are_ordered() -> None:
    assert level_at_least("high", "substantial") and level_at_least("low", "low")
    assert not level_at_least("low", "substantial")
