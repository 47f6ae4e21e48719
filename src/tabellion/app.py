"""The ASGI application: routers, middleware, error handlers and the process lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import Response

from tabellion import __version__
from tabellion.config import Settings
from tabellion.errors import NotFound, install_error_handlers
from tabellion.kit import metrics
from tabellion.kit.bodylimit import BodyLimitMiddleware, document_body_limits
from tabellion.kit.idempotency import IdempotentReplay
from tabellion.kit.ratelimit import document_dialect_limits
from tabellion.kit.text import document_query_text, guard_request
from tabellion.runtime import Runtime

log = logging.getLogger("tabellion")

# The native API's sections in reading order (/docs shows them so, whatever order routes
# match in).
OPENAPI_TAGS = [
    {"name": "service", "description": "Liveness and metrics."},
    {"name": "messages", "description": "Create a message, attach files, dispatch it."},
    {"name": "deliveries", "description": "One recipient's copy of a message, its status."},
    {"name": "webhooks", "description": "Endpoints, the event feed, redelivery."},
    {"name": "evidence", "description": "Sealed proofs, their PDFs and their verification."},
    {"name": "organization", "description": "Your organisation, its brand and settings."},
    {"name": "customers", "description": "Organisations you send for."},
    {"name": "api keys", "description": "Keys, their scopes, rotation and revocation."},
    {"name": "client keys", "description": "Public keys of clients that sign JWTs."},
    {"name": "users", "description": "Dashboard users and their roles."},
    {"name": "envelopes", "description": "Documents to sign: recipients, fields, the result."},
    {"name": "retention", "description": "Legal holds and erasures."},
]  # then the dialects' (``compat.openapi_tags``)

DESCRIPTION = """
Send documents with proof: deliver into a recipient's vault, send secure or registered
e-mail, and get sealed evidence of every step.

