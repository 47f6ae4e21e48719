"""FastAPI dependencies that authenticate the native API's callers and check their scopes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tabellion.auth.subjects import ApiKeySubject
from tabellion.db import DbSession, request_session
from tabellion.errors import Unauthorized
from tabellion.kit import idempotency
from tabellion.organization.client_keys import authenticate_jwt, looks_like_jwt
from tabellion.organization.service import authenticate_api_key

_bearer = HTTPBearer(
    auto_error=False,
    description="An API key (`Bearer tbl_...`), or a JWT signed by a registered client key.",
)
# The header the Documentd dialect sends beside its JWT; natively optional, checked if sent.
ISSUER_HEADER = "SP-Company-Api-Id"


async def api_key_subject(
    request: Request,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKeySubject:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Send an API key as `Authorization: Bearer tbl_...`.")
    if looks_like_jwt(credentials.credentials):
        signed = await authenticate_jwt(
            session, credentials.credentials, issuer=request.headers.get(ISSUER_HEADER)
        )
        request.state.subject = signed
        return signed
    subject = await authenticate_api_key(session, credentials.credentials)
    if subject is None:
        raise Unauthorized("The API key is not valid, has expired or was revoked.")
    request.state.subject = subject
    return subject


def scoped(scope: str) -> Callable[..., Awaitable[ApiKeySubject]]:
    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiKeySubject:
        # One dependency where there were three (the session, the key, the scope): FastAPI
        # solves each one per request, about a tenth of a cheap GET's CPU.
        session = await request_session(request)
        subject = await api_key_subject(request, session, credentials)
        subject.require(scope)
        await idempotency.check(request, session, subject.organization_id)
        return subject

    dependency.__name__ = f"scope_{scope.replace(':', '_')}"
    return dependency


MessagesWrite = Annotated[ApiKeySubject, Depends(scoped("messages:write"))]
MessagesRead = Annotated[ApiKeySubject, Depends(scoped("messages:read"))]
WebhooksScope = Annotated[ApiKeySubject, Depends(scoped("webhooks"))]
CustomersScope = Annotated[ApiKeySubject, Depends(scoped("customers"))]
UsersScope = Annotated[ApiKeySubject, Depends(scoped("users"))]
AdminScope = Annotated[ApiKeySubject, Depends(scoped("admin"))]
# Any valid key, whatever its scopes.
ApiCaller = Annotated[ApiKeySubject, Depends(scoped(""))]
