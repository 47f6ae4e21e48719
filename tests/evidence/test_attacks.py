"""Attacks on our verifiers: forged seals, forged timestamps, resealed copies, stripped proofs,
tampered documents. Every forgery is made here with real keys and signatures; each must end
NOT AUTHENTIC (or tampered / resealed-copy) with its reason, and a genuine control must pass.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from tabellion.config import Settings
from tabellion.evidence.sealing.jws import (
    b64url_decode,
    decode_header,
    protected_header,
    sign_compact,
    sign_flattened,
)
from tabellion.evidence.sealing.keys import Seal, load_seal
from tabellion.evidence.sealing.seal import PROOF_TYPE
from tabellion.evidence.timestamping.tsa_server import AuthorityKeys, generate_authority
from tabellion.evidence.verification.verify import (
    NO_SEAL_PURPOSE,
    parse_time,
    tree_head_problem,
    verify_json_proof,
)
from tabellion.kit.jcs import canonicalize
from tabellion.kit.time import isoformat_z
from tabellion.runtime import Runtime
from tests.evidence.helpers import received_delivery, run_jobs, trust_of
from tests.fixtures.pki import Issued, issue, name, seal_leaf
from tests.fixtures.server import live_server
from tests.fixtures.tsa import (
    TimestampAuthority,
    authority_keys,
    settings_with,
    token_from,
    tsa,  # noqa: F401
)
from tests.portal.helpers import status_of

PEM = serialization.Encoding.PEM
EXPIRED = "a certificate of its chain is expired or not yet valid at that time"


@pytest.fixture
def settings(data_dir: Path, database_url: str, tsa: TimestampAuthority) -> Settings:  # noqa: F811
    return settings_with(tsa, data_dir, database_url)


async def genuine(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> dict[str, Any]:
    """The RECEIVED proof of a fresh delivery, sealed, stamped and in the log."""
    delivery = await received_delivery(client, auth, runtime)
    await run_jobs(runtime)
    evidence = (await status_of(client, auth, delivery["id"]))["evidence"]
    [received] = [e for e in evidence if e["type"] == "RECEIVED"]
    document: dict[str, Any] = (
        await client.get(f"/v1/evidence/{received['id']}", headers=auth)
    ).json()
    assert document["header"]["tabellion_timestamp_status"] == "stamped"
    return document


def content_of(document: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = json.loads(b64url_decode(document["payload"]))
    return content


def reseal(
    document: dict[str, Any],
    seal: Seal,
    header: dict[str, Any] | None = None,
    **changes: Any,
) -> bytes:
    """The proof's content with ``changes``, sealed by ``seal``, with an unsigned ``header``."""
    typ = str(decode_header(document["protected"])["typ"])
    payload = canonicalize({**content_of(document), **changes})
    jws = sign_flattened(seal, payload, protected_header(seal, typ))
    return json.dumps({**jws, "header": header or {}}).encode()


def forged_seal(leaf: Issued, *issuers: Issued) -> Seal:
    chain = (leaf.certificate, *(i.certificate for i in issuers))
    return Seal(key=leaf.key, chain=chain, self_issued=False)  # type: ignore[arg-type]


