from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tabellion.config import Settings
from tests.conftest import make_settings
from tests.fixtures.receiver import Receiver, running_receiver


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    # The tests' receiver listens on loopback, which the SSRF guard refuses unless allowed.
    return make_settings(data_dir, database_url, webhook_allowed_hosts="127.0.0.1")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as r:
        yield r
