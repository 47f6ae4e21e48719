"""The ``tabellion`` command: serve, worker, organisations, database, jobs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer
from rich.console import Console

from tabellion import __version__
from tabellion.cli._runtime import load_settings, require_database
from tabellion.cli.backup import backup, restore
from tabellion.cli.dkim import dkim_app
from tabellion.cli.envelopes import envelope_app
from tabellion.cli.evidence import evidence_app, verify
from tabellion.cli.jobs import jobs_app
from tabellion.cli.keys import key_app
from tabellion.cli.mtls import mtls_app
from tabellion.cli.retention import org_erase, org_export, retention_app
from tabellion.cli.sms import sms_app
from tabellion.cli.status import status
from tabellion.cli.storage import storage_app
from tabellion.cli.storage_keys import keys_app
from tabellion.cli.tsa import tsa_app
from tabellion.config import Settings
from tabellion.errors import TabellionError

if TYPE_CHECKING:
    from tabellion.organization.schemas import OrganizationUpdate

app = typer.Typer(
    help="Tabellion: send documents with proof.", no_args_is_help=True, add_completion=False
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations and their API keys.", no_args_is_help=True)
user_app = typer.Typer(help="Users who send for an organisation.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")

console = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    settings = load_settings()
    # The SQLite file, blobs and outbox live here; the database must be able to create it.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _configure_logging(settings: Settings) -> None:
    from tabellion.kit import tracing
    from tabellion.kit.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    tracing.configure()


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply database migrations."""
    from tabellion.migrations import current_revision, upgrade_database

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_database(settings.resolved_database_url, revision)
    console.print(f"database at revision {current_revision(settings.resolved_database_url)}")


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Argument(help="The organisation's name.")],
    email: Annotated[str, typer.Option("--email", help="Contact address.")],
    key_name: Annotated[str, typer.Option("--key-name", help="Name of the API key.")] = "default",
) -> None:
    """Create an organisation and print its id and a new API key (shown once)."""
    from tabellion.message.rules import normalize_email

    try:
        address = normalize_email(email)
    except ValueError as exc:
        err.print(f"[red]error:[/red] --email: {exc}")
        raise typer.Exit(2) from exc
    org_id, secret = asyncio.run(_create_org(_settings(), name, address, key_name))
    console.print(f"Organization: {org_id}")
    console.print(f"API key: {secret}", soft_wrap=True)


async def _create_org(
    settings: Settings, name: str, email: str | None, key_name: str
) -> tuple[str, str]:
    from tabellion.db import transaction
    from tabellion.migrations import upgrade_database
    from tabellion.organization.service import create_api_key, create_organization
    from tabellion.runtime import Runtime

    await asyncio.to_thread(upgrade_database, settings.resolved_database_url)
    runtime = Runtime.build(settings, pool_size=1)
    try:
        async with transaction(runtime.sessions) as session:
            org = await create_organization(
                session, name=name, email=email, timezone=settings.timezone
            )
            key = await create_api_key(session, org, name=key_name)
        return org.id, key.secret
    finally:
        await runtime.close()


@org_app.command("list")
def org_list() -> None:
    """List organisations."""
    from rich.table import Column, Table

    settings = _settings()
    require_database(settings)
    rows = asyncio.run(_list_orgs(settings))
    # Ids are never cut short: they are what `key create` and the API take.
    table = Table(Column("id", no_wrap=True, min_width=30), "name", "email", "created")
    for row in rows:
        table.add_row(*row)
    console.print(table)


