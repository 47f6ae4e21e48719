"""``tabellion verify FILE`` and ``tabellion evidence check``."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from tabellion.cli._runtime import with_runtime

if TYPE_CHECKING:
    from cryptography import x509

    from tabellion.evidence.verification.verify import Verdict
    from tabellion.runtime import Runtime

evidence_app = typer.Typer(
    help="Evidence: proofs, chains and the transparency log.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)


def _anchors(path: Path, option: str) -> list[x509.Certificate]:
    from tabellion.evidence.verification.verify import load_trust

    try:
        return load_trust(path.read_bytes())
    except ValueError as exc:
        err.print(f"[red]{option} is not a PEM certificate file:[/red] {exc}")
        raise typer.Exit(2) from exc


def verify(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="A PDF or JSON proof; or, with --proof, a document the proof lists.",
        ),
    ],
    proof: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="The proof of FILE: FILE must be one of its documents (same SHA-256).",
        ),
    ] = None,
    trust: Annotated[
        Path | None,
        typer.Option(
            help="PEM file of the seal's trusted root(s). Default: the data dir's self-issued root."
        ),
    ] = None,
    trust_tsa: Annotated[
        Path | None,
        typer.Option(
            "--trust-tsa",
            help="PEM file of the trusted timestamp authorities' root(s). Without it, a "
            "timestamp cannot be trusted and the proof is not authentic.",
        ),
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(
            help="Also ask this server (its URL) whether it recorded this very proof, and "
            "check its published log against the proof's tree head and --trust."
        ),
    ] = None,
) -> None:
    """Verify a proof offline: seal and certificate path, timestamp and log inclusion.

    Exits 0 only when the proof is authentic. ✓ is a check that holds, ✗ one that fails
    (not authentic), ! what is missing or limits the proof (e.g. no timestamp).
    """
    from tabellion.config import Settings
    from tabellion.evidence.sealing.keys import ROOT_FILE
    from tabellion.evidence.verification.verify import verify_bytes

    if trust is None:
        trust = Settings().seal_dir / ROOT_FILE
        if not trust.exists():
            err.print("[red]No trusted root:[/red] give one with --trust CA.pem.")
            raise typer.Exit(2)
    anchors = _anchors(trust, "--trust")
    tsa_anchors = _anchors(trust_tsa, "--trust-tsa") if trust_tsa else []
    proof_bytes = (proof or file).read_bytes()
    verdict: Verdict = asyncio.run(verify_bytes(proof_bytes, anchors, tsa_anchors))
    if proof is not None:
        _match_document(verdict, file)
    elif verdict.kind == "unknown" and proof_bytes[:1024].lstrip().startswith(b"%PDF"):
        verdict.problems.append(
            "if this is a delivered document, give its proof too: "
            "tabellion verify DOCUMENT --proof PROOF"
        )
    if verdict.authentic and server:
        _ask_server(server, proof_bytes, anchors, verdict)
    for check in verdict.checks:
        console.print(f"  [green]✓[/green] {check}")
    for warning in verdict.warnings:
        console.print(f"  [yellow]![/yellow] {warning}")
    for problem in verdict.problems:
        console.print(f"  [red]✗[/red] {problem}")
    if verdict.authentic and verdict.content:
        content = verdict.content
        console.print(
            f"[bold green]AUTHENTIC[/bold green] {verdict.kind}: {content['type']} "
            f"{content['id']} at {content['occurred_at']}, {_subject_of(content)}"
        )
        if verdict.self_issued:
            console.print(
                "  [bold yellow]self-issued seal:[/bold yellow] authentic against the root you "
                "gave; make sure that root comes from the service's operator"
            )
        for stamp in verdict.timestamps:
            if stamp.status == "stamped":
                what = "proof" if stamp.covers == "proof" else "PDF seal"
                console.print(
                    f"  timestamp of the {what}: {stamp.gen_time} by {stamp.authority} (trusted)"
                )
        raise typer.Exit(0)
    if verdict.kind == "signed-document" and not verdict.problems:
        console.print(
            "[bold green]SEALED DOCUMENT[/bold green]: a PDF sealed by this service (a signed "
            "envelope document), unchanged since; not a proof. Drop it on the service's "
            "/verify page (or POST /v1/verify) to learn its envelope, signers and completion."
        )
        raise typer.Exit(0)
    console.print(f"[bold red]NOT AUTHENTIC[/bold red] ({verdict.kind})")
    raise typer.Exit(1)


def _subject_of(content: dict[str, Any]) -> str:
    """What a proof is about: a delivery and its recipient, or an envelope (and who acted)."""
    recipient = content.get("recipient") or {}
    who = f", recipient {recipient['email']}" if recipient.get("email") else ""
    if content.get("envelope_id"):
        return f"envelope {content['envelope_id']}{who}"
    return f"delivery {content.get('delivery_id')}{who}"


def _match_document(verdict: Verdict, document: Path) -> None:
    """The document must be one the (authentic) proof lists, by SHA-256."""
    import hashlib

    if not verdict.authentic or verdict.content is None:
        return
    digest = hashlib.sha256(document.read_bytes()).hexdigest()
    listed = verdict.content.get("content", {}).get("attachments", [])
    for attachment in listed:
        if attachment.get("sha256") == digest:
            verdict.checks.append(
                f"{document.name} is {attachment.get('filename')!r} of the proof (SHA-256 {digest})"
            )
            return
    names = ", ".join(f"{a.get('filename')} {a.get('sha256')}" for a in listed) or "none"
    verdict.fail(
        f"{document.name} does not match the proof's SHA-256: its SHA-256 is {digest}; the "
        f"proof lists {names}"
    )


def _ask_server(
    server: str, proof: bytes, anchors: list[x509.Certificate], verdict: Verdict
) -> None:
    """What the server recorded for this proof, and its log against the proof's tree head."""
    import httpx

    base = server.rstrip("/")
    try:
        answer = httpx.post(f"{base}/v1/verify", files={"file": ("proof", proof)}, timeout=30)
        body = answer.json()
        result = str(body["result"])
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        verdict.fail(f"cannot ask {server} ({exc})")
        return
    if result != "authentic":
        detail = "; ".join(str(p) for p in body.get("problems", [])) or "no detail"
        verdict.fail(f"{server} answers {result}: {detail}")
        return
    verdict.checks.append(f"{server} recorded this very proof (hash, chain position, timestamp)")
    verdict.warnings.extend(
        f"{server}: {w}" for w in body.get("warnings", []) if w not in verdict.warnings
    )
    problem = _confirm_published(base, verdict.tree_head, anchors)
    if problem:
        verdict.fail(problem)
    else:
        verdict.checks.append(f"the log published at {server} still contains it")


