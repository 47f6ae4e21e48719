"""Authenticated callers and what they may do."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from tabellion.errors import Forbidden

SCOPES = ("messages:write", "messages:read", "webhooks", "customers", "users", "admin")
# A scope that includes others: sending implies reading what one sent.
IMPLIED = {"messages:write": {"messages:read"}}


class InsufficientScope(Forbidden):
    code = "insufficient-scope"
    title = "The API key lacks the scope this needs"


class ScopeEscalation(Forbidden):
    code = "scope-escalation"
    title = "Cannot grant rights the caller does not hold"


# What a user of each role may do, as scopes: a key granting a role must hold them all.
ROLE_SCOPES = {"admin": ("admin",), "sender": ("messages:write",), "viewer": ("messages:read",)}


class ApiKeySubject(NamedTuple):
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

    def require_to_grant(self, scopes: Iterable[str], *, what: str) -> None:
        """Refuse to create or change ``what`` with scopes this key does not hold itself."""
        missing = sorted(scope for scope in scopes if not self.has_scope(scope))
        if missing:
            raise ScopeEscalation(
                f"This API key cannot grant {what} the scopes it does not hold: "
                f"{', '.join(missing)}."
            )
