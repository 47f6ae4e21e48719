"""Every numeric parameter of the API is bounded: a huge number is a 4xx, never a 500."""

from __future__ import annotations

from functools import cache
from typing import Any

import httpx
import pytest

from tabellion.app import create_app

HUGE = [2**63, 10**30, -(2**63) - 1]


@cache
def document() -> dict[str, Any]:
    return create_app().openapi()


def integer_parameters(*, where: str | None = None) -> list[tuple[str, str, str]]:
    """(method, path, name) of each integer parameter in the OpenAPI document (only those in
    ``where``, e.g. ``query``, when given)."""
    found = []
    for path, operations in document()["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
                if "integer" in types and where in (None, parameter.get("in")):
                    found.append((method.upper(), path, parameter["name"]))
    return found


def test_the_document_has_bounded_integers_only() -> None:
    parameters = integer_parameters()
    assert ("GET", "/v1/transparency/tree-head", "tree_size") in parameters
    for method, path, name in parameters:
        operation = document()["paths"][path][method.lower()]
        [parameter] = [p for p in operation["parameters"] if p["name"] == name]
        schema = parameter["schema"]
        bounded = [schema, *schema.get("anyOf", [])]
        assert any("maximum" in s for s in bounded), (method, path, name)


@pytest.mark.parametrize("value", HUGE)
async def test_huge_numbers_are_refused(
    client: httpx.AsyncClient, auth: dict[str, str], value: int
) -> None:
    for method, path, name in integer_parameters(where="query"):
        url = path.replace("{", "x").replace("}", "")
        params = {name: str(value)}
        if path == "/v1/transparency/consistency":
            params = {"from": "1", "to": "1", name: str(value)}
        if path == "/v1/transparency/inclusion":
            params = {**params, "hash": "0" * 64}
        response = await client.request(method, url, params=params, headers=auth)
        if path.startswith("/compat/"):
            # A dialect refuses it in its own shape and status (Documenso: 400 INVALID_BODY).
            assert response.status_code in (400, 422), (method, path, name, response.text)
            assert name in response.text
            continue
        assert response.status_code == 422, (method, path, name, response.text)
        assert response.json()["errors"][0]["field"] == name
