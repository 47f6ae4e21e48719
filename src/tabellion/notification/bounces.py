"""Late bounces: delivery status notifications (RFC 3464) turned into UNDELIVERED.

Every notification leaves with a per-delivery return path (VERP):
``bounces+<delivery id>@<mail domain>``, so a bounce names its delivery even when the
remote server mangles the returned message. ``tabellion mail-in`` listens for them.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import functools
import logging
import re
from dataclasses import dataclass
from email.message import Message
from email.utils import parseaddr

from tabellion.db import transaction
from tabellion.errors import NotFound
from tabellion.kit.time import utcnow
from tabellion.message.service.delivery import load_for_notice, mark_undelivered
from tabellion.runtime import Runtime

log = logging.getLogger("tabellion.bounces")

VERP_LOCAL = "bounces"
_DELIVERY_ID = re.compile(r"\bdlv_[0-9a-z]{26}\b")
_VERP = re.compile(r"^bounces\+(dlv_[0-9a-z]{26})@", re.IGNORECASE)


@dataclass(frozen=True)
class Bounce:
    """One recipient's fields of an RFC 3464 report (§2.3), as the remote server wrote them."""

    delivery_id: str
    recipient: str | None
    action: str
    status: str  # the enhanced status code, "5.1.1"
    diagnostic: str | None  # the remote server's answer, "550 5.1.1 No such user"
    diagnostic_type: str | None = None  # "smtp", "x-unix"...
    remote_mta: str | None = None
    reporting_mta: str | None = None

    @property
    def permanent(self) -> bool:
        return self.action == "failed" and self.status.startswith("5")

    @property
    def smtp_code(self) -> int | None:
        """The remote server's reply code, read from the diagnostic when it is an SMTP one."""
        if self.diagnostic_type not in (None, "smtp"):
            return None
        match = re.match(r"\s*([245]\d\d)\b", self.diagnostic or "")
        return int(match.group(1)) if match else None

    def report(self) -> dict[str, str | int | None]:
        """What the UNDELIVERED proof records of the report."""
        return {
            "action": self.action,
            "status": self.status,
            "smtp_code": self.smtp_code,
            "diagnostic": self.diagnostic[:500] if self.diagnostic else None,
            "diagnostic_type": self.diagnostic_type,
            "remote_mta": self.remote_mta,
            "reporting_mta": self.reporting_mta,
            "final_recipient": self.recipient,
        }


@functools.lru_cache(maxsize=16)
def mail_domain(mail_from: str) -> str:
    # Memoised: every notice's envelope sender is made from the one configured address.
    address = parseaddr(mail_from)[1]
    return address.rpartition("@")[2] or "localhost"


def verp_address(delivery_id: str, mail_from: str) -> str:
    return f"{VERP_LOCAL}+{delivery_id}@{mail_domain(mail_from)}"


def _fields(block: Message) -> dict[str, str]:
    # Folded fields (a long Diagnostic-Code) come back as one line.
    return {k.lower(): " ".join(str(v).split()) for k, v in block.items()}


def _typed(value: str | None) -> tuple[str | None, str | None]:
    """``"smtp; 550 5.1.1 No such user"`` → ``("smtp", "550 5.1.1 No such user")``."""
    if not value:
        return None, None
    kind, separator, rest = value.partition(";")
    if not separator:
        return None, value.strip()
    return kind.strip().lower() or None, rest.strip() or None


def _status_blocks(report: Message) -> list[dict[str, str]]:
    """The per-recipient field groups of a message/delivery-status part."""
    payload = report.get_payload()
    if isinstance(payload, list):  # the stdlib parses the groups as sub-messages
        parts = [part for part in payload if isinstance(part, Message)]
        return [_fields(part) for part in parts][1:] or [_fields(part) for part in parts]
    text = payload if isinstance(payload, str) else ""
    groups = [g for g in re.split(r"\r?\n\s*\r?\n", text.strip()) if g.strip()]
    parsed = [_fields(email.message_from_string(g)) for g in groups]
    return parsed[1:] if len(parsed) > 1 else parsed


def _delivery_in(message: Message, envelope_recipients: list[str]) -> str | None:
    for rcpt in envelope_recipients:
        match = _VERP.match(rcpt)
        if match:
            return match.group(1).lower()
    for part in message.walk():
        header = part.get("X-Tabellion-Delivery")
        if header and _DELIVERY_ID.search(str(header)):
            return _DELIVERY_ID.search(str(header)).group(0)  # type: ignore[union-attr]
        if part.get_content_type() in ("text/rfc822-headers", "message/rfc822-headers"):
            found = _DELIVERY_ID.search(str(part.get_payload()))
            if found:
                return found.group(0)
    return None


