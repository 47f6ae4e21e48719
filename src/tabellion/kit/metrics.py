"""Prometheus metrics: what each process counts, what a scrape reads from the database.

Two kinds of series (docs/operations.md lists them all):

- Counted where the work happens (HTTP requests, e-mails, webhooks, proofs sealed, time-stamp
  requests, jobs run, relay failures, lost files): per process. ``tabellion serve`` runs the
  API and a worker in one process, so its /metrics has everything. Separate ``tabellion
  worker`` processes count in their own memory, invisible to a scrape, unless every process
  of the host shares ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode):
  the /metrics of any API process on that host then adds up all of them.
- Read at scrape time (the job table, the database pool): the job counts are the whole
  cluster's, the same from every node (aggregate them with ``max``, not ``sum``); the pool
  is the answering process's.

Call sites use the small functions below (one line each), so domains need not know
prometheus-client.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import ipaddress
import logging
import os
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.datastructures import MutableHeaders
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tabellion.kit import logs, tracing

if TYPE_CHECKING:
    from email.message import EmailMessage

    from tabellion.notification.mime import RawMail
    from tabellion.notification.transport import MailTransport
    from tabellion.runtime import Runtime

access_log = logging.getLogger("tabellion.access")
log = logging.getLogger(__name__)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"

HTTP_REQUESTS = Counter(
    "tabellion_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "tabellion_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0),
)
EMAILS = Counter(
    "tabellion_emails",
    "E-mails handed to the relay (or the outbox), by outcome: sent, temporary_failure "
    "(relay trouble, retried), permanent_failure (refused for good), error.",
    ["outcome"],
)
_EMAILS_SENT = EMAILS.labels("sent")  # looked up once: every notice counts here
NOTICE_RELAY_FAILURES = Counter(
    "tabellion_notice_relay_failures",
    "Notices the relay could not take (refused connection, 4xx, timeout), by what follows: "
    "retry, or gave_up once TABELLION_NOTICE_RETRY_HOURS passed (the job ends dead). "
    "A rising rate is a relay outage.",
    ["outcome"],
)
WEBHOOKS = Counter(
    "tabellion_webhook_attempts",
    "Webhook delivery attempts by outcome: succeeded, retrying, failed (no retry: 410 or "
    "a disabled endpoint), dead (the last attempt failed).",
    ["outcome"],
)
PROOFS_SEALED = Counter("tabellion_proofs_sealed", "Evidence records sealed.")
TSA_DURATION = Histogram(
    "tabellion_tsa_request_duration_seconds",
    "Time-stamp requests to an authority (RFC 3161), by outcome: ok, unavailable, invalid.",
    ["outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
TSA_LAST_SUCCESS = Gauge(
    "tabellion_tsa_last_success_timestamp_seconds",
    "When a time-stamp authority last answered with a valid token (Unix time).",
    multiprocess_mode="max",
)
STORED_FILE_UNAVAILABLE = Counter(
    "tabellion_stored_file_unavailable",
    "Stored files found missing or not matching their hash when read, by reason.",
    ["reason"],
)
JOBS_RUN = Counter(
    "tabellion_jobs_run",
    "Job runs by kind and outcome: done, retry (failed, queued again), dead.",
    ["kind", "outcome"],
)
JOB_DURATION = Histogram(
    "tabellion_job_duration_seconds",
    "Time a job's handler ran, by kind.",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0, 600.0),
)


# ---- one-line call sites ---------------------------------------------------------------------


def proofs_sealed(count: int) -> None:
    if count:
        PROOFS_SEALED.inc(count)


def webhook_attempt(outcome: str) -> None:
    _child(WEBHOOKS, outcome).inc()


def notice_relay_failure(outcome: str) -> None:
    NOTICE_RELAY_FAILURES.labels(outcome).inc()


def stored_file_unavailable(reason: str) -> None:
    STORED_FILE_UNAVAILABLE.labels(reason).inc()


def job_run(kind: str, outcome: str, seconds: float) -> None:
    _child(JOBS_RUN, kind, "retry" if outcome == "queued" else outcome).inc()
    _child(JOB_DURATION, kind).observe(seconds)


@functools.lru_cache(maxsize=1024)
def _child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once: it costs more than counting, and a worker
    counts every job (the children live as long as their metric)."""
    return metric.labels(*labels)


@contextmanager
def tsa_request() -> Iterator[None]:
    """Time one request to a time-stamp authority and count its outcome."""
    from tabellion.evidence.timestamping.rfc3161 import TimestampInvalid

    start = time.perf_counter()
    outcome = "unavailable"
    try:
        yield
        outcome = "ok"
        TSA_LAST_SUCCESS.set_to_current_time()
    except TimestampInvalid:
        outcome = "invalid"
        raise
    finally:
        TSA_DURATION.labels(outcome).observe(time.perf_counter() - start)


