"""Signed links to proofs: they work without an API key until they expire (24 hours).

``?expires=<unix time>&signature=<HMAC-SHA256 over kind, id and expiry>``; after expiry the
link answers 410, a changed id, kind or expiry 403. The process's link signer is installed
when its runtime is built, so API views can include links without threading settings through.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta

from tabellion.errors import TabellionError
from tabellion.kit.time import utcnow
from tabellion.kit.tokens import constant_time_equals, hmac_sha256

LIFETIME = timedelta(hours=24)
KINDS = ("json", "pdf")


class LinkExpired(TabellionError):
    status = 410
    code = "link-expired"
    title = "This link has expired"


class LinkInvalid(TabellionError):
    status = 403
    code = "link-invalid"
    title = "This link is not valid"


@dataclass(frozen=True)
class LinkSigner:
    base_url: str
    key: bytes

    def _signature(self, kind: str, evidence_id: str, expires: int) -> str:
        digest = hmac_sha256(self.key, f"evidence-link:{kind}:{evidence_id}:{expires}")
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def url(self, kind: str, evidence_id: str, *, now: datetime | None = None) -> str:
        # Rounded to the minute, so a representation is stable within a minute.
        moment = (now or utcnow()).replace(second=0, microsecond=0) + LIFETIME
        expires = int(moment.timestamp())
        path = f"/v1/evidence/{evidence_id}" + ("/pdf" if kind == "pdf" else "")
        return (
            f"{self.base_url}{path}?expires={expires}"
            f"&signature={self._signature(kind, evidence_id, expires)}"
        )

    def check(
        self,
        kind: str,
        evidence_id: str,
        expires: str,
        signature: str,
        *,
        now: datetime | None = None,
    ) -> None:
        try:
            when = int(expires)
        except ValueError as exc:
            raise LinkInvalid("The link's expiry is not a number.") from exc
        if not constant_time_equals(self._signature(kind, evidence_id, when), signature):
            raise LinkInvalid("The link was altered; ask the sender for a new one.")
        if (now or utcnow()).timestamp() > when:
            raise LinkExpired(
                "This link expired 24 hours after it was issued. Ask the sender for a new "
                "link, or fetch the proof with an API key."
            )


_current: LinkSigner | None = None


def install(signer: LinkSigner) -> None:
    global _current
    _current = signer


def current() -> LinkSigner | None:
    return _current
