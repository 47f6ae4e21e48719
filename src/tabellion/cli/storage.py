"""``tabellion storage check``: every stored file against the hash its row recorded;
``tabellion storage encrypt``: plain (legacy) blobs encrypted at rest (docs/data.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console

from tabellion.cli._runtime import err, load_settings, with_runtime

if TYPE_CHECKING:
    from tabellion.runtime import Runtime

storage_app = typer.Typer(help="Stored files (attachments, replies, proof PDFs).")

console = Console()


@storage_app.command("check")
def check() -> None:
    """Read every referenced blob and compare it with its recorded SHA-256; exit 1 on a
    missing or damaged one."""
    from tabellion.document.encryption import MasterKeyUnavailable
    from tabellion.document.service import check_storage

    try:
        report = with_runtime(check_storage)
    except MasterKeyUnavailable as exc:  # the token or KMS, not the files: nothing to report
        err.print(f"[red]error:[/red] {exc.detail} The check stopped.", soft_wrap=True)
        raise typer.Exit(1) from exc
    for problem in report.problems:
        console.print(f"[red]damaged:[/red] {problem}", highlight=False, soft_wrap=True)
    if not report.ok:
        console.print(f"{len(report.problems)} of {report.checked} stored files unavailable")
        raise typer.Exit(1)
    console.print(f"[green]ok[/green]: {report.checked} stored files match their hashes")


@storage_app.command("encrypt")
def encrypt(
    delete_plain: bool = typer.Option(
        False,
        "--delete-plain",
        help="Delete each plain or layout-1 blob at the end once no row references it (else "
        "the collector does, after its grace period).",
    ),
) -> None:
    """Encrypt the plain (legacy) blobs under their organisation's key, and rewrite blobs of
    layout 1 (data key in the blob) in layout 2 (data key in the database, so that erasures
    shred them); resumable: run it again after an interruption and it goes on where it
    stopped. Needs a master key
    (TABELLION_MASTER_KEY_FILE, _PKCS11_* or _KMS_KEY_ID)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from tabellion.document.migrate import (
        EncryptionNotConfigured,
        EncryptReport,
        count_references,
        encrypt_storage,
    )

    if load_settings().master_key_source is None:
        err.print(
            "[red]error:[/red] set a master key first: TABELLION_MASTER_KEY_FILE, "
            "TABELLION_MASTER_KEY_PKCS11_* or TABELLION_MASTER_KEY_KMS_KEY_ID (see docs/data.md)"
        )
        raise typer.Exit(2)

    async def work(runtime: Runtime) -> EncryptReport:
        total = await count_references(runtime)
        with Progress(
            TextColumn("encrypting stored files"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("encrypt", total=total)
            try:
                return await encrypt_storage(
                    runtime,
                    advance=lambda: progress.advance(task),
                    delete_plain=delete_plain,
                )
            except EncryptionNotConfigured as exc:
                err.print(f"[red]error:[/red] {exc}")
                raise typer.Exit(2) from exc

    report = with_runtime(work)
    for problem in report.problems:
        console.print(f"[red]unreadable:[/red] {problem}", highlight=False, soft_wrap=True)
    console.print(
        f"{report.encrypted} stored files encrypted, {report.skipped} already encrypted "
        "(layout 2)"
        + (f", {report.deleted} plain or layout-1 ones deleted" if report.deleted else "")
        + (f", {len(report.problems)} unreadable (left as they are)" if report.problems else "")
    )
    if report.problems:
        raise typer.Exit(1)
