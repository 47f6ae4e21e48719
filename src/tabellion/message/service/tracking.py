"""The sender's track-and-trace link of a delivery: a secret URL, no API key needed.

The token is ``<delivery id>.<HMAC of the id and the delivery's salt>``: the id finds the row,
the 256-bit HMAC is the secret (nothing is stored, and each delivery's token differs).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from tabellion.kit.ids import possible_id
from tabellion.kit.tokens import hmac_sha256, made_with_any
from tabellion.message import repository
from tabellion.models.message import Delivery

PATH = "/track/"


def tracking_token(signing_key: bytes, delivery_id: str, salt: str) -> str:
    digest = hmac_sha256(signing_key, f"tracking-token:{delivery_id}:{salt}")
    return f"{delivery_id}.{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"


def tracking_url(base_url: str, signing_key: bytes, delivery: Delivery) -> str:
    return base_url + PATH + tracking_token(signing_key, delivery.id, delivery.token_salt)


async def delivery_for_tracking(
    session: AsyncSession,
    keys: Sequence[bytes],
    token: str,
    *,
    organization_id: str | None = None,
) -> Delivery | None:
    """The delivery a tracking token names, or None; with ``organization_id``, only its own."""
    delivery_id, _, _ = token.partition(".")
    if not possible_id(delivery_id):
        return None
    if organization_id is None:
        delivery = await session.get(Delivery, delivery_id)
    else:
        delivery = await repository.get_delivery(session, organization_id, delivery_id)
    if delivery is None:
        return None
    salt = delivery.token_salt
    genuine = made_with_any(keys, lambda key: tracking_token(key, delivery.id, salt), token)
    return delivery if genuine else None
