"""Signed links to proofs and to the files of a secure delivery's replies: they work without
an API key until they expire (24 hours).

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
from tabellion.kit.tokens import hmac_sha256, made_with_any

LIFETIME = timedelta(hours=24)
_LIFETIME_SECONDS = int(LIFETIME.total_seconds())
KINDS = ("json", "pdf")
REPLY_FILE = "reply-file"
# The query parameters of a signed link, as the routes that take one document them.
LINK_PARAMS = {
    "expires": "With `signature`: a signed link's expiry (unix time); no API key needed.",
    "signature": "With `expires`: the link's signature.",
}  # the kind of a reply file's link; its id is "dlv/rpl/att"


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
    # Earlier secret keys: links they signed are still accepted until they expire.
    previous: tuple[bytes, ...] = ()

    def _signature(self, kind: str, evidence_id: str, expires: int, key: bytes = b"") -> str:
        message = f"evidence-link:{kind}:{evidence_id}:{expires}"
        digest = hmac_sha256(key or self.key, message)
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def _signed(self, path: str, kind: str, subject: str, now: datetime | None) -> str:
        # Rounded down to the minute, so a representation is stable within a minute (in
        # integers: ~1 µs against ~2 through datetime arithmetic, for each of an event's links).
        at = int((now or utcnow()).timestamp())
        expires = at - at % 60 + _LIFETIME_SECONDS
        return (
            f"{self.base_url}{path}?expires={expires}"
            f"&signature={self._signature(kind, subject, expires)}"
        )

    def url(self, kind: str, evidence_id: str, *, now: datetime | None = None) -> str:
        path = f"/v1/evidence/{evidence_id}" + ("/pdf" if kind == "pdf" else "")
        return self._signed(path, kind, evidence_id, now)

    def reply_file_url(
        self, delivery_id: str, reply_id: str, file_id: str, *, now: datetime | None = None
    ) -> str:
        """A file of a reply, downloadable without an API key (e.g. from a webhook's payload)."""
        path = f"/v1/deliveries/{delivery_id}/replies/{reply_id}/files/{file_id}"
        return self._signed(path, REPLY_FILE, f"{delivery_id}/{reply_id}/{file_id}", now)

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
        keys = (self.key, *self.previous)
        if not made_with_any(
            keys, lambda k: self._signature(kind, evidence_id, when, k), signature
        ):
            raise LinkInvalid("The link was altered; ask the sender for a new one.")
        if (now or utcnow()).timestamp() > when:
            raise LinkExpired(
                "This link expired 24 hours after it was issued. Ask the sender for a new "
                "link, or fetch the file with an API key."
            )


_current: LinkSigner | None = None


def install(signer: LinkSigner) -> None:
    global _current
    _current = signer


def current() -> LinkSigner | None:
    return _current
