"""A route of path and query parameters only gets its dependencies by a plan made once: the
same calls, in the same order, with the same arguments and caching as FastAPI's solver, and
FastAPI's own answer when a query parameter is wrong."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse, Response

from tabellion.app import create_app
from tabellion.db import DbSession, SessionRoute
from tabellion.runtime import Runtime

bearer = HTTPBearer(auto_error=False)


class Refused(Exception):
    pass


def build(runtime: Runtime) -> tuple[FastAPI, list[tuple[str, Any]]]:
    """Routes with the same dependencies: one of path parameters only (planned), one with a
    header parameter too (FastAPI's solver), and the two with query parameters, in the
    endpoint and in a dependency (planned, and FastAPI's solver for comparison). Each call is
    recorded."""
    calls: list[tuple[str, Any]] = []

    async def router_level(request: Request) -> None:
        calls.append(("router_level", request.path_params["item_id"]))
        if request.path_params["item_id"] == "refused":
            raise Refused

    async def shared(request: Request) -> str:
        calls.append(("shared", request.method))
        return "shared-value"

    async def caller(
        request: Request,
        first: Annotated[str, Depends(shared)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str:
        token = credentials.credentials if credentials else None
        calls.append(("caller", (first, token)))
        return f"caller:{token}"

    async def uncached(request: Request) -> int:
        calls.append(("uncached", None))
        return len(calls)

    async def endpoint(
        item_id: str,
        who: Annotated[str, Depends(caller)],
        again: Annotated[str, Depends(shared)],
        fresh: Annotated[int, Depends(uncached, use_cache=False)],
        fresh_too: Annotated[int, Depends(uncached, use_cache=False)],
        session: DbSession,
        request: Request,
    ) -> Response:
        calls.append(("endpoint", item_id))
        return JSONResponse(
            {
                "item_id": item_id,
                "who": who,
                "again": again,
                "fresh": [fresh, fresh_too],
                "session": isinstance(session, AsyncSession),
                "request": request.url.path,
            }
        )

    async def header(x_thing: Annotated[str | None, Header()] = None) -> None:
        """A header parameter: the route must be left to FastAPI's solver."""

    async def paging(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=10)] = 5,
        cursor: Annotated[str | None, Query(max_length=4)] = None,
    ) -> dict[str, Any]:
        calls.append(("paging", (limit, cursor)))
        return {"limit": limit, "cursor": cursor}

    async def listing(
        item_id: str,
        who: Annotated[str, Depends(caller)],
        page: Annotated[dict[str, Any], Depends(paging)],
        state: Annotated[str | None, Query(alias="status", pattern="^(new|old)$")] = None,
        tags: Annotated[list[str] | None, Query()] = None,
    ) -> Response:
        calls.append(("listing", item_id))
        return JSONResponse({"who": who, "page": page, "status": state, "tags": tags})

    router = APIRouter(route_class=SessionRoute)
    router.add_api_route("/planned/{item_id}", endpoint)
    router.add_api_route("/general/{item_id}", endpoint, dependencies=[Depends(header)])
    router.add_api_route("/list/{item_id}", listing)
    router.add_api_route("/list-general/{item_id}", listing, dependencies=[Depends(header)])

    app = FastAPI()
    app.state.runtime = runtime
    app.include_router(router, prefix="/v9", dependencies=[Depends(router_level)])

    @app.exception_handler(Refused)
    async def refused(_request: Request, _exc: Refused) -> Response:
        return JSONResponse({"refused": True}, status_code=403)

    return app, calls


def routes(app: FastAPI) -> dict[str, SessionRoute]:
    out: dict[str, SessionRoute] = {}
    stack: list[Any] = list(app.routes)
    while stack:
        route = stack.pop()
        stack.extend(getattr(route, "routes", None) or [])
        router = getattr(route, "original_router", None)  # FastAPI keeps included routers nested
        stack.extend(getattr(router, "routes", None) or [])
        if isinstance(route, SessionRoute):
            out[f"{min(route.methods)} {route.path}"] = route
    return out


