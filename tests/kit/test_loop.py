"""The event loop of long-running commands: uvloop's where installed, asyncio's otherwise."""

from __future__ import annotations

import asyncio
import sys

import pytest

from tabellion.kit import loop


async def which() -> tuple[str, str]:
    return type(asyncio.get_running_loop()).__module__, loop.running_loop_name()


def test_runs_on_uvloop_where_it_is_installed() -> None:
    module, name = loop.run(which())
    assert module.startswith("uvloop") and name == "uvloop"


def test_runs_on_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError
    assert loop.loop_factory() is None
    module, name = loop.run(which())
    assert module.startswith("asyncio") and name == "asyncio"


def test_a_failure_comes_out_and_the_loop_is_closed() -> None:
    seen: list[asyncio.AbstractEventLoop] = []

    async def fail() -> None:
        seen.append(asyncio.get_running_loop())
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        loop.run(fail())
    assert seen[0].is_closed()
