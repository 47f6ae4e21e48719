"""The event loop a long-running process runs on.

uvloop's where it is installed (``uvicorn[standard]`` brings it), as under ``tabellion serve``,
where uvicorn picks it by itself; asyncio's own otherwise. ``tabellion worker`` ran on
asyncio's loop while the worker inside ``serve`` ran on uvloop's, and a webhook cost 15–25 %
more CPU on the first (docs/performance.md, "7 December, night").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's ``new_event_loop``, or None (asyncio's default) where uvloop is missing."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the loop of :func:`loop_factory`."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def running_loop_name() -> str:
    """``uvloop`` or ``asyncio``: which loop this code runs on (the worker logs it)."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if module.startswith("uvloop") else "asyncio"
