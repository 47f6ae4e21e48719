"""``tabellion sms test NUMBER``: check the SMS provider's settings by sending one message."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from tabellion.cli._runtime import load_settings

sms_app = typer.Typer(help="Text messages (SMS) for one-time codes.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


@sms_app.command("test")
def send_test(
    number: Annotated[str, typer.Argument(help="A phone number, e.g. +32 470 12 34 56.")],
    text: Annotated[str, typer.Option(help="The message.")] = "Tabellion: test message.",
) -> None:
    """Send one message now through TABELLION_SMS_URL and print the provider's answer."""
    from tabellion.identity.sms import SmsRejected, SmsUnavailable, open_provider

    provider = open_provider(load_settings())
    if provider is None:
        err.print("[red]error:[/red] TABELLION_SMS_URL is not set")
        raise typer.Exit(2)
    try:
        answer = asyncio.run(provider.send(number, text))
    except ValueError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    except (SmsRejected, SmsUnavailable) as exc:
        err.print(f"[red]not sent:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    console.print(f"sent: {escape(answer)}")
