"""The audit certificate shows times as the rest of Tabellion does: the envelope's language,
the organisation's time zone by name, and the exact UTC time beside (as the evidence PDF)."""

from __future__ import annotations

from datetime import UTC, datetime

import pypdfium2 as pdfium
import pytest

from tabellion.config import Settings
from tabellion.envelope.completion import certificate
from tabellion.models.envelope import Envelope, EnvelopeDocument, EnvelopeRecipient

SENT = datetime(2026, 12, 4, 16, 43, tzinfo=UTC)
DONE = datetime(2026, 12, 5, 9, 5, tzinfo=UTC)


def _text(data: bytes) -> str:
    document = pdfium.PdfDocument(data)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


def _parts(language: str) -> tuple[Envelope, list[EnvelopeRecipient], list]:
    envelope = Envelope(
        id="env_times",
        organization_id="org_x",
        title="Agreement",
        reference="CTR-7",
        signing_order="parallel",
        language=language,
        sent_at=SENT,
        completed_at=DONE,
    )
    signer = EnvelopeRecipient(
        id="rcp_sam",
        name="Sam Signer",
        email="sam@example.test",
        role="signer",
        position=1,
        status="signed",
        sent_at=SENT,
        access_auth=[],
        action_auth=[],
        trail={"signed": {"at": "2026-12-05T09:05:00+00:00", "ip": "192.0.2.7", "consent": True}},
    )
    document = EnvelopeDocument(id="doc_1", filename="a.pdf", pages=1, sha256="ab" * 32)
    return envelope, [signer], [(document, "cd" * 32)]


@pytest.mark.parametrize(
    ("language", "timezone", "sent", "signed"),
    [
        (
            "fr",
            "Europe/Paris",
            "4 décembre 2026, 17:43 (heure normale d'Europe centrale) (2026-12-04T16:43:00Z)",
            "5 décembre 2026, 10:05 (heure normale d'Europe centrale) (2026-12-05T09:05:00Z)",
        ),
        (
            "en",
            "America/New_York",
            "December 4, 2026, 11:43 AM (Eastern Standard Time) (2026-12-04T16:43:00Z)",
            "December 5, 2026, 4:05 AM (Eastern Standard Time) (2026-12-05T09:05:00Z)",
        ),
        (
            "de",
            "Europe/Berlin",
            "4. Dezember 2026, 17:43 (Mitteleuropäische Normalzeit) (2026-12-04T16:43:00Z)",
            "5. Dezember 2026, 10:05 (Mitteleuropäische Normalzeit) (2026-12-05T09:05:00Z)",
        ),
    ],
)
def test_certificate_times_are_localised_with_the_zone_and_utc(
    settings: Settings, language: str, timezone: str, sent: str, signed: str
) -> None:
    envelope, recipients, documents = _parts(language)
    pdf = certificate(settings, envelope, recipients, documents, timezone=timezone)
    text = " ".join(_text(pdf).split())
    assert f"Sent: {sent}" in text
    assert f"Invited: {sent}" in text
    assert f"Completed: {signed}" in text
    assert f"Signed: {signed} from 192.0.2.7" in text
    # No bare ISO time is left, no "+0000" offset, no US short date.
    assert "2026-12-04T16:43:00Z" not in text.replace(f"({'2026-12-04T16:43:00Z'})", "")
    assert "+0000" not in text and "12/4/26" not in text
