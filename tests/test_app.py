"""The application shell: the OpenAPI document and the docs UI served without a CDN."""

from __future__ import annotations

import re
from typing import Any

import httpx
from openapi_spec_validator import validate


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


async def test_openapi_document_is_valid_and_every_ref_resolves(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    validate(spec)
    schemas = spec["components"]["schemas"]
    refs = set(_refs(spec))
    assert refs, "the document uses components"
    dangling = {r for r in refs if r.removeprefix("#/components/schemas/") not in schemas}
    assert dangling == set()
    # The hand-read bodies document their fields in place (there is no MessageIn component).
    body = spec["paths"]["/v1/messages"]["post"]["requestBody"]["content"]["application/json"]
    assert {"mode", "subject", "recipients"} <= set(body["schema"]["properties"])
    recipient = body["schema"]["properties"]["recipients"]["items"]
    assert "email" in recipient["properties"]


async def test_every_section_is_named_in_reading_order(client: httpx.AsyncClient) -> None:
    """Routes match deliveries before messages (the hotter reads first); /docs shows the
    sections in the order the document's ``tags`` give, which must name every one used."""
    spec = (await client.get("/openapi.json")).json()
    declared = [tag["name"] for tag in spec["tags"]]
    used = {
        tag
        for operations in spec["paths"].values()
        for o in operations.values()
        for tag in o.get("tags", [])
    }
    assert used == set(declared)
    assert declared.index("messages") < declared.index("deliveries")
    paths = list(spec["paths"])
    assert paths.index("/v1/deliveries/{delivery_id}") < paths.index("/v1/messages/{message_id}")


async def test_docs_ui_loads_every_asset_from_this_server(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    urls += re.findall(r"""url:\s*["']([^"']+)["']""", page.text)
    assert urls
    assert [u for u in urls if u.startswith(("http:", "https:", "//"))] == []
    assert "/openapi.json" in urls
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
    script = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert b"SwaggerUIBundle" in script.content[:2000]
    # ReDoc would load from a CDN too: it is not offered.
    assert (await client.get("/redoc")).status_code == 404
