"""``tabellion key``: create, list and revoke the API keys of any organisation; register the
public key of a client that authenticates with JWTs.

For an operator on the server, say to give a reseller's customer its first key. The rules are the
API's: the options are checked by the schema of ``POST /v1/api-keys`` and the keys are made and
revoked by the same service functions. Imports of the database layer stay inside the commands, as
in ``tabellion.cli.main``, so the command line starts fast.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from tabellion.cli._runtime import with_runtime

if TYPE_CHECKING:
    from tabellion.organization.schemas import ApiKeyIn
    from tabellion.runtime import Runtime

key_app = typer.Typer(
    help="API keys of an organisation: create, list, revoke; client public keys (JWT).",
    no_args_is_help=True,
)

console = Console()
err = Console(stderr=True)

T = TypeVar("T")

# The schema's field names, as the options that set them.
_OPTIONS = {"name": "--name", "scopes": "--scope", "expires_at": "--expires-at"}
_FORMAT = {"expires_at": "ISO 8601 with a time zone, e.g. 2027-01-01T00:00:00Z"}


@dataclass(frozen=True)
class Revoked:
    organization_id: str
    revoked_at: datetime
    already: bool


def _run(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """``work`` in a runtime; a domain error (unknown organisation or key) exits 1."""
    from tabellion.errors import TabellionError

    try:
        return with_runtime(work)
    except TabellionError as exc:
        err.print(f"[red]error:[/red] {escape(exc.detail)}")
        raise typer.Exit(1) from exc


def _checked(name: str, scopes: list[str] | None, expires_at: str | None) -> ApiKeyIn:
    """The options as ``POST /v1/api-keys`` would take them, or exit 2 naming the option."""
    from pydantic import ValidationError

    from tabellion.organization.schemas import ApiKeyIn
    from tabellion.organization.service import DEFAULT_SCOPES

    try:
        return ApiKeyIn.model_validate(
            {"name": name, "scopes": scopes or list(DEFAULT_SCOPES), "expires_at": expires_at}
        )
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0])
            option = _OPTIONS.get(field, field)
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] != "value_error" and field in _FORMAT:
                message = f"{message}; give {_FORMAT[field]}"
            got = escape(repr(error["input"]))
            err.print(f"[red]error:[/red] {option}: {escape(message)} (got {got})")
        raise typer.Exit(2) from exc


@key_app.command("create")
def create(
    org_id: Annotated[str, typer.Argument(help="Organisation id (org_...).")],
    name: Annotated[
        str, typer.Option("--name", help="A name to recognise the key by.")
    ] = "default",
    scopes: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="messages:write, messages:read, webhooks, customers, users or admin; "
            "repeat for several.",
            show_default="admin",
        ),
    ] = None,
    expires_at: Annotated[
        str | None,
        typer.Option(
            "--expires-at",
            help="ISO 8601 time with a time zone, in the future, e.g. 2027-01-01T00:00:00Z.",
            show_default="never",
        ),
    ] = None,
    basic: Annotated[
        bool,
        typer.Option(
            "--basic",
            help="Also print the key as an HTTP Basic web-service credential (user name: the "
            "key id, password: the key), as the Registered E-mail dialect takes it.",
        ),
    ] = False,
) -> None:
    """Create an API key for an organisation and print it (shown once)."""
    from tabellion.kit.time import isoformat_z

    body = _checked(name, scopes, expires_at)

    async def work(runtime: Runtime) -> tuple[str, str]:
        from tabellion.db import transaction
        from tabellion.organization.service import create_api_key, get_organization

        async with transaction(runtime.sessions) as session:
            org = await get_organization(session, org_id)
            new = await create_api_key(
                session,
                org,
                name=body.name,
                scopes=list(dict.fromkeys(body.scopes)),
                expires_at=body.expires_at,
            )
            return new.api_key.id, new.secret

    key_id, secret = _run(work)
    expiry = isoformat_z(body.expires_at) if body.expires_at else "never"
    scopes_text = ", ".join(dict.fromkeys(body.scopes))
    console.print(f"Key: {key_id} (scopes: {scopes_text}; expires: {expiry})", soft_wrap=True)
    console.print(f"API key: {secret}", soft_wrap=True)
    if basic:
        import base64

        token = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
        console.print(f"Basic user name: {key_id}", soft_wrap=True)
        console.print(f"Basic password: {secret}", soft_wrap=True)
        console.print(f"Authorization: Basic {token}", soft_wrap=True)
    console.print("(shown once: only its hash is stored)")


@key_app.command("list")
def list_keys(
    org_id: Annotated[str, typer.Argument(help="Organisation id (org_...).")],
) -> None:
    """List an organisation's API keys (never their secrets), revoked ones included."""
    from rich.table import Column, Table

    from tabellion.kit.time import isoformat_z

    def when(value: datetime | None) -> str:
        # To the second: the table is for people; the API gives the microseconds.
        return isoformat_z(value.replace(microsecond=0)) if value else ""

    async def work(runtime: Runtime) -> list[tuple[str, ...]]:
        from sqlalchemy import select

        from tabellion.models.organization import ApiKey
        from tabellion.organization.service import get_organization

        async with runtime.sessions() as session:
            await get_organization(session, org_id)
            keys = await session.scalars(
                select(ApiKey).where(ApiKey.organization_id == org_id).order_by(ApiKey.id)
            )
            return [
                (
                    k.id,
                    k.name,
                    k.prefix,
                    ", ".join(k.scopes),
                    when(k.created_at),
                    when(k.last_used_at),
                    when(k.expires_at),
                    when(k.revoked_at),
                )
                for k in keys
            ]

    rows = _run(work)
    headers = ("name", "prefix", "scopes", "created", "last used", "expires", "revoked")
    if console.width < 140:
        # Too narrow for eight columns: a block per key, ids whole (for `key revoke`).
        for key_id, *cells in rows:
            console.print(f"[bold]{key_id}[/bold]")
            for header, cell in zip(headers, cells, strict=True):
                # Names come from API callers: printed, never read as Rich markup.
                console.print(f"  {header + ':':<11} {escape(cell) or '-'}")
        return
    table = Table(Column("id", no_wrap=True))
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)