class CountedMail:
    """A mail transport that counts what it sends and how it fails."""

    def __init__(self, inner: MailTransport) -> None:
        self.inner = inner

    async def send(
        self, message: EmailMessage | RawMail, *, envelope_from: str | None = None
    ) -> str:
        from tabellion.notification.transport import PermanentFailure, TemporaryFailure

        try:
            answer = await self.inner.send(message, envelope_from=envelope_from)
        except PermanentFailure:
            EMAILS.labels("permanent_failure").inc()
            raise
        except TemporaryFailure:
            EMAILS.labels("temporary_failure").inc()
            raise
        except Exception:
            EMAILS.labels("error").inc()
            raise
        _EMAILS_SENT.inc()
        return answer

    async def close(self) -> None:
        await self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def counted_mail(transport: MailTransport) -> MailTransport:
    return CountedMail(transport)


# ---- HTTP: request id, request metrics, access log ------------------------------------------


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/messages/{message_id}``), never the raw path:
    one series per route, whatever ids the clients send."""
    route = scope.get("route")
    mounted = str(scope.get("root_path", ""))[len(str(scope.get("app_root_path", ""))) :]
    if route is None:
        # A mounted application (static files) matched: its prefix, then anything.
        return f"{mounted}/{{path}}" if mounted and scope.get("endpoint") else UNMATCHED
    template = getattr(route, "path_format", None)
    if not isinstance(template, str):
        return UNMATCHED
    if isinstance(route, Mount):
        return template
    # A route of an included router knows its path without the router's prefix: the prefix
    # is what the request path holds before the route's own part (its parameters filled in).
    params = scope.get("path_params") or {}
    try:
        own = template.format_map({name: str(value) for name, value in params.items()})
    except (KeyError, ValueError, IndexError):
        return mounted + template
    path = str(scope.get("path", ""))
    if own and path.endswith(own):
        return path[: len(path) - len(own)] + template
    return mounted + template


_REQUEST_ID_KEY = logs.REQUEST_ID_HEADER.lower().encode("latin-1")


def _header(scope: Scope, name: bytes) -> str | None:
    """A request header's value by its lower-case name (ASGI servers lower-case them).

    ``Headers(scope=scope).get`` copies the list and, for a header the request lacks (most
    lack ``X-Request-ID``), raises and catches a ``KeyError``: ~2 % of a ``GET``'s
    instructions, measured."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


class ObserveMiddleware:
    """Gives each request an id (its ``X-Request-ID``, sane, or a new one), binds it to the
    logs and jobs of the request, echoes it in the response, counts and times the request,
    and writes one access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = logs.request_id_from(_header(scope, _REQUEST_ID_KEY))
        start = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[logs.REQUEST_ID_HEADER] = request_id
            await send(message)

        with logs.bound(request_id=request_id):
            tracing.annotate_current_span("tabellion.request_id", request_id)
            try:
                await self.app(scope, receive, send_observed)
            finally:
                elapsed = time.perf_counter() - start
                method = scope["method"] if scope["method"] in _METHODS else "other"
                route = route_template(scope)
                _child(HTTP_REQUESTS, method, route, str(status)).inc()
                _child(HTTP_DURATION, method, route).observe(elapsed)
                if access_log.isEnabledFor(logging.INFO):
                    access_log.info(
                        "%s %s %d %.1f ms",
                        scope["method"],
                        scope["path"],
                        status,
                        elapsed * 1000,
                        extra={
                            "method": scope["method"],
                            "path": scope["path"],
                            "route": route,
                            "status": status,
                            "duration_ms": round(elapsed * 1000, 1),
                        },
                    )


# ---- the scrape --------------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_ENV) or None


def _process_registry() -> CollectorRegistry:
    """This process's series, or in multiprocess mode those of every process of the host."""
    if multiprocess_dir() is None:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


