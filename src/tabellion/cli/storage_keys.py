"""``tabellion keys``: the encryption keys of stored files (docs/data.md).

Not to be confused with ``tabellion key`` (API keys): the contract names this group ``keys``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from tabellion.cli._runtime import err, load_settings, with_runtime

if TYPE_CHECKING:
    from tabellion.runtime import Runtime

keys_app = typer.Typer(
    help="Encryption keys at rest: rotate the keys of stored files (organisation and master "
    "keys); encrypt stored secrets again after the secret key changed.",
    no_args_is_help=True,
)

console = Console()


@keys_app.callback()
def keys() -> None:
    """Encryption keys of stored files (docs/data.md)."""


@keys_app.command("rotate")
def rotate(
    org: Annotated[
        list[str] | None,
        typer.Option("--org", help="An organisation id (org_...); repeatable."),
    ] = None,
    all_orgs: Annotated[
        bool, typer.Option("--all", help="Every organisation, and the instance key.")
    ] = False,
    master: Annotated[
        bool,
        typer.Option("--master", help="Re-wrap every organisation key with a new master key."),
    ] = False,
    new_key_file: Annotated[
        Path | None,
        typer.Option(
            "--new-key-file",
            help="With --master: the new master key file (made if absent); then point "
            "TABELLION_MASTER_KEY_FILE at it.",
        ),
    ] = None,
) -> None:
    """Rotate keys without rewriting stored files: ``--org`` gives an organisation a new key
    for new files (older versions keep reading older files); ``--master`` re-wraps every
    organisation key with the key in ``--new-key-file``."""
    from sqlalchemy import select

    from tabellion.document.encryption import (
        FileKeyProvider,
        generate_key_file,
        rewrap_all,
        rotate_organization_key,
    )
    from tabellion.models.organization import Organization

    settings = load_settings()
    master_key_file = settings.resolved_master_key_file
    if master_key_file is None:
        err.print("[red]error:[/red] TABELLION_MASTER_KEY_FILE is not set (see docs/data.md)")
        raise typer.Exit(2)
    if master == bool(org or all_orgs):
        err.print("[red]error:[/red] give either --org ID (or --all) or --master")
        raise typer.Exit(2)
    try:
        current = FileKeyProvider.from_file(master_key_file)
    except (OSError, ValueError) as exc:
        err.print(f"[red]error:[/red] cannot read the master key: {exc}")
        raise typer.Exit(2) from exc

    if master:
        if new_key_file is None:
            err.print("[red]error:[/red] --master needs --new-key-file PATH")
            raise typer.Exit(2)
        if not new_key_file.exists():
            generate_key_file(new_key_file)
            console.print(f"new master key written to {new_key_file} (mode 0600)")
        try:
            new = FileKeyProvider.from_file(new_key_file)
        except (OSError, ValueError) as exc:
            err.print(f"[red]error:[/red] cannot read the new master key: {exc}")
            raise typer.Exit(2) from exc

        async def rewrap(runtime: Runtime) -> int:
            async with runtime.sessions() as session, session.begin():
                return await rewrap_all(session, current, new)

        count = with_runtime(rewrap)
        console.print(
            f"{count} keys re-wrapped; now set TABELLION_MASTER_KEY_FILE={new_key_file} "
            "and restart, then keep the old key file offline until backups made before "
            "today have expired."
        )
        return

    async def rotate_orgs(runtime: Runtime) -> list[tuple[str, int]]:
        done: list[tuple[str, int]] = []
        async with runtime.sessions() as session, session.begin():
            targets: list[str | None]
            if all_orgs:
                targets = [None, *(await session.scalars(select(Organization.id))).all()]
            else:
                targets = list(org or [])
                known = set(
                    (
                        await session.scalars(
                            select(Organization.id).where(Organization.id.in_(targets))
                        )
                    ).all()
                )
                unknown = [t for t in targets if t not in known]
                if unknown:
                    err.print(f"[red]error:[/red] no organisation {', '.join(map(str, unknown))}")
                    raise typer.Exit(1)
            for target in targets:
                row = await rotate_organization_key(session, current, target)
                done.append((target or "instance", row.version))
        return done

    for name, version in with_runtime(rotate_orgs):
        console.print(f"{name}: new key version {version}")


@keys_app.command("reencrypt-secrets")
def reencrypt_secrets() -> None:
    """After TABELLION_SECRET_KEY changed (the old one in TABELLION_SECRET_KEY_PREVIOUS):
    encrypt the webhook signing secrets and the authenticator secrets again with the new key,
    so that the old one can later be dropped (docs/operations.md, Key rotation)."""
    from cryptography.fernet import InvalidToken

    from tabellion.organization import totp
    from tabellion.webhook import service as webhooks

    async def work(runtime: Runtime) -> tuple[int, int]:
        keys = runtime.settings.signing_keys
        async with runtime.sessions() as session, session.begin():
            return (
                await webhooks.reencrypt_secrets(session, keys),
                await totp.reencrypt_secrets(session, keys),
            )

    try:
        endpoints, users = with_runtime(work)
    except InvalidToken as exc:
        err.print(
            "[red]error:[/red] a stored secret was encrypted with none of the keys given: put "
            "the key it was encrypted with in TABELLION_SECRET_KEY_PREVIOUS. Nothing was changed."
        )
        raise typer.Exit(1) from exc
    console.print(
        f"{endpoints} webhook signing secrets and {users} authenticator secrets encrypted with "
        "the current secret key."
    )
