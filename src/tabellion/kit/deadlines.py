"""Deadlines for many concurrent blocks of code, kept by one timer.

``asyncio.timeout`` arms a timer on the event loop for each block it guards (a handle pushed
on the loop's heap) and cancels it when the block ends (the handle stays on the heap until
the loop sweeps it out). A webhook send and a job each paid that, ~5-10 µs of a webhook's
~220 µs (docs/performance.md, "6 December, later"). Here a block's deadline is an entry in a
dict, and one timer is armed for the earliest entry: a block entered later, with a later
deadline (the usual case: same timeout, later start), arms nothing. When the timer fires, the
blocks past their deadline are cancelled and the timer is armed again for the earliest left.

A block past its deadline behaves as under ``asyncio.timeout``: its task is cancelled, the
block raises ``TimeoutError`` (from the ``CancelledError``), and a cancellation from
elsewhere stays a cancellation. Deadlines are exact: the timer never fires later than the
earliest pending deadline.
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType


class Deadlines:
    """One timer for the deadlines of every block entered through ``within``."""

    def __init__(self) -> None:
        self._blocks: dict[Deadline, None] = {}  # the blocks running, as an ordered set
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def within(self, seconds: float) -> Deadline:
        """``async with deadlines.within(10):`` raises TimeoutError after 10 s."""
        return Deadline(self, seconds)

    def __len__(self) -> int:
        return len(self._blocks)

    def _add(self, block: Deadline, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop:
            # Used from another event loop (a test's, a new runtime's): what was armed on the
            # previous one can never fire.
            self._blocks.clear()
            self._loop, self._timer, self._timer_at = loop, None, math.inf
        self._blocks[block] = None
        if block.when < self._timer_at:
            self._arm(block.when)

    def _remove(self, block: Deadline) -> None:
        # The timer stays: when it fires with nothing due, it is armed for the next deadline
        # or not at all. Cancelling it here would cost what this module saves.
        self._blocks.pop(block, None)

    def _arm(self, when: float) -> None:
        assert self._loop is not None
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(when, self._fire)
        self._timer_at = when

    def _fire(self) -> None:
        assert self._loop is not None
        self._timer, self._timer_at = None, math.inf
        now = self._loop.time()
        earliest = math.inf
        for block in list(self._blocks):
            if block.when <= now:
                del self._blocks[block]
                block._expire()
            elif block.when < earliest:
                earliest = block.when
        if earliest < math.inf:
            self._arm(earliest)


class Deadline:
    """One block's deadline: an async context manager, like ``asyncio.timeout``'s."""

    __slots__ = ("_cancelling", "_expired", "_owner", "_seconds", "_task", "when")

    def __init__(self, owner: Deadlines, seconds: float) -> None:
        self._owner = owner
        self._seconds = seconds
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self._expired = False
        self.when = math.inf  # the event loop's time at which the block is cancelled

    def expired(self) -> bool:
        """Whether the block was cancelled for being past its deadline."""
        return self._expired

    async def __aenter__(self) -> Deadline:
        if self._task is not None:
            raise RuntimeError("a Deadline is entered once")
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a Deadline must be used inside a task")
        loop = task.get_loop()
        self._task = task
        self._cancelling = task.cancelling()
        self.when = loop.time() + self._seconds
        self._owner._add(self, loop)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._owner._remove(self)
        if self._expired:
            assert self._task is not None
            # Our cancellation is taken back; any other one still stands.
            if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc

    def _expire(self) -> None:
        assert self._task is not None
        self._expired = True
        self._task.cancel()
