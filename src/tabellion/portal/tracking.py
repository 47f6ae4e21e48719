"""The sender's track-and-trace page of a delivery (``/track/<token>``): no API key, the token
is the secret. It shows where the letter is, its attachments' SHA-256 fingerprints and a link
to each sealed proof, in the sender's language (``?lang=``, then the browser's)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from tabellion.db import DbSession
from tabellion.evidence import links
from tabellion.evidence.service import evidence_for_deliveries
from tabellion.kit.web import PageRoute
from tabellion.message import repository
from tabellion.message.service.tracking import PATH, delivery_for_tracking
from tabellion.models.message import Message
from tabellion.models.organization import Organization
from tabellion.organization.branding import brand_of
from tabellion.portal.pages import _language, _page, _runtime

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get(PATH + "{token}")
async def tracking_page(token: str, request: Request, db: DbSession) -> Response:
    keys = _runtime(request).settings.signing_keys
    delivery = await delivery_for_tracking(db, keys, token)
    language = _language(request)
    if delivery is None:
        return _page(request, "tracking.html", language=language, status_code=404, d=None)
    message = await db.get(Message, delivery.message_id)
    organization = await db.get(Organization, delivery.organization_id)
    assert message is not None and organization is not None
    evidence = (await evidence_for_deliveries(db, [delivery.id]))[delivery.id]
    signer = links.current()
    return _page(
        request,
        "tracking.html",
        language=language,
        timezone=organization.timezone,
        d=delivery,
        m=message,
        sender=message.sender_name or organization.name,
        # The page is the sender's own: its logo, colour and names, as on revealed letters.
        brand=brand_of(organization, "", name=message.sender_name),
        files=await repository.attachments_of(db, [message.id]),
        events=[
            {
                "type": e.type,
                "at": e.occurred_at,
                "pdf": signer.url("pdf", e.id) if signer else None,
                "json": signer.url("json", e.id) if signer else None,
            }
            for e in evidence
        ],
    )