Authenticate with `Authorization: Bearer tbl_...`. Errors are RFC 9457
`application/problem+json` documents with a stable `code`; validation errors name the field
in `errors[].field`. Every `POST` accepts an `Idempotency-Key` header.
"""


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    run_worker: bool = False,
) -> FastAPI:
    """Build the app. With ``runtime`` the caller owns it (tests, embedding); else it is
    built from ``settings`` on startup and closed on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        rt = runtime or Runtime.build(settings or Settings())
        app.state.runtime = rt
        if owned:
            # What the process built (modules, routes, tables) stays out of the collector's
            # full passes, as in `tabellion worker`: a 10,000-recipient dispatch set off two.
            from tabellion.jobs.worker import freeze_startup_heap

            freeze_startup_heap()
        worker_task = None
        stop = asyncio.Event()
        if run_worker:
            from tabellion.jobs.worker import Worker

            worker = Worker(
                rt,
                concurrency=rt.settings.worker_concurrency,
                name="serve",
                lease_seconds=rt.settings.worker_lease_seconds,
            )
            worker_task = asyncio.create_task(worker.run(stop))
        try:
            yield
        finally:
            stop.set()
            if worker_task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await worker_task
            if owned:
                await rt.close()

    from tabellion.compat import mount_dialects, openapi_tags

    app = metrics.ObservedFastAPI(
        title="Tabellion",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # The default pages load their scripts from a CDN: blank offline or behind a strict
        # proxy. /docs is served below from the assets swagger-ui-py ships in its wheel.
        docs_url=None,
        redoc_url=None,
        openapi_tags=[*OPENAPI_TAGS, *openapi_tags()],
    )
    if runtime is not None:
        app.state.runtime = runtime
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_json_bytes=(settings or (runtime.settings if runtime else Settings())).max_json_bytes,
    )
    metrics.install(app)

    @app.exception_handler(IdempotentReplay)
    async def _replay(_: Request, exc: IdempotentReplay) -> Response:
        return exc.response

    @app.get("/health", tags=["service"], summary="Liveness check")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    from tabellion.dashboard.compose import router as dashboard_compose
    from tabellion.dashboard.envelopes import router as dashboard_envelopes
    from tabellion.dashboard.pages import router as dashboard_pages
    from tabellion.dashboard.settings import router as dashboard_settings
    from tabellion.envelope.endpoints import router as envelopes_router
    from tabellion.envelope.pages import router as signing_pages
    from tabellion.envelope.service import (
        EnvelopeDocumentNotFound,
        EnvelopeNotFound,
        RecipientNotFound,
    )
    from tabellion.evidence.endpoints import router as evidence_router
    from tabellion.evidence.proofs import EvidenceNotFound
    from tabellion.evidence.verification.pages import router as evidence_pages
    from tabellion.identity.pages import router as identity_pages
    from tabellion.message.endpoints import ReplyFileNotFound, deliveries_router, messages_router
    from tabellion.message.service.message import DeliveryNotFound, MessageNotFound
    from tabellion.organization.accounts import CustomerNotFound, UserNotFound
    from tabellion.organization.client_keys import ClientKeyNotFound
    from tabellion.organization.endpoints import ApiKeyNotFound
    from tabellion.organization.endpoints import router as organization_router
    from tabellion.organization.pages import brand_router
    from tabellion.organization.pages import router as organization_pages
    from tabellion.portal.pages import router as portal_pages
    from tabellion.portal.tracking import router as tracking_pages
    from tabellion.retention.endpoints import router as retention_router
    from tabellion.webhook.endpoints import router as webhooks_router
    from tabellion.webhook.service import EventNotFound, WebhookEndpointNotFound

    # Each path parameter of the API and the 404 its resource answers when it is not found.
    not_found: dict[str, type[NotFound]] = {
        "message_id": MessageNotFound,
        "delivery_id": DeliveryNotFound,
        "reply_id": ReplyFileNotFound,
        "file_id": ReplyFileNotFound,
        "evidence_id": EvidenceNotFound,
        "endpoint_id": WebhookEndpointNotFound,
        "event_id": EventNotFound,
        "key_id": ApiKeyNotFound,
        "client_key_id": ClientKeyNotFound,
        "user_id": UserNotFound,
        "customer_id": CustomerNotFound,
        "envelope_id": EnvelopeNotFound,
        "document_id": EnvelopeDocumentNotFound,
        "recipient_id": RecipientNotFound,
    }
    guard = Depends(guard_request(not_found))
    # Deliveries first: routes are matched in order, and a delivery (its status, polled by
    # integrators for each recipient) is read far more often than a message; seven message
    # routes fewer to try cost a GET delivery ~4 % less CPU (docs/performance.md). The
    # OpenAPI document keeps its reading order through OPENAPI_TAGS.
    for router in (
        deliveries_router,
        messages_router,
        webhooks_router,
        evidence_router,
        organization_router,
        envelopes_router,
        retention_router,
    ):
        app.include_router(router, prefix="/v1", dependencies=[guard])
    # The dialects before the pages: routes are matched in order, each included router's in
    # full (FastAPI keeps them nested), and machine clients call these as often as /v1.
    mount_dialects(app)
    app.include_router(organization_pages)
    # Before the pages: /app/signatures/new and …/{id}/fields are not an envelope or its action.
    app.include_router(dashboard_envelopes)
    # Before the pages: /app/letters/new is not a letter's id.
    app.include_router(dashboard_compose)
    app.include_router(dashboard_pages)
    app.include_router(dashboard_settings)
    app.include_router(brand_router)
    app.include_router(portal_pages)
    app.include_router(identity_pages)
    app.include_router(tracking_pages)
    app.include_router(signing_pages)
    app.include_router(evidence_pages)
    document_body_limits(app)
    document_query_text(app)
    document_dialect_limits(app)
    app.mount(
        "/static",
        StaticFiles(
            packages=[
                ("tabellion.portal", "static"),
                ("tabellion.envelope", "static"),
                ("tabellion.dashboard", "static"),
            ]
        ),
        name="static",
    )
    _mount_docs(app)
    return app


def _mount_docs(app: FastAPI) -> None:
    """The Swagger UI at /docs, every asset from this server (swagger-ui-py's bundled dist)."""
    assets = "/docs/assets"

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon-32x32.png",
        )

    app.mount(assets, StaticFiles(packages=[("swagger_ui", "static")]), name="docs-assets")
