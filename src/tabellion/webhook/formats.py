"""Webhook payload formats: ``standard`` (the stored event as is) or a dialect's own.

An endpoint chooses its ``format``. Events are stored once, in the standard form; a dialect's
format is rendered from it when sent, by the module named here, which provides:

- ``WEBHOOK_EVENTS``: the standard event types it has a payload for (others are not sent);
- ``async render_webhook(session, organization_id, event_type, standard) -> bytes | None``:
  the body to send (signed with Standard Webhooks headers like any other), or None when this
  event has nothing to say in that format (then nothing is sent).

Adding a format (``documenso``, say) is one line here and those two names in its dialect.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Awaitable, Callable, Collection
from functools import cache
from types import ModuleType
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

STANDARD = "standard"
FORMATS: dict[str, str | None] = {
    STANDARD: None,
    "stampee": "tabellion.compat.stampee.translate",
}

Renderer = Callable[[AsyncSession, str, str, dict[str, Any]], Awaitable[bytes | None]]


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
    session: AsyncSession, format_: str, organization_id: str, event_type: str, body: bytes
) -> bytes | None:
    """The bytes an endpoint of ``format_`` receives for a stored event (``body``)."""
    module = _module(format_) if format_ in FORMATS else None
    if module is None:
        return body
    renderer = cast(Renderer, module.render_webhook)
    return await renderer(session, organization_id, event_type, json.loads(body))