@pytest.fixture
async def small(runtime: Runtime) -> AsyncIterator[tuple[httpx.AsyncClient, list[Any], FastAPI]]:
    app, calls = build(runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client, calls, app


async def test_same_calls_order_arguments_and_caching_as_fastapi(small: Any) -> None:
    client, calls, app = small
    headers = {"Authorization": "Bearer tok"}
    planned = await client.get("/v9/planned/abc", headers=headers)
    planned_calls = list(calls)
    calls.clear()
    general = await client.get("/v9/general/abc", headers=headers)

    assert planned.status_code == general.status_code == 200
    body = planned.json()
    assert body == {**general.json(), "request": "/v9/planned/abc"}
    assert body["who"] == "caller:tok" and body["again"] == "shared-value"
    assert body["session"] is True
    # The router's dependency first, a cached dependency once, an uncached one each time.
    assert planned_calls == calls
    assert [name for name, _ in planned_calls] == [
        "router_level",
        "shared",
        "caller",
        "uncached",
        "uncached",
        "endpoint",
    ]
    # Only the route of path parameters is planned, and only within the router it was built in.
    found = routes(app)
    assert found["GET /planned/{item_id}"].lean and not found["GET /general/{item_id}"].lean


async def both_lists(small: Any, query: str, status: int) -> list[tuple[str, Any]]:
    """The planned list and FastAPI's answer ``query`` alike, with ``status``, after the same
    calls; those calls."""
    client, calls, _ = small
    headers = {"Authorization": "Bearer tok"}
    calls.clear()
    planned = await client.get(f"/v9/list/abc{query}", headers=headers)
    planned_calls = list(calls)
    calls.clear()
    general = await client.get(f"/v9/list-general/abc{query}", headers=headers)
    assert planned.status_code == general.status_code == status
    assert planned.json() == general.json()
    assert planned_calls == calls
    return planned_calls


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?limit=7&cursor=ab&status=old",
        "?tags=a&tags=b&limit=1",
        "?status=new&unknown=1",
    ],
)
async def test_query_values_as_fastapi_gives_them(small: Any, query: str) -> None:
    await both_lists(small, query, 200)
    found = routes(small[2])
    assert found["GET /list/{item_id}"].lean and not found["GET /list-general/{item_id}"].lean


@pytest.mark.parametrize(
    "query",
    [
        "?limit=0",  # the dependency's parameter
        "?limit=x&cursor=toolong",  # two errors, in one answer
        "?status=other",  # the endpoint's, by its alias
        "?limit=11&status=other",
    ],
)
async def test_a_wrong_query_is_answered_by_fastapi_and_nothing_runs_twice(
    small: Any, query: str
) -> None:
    client, calls, _ = small
    # FastAPI runs the dependencies whose own parameters are right, then answers 422: each
    # once, though the plan looked at the query first.
    names = [name for name, _ in await both_lists(small, query, 422)]
    assert names[:3] == ["router_level", "shared", "caller"]
    assert "listing" not in names and len(names) == len(set(names))

    # A dependency's error comes first, as from FastAPI.
    calls.clear()
    refused = await client.get(f"/v9/list/refused{query}", headers={"Authorization": "Bearer t"})
    assert refused.status_code == 403 and calls == [("router_level", "refused")]


async def test_no_credentials_and_errors_as_fastapi(small: Any) -> None:
    client, calls, _ = small
    planned = await client.get("/v9/planned/abc")
    general = await client.get("/v9/general/abc")
    assert planned.json()["who"] == general.json()["who"] == "caller:None"

    calls.clear()
    refused = await client.get("/v9/planned/refused")
    assert refused.status_code == 403 and refused.json() == {"refused": True}
    assert calls == [("router_level", "refused")]  # nothing after the dependency that raised
    assert (await client.get("/v9/general/refused")).status_code == 403