async def _list_orgs(settings: Settings) -> list[tuple[str, str, str, str]]:
    from sqlalchemy import select

    from tabellion.models.organization import Organization
    from tabellion.runtime import Runtime

    runtime = Runtime.build(settings, pool_size=1)
    try:
        async with runtime.sessions() as session:
            orgs = await session.scalars(select(Organization).order_by(Organization.id))
            return [(o.id, o.name, o.email or "", o.created_at.isoformat()) for o in orgs]
    finally:
        await runtime.close()


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument(help="The user's e-mail address.")],
    org: Annotated[str, typer.Option("--org", help="Organisation id (org_...).")],
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    role: Annotated[str, typer.Option("--role", help="admin, sender or viewer.")] = "sender",
) -> None:
    """Add a user; they receive an activation e-mail (link valid 7 days)."""
    from tabellion.message.rules import normalize_email
    from tabellion.organization.accounts import ROLES

    if role not in ROLES:
        err.print(f"[red]error:[/red] --role must be one of {', '.join(ROLES)}")
        raise typer.Exit(2)
    try:
        address = normalize_email(email)
    except ValueError as exc:
        err.print(f"[red]error:[/red] EMAIL: {exc}")
        raise typer.Exit(2) from exc
    user_id = asyncio.run(_create_user(_settings(), org, address, name, role))
    console.print(f"User: {user_id} ({role}, invited: activation e-mail queued)")


async def _create_user(
    settings: Settings, org_id: str, email: str, name: str | None, role: str
) -> str:
    from tabellion.auth.subjects import ApiKeySubject
    from tabellion.db import transaction
    from tabellion.organization.accounts import create_user
    from tabellion.organization.service import get_organization
    from tabellion.runtime import Runtime

    runtime = Runtime.build(settings, pool_size=1)
    try:
        async with transaction(runtime.sessions) as session:
            await get_organization(session, org_id)
            operator = ApiKeySubject(
                organization_id=org_id, api_key_id="cli", scopes=frozenset({"admin"})
            )
            user = await create_user(
                session,
                operator,
                email=email,
                name=name,
                role=role,
                signing_key=settings.signing_key,
            )
            return user.id
    except TabellionError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    finally:
        await runtime.close()


@org_app.command("rename")
def org_rename(
    name: Annotated[str, typer.Argument(help="The name recipients see as the sender.")],
    org: Annotated[
        str | None, typer.Option("--org", help="Organisation id; needed when there are several.")
    ] = None,
) -> None:
    """Rename an organisation: its name is the sender shown in e-mails and pages."""
    from tabellion.organization.schemas import OrganizationUpdate

    try:
        changes = OrganizationUpdate(name=name)
    except ValueError as exc:
        err.print(f"[red]error:[/red] NAME: {exc}")
        raise typer.Exit(2) from exc
    settings = _settings()
    require_database(settings)
    org_id = asyncio.run(_rename_org(settings, org, changes))
    console.print(f"Organization {org_id} is now named {changes.name}.", highlight=False)


async def _rename_org(settings: Settings, org_id: str | None, changes: OrganizationUpdate) -> str:
    from sqlalchemy import select

    from tabellion.db import transaction
    from tabellion.models.organization import Organization
    from tabellion.organization.service import update_organization
    from tabellion.runtime import Runtime

    runtime = Runtime.build(settings, pool_size=1)
    try:
        async with transaction(runtime.sessions) as session:
            if org_id is None:
                ids = list(await session.scalars(select(Organization.id).limit(2)))
                if len(ids) != 1:
                    err.print("[red]error:[/red] there are several organisations: give --org.")
                    raise typer.Exit(2)
                org_id = ids[0]
            try:
                await update_organization(session, org_id, changes)
            except TabellionError as exc:
                err.print(f"[red]error:[/red] {exc.detail}")
                raise typer.Exit(1) from exc
        return org_id
    finally:
        await runtime.close()


# The first admin's sign-in address when TABELLION_ADMIN_EMAIL is unset (RFC 2606: no one's
# mailbox); an admin invites the others, with their real addresses, from the dashboard.
DEFAULT_ADMIN_EMAIL = "admin@example.com"


@dataclass(frozen=True)
class FirstStart:
    """What the first start made: the API key, and the link that sets the first dashboard
    admin's password (both shown once, and saved beside the data)."""

    key: str
    admin_email: str
    admin_link: str


