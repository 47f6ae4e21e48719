"""What a proof says (format 2): legal identities, every part with its media type and digest
algorithm, the submitted and the sanitised body, reasons as URIs; the bundle lets a third
party recompute every digest; proofs of format 1 still verify."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from tabellion.config import Settings
from tabellion.evidence.content import FORMAT, SHA256
from tabellion.evidence.events import (
    ETSI_EVENT_BASE,
    REASON_BASE,
    EvidenceType,
    event_uri,
    reasons_of,
)
from tabellion.evidence.sealing.jws import flattened_json, protected_header, sign_flattened
from tabellion.evidence.sealing.keys import load_seal
from tabellion.evidence.verification.verify import verify_json_proof
from tabellion.runtime import Runtime
from tests.conftest import make_settings
from tests.evidence.helpers import run_jobs
from tests.portal.helpers import csrf, dispatch, notify, status_of

DATA = Path(__file__).parent / "data"
SUBMITTED = '<p onclick="steal()">Pay by <b>Friday</b></p><script>alert(1)</script>'


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    return make_settings(
        data_dir,
        database_url,
        issuer_legal_name="Tabellion Trust Services SA",
        issuer_identifier="VATBE-0123456749",
    )


async def test_a_proof_names_legal_identities_and_every_part_a_bundle_can_recompute(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    profile = {
        "legal_name": "Acme SAS",
        "identifiers": {"siren": "732 829 320", "vat": "FR40732829320"},
    }
    assert (await client.patch("/v1/organization", json=profile, headers=auth)).status_code == 200
    delivery = await dispatch(client, auth, mode="simple", body_html=SUBMITTED)
    link = await notify(runtime, delivery["id"])
    landing = await client.get(link)
    await client.post(f"{link}/open", data={"csrf_token": csrf(landing.text)})
    await run_jobs(runtime)
    refs = (await status_of(client, auth, delivery["id"]))["evidence"]
    proof = (await client.get(f"/v1/evidence/{refs[-1]['id']}", headers=auth)).content
    verdict = verify_json_proof(proof, [runtime_root(runtime)])
    assert verdict.authentic, verdict.problems
    content = verdict.content
    assert content is not None and content["format"] == FORMAT == "tabellion-evidence/2"
    assert content["issuer"]["legal_name"] == "Tabellion Trust Services SA"
    assert content["issuer"]["identifier"] == "VATBE-0123456749"
    assert content["sender"]["organization"]["legal_name"] == "Acme SAS"
    assert content["sender"]["organization"]["identifiers"] == {
        "siren": "732829320",
        "vat": "FR40732829320",
    }
    parts = content["content"]
    # The exact bytes the sender submitted, and beside them what the recipient was shown.
    assert parts["body_submitted"]["sha256"] == hashlib.sha256(SUBMITTED.encode()).hexdigest()
    assert parts["body"]["sha256"] != parts["body_submitted"]["sha256"]
    assert {p["media_type"] for k, p in parts.items() if k.startswith("body")} >= {
        "text/html; charset=utf-8",
        "text/plain; charset=utf-8",
    }

    bundle = await client.get(f"/v1/deliveries/{delivery['id']}/evidence.zip", headers=auth)
    archive = zipfile.ZipFile(io.BytesIO(bundle.content))
    checked = 0
    for name in ("subject", "body_submitted", "body", "body_text"):
        part = parts[name]
        assert part["digest_algorithm"] == SHA256
        data = archive.read(part["file"])
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (part["sha256"], part["size"])
        checked += 1
    assert b"<script>" in archive.read(parts["body_submitted"]["file"])
    assert b"<script>" not in archive.read(parts["body"]["file"])
    for attachment in parts["attachments"]:
        data = archive.read(f"documents/{attachment['filename']}")
        assert hashlib.sha256(data).hexdigest() == attachment["sha256"]
        assert attachment["digest_algorithm"] == SHA256
        checked += 1
    assert checked == 5


def runtime_root(runtime: Runtime) -> x509.Certificate:
    from tabellion.evidence.sealing.keys import load_seal

    return load_seal(runtime.settings).root


def test_received_and_downloaded_are_distinct_events() -> None:
    received, downloaded = event_uri(EvidenceType.RECEIVED), event_uri(EvidenceType.DOWNLOADED)
    assert received == ETSI_EVENT_BASE + "ContentHandover"
    assert downloaded == ETSI_EVENT_BASE + "ContentAccessTracking"
    assert event_uri(EvidenceType.ACCEPTED) == ETSI_EVENT_BASE + "ConsignmentAcceptance"
    assert event_uri(EvidenceType.REFUSED) == ETSI_EVENT_BASE + "ConsignmentRejection"
    assert event_uri(EvidenceType.EXPIRED) == ETSI_EVENT_BASE + "AcceptanceRejectionExpiry"
    # Every type has its URI; only replies share one (a reply, either side's, is a submission).
    replies = (EvidenceType.REPLIED, EvidenceType.SENDER_REPLIED)
    uris = [event_uri(t) for t in EvidenceType if t not in replies]
    assert len(set(uris)) == len(uris)
    assert {event_uri(t) for t in replies} == {event_uri(EvidenceType.SENT)}


def test_reasons_are_uris() -> None:
    bounced = reasons_of(
        "UNDELIVERED",
        {"reason": "The recipient's mail server bounced the notification: 5.1.1", "smtp_code": 550},
    )
    assert bounced == [
        {
            "uri": REASON_BASE + "notification-bounced",
            "text": "The recipient's mail server bounced the notification: 5.1.1",
            "smtp_code": 550,
        }
    ]
    refused = reasons_of("UNDELIVERED", {"reason": "550 no such user", "smtp_code": 550})
    assert refused[0]["uri"] == REASON_BASE + "notification-rejected"
    assert reasons_of("UNDELIVERED", {"reason": "no MX"})[0]["uri"] == (
        REASON_BASE + "notification-undeliverable"
    )
    assert reasons_of("REFUSED", {})[0]["uri"] == REASON_BASE + "refused-by-recipient"
    assert reasons_of("EXPIRED", {"reason": "no answer in time"})[0]["uri"] == (
        REASON_BASE + "acceptance-period-expired"
    )
    assert reasons_of("ACCEPTED", {}) == []


def test_a_format_1_proof_still_verifies() -> None:
    """A proof sealed before format 2 (kept from then, with its root)."""
    proof = (DATA / "v1-received-proof.json").read_bytes()
    root = x509.load_pem_x509_certificate((DATA / "v1-root-ca.pem").read_bytes())
    verdict = verify_json_proof(proof, [root])
    assert verdict.authentic, verdict.problems
    assert verdict.content is not None
    assert verdict.content["format"] == "tabellion-evidence/1"
    assert "subject_sha256" in verdict.content["content"]
    # Changed by one byte, it does not.
    tampered = proof.replace(b'"signature":"', b'"signature":"A', 1)
    assert not verify_json_proof(tampered, [root]).authentic


def test_a_stored_jws_is_the_json_stdlib_would_write(settings: Settings) -> None:
    seal = load_seal(settings)
    jws = sign_flattened(
        seal, b'{"name":"\xc3\xa9t\xc3\xa9 \\"quoted\\""}', protected_header(seal, "t")
    )
    assert flattened_json(jws) == json.dumps(jws, separators=(",", ":"))
    assert json.loads(flattened_json(jws)) == jws
