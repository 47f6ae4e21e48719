"""Logging: structlog rendering for every stdlib logger, and the request id carried by each line.

The code base logs with the standard library (``logging.getLogger(__name__)``); structlog's
``ProcessorFormatter`` renders those records, as JSON (one object per line, for log shippers)
or readably on a terminal. Values bound in the context (``request_id``; ``job_id`` and
``job_kind`` in the worker) are added to every line logged in that context, whichever logger
writes it: the request id from a context variable of its own, the others from structlog's.

A request's id comes from its ``X-Request-ID`` header when that is a sane token, else it is
made up; jobs the request enqueues store it (``jobs.request_id``) and the worker binds it
again while running them, so one id follows a letter from the API call to its e-mail.
"""

from __future__ import annotations

import logging
import random
import re
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Literal

import structlog

LogFormat = Literal["json", "console"]

REQUEST_ID_HEADER = "X-Request-ID"
# Ids from outside are logged and stored: printable tokens only, bounded (no log injection).
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=@-]{0,127}")

_request_id: ContextVar[str | None] = ContextVar("tabellion_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request (or of the request that caused the job) being handled."""
    return _request_id.get()


def _add_request_id(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """The request id joins each line from its one context variable (not structlog's: a
    request binds one variable, not two, and unbinds nothing else)."""
    request_id = _request_id.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


# Added to foreign (stdlib) records and structlog events alike, before rendering.
_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    _add_request_id,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


# ``extra=`` fields of stdlib calls that become fields of the line (the access log's).
EXTRA_FIELDS = ("method", "path", "route", "status", "duration_ms")


def request_id_from(header: str | None) -> str:
    """The caller's id when it is a sane token, else a new random one."""
    if header and _SANE_ID.fullmatch(header):
        return header
    # Not a secret (every answer shows it): the random module's generator, reseeded in each
    # forked process, rather than the system's, whose call lets go of the GIL on every request.
    return f"{random.getrandbits(128):032x}"


class bound:  # lower case: used as a function, ``with logs.bound(request_id=...)``
    """Bind ``request_id`` (and ``values``) to every log line and job enqueued inside.

    A class rather than a generator: every request enters one, and a generator-based context
    manager costs it a generator and two resumptions more. Other values, reset by token (as
    ``bound_contextvars`` restores them, but without copying the whole context to find what
    was bound before).
    """

    __slots__ = ("_request_id", "_token", "_tokens", "_values")

    def __init__(self, *, request_id: str | None, **values: Any) -> None:
        self._request_id = request_id
        self._values = values
        self._tokens: Mapping[str, Any] = {}

    def __enter__(self) -> None:
        self._token = _request_id.set(self._request_id)
        if self._values:
            self._tokens = structlog.contextvars.bind_contextvars(**self._values)

    def __exit__(self, *_exc: object) -> None:
        if self._tokens:
            structlog.contextvars.reset_contextvars(**self._tokens)
        _request_id.reset(self._token)


def bind(*, request_id: str | None, **values: Any) -> None:
    """``bound`` for the rest of the current context, for a task started in a context of its
    own (a worker's job): the context ends with the task, so nothing is unbound."""
    _request_id.set(request_id)
    structlog.contextvars.bind_contextvars(**values)


def default_format() -> LogFormat:
    return "console" if sys.stderr.isatty() else "json"


def formatter(fmt: LogFormat) -> logging.Formatter:
    """A formatter rendering stdlib records (and structlog events) as ``fmt``."""
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        final = [structlog.processors.dict_tracebacks, renderer]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        final = [renderer]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED, structlog.stdlib.ExtraAdder(allow=EXTRA_FIELDS)],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )


def configure_logging(level: str = "info", fmt: LogFormat | None = None) -> None:
    """Send every logger's records to stderr, rendered as ``fmt`` (default: by terminal)."""
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt or default_format()))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's loggers go through the root handler (``serve`` passes log_config=None); its
    # access log is replaced by one line per request from the observing middleware.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # aiosmtpd (``tabellion mail-in``) logs every SMTP command line at info, the addresses of
    # each bounce included: a line per command of every mail server that calls, and personal
    # data in the logs. Its warnings (bogus commands, bad TLS settings) stay; the rest only
    # when asked for debug.
    logging.getLogger("mail.log").setLevel(
        logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    )