async def bootstrap(settings: Settings, *, org_name: str = "Default") -> FirstStart | None:
    """Migrate, and on an empty database create ``org_name`` with a first API key and a first
    dashboard admin (``TABELLION_ADMIN_EMAIL``, else ``admin@example.com``), invited.

    Returns them when they were created; the key is also written to
    ``<data dir>/first-api-key.txt`` and the admin's link to ``first-admin-link.txt`` (mode
    0600) so an operator who missed the output can find them.
    """
    # Alembic logs each migration at INFO: on a first start they would bury the API key.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from tabellion.db import transaction
    from tabellion.message.rules import normalize_email
    from tabellion.migrations import upgrade_database
    from tabellion.organization.accounts import create_first_admin
    from tabellion.organization.service import (
        count_organizations,
        create_api_key,
        create_organization,
    )
    from tabellion.runtime import Runtime

    await asyncio.to_thread(upgrade_database, settings.resolved_database_url)
    runtime = Runtime.build(settings, pool_size=1)
    try:
        async with transaction(runtime.sessions) as session:
            if await count_organizations(session):
                return None
            org = await create_organization(session, name=org_name, timezone=settings.timezone)
            key = await create_api_key(session, org, name="first key")
            admin_email = normalize_email(settings.admin_email or DEFAULT_ADMIN_EMAIL)
            token = await create_first_admin(
                session, org.id, email=admin_email, signing_key=settings.signing_key
            )
        _write_private(settings.data_dir / "first-api-key.txt", key.secret + "\n")
        link = f"{settings.base_url}/account/activate/{token}"
        _write_private(settings.data_dir / "first-admin-link.txt", link + "\n")
        first_master_key(settings)
        return FirstStart(key.secret, admin_email, link)
    finally:
        await runtime.close()


def first_master_key(settings: Settings) -> Path | None:
    """Encryption at rest on by default: on a first start without TABELLION_MASTER_KEY_FILE,
    a master key is made in the data dir (mode 0600); the start notices say to move it out of
    the data dir's backups (docs/data.md). Returns the file made, if any."""
    from tabellion.config import DEFAULT_MASTER_KEY
    from tabellion.document.encryption import generate_key_file

    if (
        settings.master_key_file is not None
        or settings.master_key_elsewhere
        or not settings.storage_encryption
    ):
        return None
    path = settings.data_dir / DEFAULT_MASTER_KEY
    if path.exists():
        return None
    generate_key_file(path)
    return path


