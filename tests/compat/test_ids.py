"""The shared foreign-id table: random, per organisation, allocated once per native row."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.requests import Request

from tabellion.app import create_app
from tabellion.compat import ids
from tabellion.db import transaction
from tabellion.errors import TabellionError, register_error_renderer
from tabellion.runtime import Runtime
from tests.fixtures.factories import create_org_with_key


async def test_allocate_is_stable_random_and_scoped(runtime: Runtime) -> None:
    org_a, _ = await create_org_with_key(runtime, "A")
    org_b, _ = await create_org_with_key(runtime, "B")
    async with transaction(runtime.sessions) as session:
        first = await ids.allocate(
            session, dialect="d", kind="message", native_id="msg_1", organization_id=org_a
        )
        again = await ids.allocate(
            session, dialect="d", kind="message", native_id="msg_1", organization_id=org_a
        )
        other = await ids.allocate(
            session, dialect="d", kind="message", native_id="msg_2", organization_id=org_a
        )
        short = await ids.allocate(
            session, dialect="d", kind="field", native_id="fld_1", organization_id=org_a, digits=9
        )
    assert first == again
    assert first != other
    assert len(first) == 12 and first.isdigit() and first[0] != "0"
    assert len(short) == 9 and short.isdigit()
    async with transaction(runtime.sessions) as session:
        assert (
            await ids.native_of(
                session, dialect="d", kind="message", foreign_id=first, organization_id=org_a
            )
            == "msg_1"
        )
        # Another organisation does not see it; another kind or dialect neither.
        for dialect, kind, org in (
            ("d", "message", org_b),
            ("d", "field", org_a),
            ("x", "message", org_a),
        ):
            assert (
                await ids.native_of(
                    session, dialect=dialect, kind=kind, foreign_id=first, organization_id=org
                )
                is None
            )
        mapping = await ids.foreign_map(
            session,
            dialect="d",
            kind="message",
            native_ids=["msg_1", "msg_2", "msg_3"],
            organization_id=org_a,
        )
    assert mapping == {"msg_1": first, "msg_2": other}


async def test_errors_render_in_the_shape_of_the_prefix(runtime: Runtime) -> None:
    import httpx

    app = create_app(runtime=runtime)
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        raise TabellionError("nope")

    def render(_: Request, error: TabellionError) -> JSONResponse:
        return JSONResponse({"dialect": error.code}, status_code=error.status)

    app.include_router(router, prefix="/compat/test")
    register_error_renderer(app, "/compat/test", render)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        raised = await client.get("/compat/test/boom")
        missing = await client.get("/compat/test/nowhere")
        native = await client.get("/v1/nowhere")
    assert raised.json() == {"dialect": TabellionError.code}
    assert missing.status_code == 404 and missing.json() == {"dialect": "not-found"}
    assert native.headers["content-type"].startswith("application/problem+json")