class _Snapshot(Collector):
    """Families computed before the scrape renders (the database is read asynchronously)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


async def _job_families(runtime: Runtime) -> list[Metric]:
    from tabellion.jobs.registry import registered_kinds
    from tabellion.jobs.stats import STATUSES, summarise_jobs
    from tabellion.kit.time import utcnow

    async with runtime.read_sessions() as session:
        summaries = await summarise_jobs(session, utcnow(), kinds=registered_kinds())
    jobs = GaugeMetricFamily(
        "tabellion_jobs",
        "Jobs in the job table by kind and status (queued includes those scheduled later).",
        labels=["kind", "status"],
    )
    due = GaugeMetricFamily(
        "tabellion_jobs_due", "Queued jobs whose time has come, by kind.", labels=["kind"]
    )
    oldest = GaugeMetricFamily(
        "tabellion_jobs_oldest_due_age_seconds",
        "How long the oldest due queued job of each kind has waited past its time (0: none).",
        labels=["kind"],
    )
    for summary in summaries:
        for status in STATUSES:
            jobs.add_metric([summary.kind, status], getattr(summary, status))
        due.add_metric([summary.kind], summary.due)
        oldest.add_metric([summary.kind], summary.oldest_due_seconds)
    return [jobs, due, oldest]


def _pool_families(runtime: Runtime) -> list[Metric]:
    from sqlalchemy.pool import QueuePool

    size = GaugeMetricFamily(
        "tabellion_db_pool_size", "Connections the pool keeps (this process).", labels=["pool"]
    )
    checked_out = GaugeMetricFamily(
        "tabellion_db_pool_checked_out", "Connections in use (this process).", labels=["pool"]
    )
    idle = GaugeMetricFamily(
        "tabellion_db_pool_idle", "Open connections waiting in the pool.", labels=["pool"]
    )
    overflow = GaugeMetricFamily(
        "tabellion_db_pool_overflow",
        "Connections beyond the pool size (negative: not yet opened).",
        labels=["pool"],
    )
    engines = {"write": runtime.engine}
    # One pool for both: in-memory SQLite, or a database other than SQLite and PostgreSQL.
    if runtime.read_engine.pool is not runtime.engine.pool:
        engines["read"] = runtime.read_engine
    for name, engine in engines.items():
        pool = engine.pool
        if isinstance(pool, QueuePool):
            size.add_metric([name], pool.size())
            checked_out.add_metric([name], pool.checkedout())
            idle.add_metric([name], pool.checkedin())
            overflow.add_metric([name], pool.overflow())
    return [size, checked_out, idle, overflow]


async def render(runtime: Runtime) -> bytes:
    """The text of a scrape: counted series, then the job table and pool read now."""
    families = _pool_families(runtime)
    up = GaugeMetricFamily(
        "tabellion_database_up", "Whether the scrape could read the job table (1) or not (0)."
    )
    try:
        families.extend(await _job_families(runtime))
        up.add_metric([], 1)
    except Exception as exc:
        # A scrape must still answer (and say so) while the database is away.
        log.warning("metrics: cannot read the job table: %s", type(exc).__name__)
        up.add_metric([], 0)
    families.append(up)
    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(_Snapshot(families))
    return generate_latest(_process_registry()) + generate_latest(snapshot)


# ---- GET /metrics ------------------------------------------------------------------------------


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_scraper(token: str | None, authorization: str | None, client_host: str | None) -> None:
    """With a token, the scraper must present it (``Bearer``): else 401. Without one, only
    loopback clients are answered, others get 404 (uvicorn's proxy_headers put a proxied
    client's own address in the scope, not the proxy's)."""
    from tabellion.errors import NotFound, Unauthorized

    if token is None:
        if not _loopback(client_host):
            raise NotFound("Not found.")
        return
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        raise Unauthorized("Send the metrics token: Authorization: Bearer <token>.")


class ObservedFastAPI(FastAPI):
    """FastAPI with :class:`ObserveMiddleware` outside everything, the server-error handler
    included: an unexpected error's 500 carries the request id, and so does its log line."""

    def __init__(self, **options: Any) -> None:
        # FastAPI's own telemetry told once which providers are set, not asked per request.
        options.setdefault("telemetry", tracing.fastapi_telemetry())
        super().__init__(**options)

    def build_middleware_stack(self) -> ASGIApp:
        return ObserveMiddleware(super().build_middleware_stack())


def metrics_app(runtime: Runtime) -> FastAPI:
    """An application serving GET /metrics alone, for ``tabellion worker --metrics-port``."""
    from tabellion.errors import install_error_handlers

    app = ObservedFastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    install_error_handlers(app)
    install(app)
    return app


@asynccontextmanager
async def serving_metrics(runtime: Runtime, *, host: str, port: int) -> AsyncIterator[None]:
    """Serve :func:`metrics_app` on ``host:port`` while the block runs."""
    import uvicorn

    config = uvicorn.Config(
        metrics_app(runtime),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # uvicorn's exit (the port is taken...)
            raise RuntimeError(f"cannot serve metrics on {host}:{port}")
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        await task


def install(app: FastAPI) -> None:
    """Serve GET /metrics (outside the API's OpenAPI document)."""

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        secret = runtime.settings.metrics_token
        check_scraper(
            secret.get_secret_value() if secret else None,
            request.headers.get("authorization"),
            request.client.host if request.client else None,
        )
        return Response(await render(runtime), media_type=CONTENT_TYPE_LATEST)