def pem_file(path: Path, *certificates: Any) -> Path:
    path.write_bytes(b"".join(c.public_bytes(PEM) for c in certificates))
    return path


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``tabellion verify`` in a process of its own, with no database or settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABELLION_")}
    env["TABELLION_DATA_DIR"] = str(tmp_path / "empty")
    return subprocess.run(
        [sys.executable, "-m", "tabellion", "verify", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


async def test_a_seal_issued_by_a_tsa_end_entity_certificate_is_not_authentic(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, tmp_path: Path
) -> None:
    document = await genuine(client, auth, runtime)
    real = load_seal(runtime.settings)
    tsa_keys = authority_keys()
    # The TSA's own certificate (CA:FALSE, EKU timeStamping) "issues" a certificate carrying
    # the seal's subject, which seals an altered proof: the recipient now ACCEPTED.
    tsa_as_issuer = Issued(tsa_keys.certificate, tsa_keys.key)
    forged = issue(real.certificate.subject, issuer=tsa_as_issuer, ca=False)
    seal = forged_seal(forged, tsa_as_issuer, Issued(tsa_keys.root, tsa_keys.key))
    data = reseal(document, seal, type="ACCEPTED")
    # Given, as the docs once advised, the TSA root beside the seal root.
    verdict = verify_json_proof(data, [real.root, tsa_keys.root])
    assert not verdict.authentic
    [problem] = verdict.problems
    assert problem.startswith(f"the seal certificate {real.certificate.subject.rfc4514_string()}")
    assert problem.endswith("basicConstraints.cA must be asserted in a CA certificate"), problem

    path = tmp_path / "forged.json"
    path.write_bytes(data)
    both = pem_file(tmp_path / "both.pem", real.root, tsa_keys.root)
    result = await asyncio.to_thread(cli, tmp_path, str(path), "--trust", str(both))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "NOT AUTHENTIC" in result.stdout and "✗ the seal certificate" in result.stdout

    answer = (await client.post("/v1/verify", files={"file": ("p.json", data)})).json()
    assert answer["result"] == "tampered" and "is not valid" in answer["problems"][0]


async def test_certificate_paths_are_validated_as_rfc_5280_does(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    document = await genuine(client, auth, runtime)
    event = parse_time(content_of(document)["occurred_at"])
    root = issue(name("Forgers Root"), ca=True)
    inter = issue(name("Forgers Issuing CA"), issuer=root, ca=True, path_length=0)

    def verdict_of(leaf: Issued, *issuers: Issued) -> tuple[bool, list[str], list[str]]:
        data = reseal(document, forged_seal(leaf, *issuers, root))
        verdict = verify_json_proof(data, [root.certificate])
        return verdict.authentic, verdict.problems, verdict.warnings

    # The control: a well-formed chain with a seal certificate passes (no timestamp: a warning).
    authentic, problems, warnings = verdict_of(seal_leaf(inter), inter)
    assert authentic, problems
    assert NO_SEAL_PURPOSE not in warnings and any("no timestamp" in w for w in warnings)
    # No extended key usage at all: valid for any purpose (RFC 5280), with a warning.
    authentic, _, warnings = verdict_of(seal_leaf(inter, purposes=None), inter)
    assert authentic and NO_SEAL_PURPOSE in warnings

    expired = issue(
        name("Forgers Expired CA"),
        issuer=root,
        ca=True,
        not_before=event - timedelta(days=30),
        not_after=event - timedelta(days=1),
    )
    zero = issue(name("Forgers Root pathlen 0"), ca=True, path_length=0)
    end_entity = seal_leaf(inter)  # a seal certificate "issuing" another
    below_zero = issue(name("Forgers CA under a pathlen 0"), issuer=zero, ca=True)
    cases: dict[str, tuple[Issued, list[Issued], list[Issued]]] = {
        "an issuer expired before the event": (seal_leaf(expired), [expired], [root]),
        "a pathlen-0 CA issuing a CA": (seal_leaf(below_zero), [below_zero], [zero]),
        "an end-entity issuer": (seal_leaf(end_entity), [end_entity, inter], [root]),
        "a seal certificate not yet valid at the event": (
            seal_leaf(inter, not_before=event + timedelta(hours=1)),
            [inter],
            [root],
        ),
        "a certificate for another purpose": (
            seal_leaf(inter, purposes=[ExtendedKeyUsageOID.SERVER_AUTH]),
            [inter],
            [root],
        ),
        "a CA certificate as the seal": (
            issue(name("Forgers CA as seal"), issuer=inter, ca=True),
            [inter],
            [root],
        ),
    }
    reasons: dict[str, str] = {}
    for case, (leaf, issuers, roots) in cases.items():
        data = reseal(document, forged_seal(leaf, *issuers, *roots))
        verdict = verify_json_proof(data, [r.certificate for r in roots])
        assert not verdict.authentic, case
        [problem] = verdict.problems
        assert f"is not valid at {isoformat_z(event)}: " in problem, (case, problem)
        reasons[case] = problem.split(": ", 1)[1]
    assert reasons == {
        "an issuer expired before the event": EXPIRED,
        "a pathlen-0 CA issuing a CA": "path length constraint violated",
        "an end-entity issuer": "basicConstraints.cA must be asserted in a CA certificate",
        "a seal certificate not yet valid at the event": EXPIRED,
        "a certificate for another purpose": (
            "not a seal certificate (its extended key usage is serverAuth)"
        ),
        "a CA certificate as the seal": "a CA certificate cannot seal",
    }


def stamp_keys(start: datetime) -> AuthorityKeys:
    """A time-stamping authority whose certificates are valid from ``start`` for ten years."""
    return generate_authority("Forged TSA", organization="Forgers Ltd", valid_from=start)


async def test_timestamps_are_checked_not_shown(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    tsa: TimestampAuthority,  # noqa: F811
    tmp_path: Path,
) -> None:
    document = await genuine(client, auth, runtime)
    trust, trust_tsa = trust_of(runtime), [tsa.root]
    assert verify_json_proof(json.dumps(document).encode(), trust, trust_tsa).authentic
    event = parse_time(content_of(document)["occurred_at"])
    digest = hashlib.sha256(b64url_decode(document["payload"])).digest()
    ancient = stamp_keys(event - timedelta(days=7 * 365))

    def with_token(token: bytes) -> bytes:
        header = {**document["header"], "tabellion_timestamp": base64.b64encode(token).decode()}
        return json.dumps({**document, "header": header}).encode()

    def problems(token: bytes, roots: list[Any]) -> list[str]:
        verdict = verify_json_proof(with_token(token), trust, roots)
        assert not verdict.authentic
        return verdict.problems

    # A genuine token from an authority not among --trust-tsa: a failure, not a note.
    untrusted = token_from(ancient, digest, event + timedelta(seconds=5))
    [problem] = problems(untrusted, trust_tsa)
    assert "the timestamp's authority CN=Forged TSA,O=Forgers Ltd is not trusted" in problem
    # Trusted authority, but dated six years before the event, or a month after it.
    # The problem names the token's time.
    old_time = event - timedelta(days=6 * 365)
    [problem] = problems(token_from(ancient, digest, old_time), [ancient.root])
    assert problem == (
        f"the timestamp ({isoformat_z(old_time)}) is earlier than the event it would attest"
    )
    late_time = event + timedelta(days=30)
    [problem] = problems(token_from(ancient, digest, late_time), [ancient.root])
    assert problem == (
        f"the timestamp ({isoformat_z(late_time)}) is more than 7 days after the event: "
        "it does not attest the event's time"
    )
    # The window's own edges are inside it: two minutes early (clock skew), seven days late.
    for edge in (event - timedelta(minutes=2), event + timedelta(days=7)):
        verdict = verify_json_proof(
            with_token(token_from(ancient, digest, edge)), trust, [ancient.root]
        )
        assert verdict.authentic, (edge, verdict.problems)
    # The seal's root does not vouch for time.
    assert "is not trusted" in problems(untrusted, [*trust, tsa.root])[0]
    # Within the window, from a trusted authority: a ✓.
    timely = verify_json_proof(
        with_token(token_from(ancient, digest, event + timedelta(minutes=1))),
        trust,
        [ancient.root],
    )
    assert timely.authentic and timely.timestamps[0].trusted is True

    # The command line: ✗ for the untrusted timestamp, ! for the self-issued seal.
    path = tmp_path / "untrusted.json"
    path.write_bytes(with_token(untrusted))
    roots = pem_file(tmp_path / "root.pem", *trust)
    tsa_roots = pem_file(tmp_path / "tsa.pem", tsa.root)
    bad = await asyncio.to_thread(
        cli, tmp_path, str(path), "--trust", str(roots), "--trust-tsa", str(tsa_roots)
    )
    assert bad.returncode == 1 and "NOT AUTHENTIC" in bad.stdout
    assert "✗ the timestamp's authority CN=Forged TSA" in bad.stdout
    assert "✓ RFC 3161" not in bad.stdout
    genuine_path = tmp_path / "genuine.json"
    genuine_path.write_text(json.dumps(document))
    good = await asyncio.to_thread(
        cli, tmp_path, str(genuine_path), "--trust", str(roots), "--trust-tsa", str(tsa_roots)
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert "✓ RFC 3161 timestamp over the proof's hash" in good.stdout
    assert "! the seal is self-issued" in good.stdout
    no_tsa = await asyncio.to_thread(cli, tmp_path, str(genuine_path), "--trust", str(roots))
    assert no_tsa.returncode == 1 and "no trusted root was given" in no_tsa.stdout


async def test_the_server_compares_a_proof_with_what_it_recorded(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, tmp_path: Path
) -> None:
    document = await genuine(client, auth, runtime)
    seal = load_seal(runtime.settings)
    recorded = hashlib.sha256(b64url_decode(document["payload"])).hexdigest()

    async def ask(data: bytes) -> dict[str, Any]:
        answer: dict[str, Any] = (
            await client.post("/v1/verify", files={"file": ("p.json", data)})
        ).json()
        return answer

    genuine_answer = await ask(json.dumps(document).encode())
    assert genuine_answer["result"] == "authentic", genuine_answer["problems"]
    assert genuine_answer["timestamps"][0]["trusted"] is True
    # Resealed with the real seal key over other content: offline it holds; we never recorded it.
    resealed = reseal(document, seal, type="ACCEPTED")
    assert verify_json_proof(resealed, trust_of(runtime)).authentic
    answer = await ask(resealed)
    assert answer["result"] == "resealed-copy"
    assert (
        f"recorded evidence {document_id(document)} with hash {recorded}" in answer["problems"][0]
    )
    # The unsigned header stripped: authentic as far as it goes, and it says what is missing.
    stripped = await ask(json.dumps({**document, "header": {}}).encode())
    assert stripped["result"] == "authentic", stripped["problems"]
    assert stripped["timestamps"] == []
    warnings = " | ".join(stripped["warnings"])
    assert "no timestamp" in warnings and "lacks the timestamp this service recorded" in warnings
    assert (
        "no transparency log proof" in warnings and "lacks its transparency log proof" in warnings
    )

    # `tabellion verify --server`: the same answers, and the latest tree head against --trust.
    roots = pem_file(tmp_path / "root.pem", *trust_of(runtime))
    tsa_roots = runtime.settings.tsa_trust_file
    assert tsa_roots is not None
    (tmp_path / "resealed.json").write_bytes(resealed)
    (tmp_path / "genuine.json").write_text(json.dumps(document))
    async with live_server(runtime) as url:

        def at_server(name_: str, trust: Path) -> subprocess.CompletedProcess[str]:
            return cli(
                tmp_path,
                str(tmp_path / name_),
                "--trust",
                str(trust),
                "--trust-tsa",
                str(tsa_roots),
                "--server",
                url,
            )

        good, copy = await asyncio.gather(
            asyncio.to_thread(at_server, "genuine.json", roots),
            asyncio.to_thread(at_server, "resealed.json", roots),
        )
    assert good.returncode == 0, good.stdout + good.stderr
    assert "recorded this very proof" in good.stdout
    assert "still contains it" in good.stdout
    assert copy.returncode == 1 and "answers resealed-copy" in copy.stdout
    assert recorded in copy.stdout.replace("\n", "")

    # A tree head (the server's latest, or a proof's) is held to --trust like a proof's seal.
    head = (await client.get("/v1/transparency/tree-head")).json()
    assert tree_head_problem(head["signature"], trust_of(runtime)) is None
    root = issue(name("Forgers Root"), ca=True)
    forged = forged_seal(seal_leaf(root), root)
    body = b64url_decode(head["signature"].split(".")[1])
    fake = sign_compact(forged, body, "tabellion-tree-head")
    assert "is not valid" in str(tree_head_problem(fake, trust_of(runtime)))
    # In a proof, its own tree head re-signed outside --trust: the inclusion proof still
    # matches the root, but nothing trusted vouches for that root.
    log = document["header"]["tabellion_log"]
    resigned = sign_compact(forged, b64url_decode(log["tree_head"].split(".")[1]), "x")
    # (Its timestamp left out: no --trust-tsa here, and a missing one is only a warning.)
    header = {"tabellion_log": {**log, "tree_head": resigned}}
    verdict = verify_json_proof(
        json.dumps({**document, "header": header}).encode(), trust_of(runtime)
    )
    assert not verdict.authentic and verdict.tree_head is None
    [problem] = verdict.problems
    assert problem.startswith("tree head: its seal certificate is not valid: "), problem


def document_id(document: dict[str, Any]) -> str:
    return str(content_of(document)["id"])


async def test_a_tampered_document_does_not_match_its_proof(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime, tmp_path: Path
) -> None:
    document = await genuine(client, auth, runtime)
    [attachment] = content_of(document)["content"]["attachments"]
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(document))
    original = tmp_path / "contract.pdf"
    original.write_bytes(b"%PDF-1.4\n%%EOF\n")  # what tests.portal.helpers.dispatch sends
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(b"%PDF-1.4\n% one more line\n%%EOF\n")
    roots = pem_file(tmp_path / "root.pem", *trust_of(runtime))
    tsa_roots = str(runtime.settings.tsa_trust_file)
    common = ("--proof", str(proof), "--trust", str(roots), "--trust-tsa", tsa_roots)
    good, bad, alone = await asyncio.gather(
        asyncio.to_thread(cli, tmp_path, str(original), *common),
        asyncio.to_thread(cli, tmp_path, str(tampered), *common),
        asyncio.to_thread(cli, tmp_path, str(tampered), "--trust", str(roots)),
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"contract.pdf is 'contract.pdf' of the proof (SHA-256 {attachment['sha256']})" in (
        good.stdout.replace("\n", "")
    )
    assert bad.returncode == 1 and "NOT AUTHENTIC" in bad.stdout
    assert "tampered.pdf does not match the proof's SHA-256" in bad.stdout.replace("\n", "")
    assert "carries no seal" not in bad.stdout
    # Alone, a document is no proof: the command says how to give its proof.
    assert alone.returncode == 1 and "--proof PROOF" in alone.stdout.replace("\n", "")


async def test_the_genuine_seal_over_something_else_is_no_proof(runtime: Runtime) -> None:
    """A valid signature by the service's own seal proves nothing about content that is not
    one of its evidence records, in canonical form, with an event time."""
    seal = load_seal(runtime.settings)

    def sealed(payload: bytes) -> bytes:
        jws = sign_flattened(seal, payload, protected_header(seal, PROOF_TYPE))
        return json.dumps(jws).encode()

    not_evidence = "the content is not a Tabellion evidence in canonical form"
    no_time = "the content has no valid event time"
    cases = {
        b"not json": "the content is not canonical JSON",
        b'{"format": "tabellion-evidence/1"}': not_evidence,  # JSON, not canonical (JCS)
        canonicalize(["tabellion-evidence/1"]): not_evidence,
        canonicalize({"format": "someone-else/1"}): not_evidence,
        canonicalize({"format": "tabellion-evidence/1"}): no_time,
        canonicalize({"format": "tabellion-evidence/1", "occurred_at": "yesterday"}): no_time,
    }
    for payload, problem in cases.items():
        verdict = verify_json_proof(sealed(payload), trust_of(runtime))
        assert not verdict.authentic, payload
        assert verdict.checks == ["the seal signature matches the content"], payload
        assert verdict.problems == [problem], payload
        assert (verdict.content is not None) == (problem == no_time), payload
