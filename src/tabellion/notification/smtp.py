"""SMTP transport: a small pool of persistent connections (aiosmtplib).

``TABELLION_SMTP_URL``: ``smtp://user:pass@host:587?starttls=true``, ``smtps://host:465``
(implicit TLS), options ``timeout`` (seconds) and ``verify=false`` (accept any certificate; for
test servers only). A 5xx answer about the recipient or the message is a permanent failure (the
recipient is undeliverable); any other trouble a temporary one, retried by the job. Trouble
with our own side of the conversation (credentials, the envelope sender) is never blamed on the
recipient: an operator fixes it, and the retries then go through.
"""

from __future__ import annotations

import asyncio
import math
import re
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cached_property
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from tabellion.kit.deadlines import Deadlines
from tabellion.notification.mime import RawMail
from tabellion.notification.transport import PermanentFailure, TemporaryFailure

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_OPTIONS = frozenset({"starttls", "verify", "timeout"})
# Answers about our session, not the recipient: authentication required, failed, too weak.
_SESSION_CODES = frozenset({530, 534, 535, 538})
_TROUBLE = (aiosmtplib.SMTPException, OSError, TimeoutError)
# What would end an address on a command line or start another command (whitespace includes
# CR and LF), or open a quoted local part, which no address we send has.
_UNSAFE_IN_ADDRESS = re.compile(r'[\s<>"]')


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


