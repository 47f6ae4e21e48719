"""Identity tests run with two providers configured (never contacted by the API tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tabellion.config import Settings
from tests.conftest import make_settings

PROVIDERS = {
    "bank": {
        "preset": "idin",
        "discovery_url": "https://bank.example.test/.well-known/openid-configuration",
        "client_id": "tabellion",
        "client_secret": "secret",
    },
    "fc": {
        "preset": "franceconnect",
        "discovery_url": "https://fc.example.test/.well-known/openid-configuration",
        "client_id": "tabellion",
        "client_secret": "secret",
    },
}


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    return make_settings(data_dir, database_url, identity_providers=PROVIDERS)
