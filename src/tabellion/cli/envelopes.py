"""``tabellion envelope bulk-send FILE.csv --template env_...``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from tabellion.cli._runtime import with_runtime

if TYPE_CHECKING:
    from tabellion.runtime import Runtime

envelope_app = typer.Typer(help="Signing envelopes.", no_args_is_help=True)
err = Console(stderr=True)


@envelope_app.command("bulk-send")
def bulk_send(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="CSV: one envelope per row."),
    ],
    template: Annotated[
        str, typer.Option("--template", help="The draft envelope to copy (env_...).")
    ],
) -> None:
    """Send one copy of a draft envelope per CSV row (columns: docs/signatures.md).

    Every row is checked first; then each row's envelope is created and sent in its own
    transaction. The running server's workers send the e-mails.
    """
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        err.print("[red]error:[/red] the CSV must be UTF-8 text")
        raise typer.Exit(2) from exc
    sent = with_runtime(lambda runtime: _bulk_send(runtime, template, text))
    for number, envelope_id in sent:
        typer.echo(f"row {number}\t{envelope_id}")  # plain tabs: for scripts
    typer.echo(f"{len(sent)} envelope(s) sent.")


async def _bulk_send(runtime: Runtime, template_id: str, text: str) -> list[tuple[int, str]]:
    from tabellion.auth.subjects import ApiKeySubject
    from tabellion.db import transaction
    from tabellion.envelope import bulk
    from tabellion.errors import TabellionError
    from tabellion.models.envelope import Envelope

    try:
        async with transaction(runtime.sessions) as session:
            found = await session.get(Envelope, template_id)
            if found is None:
                err.print(f"[red]error:[/red] no envelope {template_id}")
                raise typer.Exit(1)
            organization_id = found.organization_id
            template, parts = await bulk.template_parts(session, organization_id, template_id)
            rows = bulk.parse(text, template, parts)
    except TabellionError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    caller = ApiKeySubject(organization_id, "cli", frozenset({"admin"}), authentication="cli")
    sent: list[tuple[int, str]] = []
    with Progress(
        TextColumn("[bold]bulk send"), BarColumn(), MofNCompleteColumn(), console=err
    ) as progress:
        task = progress.add_task("rows", total=len(rows))
        for row in rows:
            try:
                async with transaction(runtime.sessions) as session:
                    template, parts = await bulk.template_parts(
                        session, organization_id, template_id
                    )
                    envelope = await bulk.create_row(
                        session,
                        caller,
                        template,
                        parts,
                        row,
                        signing_key=runtime.settings.signing_key,
                    )
            except TabellionError as exc:
                err.print(f"[red]row {row.number}:[/red] {exc.detail}")
                raise typer.Exit(1) from exc
            sent.append((row.number, envelope.id))
            progress.advance(task)
    return sent
