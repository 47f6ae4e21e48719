"""``tabellion verify FILE`` and ``tabellion evidence check``."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

evidence_app = typer.Typer(
    help="Evidence: proofs, chains and the transparency log.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)


def verify(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A PDF or JSON proof.")],
    trust: Annotated[
        Path | None,
        typer.Option(
            help="PEM file of the trusted root(s): the seal's, and your timestamp authority's "
            "to trust its timestamps. Default: the data dir's self-issued root."
        ),
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(help="Also check the proof is in this server's published log (its URL)."),
    ] = None,
) -> None:
    """Verify a proof offline: seal, certificate chain, timestamp and log inclusion.

    Exits 0 only when the proof is authentic. A proof still awaiting its timestamp is
    authentic; a timestamp token that does not verify or is for another proof is not.
    """
    from tabellion.config import Settings
    from tabellion.evidence.keys import ROOT_FILE
    from tabellion.evidence.verify import load_trust, verify_bytes

    if trust is None:
        trust = Settings().seal_dir / ROOT_FILE
        if not trust.exists():
            err.print("[red]No trusted root:[/red] give one with --trust CA.pem.")
            raise typer.Exit(2)
    try:
        anchors = load_trust(trust.read_bytes())
    except ValueError as exc:
        err.print(f"[red]--trust is not a PEM certificate file:[/red] {exc}")
        raise typer.Exit(2) from exc
    verdict = asyncio.run(verify_bytes(file.read_bytes(), anchors))
    if verdict.authentic and server:
        problem = _confirm_published(server, verdict.tree_head)
        if problem:
            verdict.problems.append(problem)
            verdict.authentic = False
        else:
            verdict.checks.append(f"the log published at {server} still contains it")
    for check in verdict.checks:
        console.print(f"  [green]✓[/green] {check}")
    for problem in verdict.problems:
        console.print(f"  [red]✗[/red] {problem}")
    if verdict.authentic and verdict.content:
        content = verdict.content
        console.print(
            f"[bold green]AUTHENTIC[/bold green] {verdict.kind}: {content['type']} "
            f"{content['id']} at {content['occurred_at']}, delivery {content['delivery_id']}, "
            f"recipient {content['recipient']['email']}"
        )
        if verdict.self_issued:
            console.print(
                "  [bold yellow]self-issued seal:[/bold yellow] authentic against the root you "
                "gave; make sure that root comes from the service's operator"
            )
        for stamp in verdict.timestamps:
            what = "proof" if stamp.covers == "proof" else "PDF seal"
            if stamp.status == "awaiting":
                console.print(f"  timestamp of the {what}: awaiting the authority")
            else:
                trusted = "trusted" if stamp.trusted else "not among the trusted roots"
                console.print(
                    f"  timestamp of the {what}: {stamp.gen_time} by {stamp.authority} ({trusted})"
                )
        raise typer.Exit(0)
    console.print(f"[bold red]NOT AUTHENTIC[/bold red] ({verdict.kind})")
    raise typer.Exit(1)


def _confirm_published(server: str, carried: dict[str, object] | None) -> str | None:
    """The carried tree head must be a prefix of the server's latest one."""
    import httpx

    from tabellion.evidence import merkle
    from tabellion.evidence.jws import JwsInvalid, verify_compact

    if carried is None:
        return "the proof carries no tree head to compare with the server's log"
    base = server.rstrip("/")
    try:
        latest = httpx.get(f"{base}/v1/transparency/tree-head", timeout=10).json()
        _, body = verify_compact(latest["signature"])
        head = json.loads(body)
        old, new = int(str(carried["tree_size"])), int(head["tree_size"])
        proof: list[bytes] = []
        if old != new:
            answer = httpx.get(
                f"{base}/v1/transparency/consistency",
                params={"from": old, "to": new},
                timeout=10,
            ).json()
            proof = [base64.urlsafe_b64decode(h + "==") for h in answer["proof"]]
    except (httpx.HTTPError, KeyError, ValueError, JwsInvalid) as exc:
        return f"cannot read the server's log ({exc})"
    if not merkle.verify_consistency(
        old,
        new,
        bytes.fromhex(str(carried["root_hash"])),
        bytes.fromhex(str(head["root_hash"])),
        proof,
    ):
        return "the server's log is not consistent with the proof's tree head (history rewritten)"
    return None


@evidence_app.command("check")
def check() -> None:
    """Walk every organisation's evidence chain and the transparency log; exit 1 on a break."""
    from tabellion.cli.main import _settings
    from tabellion.evidence.check import check_chains
    from tabellion.runtime import Runtime

    settings = _settings()

    async def run() -> int:
        runtime = Runtime.build(settings, pool_size=1)
        try:
            result = await check_chains(runtime)
        finally:
            await runtime.close()
        for broken in result.breaks:
            console.print(f"[red]broken chain:[/red] {broken}")
        if result.log_problem:
            console.print(f"[red]transparency log:[/red] {result.log_problem}")
        if result.ok:
            console.print(
                f"[green]ok[/green]: {result.proofs} proofs in {result.organizations} chains, "
                "log consistent with every published tree head"
            )
            return 0
        return 1

    raise typer.Exit(asyncio.run(run()))
