"""``tabellion storage check``: every stored file against the hash its row recorded."""

from __future__ import annotations

import typer
from rich.console import Console

from tabellion.cli._runtime import with_runtime

storage_app = typer.Typer(help="Stored files (attachments, replies, proof PDFs).")

console = Console()


@storage_app.command("check")
def check() -> None:
    """Read every referenced blob and compare it with its recorded SHA-256; exit 1 on a
    missing or damaged one."""
    from tabellion.document.service import check_storage

    report = with_runtime(check_storage)
    for problem in report.problems:
        console.print(f"[red]damaged:[/red] {problem}", highlight=False, soft_wrap=True)
    if not report.ok:
        console.print(f"{len(report.problems)} of {report.checked} stored files unavailable")
        raise typer.Exit(1)
    console.print(f"[green]ok[/green]: {report.checked} stored files match their hashes")
