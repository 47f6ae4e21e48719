"""``tabellion tsa serve``: a small RFC 3161 time-stamping authority
(``evidence/timestamping/tsa_server.py``)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

tsa_app = typer.Typer(help="A small RFC 3161 time-stamping authority.", no_args_is_help=True)
console = Console()


@tsa_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3161,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir", help="Where its key and certificates live [default: <data dir>/tsa]."
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="Its certificate's common name.")] = "Tabellion TSA",
    policy: Annotated[
        str, typer.Option(help="The TSA policy OID written in tokens [default: anyPolicy].")
    ] = "2.5.29.32.0",
) -> None:
    """Stamp RFC 3161 requests over HTTP with this machine's clock. NOT a qualified TSA."""
    from tabellion.config import Settings
    from tabellion.evidence.timestamping import tsa_server

    folder = directory or Settings().data_dir / "tsa"
    keys = tsa_server.load_or_create(folder, name)
    server = tsa_server.serve(tsa_server.Stamper(keys, policy), host, port)
    bound = server.server_address[1]
    console.print(f"RFC 3161 time-stamping authority on http://{host}:{bound}/ (POST any path)")
    console.print(
        "[bold yellow]Not a qualified time-stamping service:[/bold yellow] its time is this "
        "machine's clock and its root is its own. Give relying parties "
        f"{folder / tsa_server.ROOT_FILE} (tabellion verify --trust-tsa, "
        "TABELLION_TSA_TRUST_FILE); point TABELLION_TSA_URL here."
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    server.server_close()
