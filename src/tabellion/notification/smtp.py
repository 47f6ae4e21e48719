"""SMTP transport: a small pool of persistent connections (aiosmtplib).

``TABELLION_SMTP_URL``: ``smtp://user:pass@host:587?starttls=true``, ``smtps://host:465``
(implicit TLS), options ``timeout`` (seconds) and ``verify=false`` (accept any certificate; for
test servers only). A 5xx answer is a permanent failure (the recipient is undeliverable), any
other trouble a temporary one, retried by the job.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from tabellion.notification.transport import PermanentFailure, TemporaryFailure

_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    implicit_tls: bool = False
    starttls: bool = False
    verify: bool = True
    timeout: float = 30.0


def parse_url(url: str) -> SmtpConfig:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("TABELLION_SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("TABELLION_SMTP_URL names no host")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    implicit = parts.scheme == "smtps"
    return SmtpConfig(
        host=parts.hostname,
        port=parts.port or (465 if implicit else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        implicit_tls=implicit,
        starttls=query.get("starttls", "").lower() in _TRUE,
        verify=query.get("verify", "true").lower() in _TRUE,
        timeout=float(query.get("timeout", "30")),
    )


class SmtpTransport:
    def __init__(self, config: SmtpConfig, *, connections: int = 4) -> None:
        self.config = config
        self.size = connections
        self._idle: asyncio.LifoQueue[aiosmtplib.SMTP] = asyncio.LifoQueue()
        self._slots = asyncio.Semaphore(connections)

    @classmethod
    def from_url(cls, url: str, *, connections: int = 4) -> SmtpTransport:
        return cls(parse_url(url), connections=connections)

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.config.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def _connect(self) -> aiosmtplib.SMTP:
        config = self.config
        client = aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port,
            use_tls=config.implicit_tls,
            start_tls=config.starttls if not config.implicit_tls else False,
            tls_context=self._tls_context(),
            timeout=config.timeout,
        )
        await client.connect()
        if config.username:
            await client.login(config.username, config.password or "")
        return client

    async def _checkout(self) -> aiosmtplib.SMTP:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            if client.is_connected:
                return client
        return await self._connect()

    async def send(self, message: EmailMessage, *, envelope_from: str | None = None) -> str:
        async with self._slots:
            try:
                client = await self._checkout()
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                raise TemporaryFailure(f"cannot reach the SMTP server: {exc}") from exc
            keep = False
            try:
                _, answer = await client.send_message(message, sender=envelope_from)
                keep = True
                return answer
            except aiosmtplib.SMTPRecipientsRefused as exc:
                refusal = exc.recipients[0] if exc.recipients else None
                code = refusal.code if refusal else 550
                text = refusal.message if refusal else str(exc)
                keep = await _reset(client)
                if 500 <= code < 600:
                    raise PermanentFailure(code, text) from exc
                raise TemporaryFailure(f"{code} {text}") from exc
            except aiosmtplib.SMTPResponseException as exc:
                keep = await _reset(client)
                if 500 <= exc.code < 600 and exc.code not in (421,):
                    raise PermanentFailure(exc.code, exc.message) from exc
                raise TemporaryFailure(f"{exc.code} {exc.message}") from exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                raise TemporaryFailure(f"SMTP send failed: {exc}") from exc
            finally:
                if keep and client.is_connected:
                    self._idle.put_nowait(client)
                else:
                    await _drop(client)

    async def close(self) -> None:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            try:
                await asyncio.wait_for(client.quit(), timeout=5)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()


async def _reset(client: aiosmtplib.SMTP) -> bool:
    """RSET after a refused transaction so the connection can be reused."""
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        return False
    return True


async def _drop(client: aiosmtplib.SMTP) -> None:
    if client.is_connected:
        client.close()
