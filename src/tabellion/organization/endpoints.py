"""HTTP endpoints of the organisation, its API keys, users and customers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Protocol, TypeVar

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from starlette.responses import Response

from tabellion.auth.dependencies import AdminScope, ApiCaller, CustomersScope, UsersScope
from tabellion.auth.subjects import InsufficientScope, ScopeEscalation
from tabellion.db import DbSession, SessionRoute, end_read_phase
from tabellion.document.encryption import put_for
from tabellion.document.multipart import (
    MalformedMultipart,
    MultipartReader,
    boundary_of,
    upload_body_doc,
)
from tabellion.errors import InvalidParameter, NotFound, Unauthorized, responses
from tabellion.kit.ids import possible_id
from tabellion.kit.pagination import Cursor, Page, decode_cursor, encode_cursor
from tabellion.models.organization import ApiKey, ClientKey, Organization
from tabellion.models.user import User
from tabellion.organization import accounts, branding, client_keys, service, totp
from tabellion.organization.accounts import (
    CustomerNotFound,
    CustomerStateConflict,
    UserExists,
    UserNotActivatable,
    UserNotFound,
)
from tabellion.organization.branding import LogoRefused, LogoTooLarge
from tabellion.organization.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    ClientKeyCreated,
    ClientKeyIn,
    ClientKeyOut,
    CustomerOut,
    CustomersIn,
    CustomersOut,
    CustomerState,
    OrganizationOut,
    OrganizationUpdate,
    UserIn,
    UserOut,
    UserUpdate,
)
from tabellion.organization.service import (
    get_organization,
    issue_api_key,
    organization_out,
    revoke_api_key,
)
from tabellion.runtime import Runtime

router = APIRouter(route_class=SessionRoute)


class ApiKeyNotFound(NotFound):
    code = "api-key-not-found"
    title = "API key not found"


def _after(cursor: str) -> str:
    """The id a list resumes after; a cursor we did not make is a 422, never a database error."""
    (last,) = decode_cursor(cursor, size=1)
    if not isinstance(last, str) or not possible_id(last):
        raise InvalidParameter("cursor", "The cursor is not one this API returned.")
    return last


class _Row(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=_Row)
Out = TypeVar("Out", bound=BaseModel)


async def _page(
    session: AsyncSession,
    query: Select[R],
    key: InstrumentedAttribute[str],
    out: Callable[[R], Out],
    *,
    limit: int,
    cursor: str | None,
) -> Page[Out]:
    """One page of ``query`` in id order, after ``cursor``."""
    if cursor:
        query = query.where(key > _after(cursor))
    rows = (await session.scalars(query.order_by(key).limit(limit + 1))).all()
    next_cursor = encode_cursor([rows[limit - 1].id]) if len(rows) > limit else None
    return Page[Out](data=[out(row) for row in rows[:limit]], next_cursor=next_cursor)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def api_key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        scopes=key.scopes,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
    )


def user_out(user: User) -> UserOut:
    return UserOut.model_validate(user, from_attributes=True)


def customer_out(customer: Organization) -> CustomerOut:
    return CustomerOut.model_validate(accounts.customer_data(customer))


# ---- the organisation -----------------------------------------------------------------------


@router.get(
    "/organization",
    response_model=OrganizationOut,
    tags=["organization"],
    summary="The organisation the API key belongs to",
    responses=responses(Unauthorized),
)
async def read_organization(caller: ApiCaller, session: DbSession) -> OrganizationOut:
    return organization_out(await get_organization(session, caller.organization_id))


@router.patch(
    "/organization",
    response_model=OrganizationOut,
    tags=["organization"],
    summary="Change how recipients see the organisation: name, legal name, identifiers, colour",
    description="Also its retention periods (`content_retention_days`, `proof_retention_days`; "
    "docs/data.md): a proof period shorter than the content period answers 422 with "
    "`errors[].code` `proof-retention-too-short`.",
    responses=responses(Unauthorized, InsufficientScope),
)
async def update_organization(
    body: OrganizationUpdate, caller: AdminScope, session: DbSession, request: Request
) -> OrganizationOut:
    settings = _runtime(request).settings
    return organization_out(
        await service.update_organization(session, caller.organization_id, body, settings=settings)
    )


_LOGO_BODY_DOC = upload_body_doc(
    "image/png",
    "The logo as the raw body (Content-Type image/png or image/jpeg), or multipart with a "
    "part named `file`: a PNG or JPEG of at most 512 KiB, 16 to 2048 pixels a side. SVG is "
    "refused.",
)


@router.put(
    "/organization/logo",
    response_model=OrganizationOut,
    tags=["organization"],
    summary="Set the logo recipients see in e-mails and pages (PNG or JPEG), streamed",
    openapi_extra=_LOGO_BODY_DOC,
    responses=responses(
        Unauthorized, InsufficientScope, LogoTooLarge, LogoRefused, MalformedMultipart
    ),
)
async def put_logo(request: Request, caller: AdminScope, session: DbSession) -> OrganizationOut:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > branding.LOGO_MAX_BYTES + 64 * 1024:
        raise LogoTooLarge(f"A logo may be at most {branding.LOGO_MAX_BYTES // 1024} KiB.")
    await end_read_phase(session)
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() == "multipart/form-data":
        data = await _logo_part(MultipartReader(request.stream(), boundary_of(content_type)))
    else:
        data = await branding.read_capped(request.stream())
    kind = branding.check_logo(data)
    blob = await put_for(
        _runtime(request).storage,
        _one(data),
        organization_id=caller.organization_id,
        max_bytes=branding.LOGO_MAX_BYTES,
    )
    org = await service.set_logo(session, caller.organization_id, key=blob.key, content_type=kind)
    return organization_out(org)


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _logo_part(reader: MultipartReader) -> bytes:
    data: bytes | None = None
    while (part := await reader.next_part()) is not None:
        if part.name == branding.LOGO_FIELD and data is None:
            data = await branding.read_capped(reader.data())
        else:
            async for _ in reader.data():
                pass
    if data is None:
        raise LogoRefused.because("required", "Send the logo in a part named `file`.")
    return data


@router.delete(
    "/organization/logo",
    response_model=OrganizationOut,
    tags=["organization"],
    summary="Remove the logo (again: no change)",
    responses=responses(Unauthorized, InsufficientScope),
)
async def delete_logo(caller: AdminScope, session: DbSession) -> OrganizationOut:
    org = await service.set_logo(session, caller.organization_id, key=None, content_type=None)
    return organization_out(org)


@router.post(
    "/organization/revoke-reseller",
    response_model=OrganizationOut,
    tags=["customers"],
    summary="As a customer, withdraw your reseller's right to act for you",
    responses=responses(Unauthorized, InsufficientScope, CustomerStateConflict),
)
async def revoke_reseller(caller: AdminScope, session: DbSession) -> OrganizationOut:
    org = await get_organization(session, caller.organization_id)
    await accounts.move_customer(session, org, "REVOKED", actor="customer")
    return organization_out(org)


# ---- API keys -------------------------------------------------------------------------------


@router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    tags=["api keys"],
    summary="Create an API key with scopes; the key is shown once",
    description="A key can only be given scopes the calling key holds.",
    responses=responses(Unauthorized, InsufficientScope, ScopeEscalation),
)
async def create_key(body: ApiKeyIn, caller: AdminScope, session: DbSession) -> ApiKeyCreated:
    new = await issue_api_key(
        session, caller, name=body.name, scopes=list(body.scopes), expires_at=body.expires_at
    )
    return ApiKeyCreated(**api_key_out(new.api_key).model_dump(), key=new.secret)


@router.get(
    "/api-keys",
    response_model=Page[ApiKeyOut],
    tags=["api keys"],
    summary="List API keys (never their secrets)",
    responses=responses(Unauthorized, InsufficientScope),
)
async def list_keys(
    caller: AdminScope,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
) -> Page[ApiKeyOut]:
    query = select(ApiKey).where(ApiKey.organization_id == caller.organization_id)
    return await _page(session, query, ApiKey.id, api_key_out, limit=limit, cursor=cursor)


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["api keys"],
    summary="Revoke an API key",
    responses=responses(Unauthorized, InsufficientScope, ApiKeyNotFound),
)
async def revoke_key(key_id: str, caller: AdminScope, session: DbSession) -> Response:
    try:
        await revoke_api_key(session, caller.organization_id, key_id)
    except NotFound as exc:
        raise ApiKeyNotFound(f"No API key {key_id}.") from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---- client keys (JWT) ---------------------------------------------------------------------


def client_key_out(key: ClientKey) -> ClientKeyOut:
    return ClientKeyOut(
        id=key.id,
        issuer=key.issuer,
        name=key.name,
        key_type=key.key_type,
        algorithms=list(client_keys.ALGORITHMS[key.key_type]),
        thumbprint=key.thumbprint,
        public_key_pem=key.public_key_pem,
        scopes=key.scopes,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


@router.post(
    "/client-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ClientKeyCreated,
    tags=["client keys"],
    summary="Register a public key; JWTs it signs with `iss` = the answered `issuer` authenticate",
    responses=responses(Unauthorized, InsufficientScope, client_keys.InvalidPublicKey),
)
async def create_client_key(
    body: ClientKeyIn, caller: AdminScope, session: DbSession
) -> ClientKeyCreated:
    org = await get_organization(session, caller.organization_id)
    key = await client_keys.create_client_key(
        session,
        org,
        name=body.name,
        public_key_pem=body.public_key_pem,
        scopes=list(dict.fromkeys(body.scopes)),
    )
    return ClientKeyCreated(id=key.id, issuer=key.issuer)


@router.get(
    "/client-keys",
    response_model=Page[ClientKeyOut],
    tags=["client keys"],
    summary="List client keys, revoked ones included",
    responses=responses(Unauthorized, InsufficientScope),
)
async def list_client_keys(
    caller: AdminScope,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
) -> Page[ClientKeyOut]:
    query = select(ClientKey).where(ClientKey.organization_id == caller.organization_id)
    return await _page(session, query, ClientKey.id, client_key_out, limit=limit, cursor=cursor)


@router.delete(
    "/client-keys/{client_key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["client keys"],
    summary="Revoke a client key: its JWTs are refused from now on",
    responses=responses(Unauthorized, InsufficientScope, client_keys.ClientKeyNotFound),
)
async def revoke_client_key(client_key_id: str, caller: AdminScope, session: DbSession) -> Response:
    await client_keys.revoke_client_key(session, caller.organization_id, client_key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---- users ----------------------------------------------------------------------------------


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    tags=["users"],
    summary="Add a user; they receive an activation e-mail (link valid 7 days)",
    description="The caller's key must hold the scopes of the user's role: `admin` for an "
    "admin, `messages:write` for a sender, `messages:read` for a viewer.",
    responses=responses(Unauthorized, InsufficientScope, ScopeEscalation, UserExists),
)
async def create_user(
    body: UserIn, request: Request, caller: UsersScope, session: DbSession
) -> UserOut:
    user = await accounts.create_user(
        session,
        caller,
        email=body.email,
        name=body.name,
        role=body.role,
        signing_key=_runtime(request).settings.signing_key,
    )
    return user_out(user)


@router.get(
    "/users",
    response_model=Page[UserOut],
    tags=["users"],
    summary="List users",
    responses=responses(Unauthorized, InsufficientScope),
)
async def list_users(
    caller: UsersScope,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
) -> Page[UserOut]:
    query = select(User).where(User.organization_id == caller.organization_id)
    return await _page(session, query, User.id, user_out, limit=limit, cursor=cursor)


@router.get(
    "/users/{user_id}",
    response_model=UserOut,
    tags=["users"],
    summary="Read a user",
    responses=responses(Unauthorized, InsufficientScope, UserNotFound),
)
async def get_user(user_id: str, caller: UsersScope, session: DbSession) -> UserOut:
    return user_out(await accounts.get_user(session, caller.organization_id, user_id))


@router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    tags=["users"],
    summary="Change a user's name or role",
    description="Changing a role needs the scopes of both the old and the new role.",
    responses=responses(Unauthorized, InsufficientScope, ScopeEscalation, UserNotFound),
)
async def update_user(
    user_id: str, body: UserUpdate, caller: UsersScope, session: DbSession
) -> UserOut:
    user = await accounts.get_user(session, caller.organization_id, user_id)
    if body.role is not None:
        accounts.change_role(caller, user, body.role)
    if "name" in body.model_fields_set:
        user.name = body.name
    await session.flush()
    return user_out(user)


@router.post(
    "/users/{user_id}/deactivate",
    response_model=UserOut,
    tags=["users"],
    summary="Deactivate a user: they can no longer sign in or appear as a sender",
    responses=responses(Unauthorized, InsufficientScope, UserNotFound),
)
async def deactivate_user(user_id: str, caller: UsersScope, session: DbSession) -> UserOut:
    user = await accounts.get_user(session, caller.organization_id, user_id)
    await accounts.deactivate_user(session, user)
    return user_out(user)


@router.post(
    "/users/{user_id}/resend-activation",
    response_model=UserOut,
    tags=["users"],
    summary="Send a new activation link (the previous one stops working)",
    responses=responses(Unauthorized, InsufficientScope, UserNotFound, UserNotActivatable),
)
async def resend_activation(
    user_id: str, request: Request, caller: UsersScope, session: DbSession
) -> UserOut:
    user = await accounts.get_user(session, caller.organization_id, user_id)
    await accounts.resend_activation(
        session, user, signing_key=_runtime(request).settings.signing_key
    )
    return user_out(user)


class TotpEnrolmentOut(BaseModel):
    secret: str
    otpauth_uri: str
    confirmed: bool


class TotpCodeIn(BaseModel):
    code: str = Field(min_length=6, max_length=8, description="The authenticator app's code.")


class TotpStateOut(BaseModel):
    confirmed: bool


@router.post(
    "/users/{user_id}/totp",
    status_code=status.HTTP_201_CREATED,
    response_model=TotpEnrolmentOut,
    tags=["users"],
    summary="Give a user a new TOTP secret (shown once), for signing-page confirmation",
    description="The user adds `otpauth_uri` to an authenticator app (as a QR code), then "
    "`POST /v1/users/{id}/totp/confirm` with a first code. Until then, and for a user without "
    "one, an envelope asking `totp` of their address cannot be sent. A new secret replaces "
    "the earlier one.",
    responses=responses(Unauthorized, InsufficientScope, UserNotFound),
)
async def enrol_totp(
    request: Request, user_id: str, caller: UsersScope, session: DbSession
) -> TotpEnrolmentOut:
    user = await accounts.get_user(session, caller.organization_id, user_id)
    secret, uri = totp.enrol(user, _runtime(request).settings.signing_keys)
    await session.flush()
    return TotpEnrolmentOut(secret=secret, otpauth_uri=uri, confirmed=False)


@router.post(
    "/users/{user_id}/totp/confirm",
    response_model=TotpStateOut,
    tags=["users"],
    summary="Confirm a user's TOTP secret with a first code",
    responses=responses(
        Unauthorized, InsufficientScope, UserNotFound, totp.TotpNotEnrolled, totp.WrongTotpCode
    ),
)
async def confirm_totp(
    request: Request, user_id: str, body: TotpCodeIn, caller: UsersScope, session: DbSession
) -> TotpStateOut:
    user = await accounts.get_user(session, caller.organization_id, user_id)
    totp.confirm(user, body.code, _runtime(request).settings.signing_keys)
    await session.flush()
    return TotpStateOut(confirmed=True)


# ---- customers (resellers) ------------------------------------------------------------------


@router.post(
    "/customers",
    status_code=status.HTTP_201_CREATED,
    response_model=CustomersOut,
    tags=["customers"],
    summary="Register customers; each contact is asked to accept being managed",
    responses=responses(Unauthorized, InsufficientScope),
)
async def create_customers(
    body: CustomersIn, request: Request, caller: CustomersScope, session: DbSession
) -> CustomersOut:
    settings = _runtime(request).settings
    customers = await accounts.create_customers(
        session,
        caller,
        [c.model_dump() for c in body.customers],
        signing_key=settings.signing_key,
        timezone=settings.timezone,
    )
    return CustomersOut(customers=[customer_out(c) for c in customers])


@router.get(
    "/customers",
    response_model=Page[CustomerOut],
    tags=["customers"],
    summary="List customers",
    responses=responses(Unauthorized, InsufficientScope),
)
async def list_customers(
    caller: CustomersScope,
    session: DbSession,
    state: Annotated[CustomerState | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
) -> Page[CustomerOut]:
    query = accounts.customers_query(caller.organization_id, state=state)
    return await _page(session, query, Organization.id, customer_out, limit=limit, cursor=cursor)


@router.get(
    "/customers/{customer_id}",
    response_model=CustomerOut,
    tags=["customers"],
    summary="Read a customer",
    responses=responses(Unauthorized, InsufficientScope, CustomerNotFound),
)
async def get_customer(customer_id: str, caller: CustomersScope, session: DbSession) -> CustomerOut:
    return customer_out(await accounts.get_customer(session, caller.organization_id, customer_id))


@router.post(
    "/customers/{customer_id}/cancel",
    response_model=CustomerOut,
    tags=["customers"],
    summary="As the reseller, stop managing a customer",
    responses=responses(Unauthorized, InsufficientScope, CustomerNotFound, CustomerStateConflict),
)
async def cancel_customer(
    customer_id: str, caller: CustomersScope, session: DbSession
) -> CustomerOut:
    customer = await accounts.get_customer(session, caller.organization_id, customer_id)
    await accounts.move_customer(session, customer, "CANCELLED", actor="reseller")
    return customer_out(customer)
