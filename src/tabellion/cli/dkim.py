"""``tabellion dkim keygen``: the key that signs outgoing e-mail, and its DNS record."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from tabellion.cli._runtime import load_settings
from tabellion.config import ConfigError

dkim_app = typer.Typer(help="DKIM signing of outgoing e-mail.", no_args_is_help=True)

console = Console(soft_wrap=True)
err = Console(stderr=True)


@dkim_app.command("keygen")
def keygen(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Where to write the private key (default: TABELLION_DKIM_KEY_FILE, "
            "else <data dir>/dkim.key).",
        ),
    ] = None,
    bits: Annotated[int, typer.Option("--bits", min=1024, max=4096)] = 2048,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace an existing key (mail signed with the "
            "old one stops verifying once its DNS record is gone).",
        ),
    ] = False,
) -> None:
    """Make an RSA key (or reuse the existing one) and print the DNS TXT record to publish."""
    from tabellion.notification.dkim import DkimKey, new_private_key, signing_domain

    settings = load_settings()
    path = out or settings.dkim_key_file or settings.data_dir / "dkim.key"
    if path.exists() and not force:
        err.print(f"using the existing key {escape(str(path))} (--force makes a new one)")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = new_private_key(bits)
        temp = path.with_name(path.name + ".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        os.replace(temp, path)
        err.print(f"wrote a {bits}-bit RSA key to {escape(str(path))} (mode 0600)")
    domain = signing_domain(settings)
    try:
        key = DkimKey.load(path, selector=settings.dkim_selector, domain=domain)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    from tabellion.notification.dkim import dns_record

    console.print(escape(dns_record(key)), highlight=False)
    err.print(
        "Publish this record, then set:\n"
        f"  TABELLION_DKIM_KEY_FILE={escape(str(path.resolve()))}\n"
        f"  TABELLION_DKIM_SELECTOR={escape(key.selector)}\n"
        f"  TABELLION_DKIM_DOMAIN={escape(domain)}"
    )