def _flag(query: dict[str, str], name: str, default: bool) -> bool:
    # Strict on purpose: a typo must not silently turn TLS or certificate checks off.
    value = query.get(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError(f"TABELLION_SMTP_URL: {name}={value!r} is neither true nor false")


def parse_url(url: str) -> SmtpConfig:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("TABELLION_SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("TABELLION_SMTP_URL names no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"TABELLION_SMTP_URL: bad port ({exc})") from None
    try:
        pairs = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise ValueError(f"TABELLION_SMTP_URL: cannot read the options {parts.query!r}") from None
    unknown = sorted(set(pairs) - _OPTIONS)
    if unknown:
        raise ValueError(
            f"TABELLION_SMTP_URL: unknown option(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(_OPTIONS))})"
        )
    query = {k: v[-1] for k, v in pairs.items()}
    implicit = parts.scheme == "smtps"
    starttls = _flag(query, "starttls", False)
    if implicit and starttls:
        raise ValueError("TABELLION_SMTP_URL: smtps:// is already TLS; drop starttls=true")
    try:
        timeout = float(query.get("timeout", "30"))
    except ValueError:
        raise ValueError("TABELLION_SMTP_URL: timeout must be a number of seconds") from None
    if not 0 < timeout <= 3600:
        raise ValueError("TABELLION_SMTP_URL: timeout must be between 0 and 3600 seconds")
    return SmtpConfig(
        host=parts.hostname,
        port=port or (465 if implicit else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        implicit_tls=implicit,
        starttls=starttls,
        verify=_flag(query, "verify", True),
        timeout=timeout,
    )


class SmtpTransport:
    def __init__(self, config: SmtpConfig, *, connections: int) -> None:
        self.config = config
        self.size = connections
        self._idle: asyncio.LifoQueue[aiosmtplib.SMTP] = asyncio.LifoQueue()
        self._slots = asyncio.Semaphore(connections)
        # Each answer's wait, on every connection: one timer for all of them (``_command``).
        self._answers = Deadlines()

    @classmethod
    def from_url(cls, url: str, *, connections: int) -> SmtpTransport:
        return cls(parse_url(url), connections=connections)

    @cached_property
    def _tls_context(self) -> ssl.SSLContext:
        # Built once: loading the system's trust store costs more than a TLS handshake.
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
            tls_context=self._tls_context,
            timeout=config.timeout,
        )
        await client.connect()
        try:
            await _greet(client)
            if config.username:
                await client.login(config.username, config.password or "")
        except BaseException:
            client.close()  # else the refused connection stays open
            raise
        return client

    def _idle_client(self) -> aiosmtplib.SMTP | None:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            if client.is_connected:
                return client
        return None

    async def send(
        self, message: EmailMessage | RawMail, *, envelope_from: str | None = None
    ) -> str:
        async with self._slots:
            client = self._idle_client()
            if client is not None:
                try:
                    return await self._send_on(client, message, envelope_from)
                except _Stale:
                    pass  # the server dropped the idle connection: try once on a new one
            try:
                client = await self._connect()
            except _TROUBLE as exc:
                raise TemporaryFailure(f"cannot reach the SMTP server: {_describe(exc)}") from exc
            try:
                return await self._send_on(client, message, envelope_from)
            except _Stale as exc:
                raise TemporaryFailure(f"SMTP send failed: {_describe(exc.cause)}") from exc.cause

    async def _send_on(
        self, client: aiosmtplib.SMTP, message: EmailMessage | RawMail, envelope_from: str | None
    ) -> str:
        """Send on one connection, then put it back in the pool if it is still good."""
        keep = False
        try:
            if isinstance(message, RawMail):
                sender = envelope_from or message.sender
                utf8 = message.smtputf8 or not sender.isascii()
                answer = await send_raw(
                    client,
                    sender,
                    message.recipients,
                    message.data,
                    utf8=utf8,
                    answers=self._answers,
                )
            else:
                _, answer = await client.send_message(message, sender=envelope_from)
            keep = True
            return answer
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0] if exc.recipients else None
            code = refusal.code if refusal else 550
            text = refusal.message if refusal else str(exc)
            keep = await _reset(client)
            if 500 <= code < 600 and code not in _SESSION_CODES:
                raise PermanentFailure(code, text) from exc
            raise TemporaryFailure(f"{code} {text}") from exc
        except aiosmtplib.SMTPSenderRefused as exc:
            # MAIL FROM refused: our envelope or our session, whatever the recipient.
            keep = await _reset(client)
            raise TemporaryFailure(f"sender refused: {exc.code} {exc.message}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            keep = await _reset(client)
            if 500 <= exc.code < 600 and exc.code not in _SESSION_CODES:
                raise PermanentFailure(exc.code, exc.message) from exc
            raise TemporaryFailure(f"{exc.code} {exc.message}") from exc
        except aiosmtplib.SMTPNotSupported as exc:
            # A non-ASCII address and a server without SMTPUTF8 (checked before sending).
            keep = True
            if isinstance(message, RawMail):
                sender = envelope_from or message.sender
            else:
                sender = envelope_from or str(message.get("From", ""))
            if sender.isascii():  # then the recipient's address it is: no retry helps
                raise PermanentFailure(553, f"not sent: {exc}") from exc
            raise TemporaryFailure(f"not sent: {exc}") from exc
        except ValueError as exc:
            # An address aiosmtplib will not put on a command line (checked before sending).
            # Maybe ours: retried, then the job ends dead for an operator to look at.
            keep = True
            raise TemporaryFailure(f"not sent: {exc}") from exc
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as exc:
            raise _Stale(exc) from exc
        except _TROUBLE as exc:
            raise TemporaryFailure(f"SMTP send failed: {_describe(exc)}") from exc
        finally:
            if keep and client.is_connected:
                self._idle.put_nowait(client)
            else:
                _drop(client)

    async def close(self) -> None:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            try:
                await asyncio.wait_for(client.quit(), timeout=5)
            except _TROUBLE:
                client.close()


async def send_raw(
    client: aiosmtplib.SMTP,
    sender: str,
    recipients: tuple[str, ...],
    data: bytes,
    *,
    utf8: bool = False,
    answers: Deadlines,
) -> str:
    """MAIL, RCPT and DATA for a message we built (``RawMail``); the server's last answer.

    What ``client.sendmail`` does, less what our messages never need: it parses each address
    four times with ``email.utils.parseaddr`` (twice to check it, twice to quote it: ~40 µs a
    notice, a tenth of its cost), and for ``SIZE`` it counts the message's length after
    mending bare line ends, which ours never have (every line ends in CRLF). Our addresses were
    validated when stored or are our own, so each is checked once here for what would break
    the command line. Raises what ``sendmail`` raises; the RSET after a refusal is the
    caller's (``_send_on``'s).
    """
    for address in (sender, *recipients):
        if _UNSAFE_IN_ADDRESS.search(address):
            raise ValueError(f"{address!r} has characters not permitted in an SMTP mailbox")
    if "" in recipients:  # an empty sender is the null reverse-path (MAIL FROM:<>)
        raise ValueError("an empty address is not a permitted SMTP mailbox")
    if utf8 and not client.supports_extension("smtputf8"):
        raise aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported by this server")
    encoding = "utf-8" if utf8 else "ascii"
    options = [b"SMTPUTF8"] if utf8 else []
    if client.supports_extension("size"):
        options.insert(0, b"SIZE=%d" % len(data))
    answer = await _command(
        answers, client, b"MAIL", b"FROM:<" + sender.encode(encoding) + b">", *options
    )
    if answer.code != aiosmtplib.SMTPStatus.completed:
        raise aiosmtplib.SMTPSenderRefused(answer.code, answer.message, sender)
    refused = []
    for recipient in recipients:
        answer = await _command(
            answers, client, b"RCPT", b"TO:<" + recipient.encode(encoding) + b">"
        )
        if answer.code not in (aiosmtplib.SMTPStatus.completed, aiosmtplib.SMTPStatus.will_forward):
            refused.append(aiosmtplib.SMTPRecipientRefused(answer.code, answer.message, recipient))
    if len(refused) == len(recipients):
        raise aiosmtplib.SMTPRecipientsRefused(refused)
    crlf = data.count(b"\r\n")
    if not (crlf == data.count(b"\n") == data.count(b"\r") and data.endswith(b"\r\n")):
        return (await client.data(data)).message  # aiosmtplib mends the line ends first
    return await _data(client, data, answers)


async def _data(client: aiosmtplib.SMTP, data: bytes, answers: Deadlines) -> str:
    """DATA for a message whose every line ends in CRLF: what ``client.data`` sends, without
    its two regular expressions over the whole message (mending line ends, then doubling each
    line's leading dot: ~35 µs for a 2.5 kB notice, a twentieth of its cost), since such a
    message needs only the dots, which a byte replacement doubles. Raises what ``data``
    raises, and closes the connection where it would (lost, or no answer in time)."""
    answer = await _command(answers, client, b"DATA")
    if answer.code != aiosmtplib.SMTPStatus.start_input:
        raise aiosmtplib.SMTPDataError(answer.code, answer.message)
    protocol = client.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    try:
        protocol.write(after_data(data))  # the terminating line in the same write
        answer = await _answer(answers, client, protocol.read_response(timeout=None))
    except aiosmtplib.SMTPServerDisconnected:
        client.close()  # a partial exchange: the connection cannot be trusted any more
        raise
    if answer.code != aiosmtplib.SMTPStatus.completed:
        raise aiosmtplib.SMTPDataError(answer.code, answer.message)
    return answer.message


async def _command(
    answers: Deadlines, client: aiosmtplib.SMTP, *args: bytes
) -> aiosmtplib.SMTPResponse:
    """``client.execute_command(*args)``, its answer awaited under a deadline of ours."""
    return await _answer(answers, client, client.execute_command(*args, timeout=None))


async def _answer(
    answers: Deadlines, client: aiosmtplib.SMTP, waiting: Awaitable[aiosmtplib.SMTPResponse]
) -> aiosmtplib.SMTPResponse:
    """The server's answer, within the client's timeout, kept by ``answers``' one timer.

    aiosmtplib, given a timeout, awaits each answer through ``asyncio.wait_for``, whose future
    is released by a callback of its own: the task waiting for the answer resumes one turn of
    the event loop after the answer is read, and on a busy loop a turn is long (a notice's four
    answers waited 360-480 µs each on average, half of it for that extra turn). So ``waiting``
    is given no timeout of aiosmtplib's. On time out the connection is closed, as aiosmtplib
    closes it (an answer may still come, and would be read as the next command's), and
    ``SMTPReadTimeoutError`` raised, as aiosmtplib raises it.
    """
    timeout = math.inf if client.timeout is None else client.timeout
    try:
        async with answers.within(timeout):
            return await waiting
    except TimeoutError:
        client.close()
        raise aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response") from None


def after_data(data: bytes) -> bytes:
    """A message whose every line ends in CRLF as it goes after DATA: each line's leading dot
    doubled (the lines after the first each follow an LF), then the terminating line."""
    stuffed = data.replace(b"\n.", b"\n..") + b".\r\n"
    return b"." + stuffed if data.startswith(b".") else stuffed


async def _greet(client: aiosmtplib.SMTP) -> None:
    """EHLO (HELO from an old server) once a connection, as ``sendmail`` would before MAIL."""
    if client.is_ehlo_or_helo_needed:
        try:
            await client.ehlo()
        except aiosmtplib.SMTPHeloError:
            if not client.is_connected:
                raise
            await client.helo()


class _Stale(Exception):
    """The connection broke mid-conversation (maybe an idle one the server had closed)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


async def _reset(client: aiosmtplib.SMTP) -> bool:
    """RSET after a refused transaction so the connection can be reused."""
    try:
        await client.rset()
    except _TROUBLE:
        return False
    return True


def _drop(client: aiosmtplib.SMTP) -> None:
    if client.is_connected:
        client.close()
