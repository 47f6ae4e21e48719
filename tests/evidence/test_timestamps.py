"""RFC 3161 timestamps of proofs, against a local authority the tests start (fixtures/tsa.py)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy import select, update

from tabellion.config import Settings
from tabellion.db import transaction
from tabellion.evidence import tasks
from tabellion.evidence.rendering.pdf import FallbackTimeStamper
from tabellion.evidence.sealing.jws import b64url_decode
from tabellion.evidence.sealing.seal import seal_pending
from tabellion.evidence.timestamping.rfc3161 import read_token
from tabellion.evidence.timestamping.stamps import (
    CONCURRENCY,
    RESUME_DELAY,
    TIMESTAMP_TASK,
    AuthorityUnavailable,
    request_token,
    request_token_any,
    stamp_proofs,
)
from tabellion.evidence.verification.verify import verify_json_proof, verify_pdf_proof
from tabellion.jobs.registry import TaskContext
from tabellion.kit.time import utcnow
from tabellion.models.evidence import Evidence
from tabellion.models.job import Job
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.evidence.helpers import received_delivery, run_jobs, trust_of
from tests.fixtures import tools
from tests.fixtures.factories import natural_recipient
from tests.fixtures.server import free_port
from tests.fixtures.tsa import TSA_NAME, TimestampAuthority, settings_with, tsa  # noqa: F401
from tests.portal.helpers import dispatch


@pytest.fixture
def settings(data_dir: Path, database_url: str, tsa: TimestampAuthority) -> Settings:  # noqa: F811
    return settings_with(tsa, data_dir, database_url)


async def proofs_of(runtime: Runtime, delivery_id: str | None = None) -> list[Evidence]:
    query = select(Evidence).order_by(Evidence.id)
    if delivery_id:
        query = query.where(Evidence.delivery_id == delivery_id)
    async with runtime.sessions() as session:
        return list(await session.scalars(query))


async def timestamp_jobs(runtime: Runtime) -> list[Job]:
    async with runtime.sessions() as session:
        return list(
            await session.scalars(select(Job).where(Job.kind == TIMESTAMP_TASK).order_by(Job.id))
        )


async def make_due(runtime: Runtime) -> None:
    """Skip the backoff: queued timestamp jobs are due now."""
    async with transaction(runtime.sessions) as session:
        await session.execute(
            update(Job)
            .where(Job.kind == TIMESTAMP_TASK, Job.status == "queued")
            .values(run_at=utcnow())
        )


async def proof(client: httpx.AsyncClient, auth: dict[str, str], evidence_id: str) -> dict:
    response = await client.get(f"/v1/evidence/{evidence_id}", headers=auth)
    assert response.status_code == 200, response.text
    document: dict = response.json()
    return document


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


async def test_json_proofs_are_stamped_over_their_hash(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    tsa: TimestampAuthority,  # noqa: F811
    tmp_path: Path,
) -> None:
    before = utcnow() - timedelta(seconds=1)
    delivery = await received_delivery(client, auth, runtime)
    await run_jobs(runtime)
    after = utcnow() + timedelta(seconds=1)
    rows = await proofs_of(runtime, delivery["id"])
    assert [r.timestamp_status for r in rows] == ["stamped"] * 3
    assert tsa.granted == 3  # one token per proof, asked once
    for row in rows:
        assert row.timestamp_token and row.hash
        token = read_token(base64.b64decode(row.timestamp_token))
        # The imprint is the proof's hash: SHA-256 of the canonical content (JWS payload).
        assert token.imprint_algorithm == "sha256"
        assert token.imprint == bytes.fromhex(row.hash)
        document = await proof(client, auth, row.id)
        assert document["header"]["tabellion_timestamp_status"] == "stamped"
        assert document["header"]["tabellion_timestamp"] == row.timestamp_token
        assert hashlib.sha256(b64url_decode(document["payload"])).digest() == token.imprint
        data = json.dumps(document).encode()
        verdict = verify_json_proof(data, trust_of(runtime), [tsa.root])
        assert verdict.authentic, verdict.problems
        [stamp] = verdict.timestamps
        assert stamp.status == "stamped" and stamp.covers == "proof"
        assert stamp.trusted is True
        assert stamp.authority is not None and TSA_NAME in stamp.authority
        assert stamp.gen_time is not None and before <= at(stamp.gen_time) <= after
        assert any("RFC 3161 timestamp" in check for check in verdict.checks)
        # Without the authority's root the timestamp is not trusted: a failure, not a note.
        plain = verify_json_proof(data, trust_of(runtime))
        assert not plain.authentic and plain.timestamps[0].trusted is False
        assert "is not trusted: no trusted root was given" in plain.problems[0]
        # Nor does the seal's root vouch for time.
        assert not verify_json_proof(data, trust_of(runtime), trust_of(runtime)).authentic
    jobs = await timestamp_jobs(runtime)
    assert [(j.status, j.attempts) for j in jobs] == [("done", 1)]
    # A public tool agrees (as the bundle's README tells): OpenSSL's RFC 3161 verifier.
    tools.require("openssl")
    row = rows[0]
    assert row.timestamp_token and row.hash
    (tmp_path / "token.der").write_bytes(base64.b64decode(row.timestamp_token))
    (tmp_path / "tsa-root.pem").write_bytes(tsa.root_pem)
    command = ["openssl", "ts", "-verify", "-token_in", "-in", str(tmp_path / "token.der")]
    out = subprocess.run(
        [*command, "-digest", row.hash, "-CAfile", str(tmp_path / "tsa-root.pem")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Verification: OK" in out.stdout, out.stdout + out.stderr


async def test_one_job_stamps_a_whole_batch_a_few_requests_at_a_time(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    tsa: TimestampAuthority,  # noqa: F811
) -> None:
    tsa.latency = 0.02
    await dispatch(client, auth, recipients=[natural_recipient(n) for n in range(24)])
    assert await seal_pending(runtime) == 24  # what the seal job does
    assert tsa.granted == 0  # sealing never asks the authority
    rows = await proofs_of(runtime)
    assert {r.timestamp_status for r in rows} == {"awaiting"}
    # One job for the sealing batch, queued in its transaction.
    [job] = await timestamp_jobs(runtime)
    assert job.status == "queued" and sorted(job.payload["evidence_ids"]) == [r.id for r in rows]
    context = TaskContext(runtime, job_id=job.id, attempt=1, max_attempts=job.max_attempts)
    await tasks.timestamp(context, job.payload)
    assert {r.timestamp_status for r in await proofs_of(runtime)} == {"stamped"}
    assert tsa.granted == 24
    assert 1 < tsa.peak <= CONCURRENCY
    # Idempotent: a second run asks nothing.
    result = await stamp_proofs(runtime, job.payload["evidence_ids"])
    assert result.stamped == 0 and not result.waiting and tsa.granted == 24


async def test_authority_down_leaves_proofs_awaiting_and_the_job_retries(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    tsa: TimestampAuthority,  # noqa: F811
) -> None:
    tsa.set_mode("refuse")
    delivery = await received_delivery(client, auth, runtime)
    await run_jobs(runtime)
    rows = await proofs_of(runtime, delivery["id"])
    # Never local time instead of a token.
    assert [(r.timestamp_status, r.timestamp_token) for r in rows] == [("awaiting", None)] * 3
    [job] = await timestamp_jobs(runtime)
    assert job.status == "queued" and job.attempts == 1 and job.run_at > utcnow()
    assert job.last_error and "cannot be reached" in job.last_error
    document = await proof(client, auth, rows[0].id)
    assert document["header"]["tabellion_timestamp_status"] == "awaiting"
    assert "tabellion_timestamp" not in document["header"]
    verdict = verify_json_proof(json.dumps(document).encode(), trust_of(runtime))
    assert verdict.authentic, verdict.problems
    assert [(t.covers, t.status) for t in verdict.timestamps] == [("proof", "awaiting")]
    assert any("awaiting" in warning for warning in verdict.warnings)
    online = (
        await client.post("/v1/verify", files={"file": ("p.json", json.dumps(document))})
    ).json()
    assert online["result"] == "authentic" and online["timestamps"][0]["status"] == "awaiting"
    page = await client.post("/verify", files={"file": ("p.json", json.dumps(document))})
    assert "awaits its timestamp" in page.text

    # An HTTP error, then an RFC 3161 refusal: still awaiting, retried.
    for mode, error in (("503", "HTTP 503"), ("reject", "rejection")):
        tsa.set_mode(mode)
        await make_due(runtime)
        await run_jobs(runtime)
        [job] = await timestamp_jobs(runtime)
        assert job.status == "queued" and job.last_error and error in job.last_error
        rows = await proofs_of(runtime, delivery["id"])
        assert {r.timestamp_status for r in rows} == {"awaiting"}
    # Back up: the retry stamps them all.
    tsa.set_mode("up")
    await make_due(runtime)
    await run_jobs(runtime)
    [job] = await timestamp_jobs(runtime)
    assert job.status == "done" and job.attempts == 4
    rows = await proofs_of(runtime, delivery["id"])
    assert {r.timestamp_status for r in rows} == {"stamped"}
    document = await proof(client, auth, rows[0].id)
    verdict = verify_json_proof(json.dumps(document).encode(), trust_of(runtime), [tsa.root])
    assert verdict.authentic and verdict.timestamps[0].status == "stamped"


@pytest.mark.parametrize(
    ("mode", "problem"),
    [("wrong-imprint", "another imprint"), ("bad-signature", "signature does not verify")],
)
async def test_answers_that_fail_a_check_are_not_stored(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    tsa: TimestampAuthority,  # noqa: F811
    mode: str,
    problem: str,
) -> None:
    tsa.set_mode(mode)
    delivery = await received_delivery(client, auth, runtime)
    await run_jobs(runtime)
    ids = [r.id for r in await proofs_of(runtime, delivery["id"])]
    result = await stamp_proofs(runtime, ids)
    assert result.stamped == 0 and result.waiting == ids
    assert result.problem and problem in result.problem
    [job] = await timestamp_jobs(runtime)
    assert job.status == "queued" and job.last_error and problem in job.last_error
    assert {r.timestamp_token for r in await proofs_of(runtime)} == {None}


async def test_after_its_last_attempt_the_job_hands_over_to_a_fresh_one(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    tsa: TimestampAuthority,  # noqa: F811
) -> None:
    tsa.set_mode("503")
    delivery = await received_delivery(client, auth, runtime)
    await run_jobs(runtime)
    ids = [r.id for r in await proofs_of(runtime, delivery["id"])]
    last = TaskContext(runtime, job_id=0, attempt=30, max_attempts=30)
    await tasks.timestamp(last, {"evidence_ids": ids})  # no RetryLater: handed over
    jobs = await timestamp_jobs(runtime)
    fresh = jobs[-1]
    assert len(jobs) == 2 and fresh.payload == {"evidence_ids": ids}
    assert fresh.run_at > utcnow() + RESUME_DELAY - timedelta(minutes=1)


async def test_a_tampered_or_foreign_token_is_not_authentic(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    tsa: TimestampAuthority,  # noqa: F811
    tmp_path: Path,
) -> None:
    delivery = await received_delivery(client, auth, runtime)
    await run_jobs(runtime)
    first, second, _ = await proofs_of(runtime, delivery["id"])
    document = await proof(client, auth, first.id)
    other = await proof(client, auth, second.id)
    trust, trust_tsa = trust_of(runtime), [tsa.root]

    def verdict_with(header: dict) -> list[str]:
        changed = {**document, "header": {**document["header"], **header}}
        verdict = verify_json_proof(json.dumps(changed).encode(), trust, trust_tsa)
        assert not verdict.authentic
        return verdict.problems

    token = base64.b64decode(document["header"]["tabellion_timestamp"])
    assert verdict_with({"tabellion_timestamp": other["header"]["tabellion_timestamp"]}) == [
        "the timestamp token is for another content than this proof's"
    ]
    # A flipped byte in the imprint, in the signature; garbage; a token removed.
    imprint = bytes.fromhex(str(first.hash))
    for position in (token.index(imprint) + 3, len(token) - 4):
        flipped = bytearray(token)
        flipped[position] ^= 0x01
        problems = verdict_with({"tabellion_timestamp": base64.b64encode(flipped).decode()})
        assert "the timestamp token is not valid" in problems[0]
    assert "not valid" in verdict_with({"tabellion_timestamp": "not base64!"})[0]
    # The genuine token with a stray character: read strictly, not cleaned up and accepted.
    stray = "*" + document["header"]["tabellion_timestamp"]
    [problem] = verdict_with({"tabellion_timestamp": stray})
    assert problem.startswith("the timestamp token is not valid: "), problem
    stripped = {k: v for k, v in document["header"].items() if k != "tabellion_timestamp"}
    changed = {**document, "header": stripped}
    verdict = verify_json_proof(json.dumps(changed).encode(), trust, trust_tsa)
    assert not verdict.authentic
    assert verdict.problems == ["the proof says it is timestamped but carries no timestamp token"]

    # Online: the foreign token is refused, and so is a valid token this service did not record.
    foreign = {
        **document,
        "header": {
            **document["header"],
            "tabellion_timestamp": other["header"]["tabellion_timestamp"],
        },
    }
    answer = (
        await client.post("/v1/verify", files={"file": ("p.json", json.dumps(foreign))})
    ).json()
    assert answer["result"] == "tampered"
    async with httpx.AsyncClient() as http:
        second_token = await request_token(http, tsa.url, imprint)
    restamped = {
        **document,
        "header": {
            **document["header"],
            "tabellion_timestamp": base64.b64encode(second_token).decode(),
        },
    }
    # Offline: valid.
    assert verify_json_proof(json.dumps(restamped).encode(), trust, trust_tsa).authentic
    answer = (
        await client.post("/v1/verify", files={"file": ("p.json", json.dumps(restamped))})
    ).json()
    assert answer["result"] == "tampered"
    assert "not the one this service recorded" in answer["problems"][0]
    genuine = (
        await client.post("/v1/verify", files={"file": ("p.json", json.dumps(document))})
    ).json()
    assert genuine["result"] == "authentic"
    [stamp] = genuine["timestamps"]
    assert stamp["status"] == "stamped" and TSA_NAME in stamp["authority"]
    assert "the timestamp token is the one this service recorded" in genuine["checks"]
    page = await client.post("/verify", files={"file": ("p.json", json.dumps(document))})
    assert "Timestamp of the proof" in page.text and TSA_NAME in page.text

    # The offline command line: genTime and authority reported; the foreign token rejected.
    trust_file = tmp_path / "trust.pem"
    trust_file.write_bytes((runtime.settings.seal_dir / "root-ca.pem").read_bytes())
    tsa_file = tmp_path / "tsa.pem"
    tsa_file.write_bytes(tsa.root_pem)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABELLION_")}
    env["TABELLION_DATA_DIR"] = str(tmp_path / "empty")

    def verify(content: dict, name: str) -> subprocess.CompletedProcess[str]:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(content))
        command = [sys.executable, "-m", "tabellion", "verify", str(path)]
        return subprocess.run(
            [*command, "--trust", str(trust_file), "--trust-tsa", str(tsa_file)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )

    good, bad = await asyncio.gather(
        asyncio.to_thread(verify, document, "good"), asyncio.to_thread(verify, foreign, "bad")
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert "AUTHENTIC" in good.stdout and TSA_NAME in good.stdout
    assert genuine["timestamps"][0]["gen_time"] in good.stdout
    assert bad.returncode == 1 and "NOT AUTHENTIC" in bad.stdout
    assert "another content" in bad.stdout


async def test_pdf_proofs_carry_a_signature_timestamp(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    tsa: TimestampAuthority,  # noqa: F811
    tmp_path: Path,
) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    before = utcnow() - timedelta(seconds=1)
    delivery = await received_delivery(client, auth, runtime)
    await run_jobs(runtime)
    first, second, _ = await proofs_of(runtime, delivery["id"])
    response = await client.get(f"/v1/evidence/{first.id}/pdf", headers=auth)
    assert response.status_code == 200
    data = response.content
    roots = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
        for c in (*trust_of(runtime), tsa.root)
    ]
    signature = PdfFileReader(BytesIO(data)).embedded_signatures[0]
    status = await async_validate_pdf_signature(
        signature, ValidationContext(trust_roots=roots, allow_fetching=False)
    )
    assert status.intact and status.valid and status.trusted
    stamp = status.timestamp_validity
    assert stamp is not None and stamp.intact and stamp.valid and stamp.trusted
    assert before <= stamp.timestamp <= utcnow() + timedelta(seconds=1)

    verdict = await verify_pdf_proof(data, trust_of(runtime), [tsa.root])
    assert verdict.authentic, verdict.problems
    assert [(t.covers, t.status, t.trusted) for t in verdict.timestamps] == [
        ("pdf-seal", "stamped", True),
        ("proof", "stamped", True),  # the embedded evidence.json carries its token
    ]
    plain = await verify_pdf_proof(data, trust_of(runtime))
    assert not plain.authentic  # an untrusted timestamp is a failure, not a note
    assert "timestamp authority is not trusted" in plain.problems[0]

    path = tmp_path / "proof.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    # poppler 22 does not show signature timestamps; it must still find the seal intact.
    assert "Signature is Valid" in out.stdout, out.stdout + out.stderr
    assert "Total document signed" in out.stdout

    # The authority down: no PDF without its timestamp, a clear 503.
    tsa.set_mode("refuse")
    down = await client.get(f"/v1/evidence/{second.id}/pdf", headers=auth)
    assert down.status_code == 503
    assert down.json()["code"] == "timestamp-authority-unavailable"


async def test_pdf_render_job_waits_for_the_authority_never_drops_to_b_b(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    tsa: TimestampAuthority,  # noqa: F811
) -> None:
    from tabellion.evidence.proofs import TimestampAuthorityUnavailable, render_pdf
    from tabellion.evidence.sealing.seal import RENDER_TASK
    from tabellion.jobs.registry import RetryLater

    tsa.set_mode("refuse")
    delivery = await received_delivery(client, auth, runtime)
    await run_jobs(runtime)
    first = (await proofs_of(runtime, delivery["id"]))[0]
    # The render job: no PDF (neither B-B nor one embedding an "awaiting" proof); retried.
    context = TaskContext(runtime, job_id=0, attempt=1, max_attempts=10)
    with pytest.raises(RetryLater, match="timestamp authority cannot be reached"):
        await tasks.render(context, {"evidence_id": first.id})
    with pytest.raises(TimestampAuthorityUnavailable):
        await render_pdf(runtime, first.id)
    rows = await proofs_of(runtime, delivery["id"])
    assert {(r.pdf_key, r.timestamp_status) for r in rows} == {(None, "awaiting")}
    bundle = await client.get(f"/v1/deliveries/{delivery['id']}/evidence.zip", headers=auth)
    assert bundle.status_code == 503
    assert bundle.json()["code"] == "timestamp-authority-unavailable"
    async with runtime.sessions() as session:
        kinds = set(await session.scalars(select(Job.kind)))
    assert RENDER_TASK in kinds
    # Back up: the job renders a B-T PDF whose embedded JSON proof carries its token.
    tsa.set_mode("up")
    # Jobs name a group of proofs; one queued by an earlier version named one (above).
    await tasks.render(context, {"evidence_ids": [first.id]})
    data = (await client.get(f"/v1/evidence/{first.id}/pdf", headers=auth)).content
    verdict = await verify_pdf_proof(data, trust_of(runtime), [tsa.root])
    assert verdict.authentic, verdict.problems
    assert [(t.covers, t.status) for t in verdict.timestamps] == [
        ("pdf-seal", "stamped"),
        ("proof", "stamped"),
    ]


@tools.requires("openssl", "pdfsig", "jq", "sha256sum")
async def test_bundle_readme_commands_work_with_public_tools(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    runtime: Runtime,
    tsa: TimestampAuthority,  # noqa: F811
    tmp_path: Path,
) -> None:
    import zipfile

    from tabellion.evidence.rendering.bundle import build_bundle
    from tabellion.evidence.sealing.keys import load_seal
    from tabellion.models.message import Delivery

    delivery = await received_delivery(client, auth, runtime)
    await run_jobs(runtime)
    rows = await proofs_of(runtime, delivery["id"])
    async with runtime.sessions() as session:
        row = await session.get(Delivery, delivery["id"])
    assert row is not None
    data = await build_bundle(runtime, row)
    folder = tmp_path / "bundle"
    zipfile.ZipFile(BytesIO(data)).extractall(folder)
    names = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    for proof_row in rows:
        assert {f"evidence/{proof_row.id}.json", f"evidence/{proof_row.id}.pdf"} <= names
    assert {"documents/contract.pdf", "seal-chain.pem", "root-ca.pem", "README.txt"} <= names
    readme = (folder / "README.txt").read_text()
    assert "SELF-ISSUED" in readme
    (folder / "tsa-root.pem").write_bytes(tsa.root_pem)
    target = rows[-1]
    assert target.hash is not None
    commands = [
        line.strip()
        for line in readme.splitlines()
        if line.startswith("     ") and line.strip().split(" ")[0] in PUBLIC_TOOLS
    ]
    assert len(commands) == 7, commands
    outputs = []
    for command in commands:
        command = (
            command.replace("<id>", target.id)
            .replace("<the hash>", target.hash)
            .replace("<your TSA's root>", "tsa-root.pem")
            .replace("documents/*", "documents/contract.pdf")
        )
        # The README's own command lines, run as a reader would type them.
        done = subprocess.run(  # noqa: S602
            command, shell=True, cwd=folder, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        outputs.append(done.stdout)
    fingerprint, chain, pdfsig, digest, _, stamp, sums = outputs
    root = load_seal(runtime.settings).root
    expected = root.fingerprint(hashes.SHA256()).hex(":").upper()
    assert expected in fingerprint
    assert "seal-chain.pem: OK" in chain
    assert "Signature is Valid" in pdfsig and "Total document signed" in pdfsig
    assert digest.strip() == target.hash
    assert "Verification: OK" in stamp
    assert hashlib.sha256(b"%PDF-1.4\n%%EOF\n").hexdigest() in sums


PUBLIC_TOOLS = ("openssl", "pdfsig", "python3", "jq", "sha256sum")


async def test_a_list_of_authorities_is_tried_in_order(
    data_dir: Path,
    database_url: str,
    tsa: TimestampAuthority,  # noqa: F811
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/tsa"  # nothing listens there
    settings = make_settings(data_dir, database_url, tsa_url=f" {dead} , {tsa.url},")
    assert settings.tsa_urls == [dead, tsa.url]
    digest = hashlib.sha256(b"a proof").digest()
    async with httpx.AsyncClient() as http:
        token = read_token(await request_token_any(http, settings.tsa_urls, digest))
        assert token.imprint == digest and TSA_NAME in token.authority
        tsa.set_mode("503")
        with pytest.raises(AuthorityUnavailable) as failed:
            await request_token_any(http, settings.tsa_urls, digest)
    # Every authority's reason, in order; never a token made with local time.
    assert str(failed.value).startswith(f"{dead}: the timestamp authority cannot be reached")
    assert f"{tsa.url}: the timestamp authority answered HTTP 503" in str(failed.value)
    tsa.set_mode("up")
    # The PDF seal's timestamp (pyHanko) falls back the same way.
    stamped = await FallbackTimeStamper(settings.tsa_urls).async_timestamp(digest, "sha256")
    assert read_token(stamped.dump()).imprint == digest
