"""Late bounces: DSN parsing, VERP addresses, and the mail-in SMTP listener."""

from __future__ import annotations

from pathlib import Path

import aiosmtplib
import httpx
import pytest
from sqlalchemy import select

from tabellion.models.evidence import Evidence
from tabellion.notification.bounces import build_dsn, parse_dsn, serve_bounces, verp_address
from tabellion.runtime import Runtime
from tests.fixtures.server import free_port
from tests.portal.helpers import dispatch, notify, status_of

DLV = "dlv_01m81tct6n6563pz4y243wxw69"


def test_verp_address_uses_the_mail_domain() -> None:
    assert (
        verp_address(DLV, "Tabellion <no-reply@mail.acme.test>") == f"bounces+{DLV}@mail.acme.test"
    )


@pytest.mark.parametrize(
    ("kwargs", "rcpts", "expected"),
    [
        ({}, [], [("failed", "5.1.1", True)]),
        ({"include_headers": False}, [f"bounces+{DLV}@x.test"], [("failed", "5.1.1", True)]),
        ({"include_headers": False}, [], []),  # nothing names a delivery
        ({"action": "delayed", "status": "4.4.1"}, [], [("delayed", "4.4.1", False)]),
        ({"status": "4.2.2", "action": "failed"}, [], [("failed", "4.2.2", False)]),
    ],
)
def test_parse_dsn(kwargs: dict, rcpts: list[str], expected: list[tuple]) -> None:
    raw = build_dsn(delivery_id=DLV, recipient="jane@example.test", **kwargs)
    bounces = parse_dsn(raw, envelope_recipients=rcpts)
    assert [(b.action, b.status, b.permanent) for b in bounces] == expected
    for bounce in bounces:
        assert bounce.delivery_id == DLV
        assert bounce.recipient == "jane@example.test"


def test_not_a_dsn() -> None:
    assert parse_dsn(b"From: a@b.test\r\nSubject: hi\r\n\r\nhello") == []


async def test_mail_in_marks_the_delivery_undelivered(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(client, auth, mode="simple")
    await notify(runtime, delivery["id"])
    port = free_port()
    server = await serve_bounces(runtime, host="127.0.0.1", port=port)
    try:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
        await smtp.connect()
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await smtp.sendmail(
                "mailer-daemon@mx.test", ["someone@else.test"], b"Subject: x\r\n\r\nx"
            )
        raw = build_dsn(delivery_id=delivery["id"], recipient="jane0@example.test")
        await smtp.sendmail("", [f"bounces+{delivery['id']}@example.test"], raw)
        await smtp.quit()
    finally:
        server.close()
        await server.wait_closed()
    state = await status_of(client, auth, delivery["id"])
    assert state["status"] == "undelivered"
    assert "5.1.1" in state["status_reason"]
    assert [e["type"] for e in state["evidence"]][-1] == "UNDELIVERED"


POSTFIX = Path(__file__).parents[1] / "fixtures" / "dsn" / "postfix-user-unknown.eml"


def postfix_bounce(delivery_id: str) -> bytes:
    """A bounce as Postfix writes it: folded fields, the whole notice returned."""
    return POSTFIX.read_bytes().replace(b"{DLV}", delivery_id.encode())


def test_a_postfix_report_is_read_field_by_field() -> None:
    [bounce] = parse_dsn(postfix_bounce(DLV))
    assert bounce.delivery_id == DLV
    assert bounce.permanent
    assert bounce.report() == {
        "action": "failed",
        "status": "5.1.1",
        "smtp_code": 550,
        "diagnostic": "550 5.1.1 <jane0@example.test>: Recipient address rejected: "
        "User unknown in virtual mailbox table",
        "diagnostic_type": "smtp",
        "remote_mta": "mail.example.test",
        "reporting_mta": "mx1.example.test",
        "final_recipient": "jane0@example.test",
    }


def test_a_non_smtp_diagnostic_has_no_reply_code() -> None:
    raw = build_dsn(
        delivery_id=DLV, recipient="j@example.test", diagnostic="X-Unix; 550 mailbox full"
    )
    [bounce] = parse_dsn(raw)
    assert (bounce.diagnostic_type, bounce.diagnostic, bounce.smtp_code) == (
        "x-unix",
        "550 mailbox full",
        None,
    )


async def test_the_undelivered_proof_names_the_remote_answer(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    delivery = await dispatch(client, auth)
    await notify(runtime, delivery["id"])
    port = free_port()
    server = await serve_bounces(runtime, host="127.0.0.1", port=port)
    try:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
        await smtp.connect()
        await smtp.sendmail(
            "", [f"bounces+{delivery['id']}@tabellion.test"], postfix_bounce(delivery["id"])
        )
        await smtp.quit()
    finally:
        server.close()
        await server.wait_closed()
    state = await status_of(client, auth, delivery["id"])
    assert state["status"] == "undelivered"
    assert "User unknown in virtual mailbox table" in state["status_reason"]
    async with runtime.sessions() as session:
        proof = await session.scalar(
            select(Evidence).where(
                Evidence.delivery_id == delivery["id"], Evidence.type == "UNDELIVERED"
            )
        )
    assert proof is not None
    assert proof.details["smtp_code"] == 550
    report = proof.details["delivery_status"]
    assert report["status"] == "5.1.1" and report["smtp_code"] == 550
    assert report["diagnostic"].startswith("550 5.1.1 <jane0@example.test>: Recipient address")
    assert report["remote_mta"] == "mail.example.test"
