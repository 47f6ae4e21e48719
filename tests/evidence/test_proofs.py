"""Sealed JSON proofs: content, chain, JWS checked by another library, signed links."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc import jws as jose_jws
from joserfc.jwk import ECKey

from tabellion.evidence.verification.verify import (
    NO_TIMESTAMP,
    SELF_ISSUED_CHECK,
    verify_json_proof,
)
from tabellion.kit.jcs import canonicalize
from tabellion.kit.time import utcnow
from tabellion.runtime import Runtime
from tests.evidence.helpers import received_delivery, run_jobs, sealed_first_proof, trust_of
from tests.portal.helpers import status_of


async def test_every_event_has_a_sealed_json_proof(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await received_delivery(client, auth, runtime)
    await run_jobs(runtime)
    state = await status_of(client, auth, delivery["id"])
    assert [e["type"] for e in state["evidence"]] == ["SENT", "NOTIFIED", "RECEIVED"]
    previous = None
    for ref in state["evidence"]:
        response = await client.get(f"/v1/evidence/{ref['id']}", headers=auth)
        assert response.status_code == 200, response.text
        document = response.json()
        verdict = verify_json_proof(response.content, trust_of(runtime))
        assert verdict.authentic, verdict.problems
        content = verdict.content
        assert content is not None
        assert content["id"] == ref["id"] and content["type"] == ref["type"]
        assert content["event"]["uri"].startswith("http://uri.etsi.org/19522/Event/")
        assert content["delivery_id"] == delivery["id"]
        assert content["recipient"]["email"] == delivery["recipient"]["email"]
        assert (
            content["content"]["attachments"][0]["sha256"]
            == hashlib.sha256(b"%PDF-1.4\n%%EOF\n").hexdigest()
        )
        assert (
            content["content"]["subject"]["sha256"] == hashlib.sha256(b"Secret subject").hexdigest()
        )
        assert content["chain"]["previous"] == previous
        previous = hashlib.sha256(canonicalize(content)).hexdigest()
        assert "tabellion_log" in document["header"]
        # Another JWS library accepts it, with the key from the x5c leaf certificate.
        header = json.loads(base64.urlsafe_b64decode(document["protected"] + "=="))
        leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
        pem = leaf.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        key = ECKey.import_key(pem)
        flattened = {k: document[k] for k in ("protected", "payload", "signature")}
        registry = jose_jws.JWSRegistry()
        registry.max_header_length = 16384  # the x5c chain makes a long header
        obj = jose_jws.deserialize_json(flattened, key, registry=registry)
        assert json.loads(obj.payload)["id"] == ref["id"]
    received = state["evidence"][2]
    content = json.loads(
        base64.urlsafe_b64decode(
            (await client.get(f"/v1/evidence/{received['id']}", headers=auth)).json()["payload"]
            + "=="
        )
    )
    assert content["recipient"]["action"]["user_agent"] == "pytest-browser/1"


async def test_one_flipped_byte_is_not_authentic(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await received_delivery(client, auth, runtime)
    ref = (await status_of(client, auth, delivery["id"]))["evidence"][0]
    original = (await client.get(f"/v1/evidence/{ref['id']}", headers=auth)).content
    assert verify_json_proof(original, trust_of(runtime)).authentic
    document = json.loads(original)
    payload = bytearray(base64.urlsafe_b64decode(document["payload"] + "=="))
    for position in (5, len(payload) // 2, len(payload) - 3):
        tampered = bytearray(payload)
        tampered[position] ^= 0x01
        changed = {
            **document,
            "payload": base64.urlsafe_b64encode(bytes(tampered)).decode().rstrip("="),
        }
        verdict = verify_json_proof(json.dumps(changed).encode(), trust_of(runtime))
        assert not verdict.authentic
    signature = bytearray(base64.urlsafe_b64decode(document["signature"] + "=="))
    signature[10] ^= 0x01
    changed = {**document, "signature": base64.urlsafe_b64encode(bytes(signature)).decode()}
    assert not verify_json_proof(json.dumps(changed).encode(), trust_of(runtime)).authentic
    # A proof signed by another root is not trusted.
    assert not verify_json_proof(original, []).authentic


async def test_signed_links_work_without_a_key_then_expire(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await received_delivery(client, auth, runtime)
    ref = (await status_of(client, auth, delivery["id"]))["evidence"][0]
    json_url = ref["json_url"].removeprefix("http://tabellion.test")
    pdf_url = ref["pdf_url"].removeprefix("http://tabellion.test")
    assert (await client.get(json_url)).status_code == 200
    pdf = await client.get(pdf_url)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # Tampering: another letter's proof of the same recipient, the json signature on the pdf
    # path, a later expiry.
    other = await received_delivery(client, auth, runtime)
    other_id = (await status_of(client, auth, other["id"]))["evidence"][0]["id"]
    crossed = await client.get(json_url.replace(ref["id"], other_id))
    assert crossed.status_code == 403 and crossed.json()["code"] == "link-invalid"
    assert (
        await client.get(pdf_url.split("?")[0] + "?" + json_url.split("?")[1])
    ).status_code == 403
    later = json_url.replace("expires=", "expires=9")
    assert (await client.get(later)).json()["code"] == "link-invalid"
    # Without key nor signature: 401.
    assert (await client.get(f"/v1/evidence/{ref['id']}")).status_code == 401
    # Expired: a link issued 25 hours ago.
    from tabellion.evidence import links

    signer = links.current()
    assert signer is not None
    old = signer.url("json", ref["id"], now=utcnow() - timedelta(hours=25))
    expired = await client.get(old.removeprefix("http://tabellion.test"))
    assert expired.status_code == 410
    assert expired.json()["code"] == "link-expired"


async def test_other_organisations_cannot_read_proofs(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    from tests.fixtures.factories import create_org_with_key

    delivery = await received_delivery(client, auth, runtime)
    ref = (await status_of(client, auth, delivery["id"]))["evidence"][0]
    _, other = await create_org_with_key(runtime, name="Other")
    response = await client.get(
        f"/v1/evidence/{ref['id']}", headers={"Authorization": f"Bearer {other}"}
    )
    assert response.status_code == 404
    assert response.json()["code"] == "evidence-not-found"


async def test_without_an_authority_proofs_are_not_timestamped(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    from sqlalchemy import func, select

    from tabellion.evidence.timestamping.stamps import TIMESTAMP_TASK
    from tabellion.models.job import Job

    assert runtime.settings.tsa_url is None
    delivery = await received_delivery(client, auth, runtime)
    await run_jobs(runtime)
    for ref in (await status_of(client, auth, delivery["id"]))["evidence"]:
        response = await client.get(f"/v1/evidence/{ref['id']}", headers=auth)
        header = response.json()["header"]
        assert header["tabellion_timestamp_status"] == "none"
        assert "tabellion_timestamp" not in header
        verdict = verify_json_proof(response.content, trust_of(runtime))
        assert verdict.authentic and verdict.timestamps == []
    async with runtime.sessions() as session:
        jobs = await session.scalar(select(func.count()).where(Job.kind == TIMESTAMP_TASK))
    assert jobs == 0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_a_tampered_tree_head_or_inclusion_proof_is_not_authentic(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    original = await sealed_first_proof(client, auth, runtime)
    verdict = verify_json_proof(original, trust_of(runtime))
    assert verdict.authentic, verdict.problems
    document = json.loads(original)
    log = document["header"]["tabellion_log"]
    assert verdict.tree_head is not None and log["tree_size"] == verdict.tree_head["tree_size"]
    assert len(log["audit_path"]) >= 1  # three leaves: a real path to tamper with
    head_protected, head_payload, head_signature = log["tree_head"].split(".")
    head = json.loads(_unb64(head_payload))
    flipped_signature = bytearray(_unb64(head_signature))
    flipped_signature[5] ^= 0x01
    other_root = {**head, "root_hash": hashlib.sha256(b"another tree").hexdigest()}
    first_hash = bytearray(_unb64(log["audit_path"][0]))
    first_hash[0] ^= 0x08
    unreadable = "tree head: it cannot be read (the signature does not match the content)"
    not_included = "the transparency log does not include this proof"
    tampered_logs = {
        "tree head signature": (
            {
                **log,
                "tree_head": f"{head_protected}.{head_payload}.{_b64(bytes(flipped_signature))}",
            },
            unreadable,
        ),
        "tree head root, old signature": (
            {
                **log,
                "tree_head": f"{head_protected}.{_b64(canonicalize(other_root))}.{head_signature}",
            },
            unreadable,
        ),
        "audit path hash": (
            {**log, "audit_path": [_b64(bytes(first_hash)), *log["audit_path"][1:]]},
            not_included,
        ),
        "audit path cut short": ({**log, "audit_path": log["audit_path"][:-1]}, not_included),
        "audit path extended": (
            {**log, "audit_path": [*log["audit_path"], log["audit_path"][0]]},
            not_included,
        ),
        "leaf index": ({**log, "leaf_index": log["leaf_index"] + 1}, not_included),
        "tree size": (
            {**log, "tree_size": log["tree_size"] + 1},
            "the inclusion proof is for another tree size than its tree head",
        ),
        "no audit path": (
            {k: v for k, v in log.items() if k != "audit_path"},
            "the transparency log proof cannot be read ('audit_path')",
        ),
        "leaf index not a number": (
            {**log, "leaf_index": "first"},
            "the transparency log proof cannot be read "
            "(invalid literal for int() with base 10: 'first')",
        ),
    }
    for name, (tampered, problem) in tampered_logs.items():
        changed = {**document, "header": {**document["header"], "tabellion_log": tampered}}
        verdict = verify_json_proof(json.dumps(changed).encode(), trust_of(runtime))
        assert not verdict.authentic, name
        assert verdict.tree_head is None and verdict.leaf_index is None, name
        assert verdict.problems == [problem], name


async def test_the_verdict_names_what_it_checked_and_what_is_missing(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """What `tabellion verify` and /v1/verify print: each check passed, each warning."""
    original = await sealed_first_proof(client, auth, runtime)
    document = json.loads(original)
    log = document["header"]["tabellion_log"]
    header = json.loads(_unb64(document["protected"]))
    seal = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    sealed_by = (
        f"sealed by {seal.subject.rfc4514_string()}, a certificate valid at the event's time "
        "whose path to a trusted root holds (RFC 5280)"
    )
    verdict = verify_json_proof(original, trust_of(runtime))
    assert verdict.authentic and verdict.kind == "json-proof"
    assert verdict.checks == [
        "the seal signature matches the content",
        sealed_by,
        f"included in the transparency log (leaf {log['leaf_index']} of {log['tree_size']})",
    ]
    # The test installation's seal is its own root, and no authority is configured.
    assert verdict.self_issued
    assert verdict.warnings == [SELF_ISSUED_CHECK, NO_TIMESTAMP]
    assert verdict.leaf_index == log["leaf_index"]
    assert verdict.content_sha256 == hashlib.sha256(_unb64(document["payload"])).hexdigest()
    # Without its log proof: authentic as far as it goes, and the warning says what is missing.
    unlogged = {**document, "header": {}}
    verdict = verify_json_proof(json.dumps(unlogged).encode(), trust_of(runtime))
    assert verdict.authentic and verdict.checks[:2] == [
        "the seal signature matches the content",
        sealed_by,
    ]
    assert len(verdict.checks) == 2 and verdict.tree_head is None
    assert verdict.warnings[-1] == (
        "no transparency log proof: nothing shows the service published this proof"
    )
    # An unprotected header that is no object: the proof is refused, not read around it.
    listed = {**document, "header": [log]}
    verdict = verify_json_proof(json.dumps(listed).encode(), trust_of(runtime))
    assert not verdict.authentic
    assert verdict.problems == ["the unprotected header is not an object"]
    # Not a JWS in JSON serialization at all.
    for data in (b'{"a": 1}', b"[1]", b"{not json"):
        verdict = verify_json_proof(data, trust_of(runtime))
        assert (verdict.authentic, verdict.kind) == (False, "unknown"), data
        assert verdict.problems == ["not a Tabellion JSON proof (a JWS in JSON serialization)"]