@key_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="API key id (key_...).")],
) -> None:
    """Revoke an API key: refused (401) from now on, by running API processes within 5 s.

    Revoking it again changes nothing.
    """
    from tabellion.kit.time import isoformat_z

    async def work(runtime: Runtime) -> Revoked:
        from tabellion.db import transaction
        from tabellion.errors import NotFound
        from tabellion.kit.ids import possible_id
        from tabellion.models.organization import ApiKey
        from tabellion.organization.service import revoke_api_key

        async with transaction(runtime.sessions) as session:
            # The operator names a key, not its organisation: find that first.
            found = await session.get(ApiKey, key_id) if possible_id(key_id) else None
            if found is None:
                raise NotFound(f"No API key {key_id}.")
            already = found.revoked_at is not None
            key = await revoke_api_key(session, found.organization_id, key_id)
            assert key.revoked_at is not None
            return Revoked(key.organization_id, key.revoked_at, already)

    result = _run(work)
    at = isoformat_z(result.revoked_at)
    if result.already:
        console.print(
            f"Key {key_id} ({result.organization_id}) was already revoked at {at}.", soft_wrap=True
        )
    else:
        console.print(f"Revoked key {key_id} ({result.organization_id}) at {at}.", soft_wrap=True)


@key_app.command("register-public")
def register_public(
    file: Annotated[
        Path, typer.Argument(help="The client's public key, PEM (RSA ≥ 2048 bits or EC P-256).")
    ],
    org_id: Annotated[
        str | None,
        typer.Option("--org", help="Organisation id (org_...).", show_default="the only one"),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="A name to recognise the key by.")] = "",
    scopes: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="As for `key create`; repeat for several.",
            show_default="messages:write",
        ),
    ] = None,
) -> None:
    """Register a client's public key; its JWTs (iss = the printed issuer) then authenticate."""
    from pydantic import ValidationError

    from tabellion.organization.client_keys import InvalidPublicKey, parse_public_key
    from tabellion.organization.schemas import ClientKeyIn

    try:
        pem = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        err.print(f"[red]error:[/red] FILE: cannot read {escape(str(file))}: {escape(str(exc))}")
        raise typer.Exit(2) from exc
    try:
        fields = {"name": name or file.stem, "public_key_pem": pem}
        body = ClientKeyIn.model_validate(fields | ({"scopes": scopes} if scopes else {}))
        parse_public_key(body.public_key_pem)
    except InvalidPublicKey as exc:
        err.print(f"[red]error:[/red] FILE: {escape(exc.detail)}")
        raise typer.Exit(2) from exc
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0])
            option = {"public_key_pem": "FILE"}.get(field, _OPTIONS.get(field, field))
            message = error["msg"].removeprefix("Value error, ")
            err.print(f"[red]error:[/red] {option}: {escape(message)}")
        raise typer.Exit(2) from exc

    async def work(runtime: Runtime) -> tuple[str, str, str]:
        from sqlalchemy import select

        from tabellion.db import transaction
        from tabellion.errors import NotFound
        from tabellion.models.organization import Organization
        from tabellion.organization.client_keys import create_client_key
        from tabellion.organization.service import get_organization

        async with transaction(runtime.sessions) as session:
            if org_id is not None:
                org = await get_organization(session, org_id)
            else:
                orgs = (await session.scalars(select(Organization).limit(2))).all()
                if len(orgs) != 1:
                    raise NotFound("There are several organisations: name one with --org.")
                org = orgs[0]
            key = await create_client_key(
                session,
                org,
                name=body.name,
                public_key_pem=body.public_key_pem,
                scopes=list(dict.fromkeys(body.scopes)),
            )
            return key.id, key.issuer, org.id

    key_id, issuer, organization_id = _run(work)
    console.print(f"Client key: {key_id} (organisation {organization_id})", soft_wrap=True)
    console.print(f"Issuer: {issuer}", soft_wrap=True)
    console.print("(sign JWTs with iss = this issuer; Documentd: send it as SP-Company-Api-Id)")
