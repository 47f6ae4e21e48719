"""The fast JSON representations equal what the schemas themselves produce."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tabellion.evidence import links
from tabellion.evidence.service import EvidenceRef
from tabellion.message.repository import DeliveryRow
from tabellion.message.schemas import MessageOut
from tabellion.message.views import (
    MessageView,
    _message_data,
    deliveries_json,
    delivery_json,
    delivery_out,
    message_json,
)
from tabellion.models.evidence import Evidence
from tabellion.models.message import Attachment, Delivery, Message

AT = datetime(2026, 3, 29, 0, 59, 59, 123456, tzinfo=UTC)
NAIVE = datetime(2026, 3, 29, 1, 0, 1)  # as SQLite returns times


@pytest.fixture(autouse=True, params=["with links", "without links"])
def signer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    before = links.current()
    monkeypatch.setattr(links, "utcnow", lambda: AT)  # links stay the same within the test
    links._current = (
        links.LinkSigner("https://t.example", b"k" * 32) if request.param == "with links" else None
    )
    yield
    links._current = before


def full_delivery() -> Delivery:
    return Delivery(
        id="dlv_1",
        organization_id="org_1",
        message_id="msg_1",
        mode="registered",
        status="refused",
        status_reason="550 5.1.1 unknown",
        email="jane@example.test",
        first_name="Jane",
        last_name="Doé",
        company="ACME",
        siren="732829320",
        language="fr",
        token_salt="1" * 32,
        deadline_at=AT,
        notified_at=NAIVE,
        created_at=NAIVE,
        updated_at=AT,
    )


def history() -> list[Evidence]:
    return [
        Evidence(id="evd_1", type="SENT", event="urn:x:SubmissionAcceptance", occurred_at=NAIVE),
        Evidence(id="evd_2", type="REFUSED", event="urn:x:Rejection", occurred_at=AT),
    ]


def schema_dump(delivery: Delivery | DeliveryRow, evidence: list) -> dict:
    return delivery_out(delivery, evidence).model_dump(mode="json")


def test_delivery_json_is_the_schemas_dump() -> None:
    delivery = full_delivery()
    assert delivery_json(delivery, history()) == schema_dump(delivery, history())
    fresh = DeliveryRow(
        id="dlv_2",
        message_id="msg_1",
        mode="simple",
        status="pending",
        status_reason=None,
        email="a@example.test",
        first_name=None,
        last_name=None,
        company=None,
        siren=None,
        language="en",
        deadline_at=None,
        notified_at=None,
        created_at=AT,
        updated_at=AT,
        token_salt="0" * 32,  # with links, a tracking URL too
    )
    evidence = [EvidenceRef("evd_3", "SENT", "urn:x:SubmissionAcceptance", AT)]
    assert delivery_json(fresh, evidence) == schema_dump(fresh, evidence)
    assert delivery_json(fresh, []) == schema_dump(fresh, [])
    # Many at once (a dispatch's answer): the same, each with its own evidence.
    both = deliveries_json([fresh, delivery], {"dlv_2": evidence, delivery.id: history()})
    assert both == [schema_dump(fresh, evidence), schema_dump(delivery, history())]


def test_message_json_is_the_schemas_dump() -> None:
    message = Message(
        id="msg_1",
        organization_id="org_2",
        submitted_by_organization_id="org_1",
        mode="registered",
        status="dispatched",
        subject="Sujet",
        body_html="<p>x</p>",
        body_text="x",
        sender_email="s@example.test",
        sender_name="S",
        # Stored recipients: defaults filled in, unknown keys left out by the schema.
        recipients=[
            {"email": "jane@example.test", "first_name": "Jane", "extra": 1},
            {
                "email": "jo@example.test",
                "first_name": "Jo",
                "last_name": "Doé",
                "company": "ACME",
                "siren": "732829320",
                "language": "nl",
                "phone": "+32470000000",
            },
        ],
        recipient_count=2,
        reference="ref",
        campaign=None,
        acceptance_days=15,
        created_at=NAIVE,
        updated_at=AT,
        dispatched_at=AT,
    )
    attachment = Attachment(
        id="att_1",
        message_id="msg_1",
        filename="a.pdf",
        content_type="application/pdf",
        size=3,
        sha256="0" * 64,
        created_at=NAIVE,
    )
    for deliveries in (None, [], [full_delivery()]):
        view = MessageView(message, [attachment], deliveries, {"dlv_1": history()})
        expected = MessageOut.model_validate(_message_data(view)).model_dump(mode="json")
        assert message_json(view) == expected
        assert view.representation == expected
        assert list(message_json(view)) == list(expected)  # same key order
