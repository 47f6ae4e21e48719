"""Shared steps of the portal tests: dispatch, notify, find links and codes."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import select

from tabellion.db import transaction
from tabellion.kit.sessions import derive_code
from tabellion.kit.time import utcnow
from tabellion.message.service.delivery import load_for_notice, mark_notified, portal_token
from tabellion.models.message import Delivery
from tabellion.models.portal import OneTimeCode
from tabellion.runtime import Runtime
from tests.fixtures.factories import message_body, natural_recipient


async def dispatch(client: httpx.AsyncClient, auth: dict[str, str], **extra: object) -> dict:
    language = extra.pop("language", "en")
    fields: dict[str, object] = {
        "subject": "Secret subject",
        "body_html": "<p>Secret body</p>",
        "recipients": [natural_recipient(0, language=language)],
        **extra,
    }
    body = message_body(**fields)
    created = (await client.post("/v1/messages", json=body, headers=auth)).json()
    pdf = b"%PDF-1.4\n%%EOF\n"
    await client.post(
        f"/v1/messages/{created['id']}/attachments?filename=contract.pdf",
        content=pdf,
        headers={**auth, "Content-Type": "application/pdf"},
    )
    response = await client.post(f"/v1/messages/{created['id']}/dispatch", headers=auth)
    assert response.status_code == 202, response.text
    return response.json()["deliveries"][0]


async def notify(runtime: Runtime, delivery_id: str) -> str:
    """What the notification job does once the mail server accepts; returns the link path."""
    async with transaction(runtime.sessions) as session:
        delivery, _, _ = await load_for_notice(session, delivery_id)
        await mark_notified(session, delivery, at=utcnow(), notification_message_id="<x@test>")
        token = portal_token(runtime.settings.signing_key, delivery.id, delivery.token_salt)
    return f"/r/{token}"


async def latest_code(runtime: Runtime, subject: str) -> str:
    async with runtime.sessions() as session:
        code = await session.scalar(
            select(OneTimeCode)
            .where(OneTimeCode.subject == subject)
            .order_by(OneTimeCode.created_at.desc())
            .limit(1)
        )
    assert code is not None
    return derive_code(runtime.settings.signing_key, code.id)


async def age_codes(runtime: Runtime, subject: str) -> None:
    """Move codes into the past so a new one may be asked for at once."""
    async with transaction(runtime.sessions) as session:
        for code in await session.scalars(
            select(OneTimeCode).where(OneTimeCode.subject == subject)
        ):
            code.created_at -= timedelta(minutes=2)


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


async def status_of(client: httpx.AsyncClient, auth: dict[str, str], delivery_id: str) -> dict:
    return (await client.get(f"/v1/deliveries/{delivery_id}", headers=auth)).json()


async def get_delivery(runtime: Runtime, delivery_id: str) -> Delivery:
    async with runtime.sessions() as session:
        delivery = await session.get(Delivery, delivery_id)
    assert delivery is not None
    return delivery
