"""Mail transports: SMTP (pooled connections) or an outbox directory of ``.eml`` files."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol

from tabellion.config import Settings
from tabellion.notification.mime import RawMail

# A message: composed with the stdlib, or built as bytes (notices, see ``mime``).
Mail = EmailMessage | RawMail


class PermanentFailure(Exception):
    """The server refused the message for good (5xx): the recipient is undeliverable."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.smtp_message = message


class TemporaryFailure(Exception):
    """The message may go through later (4xx, connection or TLS trouble): retry."""


class MailTransport(Protocol):
    async def send(self, message: Mail, *, envelope_from: str | None = None) -> str:
        """Send one message; returns the server's answer, raises PermanentFailure or
        TemporaryFailure."""
        ...

    async def close(self) -> None: ...


def open_transport(settings: Settings) -> MailTransport:
    """The configured transport; DKIM-signing every message when a key is configured."""
    from tabellion.notification.dkim import DkimTransport, load_key

    transport = _plain_transport(settings)
    key = load_key(settings)
    return transport if key is None else DkimTransport(transport, key)


def _plain_transport(settings: Settings) -> MailTransport:
    if settings.smtp_url is None:
        from tabellion.notification.outbox import OutboxTransport

        return OutboxTransport(settings.outbox_dir)
    from tabellion.notification.smtp import SmtpTransport

    return SmtpTransport.from_url(
        settings.smtp_url.get_secret_value(), connections=settings.smtp_connections
    )
