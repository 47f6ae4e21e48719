"""Routes whose parameters are their path and query: dependencies solved by a plan made once.

FastAPI solves a route's dependencies anew on every request, with a general solver that
looks at every kind of parameter each dependency could take (query, header, cookie, body,
security scopes, background tasks, ...) and validates each value it finds. For a route that
takes nothing but path and query parameters, the request and dependencies of that same kind
(a ``GET`` of one delivery: the path's id, the ``/v1`` guard, the scope check and its bearer
scheme, the session), that was ~115–135 µs of a ~700 µs request's CPU (in-process) for what
amounts to four calls in a known order.

``plan`` looks at such a route's dependency tree once, when the route is built, and returns a
solver that makes those calls in the order FastAPI makes them (sub-dependencies first, a
route's router-level dependencies before its own), each dependency once per request as
FastAPI caches it, and gives the endpoint the same arguments. Query parameters are validated
by FastAPI's own function (``request_params_to_args``), all of them before any dependency
runs: when one is wrong, the request goes to FastAPI's solver, which answers exactly as it
would have (a dependency's error first, else the validation error), no dependency having run
twice. A route with anything else (a header, cookie or body parameter, a ``def`` or ``yield``
dependency, a path parameter that is not a plain ``str``, an endpoint that does not return a
``Response``) gets no plan and keeps FastAPI's solver; so does every request while
``app.dependency_overrides`` holds anything. FastAPI's request handling around it (its request
wrapper, routing, exception handlers) is unchanged, and so is the OpenAPI document, which is
made from the route's own dependency tree. ``db.SessionRoute`` uses it (``plan_route``);
docs/performance.md has the measurements.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

Endpoint = Callable[[Request], Awaitable[Response]]

# What a dependency may take for the plan to solve it: no other kind of parameter.
_UNSUPPORTED_PARAMS = ("header_params", "cookie_params", "body_params")
_UNSUPPORTED_NAMES = (
    "websocket_param_name",
    "response_param_name",
    "background_tasks_param_name",
    "security_scopes_param_name",
    "own_oauth_scopes",  # FastAPI caches a dependency per scope set
)


def _is_async_function(call: Any) -> bool:
    """A coroutine function, or an instance whose ``__call__`` is one (a security scheme)."""
    if inspect.isasyncgenfunction(call) or inspect.isgeneratorfunction(call):
        return False
    if inspect.iscoroutinefunction(call):
        return True
    if inspect.isroutine(call) or not callable(call):
        return False
    return inspect.iscoroutinefunction(type(call).__call__)


def _returns_response(call: Any) -> bool:
    try:
        returned = typing.get_type_hints(call).get("return")
    except Exception:  # an annotation that does not resolve: let FastAPI handle the route
        return False
    return isinstance(returned, type) and issubclass(returned, Response)


def _solvable(dependant: Dependant) -> bool:
    if any(getattr(dependant, kind) for kind in _UNSUPPORTED_PARAMS):
        return False
    if any(getattr(dependant, name) for name in _UNSUPPORTED_NAMES):
        return False
    for field in dependant.path_params:
        info = field.field_info
        if info.annotation is not str or info.metadata or field.alias != field.name:
            return False
    return all(
        sub.call is not None and _is_async_function(sub.call) and _solvable(sub)
        for sub in dependant.dependencies
    )


# A request's validated query values, by the dependant (``id``) that declared them.
Queries = dict[int, dict[str, Any]]
Solver = Callable[[Request, dict[Any, Any], Queries], Awaitable[dict[str, Any]]]


def _with_query(dependant: Dependant) -> list[Dependant]:
    """The dependants in the tree that take query parameters."""
    found = [dependant] if dependant.query_params else []
    for sub in dependant.dependencies:
        found.extend(_with_query(sub))
    return found


def _solver(dependant: Dependant) -> Solver:
    """The arguments of ``dependant.call``: its sub-dependencies' results, the request, the
    path's values, its query's values, in FastAPI's order."""
    subs: list[tuple[str | None, Callable[..., Awaitable[Any]], bool, Solver]] = []
    for sub in dependant.dependencies:
        assert sub.call is not None  # _solvable checked it
        subs.append((sub.name, sub.call, sub.use_cache, _solver(sub)))
    query_key = id(dependant) if dependant.query_params else None
    # A security scheme takes the connection (``HTTPConnection``): the request is one.
    request_names = [
        name
        for name in (dependant.request_param_name, dependant.http_connection_param_name)
        if name is not None
    ]
    path_names = [field.name for field in dependant.path_params]

    async def solve(request: Request, cache: dict[Any, Any], queries: Queries) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, call, use_cache, solve_sub in subs:
            if use_cache and call in cache:
                result = cache[call]
            else:
                result = await call(**await solve_sub(request, cache, queries))
                if use_cache:
                    cache[call] = result
            if name is not None:
                values[name] = result
        for name in request_names:
            values[name] = request
        if path_names:
            path = request.path_params
            for name in path_names:
                values[name] = path[name]
        if query_key is not None:
            values.update(queries[query_key])
        return values

    return solve


def plan_route(route: APIRoute, fallback: Endpoint) -> Endpoint | None:
    """A handler for ``route`` as it is being included (called from its
    ``get_route_handler``), or None to keep FastAPI's ``fallback``.

    FastAPI ≥ 0.137 builds a route's handler once per inclusion, with the routers'
    dependencies joined in, and says which inclusion through a context variable of its own.
    Without that variable no plan is made: the route as declared lacks its routers'
    dependencies (the ``/v1`` guard), which the plan would then skip.
    """
    from fastapi import routing

    context_var = getattr(routing, "_effective_route_context_var", None)
    if context_var is None:
        return None
    context = context_var.get()
    included = context if getattr(context, "original_route", None) is route else route
    return plan(included.dependant, included.dependency_overrides_provider, fallback)


def plan(
    dependant: Dependant, dependency_overrides_provider: Any, fallback: Endpoint
) -> Endpoint | None:
    """A handler for a route of path and query parameters only, or None (FastAPI's
    ``fallback`` then)."""
    endpoint = dependant.call
    if endpoint is None or not inspect.iscoroutinefunction(endpoint):
        return None
    if not _returns_response(endpoint) or not _solvable(dependant):
        return None
    solve = _solver(dependant)
    with_query = [(id(d), d.query_params) for d in _with_query(dependant)]

    async def handler(request: Request) -> Response:
        if getattr(dependency_overrides_provider, "dependency_overrides", None):
            return await fallback(request)
        queries: Queries = {}
        if with_query:
            received = request.query_params
            for key, fields in with_query:
                values, errors = request_params_to_args(fields, received)
                if errors:  # FastAPI's answer, from FastAPI: nothing has run yet
                    return await fallback(request)
                queries[key] = values
        response = await endpoint(**await solve(request, {}, queries))
        if not isinstance(response, Response):
            raise TypeError(f"{endpoint.__qualname__} must return a Response")
        return response

    return handler
