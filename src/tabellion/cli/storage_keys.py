"""``tabellion keys``: the encryption keys of stored files (docs/data.md).

Not to be confused with ``tabellion key`` (API keys): the contract names this group ``keys``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from tabellion.cli._runtime import err, load_settings, with_runtime

if TYPE_CHECKING:
    from tabellion.config import Settings
    from tabellion.document.encryption import KeyProvider
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
        typer.Option(
            "--master",
            help="Re-wrap every organisation key with a new master key: give one of "
            "--new-key-file, --to-pkcs11-key, --to-kms-key.",
        ),
    ] = False,
    new_key_file: Annotated[
        Path | None,
        typer.Option(
            "--new-key-file",
            help="With --master: the new master key file (made if absent); then point "
            "TABELLION_MASTER_KEY_FILE at it.",
        ),
    ] = None,
    to_pkcs11_key: Annotated[
        str | None,
        typer.Option(
            "--to-pkcs11-key",
            metavar="LABEL",
            help="With --master: the label of a non-extractable AES-256 key in a PKCS#11 token.",
        ),
    ] = None,
    pkcs11_module: Annotated[
        Path | None,
        typer.Option(
            help="Its token's library (default TABELLION_MASTER_KEY_PKCS11_MODULE).",
        ),
    ] = None,
    pkcs11_token: Annotated[
        str | None,
        typer.Option(help="Its token's label (default TABELLION_MASTER_KEY_PKCS11_TOKEN)."),
    ] = None,
    pkcs11_pin: Annotated[
        str | None,
        typer.Option(
            envvar="TABELLION_NEW_MASTER_KEY_PKCS11_PIN",
            help="Its token's user PIN (better in TABELLION_NEW_MASTER_KEY_PKCS11_PIN; "
            "default TABELLION_MASTER_KEY_PKCS11_PIN).",
        ),
    ] = None,
    to_kms_key: Annotated[
        str | None,
        typer.Option(
            "--to-kms-key",
            metavar="ID",
            help="With --master: an AWS KMS symmetric key (id, ARN or alias/...).",
        ),
    ] = None,
    kms_endpoint_url: Annotated[
        str | None,
        typer.Option(help="The KMS endpoint (default TABELLION_MASTER_KEY_KMS_ENDPOINT_URL)."),
    ] = None,
    kms_region: Annotated[
        str | None,
        typer.Option(help="The KMS region (default TABELLION_MASTER_KEY_KMS_REGION)."),
    ] = None,
) -> None:
    """Rotate keys without rewriting stored files: ``--org`` gives an organisation a new key
    for new files and re-wraps the data keys of its files of layout 2 with it (older versions
    keep reading files of layout 1); ``--master`` re-wraps every
    organisation key with a new master key (a file, a PKCS#11 token's key, a KMS key)."""
    from tabellion.config import ConfigError
    from tabellion.document.encryption import KeyUnavailable
    from tabellion.document.key_providers import master_key_provider

    settings = load_settings()
    if master == bool(org or all_orgs):
        err.print("[red]error:[/red] give either --org ID (or --all) or --master")
        raise typer.Exit(2)
    try:
        current = master_key_provider(settings)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if current is None:
        err.print(
            "[red]error:[/red] no master key is set (TABELLION_MASTER_KEY_FILE, "
            "TABELLION_MASTER_KEY_PKCS11_* or TABELLION_MASTER_KEY_KMS_KEY_ID; see docs/data.md)"
        )
        raise typer.Exit(2)
    try:
        if master:
            targets = [t for t in (new_key_file, to_pkcs11_key, to_kms_key) if t is not None]
            if len(targets) != 1:
                err.print(
                    "[red]error:[/red] --master needs one of --new-key-file PATH, "
                    "--to-pkcs11-key LABEL, --to-kms-key ID"
                )
                raise typer.Exit(2)
            new, settings_to_set = _new_master(
                settings,
                new_key_file=new_key_file,
                to_pkcs11_key=to_pkcs11_key,
                pkcs11=(pkcs11_module, pkcs11_token, pkcs11_pin),
                to_kms_key=to_kms_key,
                kms=(kms_endpoint_url, kms_region),
            )
            _rotate_master(current, new, settings_to_set)
        else:
            _rotate_orgs(current, org or [], all_orgs=all_orgs)
    except KeyUnavailable as exc:
        err.print(f"[red]error:[/red] {exc.detail} Nothing was changed.", soft_wrap=True)
        raise typer.Exit(1) from exc


def _new_master(
    settings: Settings,
    *,
    new_key_file: Path | None,
    to_pkcs11_key: str | None,
    pkcs11: tuple[Path | None, str | None, str | None],
    to_kms_key: str | None,
    kms: tuple[str | None, str | None],
) -> tuple[KeyProvider, str]:
    """The new master key's provider, and the settings that name it."""
    from tabellion.config import ConfigError
    from tabellion.document.encryption import FileKeyProvider, generate_key_file
    from tabellion.document.key_providers import KmsKeyProvider, Pkcs11KeyProvider

    if new_key_file is not None:
        if not new_key_file.exists():
            generate_key_file(new_key_file)
            console.print(f"new master key written to {new_key_file} (mode 0600)")
        try:
            provider: KeyProvider = FileKeyProvider.from_file(new_key_file)
        except (OSError, ValueError) as exc:
            err.print(f"[red]error:[/red] cannot read the new master key: {exc}")
            raise typer.Exit(2) from exc
        return provider, f"TABELLION_MASTER_KEY_FILE={new_key_file}"
    if to_pkcs11_key is not None:
        module = pkcs11[0] or settings.master_key_pkcs11_module
        token = pkcs11[1] or settings.master_key_pkcs11_token
        current_pin = settings.master_key_pkcs11_pin
        pin = pkcs11[2] or (current_pin.get_secret_value() if current_pin else None)
        missing = [
            name
            for name, value in (
                ("--pkcs11-module", module),
                ("--pkcs11-token", token),
                ("--pkcs11-pin (or TABELLION_NEW_MASTER_KEY_PKCS11_PIN)", pin),
            )
            if not value
        ]
        if missing:
            err.print(f"[red]error:[/red] --to-pkcs11-key also needs {', '.join(missing)}")
            raise typer.Exit(2)
        assert module and token and pin
        try:
            provider = Pkcs11KeyProvider(str(module), token, to_pkcs11_key, pin)
        except ConfigError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        return provider, (
            f"TABELLION_MASTER_KEY_PKCS11_MODULE={module} "
            f"TABELLION_MASTER_KEY_PKCS11_TOKEN={token} "
            f"TABELLION_MASTER_KEY_PKCS11_KEY={to_pkcs11_key} and TABELLION_MASTER_KEY_PKCS11_PIN"
        )
    assert to_kms_key is not None
    endpoint = kms[0] or settings.master_key_kms_endpoint_url
    region = kms[1] or settings.master_key_kms_region
    named = f"TABELLION_MASTER_KEY_KMS_KEY_ID={to_kms_key}"
    if endpoint:
        named += f" TABELLION_MASTER_KEY_KMS_ENDPOINT_URL={endpoint}"
    if region:
        named += f" TABELLION_MASTER_KEY_KMS_REGION={region}"
    return KmsKeyProvider(to_kms_key, endpoint_url=endpoint, region=region), named


def _rotate_master(current: KeyProvider, new: KeyProvider, settings_to_set: str) -> None:
    from tabellion.document.encryption import rewrap_all

    # A new key that cannot wrap and unwrap is refused before any row is touched.
    probe = os.urandom(32)
    if new.unwrap(new.wrap(probe)) != probe:
        err.print("[red]error:[/red] the new master key does not unwrap what it wrapped")
        raise typer.Exit(1)

    async def rewrap(runtime: Runtime) -> int:
        async with runtime.sessions() as session, session.begin():
            return await rewrap_all(session, current, new)

    count = with_runtime(rewrap)
    console.print(
        f"{count} keys re-wrapped; now set {settings_to_set}, unset the settings of the old "
        "master key, and restart every process; keep the old key offline until backups "
        "made before today have expired.",
        highlight=False,
        soft_wrap=True,
    )


def _rotate_orgs(current: KeyProvider, org: list[str], *, all_orgs: bool) -> None:
    from sqlalchemy import select

    from tabellion.document.encryption import rewrap_data_keys, rotate_organization_key
    from tabellion.models.organization import Organization

    async def rotate_orgs(runtime: Runtime) -> list[tuple[str, int, int]]:
        done: list[tuple[str, int, int]] = []
        async with runtime.sessions() as session, session.begin():
            targets: list[str | None]
            if all_orgs:
                targets = [None, *(await session.scalars(select(Organization.id))).all()]
            else:
                targets = list(org)
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
                rewrapped = await rewrap_data_keys(session, current, target)
                done.append((target or "instance", row.version, rewrapped))
        return done

    for name, version, rewrapped in with_runtime(rotate_orgs):
        console.print(f"{name}: new key version {version} ({rewrapped} data keys re-wrapped)")


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
