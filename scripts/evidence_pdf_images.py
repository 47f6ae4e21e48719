"""Render the PDF proof of one sample evidence in every language to PNG, for docs/evidence.md.

    .venv/bin/python scripts/evidence_pdf_images.py [--out docs/images]

The PDFs are rendered by the service's own renderer (unsealed: sealing changes no pixel) from
a sample content of format 2; pypdfium2 draws them at 110 dpi.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pypdfium2

from tabellion.config import Settings
from tabellion.evidence.rendering.pdf import render
from tabellion.portal.i18n import LANGUAGES

PART = {
    "media_type": "text/html; charset=utf-8",
    "digest_algorithm": "http://www.w3.org/2001/04/xmlenc#sha256",
}


def sample_content() -> dict[str, Any]:
    """An ACCEPTED registered letter, as sealed by format 2 (names and numbers invented)."""
    return {
        "format": "tabellion-evidence/2",
        "id": "evd_01JEXAMPLE7Q2M4RZ8K5W3N6PD",
        "type": "ACCEPTED",
        "event": {"uri": "http://uri.etsi.org/19522/Event/AcceptanceByRecipient", "reasons": []},
        "occurred_at": "2026-12-04T14:32:07.412Z",
        "issuer": {
            "name": "Tabellion",
            "legal_name": "Tabellion Trust Services SA",
            "identifier": "VATBE-0123456749",
            "url": "https://tabellion.example",
            "policy": "urn:tabellion:policy:evidence:1",
            "seal_certificate_sha256": "5f0c" * 16,
        },
        "organization_id": "org_01JEXAMPLEACME",
        "message_id": "msg_01JEXAMPLE3VQ9D2K7TQ0R5H1B",
        "delivery_id": "dlv_01JEXAMPLE8C4N0Y6XW2JZ7MFA",
        "mode": "registered",
        "sender": {
            "organization": {
                "id": "org_01JEXAMPLEACME",
                "name": "Acme",
                "legal_name": "Acme SAS",
                "identifiers": {"siren": "732829320", "vat": "FR40732829320"},
            },
            "name": "Claire Martin",
            "email": "claire.martin@acme.example",
            "user_id": "usr_01JEXAMPLECLAIRE",
            "authentication": {
                "method": "api-key",
                "api_key_id": "key_01JEXAMPLE5S",
                "submitted_by_organization_id": None,
                "vouched_by_organization": True,
            },
        },
        "recipient": {
            "email": "jan.de.vries@example.nl",
            "first_name": "Jan",
            "last_name": "de Vries",
            "language": "nl",
            "action": {
                "authentication": {
                    "confirmed": True,
                    "method": "email-otp",
                    "channel": "email-otp",
                    "address": "jan.de.vries@example.nl",
                    "ip": "203.0.113.24",
                    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
                    "time": "2026-12-04T14:31:40.118Z",
                },
                "time": "2026-12-04T14:32:07.412Z",
                "ip": "203.0.113.24",
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
            },
        },
        "content": {
            "subject": {**PART, "media_type": "text/plain; charset=utf-8", "size": 31,
                        "sha256": "3a1f" * 16, "file": "content/subject.txt"},
            "body_submitted": {**PART, "size": 912, "sha256": "b7e2" * 16,
                               "file": "content/body-submitted.html"},
            "body": {**PART, "size": 870, "sha256": "c04d" * 16, "file": "content/body.html"},
            "body_text": {**PART, "media_type": "text/plain; charset=utf-8", "size": 640,
                          "sha256": "9e51" * 16, "file": "content/body.txt"},
            "attachments": [
                {"id": "att_01JEXAMPLEPDF", "filename": "lease-termination-2026.pdf",
                 "media_type": "application/pdf", "size": 248_913,
                 "digest_algorithm": PART["digest_algorithm"], "sha256": "e8a0" * 16},
            ],
        },
        "details": {},
        "chain": {"sequence": 4182, "previous": "77c3" * 16},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    out: Path = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    settings = Settings(_env_file=None, public_url="https://tabellion.example")  # type: ignore[call-arg]
    content = sample_content()
    proof = json.dumps({"payload": "sample"}).encode()
    for language in LANGUAGES:
        data = render(settings, content, proof, language)
        page = pypdfium2.PdfDocument(data)[0]
        # A 32-colour palette: the page is text and flat colours, a fifth of the bytes.
        image = page.render(scale=110 / 72).to_pil().quantize(colors=32)
        target = out / f"evidence-pdf-{language}.png"
        image.save(target, optimize=True)
        print(target)


if __name__ == "__main__":
    main()
