"""Shared steps of the Registered E-mail dialect's tests."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from lxml import etree

from tabellion.compat.registered_email.translate import xsd_text
from tabellion.db import transaction
from tabellion.models.user import User
from tabellion.organization import accounts
from tabellion.runtime import Runtime

BASE = "/compat/registered-email"
SEND = f"{BASE}/webservice/mailsender/send"
STATUS = f"{BASE}/webservice/mailsender/status"
USERS = f"{BASE}/api/user/"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SENDER = "jane.sender@acme.test"


def basic(key_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def send_body(**extra: Any) -> dict[str, Any]:
    """The reference's example, filled in."""
    body: dict[str, Any] = {
        "message_body": "this is the e‑mail body",
        "sender_email": SENDER,
        "sender_real_name": "Jane Doe",
        "subject": "this is the subject",
        "x-own-id": "id",
        "x-own-guid": "guid",
        "x-own-campaign": "campaign code",
        "recipient_email": "recipient@example.test",
        "recipient_language": "en",
        "attachments": [
            {
                "attachment": base64.b64encode(PDF).decode(),
                "attachment_name": "attachment.pdf",
                "attachment_type": "application/pdf",
            }
        ],
    }
    body.update(extra)
    return body


async def active_sender(runtime: Runtime, organization_id: str, email: str = SENDER) -> User:
    """A sender user who has activated their account (as after the activation link)."""
    from tabellion.auth.subjects import ApiKeySubject

    caller = ApiKeySubject(organization_id, "key_test", frozenset({"admin"}))
    async with transaction(runtime.sessions) as session:
        user = await accounts.create_user(
            session,
            caller,
            email=email,
            name="Jane Doe",
            role="sender",
            signing_key=runtime.settings.signing_key,
        )
        await accounts.activate(session, user, "a long enough password")
    return user


@asynccontextmanager
async def app_with(
    data_dir: Path, database_url: str, **overrides: object
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    """A runtime with these settings changed, and an API client of its app."""
    from tabellion.app import create_app
    from tests.conftest import make_settings

    runtime = Runtime.build(make_settings(data_dir, database_url, **overrides), pool_size=2)
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://tabellion.test") as c:
            yield runtime, c
    finally:
        await runtime.close()


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.fromstring(xsd_text()))


def valid_xml(response: httpx.Response) -> etree._Element:
    """The answer parsed, after checking it against the shipped XSD."""
    assert response.headers["content-type"].startswith("application/xml"), response.text
    document = etree.fromstring(response.content)
    schema = _schema()
    assert schema.validate(document), schema.error_log
    return document