def _write_private(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
    path.chmod(0o600)


def start_notices(settings: Settings) -> list[str]:
    """What an operator must know at start: where links point, where mail goes, and how
    strong the proofs are (their seal and their time)."""
    notices = []
    if not settings.public_url:
        notices.append(f"Links in e-mails point to {settings.base_url} (TABELLION_PUBLIC_URL).")
    if settings.smtp_url is None:
        notices.append(f"No TABELLION_SMTP_URL: e-mails are written to {settings.outbox_dir}/")
    if settings.seal_key_file is None:
        style = "bold red" if settings.env == "production" else "yellow"
        notices.append(
            f"[{style}]Self-issued seal:[/{style}] proofs are sealed with a certificate generated "
            f"in {settings.seal_dir}/; relying parties must be given its root-ca.pem. "
            "Configure TABELLION_SEAL_KEY_FILE and TABELLION_SEAL_CERT_FILE for a real one."
        )
    from tabellion.evidence.sealing.keys import offline_root_key

    root_key = offline_root_key(settings.seal_dir)
    if root_key.exists():
        notices.append(
            f"[bold yellow]Move {root_key} offline:[/bold yellow] it is the self-issued root's "
            "private key, which can issue seal certificates; the service never needs it."
        )
    from tabellion.config import DEFAULT_MASTER_KEY

    master_key = settings.resolved_master_key_file
    left_over = settings.data_dir / DEFAULT_MASTER_KEY
    if settings.master_key_elsewhere and left_over.exists():
        notices.append(
            f"[bold yellow]{left_over} is not used:[/bold yellow] the master key is in "
            + ("the PKCS#11 token" if settings.master_key_pkcs11_module else "KMS")
            + ". Once `tabellion keys rotate --master` moved the keys off it, keep it offline "
            "while backups wrapped by it exist, and remove it from the data dir."
        )
    elif settings.master_key_source is None:
        notices.append(
            "[yellow]Stored files are not encrypted:[/yellow] set TABELLION_MASTER_KEY_FILE, "
            "TABELLION_MASTER_KEY_PKCS11_* or TABELLION_MASTER_KEY_KMS_KEY_ID (docs/data.md)."
        )
    elif master_key is not None and settings.master_key_file is None:
        notices.append(
            f"[bold yellow]Move {master_key} out of the data dir's backups:[/bold yellow] it is "
            "the master key that encrypts stored files (a backup holding both protects nothing). "
            "Keep it elsewhere and point TABELLION_MASTER_KEY_FILE at it."
        )
    if not settings.tsa_urls:
        style = "bold red" if settings.env == "production" else "yellow"
        notices.append(
            f"[{style}]No timestamp authority:[/{style}] proofs carry this server's clock only, "
            "which nobody else vouches for. Set TABELLION_TSA_URL to one or more RFC 3161 "
            "authorities (comma-separated, tried in order), or run `tabellion tsa serve` on a "
            "closed network."
        )
    return notices


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    worker: Annotated[bool, typer.Option(help="Run a job worker in this process.")] = True,
    tls_cert: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Serve HTTPS with this PEM certificate."),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Its PEM private key.")
    ] = None,
    org_name: Annotated[
        str | None,
        typer.Option(
            "--org-name",
            help="On the first start, the organisation's name (default TABELLION_ORG_NAME, "
            "else Default); later, use `tabellion org rename`.",
        ),
    ] = None,
) -> None:
    """Run the API, the recipient pages and (by default) a job worker.

    With --tls-cert/--tls-key it serves HTTPS; with TABELLION_MTLS_CA too, clients may present
    a certificate from that CA (required for STAMPEE LRE).
    """
    import uvicorn

    from tabellion.app import create_app
    from tabellion.auth.mtls import server_options

    settings = _settings()
    _configure_logging(settings)
    settings = _with_public_url(settings, host, port)
    name = org_name or settings.org_name or "Default"
    first = asyncio.run(bootstrap(settings, org_name=name))
    _print_welcome(settings, first, name)
    for notice in start_notices(settings):
        console.print(notice)
    uvicorn.run(
        create_app(settings, run_worker=worker),
        host=host,
        port=port,
        log_level=settings.log_level,
        # Logging is configured above (kit.logs); the middleware writes the access lines.
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,
        **server_options(settings, tls_cert, tls_key),
    )


def _served_url(host: str, port: int) -> str:
    # Listening on every address: the loopback one is the one sure to reach this machine.
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104 (a comparison)
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def _with_public_url(settings: Settings, host: str, port: int) -> Settings:
    """Links in e-mails and proofs need the address recipients reach: unset, it is the one
    served; set, it is kept, with a warning when it points at this machine on another port
    (behind a proxy a different port is normal)."""
    served = _served_url(host, port)
    if not settings.public_url:
        return settings.model_copy(update={"public_url": served})
    public = urlsplit(settings.public_url)
    public_port = public.port or (443 if public.scheme == "https" else 80)
    local = public.hostname in ("localhost", "127.0.0.1", "::1", host)
    if local and public_port != port:
        err.print(
            f"[yellow]warning:[/yellow] TABELLION_PUBLIC_URL is {settings.public_url} but this "
            f"server listens on {served}: links in e-mails and proofs will use the former."
        )
    return settings


