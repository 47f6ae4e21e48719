"""Webhook payload formats: ``standard`` (the stored event as is) or a dialect's own.

An endpoint chooses its ``format``. Events are stored once, in the standard form; a dialect's
format is rendered from it when sent, by the module named here, which provides:

- ``WEBHOOK_EVENTS``: the standard event types it has a payload for (others are not sent);
- ``async render_webhook(session, organization_id, event_type, standard) -> bytes | None``:
  the body to send (signed with Standard Webhooks headers like any other), or None when this
  event has nothing to say in that format (then nothing is sent).

and may provide:

- ``webhook_headers(secrets: list[str]) -> list[tuple[str, str]]``: headers sent beside the
  Standard Webhooks ones (Documenso's ``X-Documenso-Secret``);
- ``WEBHOOK_WITH_CONTEXT = True``: ``render_webhook`` is then also given ``url=`` (the
  endpoint's URL, which Documenso's payload repeats) and ``keys=`` (the service's secret keys, to
  give a recipient's signing-link token as it was made).

Adding a format is one line here and those names in its dialect.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Awaitable, Callable, Collection, Sequence
from functools import cache
from types import ModuleType
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

STANDARD = "standard"
FORMATS: dict[str, str | None] = {
    STANDARD: None,
    "stampee": "tabellion.compat.stampee.translate",
    "documenso": "tabellion.compat.documenso.translate",
}

Renderer = Callable[..., Awaitable[bytes | None]]


@cache
def _module(name: str) -> ModuleType | None:
    path = FORMATS[name]
    return importlib.import_module(path) if path else None


def accepts(format_: str, event_type: str) -> bool:
    """Whether an endpoint of this format is sent events of this type at all."""
    module = _module(format_) if format_ in FORMATS else None
    if module is None:
        return True
    return event_type in cast(Collection[str], module.WEBHOOK_EVENTS)


async def render(
    session: AsyncSession,
    format_: str,
    organization_id: str,
    event_type: str,
    body: bytes,
    *,
    url: str = "",
    keys: Sequence[bytes] = (),
) -> bytes | None:
    """The bytes an endpoint of ``format_`` receives for a stored event (``body``)."""
    module = _module(format_) if format_ in FORMATS else None
    if module is None:
        return body
    renderer = cast(Renderer, module.render_webhook)
    extra: dict[str, Any] = {}
    if getattr(module, "WEBHOOK_WITH_CONTEXT", False):
        extra = {"url": url, "keys": keys}
    return await renderer(session, organization_id, event_type, json.loads(body), **extra)


def headers(format_: str, secrets: list[str]) -> list[tuple[str, str]]:
    """Headers an endpoint of ``format_`` gets beside the Standard Webhooks ones."""
    module = _module(format_) if format_ in FORMATS else None
    maker = getattr(module, "webhook_headers", None) if module is not None else None
    return list(maker(secrets)) if maker is not None else []
