"""Authenticated callers and what they may do."""

from __future__ import annotations

from dataclasses import dataclass

from tabellion.errors import Forbidden

SCOPES = ("messages:write", "messages:read", "webhooks", "customers", "users", "admin")
# A scope that includes others: sending implies reading what one sent.
IMPLIED = {"messages:write": {"messages:read"}}


class InsufficientScope(Forbidden):
    code = "insufficient-scope"
    title = "The API key lacks the scope this needs"


@dataclass(frozen=True)
class ApiKeySubject:
    organization_id: str
    api_key_id: str  # or a client key's id (ckey_...) when a JWT authenticated
    scopes: frozenset[str]
    authentication: str = "api-key"  # api-key | client-key-jwt: recorded in evidence

    def has_scope(self, scope: str) -> bool:
        if not scope or "admin" in self.scopes or scope in self.scopes:
            return True
        return any(scope in IMPLIED.get(held, ()) for held in self.scopes)

    def require(self, scope: str) -> None:
        if not self.has_scope(scope):
            raise InsufficientScope(
                f"This API key needs the `{scope}` scope; it has: {', '.join(sorted(self.scopes))}."
            )