def _print_welcome(settings: Settings, first: FirstStart | None, org_name: str) -> None:
    from rich.panel import Panel
    from rich.text import Text

    base = settings.base_url
    lines = Text()
    if first:
        lines.append(f"Created organisation {org_name}.\n", style="bold")
        lines.append(f"API key: {first.key}\n", style="bold green")
        lines.append(f"(shown once; also saved to {settings.data_dir / 'first-api-key.txt'})\n")
        lines.append("Dashboard: set the first admin's password (once, within 7 days) at\n")
        lines.append(f"  {first.admin_link}\n", style="bold green")
        lines.append(f"  then sign in at {base}/account/sign-in as {first.admin_email}\n")
        lines.append(f"(also saved to {settings.data_dir / 'first-admin-link.txt'})\n")
    lines.append(f"API:    {base}/v1\nDocs:   {base}/docs\nPortal: {base}/vault\n")
    lines.append(f"Dashboard: {base}/app\n")
    lines.append(f"Data:   {settings.data_dir.resolve()}")
    if settings.smtp_url is None:
        lines.append(f"\nNo TABELLION_SMTP_URL: e-mails are written to {settings.outbox_dir}/")
    # Never crop: a key or a path cut at the terminal's width (80 columns when the output is
    # not a terminal) would be copied wrong. The panel widens to its longest line instead.
    from rich.console import Console

    widest = max(len(line) for line in lines.plain.splitlines()) + 4
    wide = Console(file=console.file, width=max(widest, console.width))
    wide.print(Panel(lines, title="Tabellion", expand=False))


@app.command("worker")
def worker_command(
    concurrency: Annotated[
        int | None,
        typer.Option(
            help="Jobs run at once [default: TABELLION_WORKER_CONCURRENCY].", min=1, max=1024
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve GET /metrics (this worker's counters, the job table) on this port.",
            min=1,
            max=65535,
        ),
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Address of --metrics-port.")] = "127.0.0.1",
) -> None:
    """Run job workers only (scale out: any number, on any machine)."""
    from tabellion.jobs.worker import Worker, freeze_startup_heap
    from tabellion.kit import loop as event_loop
    from tabellion.migrations import upgrade_database
    from tabellion.runtime import Runtime

    settings = _settings()
    _configure_logging(settings)
    upgrade_database(settings.resolved_database_url)

    async def run() -> None:
        import signal

        from tabellion.kit.metrics import serving_metrics

        runtime = Runtime.build(settings)
        freeze_startup_heap()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        try:
            async with contextlib.AsyncExitStack() as stack:
                if metrics_port:
                    # Started first: its server's signal handlers are then replaced by ours.
                    await stack.enter_async_context(
                        serving_metrics(runtime, host=metrics_host, port=metrics_port)
                    )
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, stop.set)
                slots = concurrency or settings.worker_concurrency
                await Worker(
                    runtime, concurrency=slots, lease_seconds=settings.worker_lease_seconds
                ).run(stop)
        finally:
            await runtime.close()

    # uvloop's loop where installed, as `serve`'s worker has under uvicorn.
    event_loop.run(run())


@app.command("mail-in")
def mail_in(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="SMTP port to listen on.")] = 2525,
) -> None:
    """Receive bounces (delivery status notifications) and mark deliveries undelivered."""
    from tabellion.kit import loop as event_loop
    from tabellion.notification.bounces import serve_bounces
    from tabellion.runtime import Runtime

    settings = _settings()
    _configure_logging(settings)

    async def run() -> None:
        import signal

        runtime = Runtime.build(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server = await serve_bounces(runtime, host=host, port=port)
        console.print(f"Receiving bounces on {host}:{port}")
        try:
            await stop.wait()
        finally:
            server.close()
            await server.wait_closed()
            await runtime.close()

    event_loop.run(run())  # a long-running process, as the worker


app.add_typer(jobs_app, name="jobs")
app.add_typer(mtls_app, name="mtls")
app.add_typer(storage_app, name="storage")
app.add_typer(key_app, name="key")
app.add_typer(keys_app, name="keys")
app.add_typer(evidence_app, name="evidence")
app.add_typer(tsa_app, name="tsa")
app.add_typer(envelope_app, name="envelope")
app.command("verify")(verify)
app.command("status")(status)
app.command("backup")(backup)
app.command("restore")(restore)
app.add_typer(dkim_app, name="dkim")
app.add_typer(sms_app, name="sms")
app.add_typer(retention_app, name="retention")
org_app.command("erase")(org_erase)
org_app.command("export")(org_export)


if __name__ == "__main__":
    app()
