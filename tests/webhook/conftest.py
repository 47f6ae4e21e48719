from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass
class HoldingReceiver(Receiver):
    """Records the first request at once, but answers it only when ``release`` is set."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    _holding: bool = False

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        hold = scope["type"] == "http" and not self._holding
        self._holding = self._holding or hold

        async def answer(message: dict[str, Any]) -> None:
            if hold and message["type"] == "http.response.start":
                await self.release.wait()
            await send(message)

        await super().app(scope, receive, answer)


@pytest.fixture
async def holding_receiver() -> AsyncIterator[HoldingReceiver]:
    async with running_receiver(HoldingReceiver) as r:
        yield r