def parse_dsn(raw: bytes, *, envelope_recipients: list[str] | None = None) -> list[Bounce]:
    """The bounces a message reports; empty for anything that is not a DSN about us."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    delivery_id = _delivery_in(message, envelope_recipients or [])
    if delivery_id is None:
        return []
    reports = [p for p in message.walk() if p.get_content_type() == "message/delivery-status"]
    out = []
    for report in reports:
        blocks = _status_blocks(report)
        _, reporting_mta = _typed(_per_message(report).get("reporting-mta"))
        for block in blocks:
            action = block.get("action", "").lower()
            status = block.get("status", "").split()[0] if block.get("status") else ""
            if not action:
                continue
            _, recipient = _typed(block.get("final-recipient") or block.get("original-recipient"))
            diagnostic_type, diagnostic = _typed(block.get("diagnostic-code"))
            out.append(
                Bounce(
                    delivery_id=delivery_id,
                    recipient=recipient,
                    action=action,
                    status=status,
                    diagnostic=diagnostic,
                    diagnostic_type=diagnostic_type,
                    remote_mta=_typed(block.get("remote-mta"))[1],
                    reporting_mta=reporting_mta,
                )
            )
    return out


def _per_message(report: Message) -> dict[str, str]:
    """The report's first field group: about the message (Reporting-MTA, Arrival-Date)."""
    payload = report.get_payload()
    if isinstance(payload, list):
        first = next((part for part in payload if isinstance(part, Message)), None)
        return _fields(first) if first is not None else {}
    text = payload if isinstance(payload, str) else ""
    head = re.split(r"\r?\n\s*\r?\n", text.strip(), maxsplit=1)[0]
    return _fields(email.message_from_string(head))


async def apply_bounces(runtime: Runtime, bounces: list[Bounce]) -> int:
    """Mark deliveries undelivered for permanent failures. Returns how many changed."""
    changed = 0
    for bounce in bounces:
        if not bounce.permanent:
            continue
        async with transaction(runtime.sessions) as session:
            try:
                delivery, _, _ = await load_for_notice(session, bounce.delivery_id)
            except NotFound:  # a bounce for a deleted delivery
                continue
            reason = f"The recipient's mail server bounced the notification: {bounce.status}"
            if bounce.diagnostic:
                reason += f" ({bounce.diagnostic[:300]})"
            if await mark_undelivered(
                session,
                delivery,
                at=utcnow(),
                reason=reason,
                smtp_code=bounce.smtp_code,
                report=bounce.report(),
            ):
                changed += 1
    return changed


class BounceHandler:
    """aiosmtpd handler: accept DSNs addressed to our VERP addresses, apply them."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def handle_RCPT(
        self, server: object, session: object, envelope: object, address: str, options: list[str]
    ) -> str:
        if not _VERP.match(address):
            return "550 5.1.1 Unknown recipient"
        envelope.rcpt_tos.append(address)  # type: ignore[attr-defined]
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        content = envelope.content  # type: ignore[attr-defined]
        raw = content if isinstance(content, bytes) else str(content).encode()
        try:
            bounces = parse_dsn(raw, envelope_recipients=list(envelope.rcpt_tos))  # type: ignore[attr-defined]
            await apply_bounces(self.runtime, bounces)
        except Exception:
            log.exception("could not record a bounce; asking the sender to retry")
            return "451 4.3.0 Temporary failure, try again later"
        return "250 OK"


async def serve_bounces(runtime: Runtime, *, host: str, port: int) -> asyncio.Server:
    """An SMTP listener in the running event loop (shares the runtime's database pool)."""
    from aiosmtpd.smtp import SMTP

    handler = BounceHandler(runtime)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, hostname="tabellion-mail-in", data_size_limit=10 * 1024 * 1024),
        host=host,
        port=port,
    )


def build_dsn(
    *,
    delivery_id: str,
    recipient: str,
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 No such user",
    action: str = "failed",
    include_headers: bool = True,
) -> bytes:
    """A DSN as a mail server writes one (RFC 3464), for tests and the docs."""
    returned = (
        "--b1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"X-Tabellion-Delivery: {delivery_id}\r\nSubject: notice\r\n\r\n"
        if include_headers
        else ""
    )
    return (
        "From: MAILER-DAEMON@mx.example.test\r\n"
        f"To: {VERP_LOCAL}+{delivery_id}@example.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\n"
        "Your message could not be delivered.\r\n\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.test\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: {diagnostic}\r\n\r\n"
        f"{returned}--b1--\r\n"
    ).encode()
