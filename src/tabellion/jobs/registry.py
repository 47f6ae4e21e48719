"""The ``@task`` registry: a job's ``kind`` names the handler that runs it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from tabellion.runtime import Runtime


class TaskContext(NamedTuple):
    """What a handler learns of its job. (A named tuple: one is made for every job run, and a
    frozen dataclass takes ~1 µs more to make; docs/performance.md, "6 December, late night".)"""

    runtime: Runtime
    job_id: int
    attempt: int  # 1 for the first run
    max_attempts: int

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


Handler = Callable[[TaskContext, dict[str, Any]], Awaitable[None]]

# Claim order among due jobs: a lower number first. A person waits for a code or a password
# e-mail (seconds matter); a notice starts a legal clock; renders, time stamps and purges can
# trail behind a backlog of thousands without anyone noticing.
PRIORITY_INTERACTIVE = 0
PRIORITY_NOTICE = 10
PRIORITY_DEFAULT = 20
PRIORITY_BULK = 30


@dataclass(frozen=True)
class TaskSpec:
    kind: str
    handler: Handler
    max_attempts: int
    timeout_seconds: float
    priority: int = PRIORITY_DEFAULT


_TASKS: dict[str, TaskSpec] = {}


class GiveUp(Exception):
    """Raised by a handler to end its job as dead now, attempts left or not."""


class RetryLater(Exception):
    """Raised by a handler to be run again after ``delay`` seconds (counts as an attempt)."""

    def __init__(self, reason: str, *, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


def task(
    kind: str,
    *,
    max_attempts: int = 10,
    timeout_seconds: float = 300.0,
    priority: int = PRIORITY_DEFAULT,
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if kind in _TASKS and _TASKS[kind].handler is not handler:
            raise RuntimeError(f"task {kind!r} registered twice")
        _TASKS[kind] = TaskSpec(kind, handler, max_attempts, timeout_seconds, priority)
        return handler

    return register


_WARM_UPS: list[Callable[[], None]] = []


def warm_up(prepare: Callable[[], None]) -> Callable[[], None]:
    """Register what a worker process prepares once started, before its first job (see
    ``jobs.worker.freeze_startup_heap``): work its first jobs would otherwise do while
    holding the event loop, such as reading catalogs and compiling templates."""
    if prepare not in _WARM_UPS:
        _WARM_UPS.append(prepare)
    return prepare


def warm_ups() -> list[Callable[[], None]]:
    load_all_tasks()
    return list(_WARM_UPS)


def get_task(kind: str) -> TaskSpec | None:
    load_all_tasks()
    return _TASKS.get(kind)


def registered_kinds() -> list[str]:
    load_all_tasks()
    return sorted(_TASKS)


def load_all_tasks() -> None:
    """Import every domain's ``tasks`` module so their handlers register.

    Once all are imported, nothing is left to do: every job enqueued looks its kind up here,
    and importing fifteen modules already imported costs ~10 µs each time."""
    global _all_loaded
    if _all_loaded:
        return
    import importlib

    for module in TASK_MODULES:
        importlib.import_module(module)
    _all_loaded = True


_all_loaded = False


TASK_MODULES = (
    "tabellion.notification.tasks",
    "tabellion.document.tasks",
    "tabellion.jobs.maintenance",
    "tabellion.webhook.tasks",
    "tabellion.organization.tasks",
    "tabellion.message.tasks",
    "tabellion.portal.tasks",
    "tabellion.evidence.tasks",
    "tabellion.envelope.tasks",
    "tabellion.identity.sms",
    "tabellion.identity.tasks",
    "tabellion.retention.tasks",
)
