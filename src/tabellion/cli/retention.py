"""``tabellion org erase`` and ``tabellion org export`` (docs/data.md), and
``tabellion retention apply``: the retention timer's work, now."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from tabellion.cli._runtime import err, with_runtime

if TYPE_CHECKING:
    from tabellion.runtime import Runtime

console = Console()
retention_app = typer.Typer(help="Retention of content (docs/data.md).", no_args_is_help=True)


def _address(email: str) -> str:
    from tabellion.message.rules import normalize_email

    try:
        return normalize_email(email)
    except ValueError as exc:
        err.print(f"[red]error:[/red] --email: {exc}")
        raise typer.Exit(2) from exc


def org_erase(
    org: Annotated[str, typer.Argument(help="The organisation's id (org_...).")],
    email: Annotated[
        str | None,
        typer.Option("--email", help="Erase only what the organisation holds about this address."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
) -> None:
    """Erase an organisation: destroy its storage keys (every version: its files no longer
    decrypt, in backups too), delete its content, accounts and keys, keep its proofs. With
    --email, erase one recipient's data in it instead."""
    from tabellion.errors import TabellionError

    address = _address(email) if email is not None else None
    if not yes:
        err.print("[red]error:[/red] erasure cannot be undone: add --yes to confirm.")
        raise typer.Exit(2)

    async def work(runtime: Runtime) -> None:
        from tabellion.retention.erasure import erase_organization, erase_recipient

        if address is not None:
            found = await erase_recipient(runtime, org, address)
            console.print(
                f"Erased {len(found.deliveries)} deliveries and {len(found.envelope_recipients)} "
                f"envelope recipients of {found.email_sha256} (sha256) in {org}; "
                f"{len(found.messages_purged)} messages purged, {found.files_purged} files; "
                f"left: {len(found.held)} on legal hold, {len(found.in_progress)} under way.",
                highlight=False,
            )
            if found.evidence_id:
                console.print(f"Evidence: {found.evidence_id}", highlight=False)
            return
        report = await erase_organization(runtime, org)
        console.print(
            f"Erased organisation {report.organization_id}: {len(report.storage_keys)} storage "
            f"keys destroyed, {report.messages_purged} messages purged, {report.files} files, "
            f"{report.blobs_deleted} stored blobs deleted.",
            highlight=False,
        )
        console.print(f"Evidence: {report.evidence_id}", highlight=False)

    try:
        with_runtime(work)
    except TabellionError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from exc


def org_export(
    org: Annotated[str, typer.Argument(help="The organisation's id (org_...).")],
    email: Annotated[str, typer.Option("--email", help="The address asked about.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The zip to write (not overwritten).")
    ],
) -> None:
    """Write everything an organisation holds about an address as a zip (access requests)."""
    address = _address(email)
    if output.exists():
        err.print(f"[red]error:[/red] {output} exists.")
        raise typer.Exit(2)

    async def work(runtime: Runtime) -> bytes:
        from tabellion.retention.export import export_recipient

        return await export_recipient(runtime, org, address)

    data = with_runtime(work)
    output.write_bytes(data)
    output.chmod(0o600)
    console.print(f"Wrote {output} ({len(data)} bytes).", highlight=False)


@retention_app.command("apply")
def retention_apply() -> None:
    """Purge now the content past its retention period, and expire the proofs past theirs
    (the hourly timer does it too)."""

    async def work(runtime: Runtime) -> tuple[int, int]:
        from tabellion.retention.expiry import expire_proofs
        from tabellion.retention.service import apply_retention

        return await apply_retention(runtime), await expire_proofs(runtime)

    purged, expired = with_runtime(work)
    console.print(
        f"Purged the content of {purged} messages and envelopes; the proofs of {expired} expired.",
        highlight=False,
    )