def _confirm_published(
    base: str, carried: dict[str, object] | None, anchors: list[x509.Certificate]
) -> str | None:
    """The server's latest tree head must be sealed by a trusted path and extend the proof's."""
    import httpx

    from tabellion.evidence.sealing.jws import JwsInvalid, verify_compact
    from tabellion.evidence.transparency import merkle
    from tabellion.evidence.verification.verify import tree_head_problem

    if carried is None:
        return "the proof carries no tree head to compare with the server's log"
    try:
        latest = httpx.get(f"{base}/v1/transparency/tree-head", timeout=10).json()
        problem = tree_head_problem(str(latest["signature"]), anchors)
        if problem:
            return f"the server's latest tree head is not trusted: {problem}"
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
    from tabellion.evidence.verification.check import check_chains

    async def run(runtime: Runtime) -> int:
        result = await check_chains(runtime)
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

    raise typer.Exit(with_runtime(run))


@evidence_app.command("import-seal")
def import_seal(
    p12: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="A PKCS#12 file: key and chain."),
    ] = None,
    key: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="A PEM private key.")
    ] = None,
    chain: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="The PEM chain, seal certificate first, up to its root.",
        ),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(envvar="TABELLION_SEAL_PASSWORD", help="The key's or the file's password."),
    ] = None,
) -> None:
    """Bring your own seal: check it as verifiers will, and store it for TABELLION_SEAL_*."""
    from datetime import UTC, datetime

    from tabellion.config import ConfigError, Settings
    from tabellion.evidence.sealing.keys import import_seal as store
    from tabellion.evidence.sealing.keys import read_seal
    from tabellion.evidence.verification.certpath import (
        PathInvalid,
        has_seal_purpose,
        validate_seal,
    )

    source = p12 or key
    if source is None or (p12 is not None and key is not None):
        err.print("[red]Give either --p12 FILE, or --key KEY.pem with --chain CHAIN.pem.[/red]")
        raise typer.Exit(2)
    try:
        seal = read_seal(
            source,
            password.encode() if password else None,
            chain.read_bytes() if chain else None,
        )
    except (ConfigError, ValueError, TypeError) as exc:
        err.print(f"[red]Cannot use this seal:[/red] {exc}")
        raise typer.Exit(1) from exc
    try:
        # As verifiers will: a path to the chain's own root, today, with the seal's rules.
        validate_seal(seal.chain, [seal.root], datetime.now(UTC))
    except PathInvalid as exc:
        err.print(f"[red]Verifiers would refuse proofs sealed with it:[/red] {exc}")
        raise typer.Exit(1) from exc
    if not has_seal_purpose(seal.certificate):
        console.print(
            "[yellow]![/yellow] the seal certificate has no extended key usage: verifiers "
            "accept it with a warning (documentSigning, RFC 9336, marks a seal)"
        )
    settings = Settings()
    key_path, chain_path, root_path = store(seal, settings.seal_dir)
    console.print(f"Seal {seal.certificate.subject.rfc4514_string()} stored (mode 0600). Set:")
    console.print(f"  TABELLION_SEAL_KEY_FILE={key_path}", soft_wrap=True)
    console.print(f"  TABELLION_SEAL_CERT_FILE={chain_path}", soft_wrap=True)
    console.print(f"Relying parties verify with --trust {root_path}.", soft_wrap=True)