async def test_dependency_overrides_use_fastapis_solver(small: Any) -> None:
    client, _, app = small

    async def other_caller() -> str:
        return "overridden"

    caller = next(
        dep.call
        for dep in routes(app)["GET /planned/{item_id}"].dependant.dependencies
        if dep.name == "who"
    )
    app.dependency_overrides[caller] = other_caller
    response = await client.get("/v9/planned/abc")
    assert response.status_code == 200 and response.json()["who"] == "overridden"


def shape(runtime: Runtime, declare: Any) -> bool:
    """Whether a route declared by ``declare`` (a function adding it to a router) is planned."""
    router = APIRouter(route_class=SessionRoute)
    declare(router)
    app = FastAPI()
    app.state.runtime = runtime
    app.include_router(router)
    return next(iter(routes(app).values())).lean


async def test_what_is_left_to_fastapi(runtime: Runtime) -> None:
    def plain(router: APIRouter) -> None:
        @router.get("/x/{a}")
        async def endpoint(a: str, request: Request) -> Response:
            return Response()

    def query(router: APIRouter) -> None:
        @router.get("/x/{a}")
        async def endpoint(a: str, q: int = 1) -> Response:
            return Response()

    def header(router: APIRouter) -> None:
        @router.get("/x/{a}")
        async def endpoint(a: str, x_thing: Annotated[str | None, Header()] = None) -> Response:
            return Response()

    def header_in_dependency(router: APIRouter) -> None:
        async def with_header(user_agent: Annotated[str | None, Header()] = None) -> None:
            return None

        @router.get("/x/{a}")
        async def endpoint(a: str, _: Annotated[None, Depends(with_header)]) -> Response:
            return Response()

    def sync_dependency(router: APIRouter) -> None:
        def dep(request: Request) -> None:
            return None

        @router.get("/x/{a}")
        async def endpoint(a: str, _: Annotated[None, Depends(dep)]) -> Response:
            return Response()

    def yield_dependency(router: APIRouter) -> None:
        async def dep() -> AsyncIterator[None]:
            yield None

        @router.get("/x/{a}")
        async def endpoint(a: str, _: Annotated[None, Depends(dep)]) -> Response:
            return Response()

    def typed_path(router: APIRouter) -> None:
        @router.get("/x/{a}")
        async def endpoint(a: int) -> Response:
            return Response()

    def constrained_path(router: APIRouter) -> None:
        @router.get("/x/{a}")
        async def endpoint(a: Annotated[str, Path(max_length=3)]) -> Response:
            return Response()

    def returns_data(router: APIRouter) -> None:
        @router.get("/x/{a}")
        async def endpoint(a: str) -> dict[str, str]:
            return {"a": a}

    def body(router: APIRouter) -> None:
        @router.post("/x/{a}")
        async def endpoint(a: str, payload: dict[str, str]) -> Response:
            return Response()

    assert shape(runtime, plain)
    assert shape(runtime, query)
    for declared in (
        header,
        header_in_dependency,
        sync_dependency,
        yield_dependency,
        typed_path,
        constrained_path,
        returns_data,
        body,
    ):
        assert not shape(runtime, declared), declared.__name__


async def test_the_apps_hot_reads_are_planned(runtime: Runtime) -> None:
    app = create_app(runtime=runtime)
    # FastAPI builds an included route's handler when a request first reaches it: the plan
    # is then made for the route as included (with the /v1 guard), which a request shows.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for path in ("/v1/deliveries/dlv_x", "/v1/messages/msg_x", "/v1/deliveries"):
            assert (await client.get(path)).status_code == 401
        # The guard runs first, as FastAPI would run it: an id too long to exist is a 404.
        refused = await client.get("/v1/deliveries/" + "x" * 65)
        assert refused.status_code == 404 and refused.json()["code"] == "delivery-not-found"
    found = routes(app)
    assert found["GET /deliveries/{delivery_id}"].lean
    assert found["GET /messages/{message_id}"].lean
    # The list's filters come from the query, validated by FastAPI's own function.
    assert found["GET /deliveries"].lean
