"""The SMTP transport against a real server (aiosmtpd): URLs, pooling, AUTH, TLS, refusals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from email.message import EmailMessage

import pytest

from tabellion.notification.mime import MailBuilder, RawMail
from tabellion.notification.smtp import SmtpConfig, SmtpTransport, parse_url
from tabellion.notification.transport import PermanentFailure, TemporaryFailure
from tests.fixtures.server import free_port
from tests.fixtures.smtp import SmtpServer

# ---- parse_url ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.test", SmtpConfig(host="mail.test", port=25)),
        ("smtp://mail.test:2525", SmtpConfig(host="mail.test", port=2525)),
        ("smtps://mail.test", SmtpConfig(host="mail.test", port=465, implicit_tls=True)),
        (
            "smtp://user:secret@mail.test:587?starttls=true",
            SmtpConfig(
                host="mail.test", port=587, username="user", password="secret", starttls=True
            ),
        ),
        (
            # Reserved characters in credentials arrive percent-encoded.
            "smtp://me%40acme.test:p%3As%2Fw%40rd@mail.test",
            SmtpConfig(host="mail.test", port=25, username="me@acme.test", password="p:s/w@rd"),
        ),
        ("smtp://user@mail.test", SmtpConfig(host="mail.test", port=25, username="user")),
        (
            "smtp://127.0.0.1:1025?starttls=yes&verify=false&timeout=2.5",
            SmtpConfig(host="127.0.0.1", port=1025, starttls=True, verify=False, timeout=2.5),
        ),
        ("smtps://[::1]:4650?verify=0", SmtpConfig("::1", 4650, implicit_tls=True, verify=False)),
        ("smtp://MAIL.Test?starttls=off", SmtpConfig(host="mail.test", port=25)),
    ],
)
def test_parse_url(url: str, expected: SmtpConfig) -> None:
    assert parse_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mail.test", "must start with smtp:// or smtps://"),
        ("mail.test:25", "must start with smtp:// or smtps://"),
        ("smtp://", "names no host"),
        ("smtp://:pw@:25", "names no host"),
        ("smtp://mail.test:99999", "bad port"),
        ("smtp://mail.test:port", "bad port"),
        ("smtp://mail.test?timeout=soon", "timeout must be a number"),
        ("smtp://mail.test?timeout=0", "between 0 and 3600"),
        ("smtp://mail.test?timeout=-5", "between 0 and 3600"),
        # A typo must not quietly send in clear or skip certificate checks.
        ("smtp://mail.test?starttls=ture", "starttls='ture' is neither true nor false"),
        ("smtp://mail.test?verify=nope", "verify='nope' is neither true nor false"),
        ("smtp://mail.test?start_tls=true", "unknown option(s) start_tls"),
        ("smtps://mail.test?starttls=true", "already TLS"),
    ],
)
def test_parse_url_refuses(url: str, message: str) -> None:
    with pytest.raises(ValueError, match="TABELLION_SMTP_URL") as caught:
        parse_url(url)
    assert message in str(caught.value)


# ---- sending --------------------------------------------------------------------------------


def mail(to: str = "jane@example.test", n: int = 0) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Tabellion <no-reply@tabellion.test>"
    message["To"] = to
    message["Subject"] = f"Notice {n}"
    message["Message-ID"] = f"<test-{n}@tabellion.test>"
    message.set_content(f"Hello number {n}")
    return message


def raw_mail(to: str = "jane@example.test", n: int = 0) -> RawMail:
    """A message as notices are built: straight into bytes (``send_raw``'s way)."""
    return (
        MailBuilder()
        .from_("Tabellion <no-reply@tabellion.test>")
        .to(to)
        .header("Subject", f"Notice {n}")
        .header("Message-ID", f"<test-{n}@tabellion.test>")
        .alternative(f"Hello number {n}\n.\n..a line starting with dots", f"<p>Hello {n}</p>")
    )


Shape = Callable[..., EmailMessage | RawMail]

# Each sending test runs with both shapes a transport is handed.
shapes = pytest.mark.parametrize("shape", [mail, raw_mail], ids=["message", "raw"])


@asynccontextmanager
async def transport(url: str, *, connections: int = 2) -> AsyncIterator[SmtpTransport]:
    smtp = SmtpTransport.from_url(url, connections=connections)
    try:
        yield smtp
    finally:
        await smtp.close()


@shapes
async def test_send_delivers_with_the_envelope_sender(
    smtp_server: SmtpServer, shape: Shape
) -> None:
    async with transport(smtp_server.url()) as smtp:
        answer = await smtp.send(shape(), envelope_from="bounces+dlv_x@tabellion.test")
    assert answer.startswith("2.0.0 Queued as test-1")
    [received] = await smtp_server.wait_for(1)
    assert received.envelope_from == "bounces+dlv_x@tabellion.test"
    assert received.rcpt_tos == ["jane@example.test"]
    assert received.message["Subject"] == "Notice 0"
    assert received.message["Message-ID"] == "<test-0@tabellion.test>"
    assert received.text.splitlines()[0] == "Hello number 0"


@shapes
async def test_without_envelope_sender_the_from_header_is_used(
    smtp_server: SmtpServer, shape: Shape
) -> None:
    async with transport(smtp_server.url()) as smtp:
        await smtp.send(shape())
    [received] = await smtp_server.wait_for(1)
    assert received.envelope_from == "no-reply@tabellion.test"


async def test_pool_reuses_its_connections(smtp_server: SmtpServer) -> None:
    async with transport(smtp_server.url(), connections=3) as smtp:
        for n in range(5):  # one after another: a single connection does it all
            await smtp.send(mail(n=n))
        assert smtp_server.connections == 1
        await asyncio.gather(*(smtp.send(mail(f"r{n}@example.test", n)) for n in range(40)))
    received = await smtp_server.wait_for(45)
    assert len(received) == 45
    assert sorted(m.rcpt_tos[0] for m in received[5:]) == sorted(
        f"r{n}@example.test" for n in range(40)
    )
    assert 1 <= smtp_server.connections <= 3


async def test_auth(smtp_server: SmtpServer) -> None:
    smtp_server.require_auth("mailer", "s3cret:pass")
    async with transport(smtp_server.url(username="mailer", password="s3cret:pass")) as smtp:
        await smtp.send(mail(n=1))
        await smtp.send(mail(n=2))
    assert len(await smtp_server.wait_for(2)) == 2
    assert smtp_server.connections == 1


async def test_wrong_password_is_temporary(smtp_server: SmtpServer) -> None:
    smtp_server.require_auth("mailer", "s3cret")
    async with transport(smtp_server.url(username="mailer", password="wrong")) as smtp:
        with pytest.raises(TemporaryFailure, match=r"cannot reach the SMTP server.*535"):
            await smtp.send(mail())
        # The refused connection is not kept: each attempt logs in afresh.
        with pytest.raises(TemporaryFailure):
            await smtp.send(mail())
    assert smtp_server.connections == 2
    assert smtp_server.messages == []


async def test_missing_credentials_are_not_the_recipients_fault(
    smtp_server: SmtpServer,
) -> None:
    """The server answers 530 to MAIL FROM: a configuration problem, so retry, never 5xx."""
    smtp_server.require_auth("mailer", "s3cret")
    async with transport(smtp_server.url()) as smtp:
        with pytest.raises(TemporaryFailure, match="530"):
            await smtp.send(mail())
    assert smtp_server.messages == []


async def test_starttls(smtp_server: SmtpServer) -> None:
    smtp_server.offer_starttls()
    smtp_server.require_auth("mailer", "s3cret")
    url = smtp_server.url(username="mailer", password="s3cret", starttls="true", verify="false")
    async with transport(url) as smtp:
        await smtp.send(mail(n=1))
        await smtp.send(mail(n=2))
    received = await smtp_server.wait_for(2)
    assert [m.message["Subject"] for m in received] == ["Notice 1", "Notice 2"]
    assert smtp_server.connections == 1


async def test_starttls_checks_the_certificate_by_default(smtp_server: SmtpServer) -> None:
    smtp_server.offer_starttls()
    async with transport(smtp_server.url(starttls="true")) as smtp:
        with pytest.raises(TemporaryFailure, match="CERTIFICATE_VERIFY_FAILED"):
            await smtp.send(mail())
    assert smtp_server.messages == []


async def test_implicit_tls(smtp_server: SmtpServer) -> None:
    smtp_server.speak_tls()
    assert smtp_server.url().startswith("smtps://")
    async with transport(smtp_server.url(verify="false")) as smtp:
        await smtp.send(mail())
    assert len(await smtp_server.wait_for(1)) == 1


@shapes
async def test_550_is_permanent_and_the_connection_survives(
    smtp_server: SmtpServer, shape: Shape
) -> None:
    smtp_server.refuse("gone@example.test", 550)
    async with transport(smtp_server.url(), connections=1) as smtp:
        await smtp.send(shape(n=1))
        with pytest.raises(PermanentFailure) as caught:
            await smtp.send(shape("gone@example.test", 2))
        assert caught.value.code == 550
        assert "No such user" in caught.value.smtp_message
        await smtp.send(shape(n=3))
    received = await smtp_server.wait_for(2)
    assert [m.message["Subject"] for m in received] == ["Notice 1", "Notice 3"]
    assert smtp_server.connections == 1


@shapes
async def test_451_is_temporary(smtp_server: SmtpServer, shape: Shape) -> None:
    smtp_server.refuse("busy@example.test", 451)
    async with transport(smtp_server.url(), connections=1) as smtp:
        with pytest.raises(TemporaryFailure, match=r"451 4\.3\.0 Mailbox busy"):
            await smtp.send(shape("busy@example.test"))
        smtp_server.accept("busy@example.test")
        await smtp.send(shape("busy@example.test"))
    assert len(await smtp_server.wait_for(1)) == 1
    assert smtp_server.connections == 1


@shapes
async def test_an_address_needing_smtputf8_is_permanent(
    smtp_server: SmtpServer, shape: Shape
) -> None:
    """The server offers no SMTPUTF8: no retry will carry this local part."""
    async with transport(smtp_server.url(), connections=1) as smtp:
        with pytest.raises(PermanentFailure, match="not sent") as caught:
            await smtp.send(shape("jöhn@example.test"), envelope_from="bounces@tabellion.test")
        assert caught.value.code == 553
        await smtp.send(shape(n=2))
    assert len(await smtp_server.wait_for(1)) == 1
    assert smtp_server.connections == 1


@shapes
async def test_an_address_needing_smtputf8_goes_where_it_is_offered(
    smtp_server: SmtpServer, shape: Shape
) -> None:
    smtp_server.offer_smtputf8()
    async with transport(smtp_server.url()) as smtp:
        await smtp.send(shape("jöhn@example.test"), envelope_from="bounces@tabellion.test")
    [received] = await smtp_server.wait_for(1)
    assert received.rcpt_tos == ["jöhn@example.test"]


@shapes
async def test_a_bad_envelope_sender_is_not_the_recipients_fault(
    smtp_server: SmtpServer, shape: Shape
) -> None:
    async with transport(smtp_server.url(), connections=1) as smtp:
        with pytest.raises(TemporaryFailure, match="not permitted in an SMTP mailbox"):
            await smtp.send(shape(), envelope_from="no reply@tabellion.test")
        with pytest.raises(TemporaryFailure, match="SMTPUTF8"):
            await smtp.send(shape(), envelope_from="bounces@tabellïon.test")
        await smtp.send(shape(n=2))
    assert len(await smtp_server.wait_for(1)) == 1


async def test_server_down_is_temporary() -> None:
    async with transport(f"smtp://127.0.0.1:{free_port()}?timeout=2") as smtp:
        with pytest.raises(TemporaryFailure, match="cannot reach the SMTP server"):
            await smtp.send(mail())


async def test_a_dropped_idle_connection_is_replaced(smtp_server: SmtpServer) -> None:
    """The server restarts between two sends: the pooled connection is dead, the send works."""
    async with transport(smtp_server.url(), connections=1) as smtp:
        await smtp.send(mail(n=1))
        smtp_server.restart()  # same port; the idle connection is cut
        await smtp.send(mail(n=2))
    received = await smtp_server.wait_for(2)
    assert [m.message["Subject"] for m in received] == ["Notice 1", "Notice 2"]
    assert smtp_server.connections == 1  # counted since the restart


async def test_a_built_message_goes_byte_for_byte_with_its_size(smtp_server: SmtpServer) -> None:
    """``send_raw``: lines starting with dots come back as written (dot-stuffed on the wire),
    and MAIL FROM declares the message's length, the server offering SIZE."""
    built = raw_mail(n=7)
    async with transport(smtp_server.url()) as smtp:
        await smtp.send(built, envelope_from="bounces+dlv_x@tabellion.test")
    [received] = await smtp_server.wait_for(1)
    assert received.raw.replace(b"\r\n", b"\n") == built.data.replace(b"\r\n", b"\n")
    assert received.text.splitlines() == ["Hello number 7", ".", "..a line starting with dots"]
    assert received.mail_options == [f"SIZE={len(built.data)}"]
    assert received.envelope_from == "bounces+dlv_x@tabellion.test"


async def test_a_built_message_to_two_goes_to_the_one_not_refused(smtp_server: SmtpServer) -> None:
    smtp_server.refuse("gone@example.test", 550)
    two = raw_mail()._replace(recipients=("gone@example.test", "jane@example.test"))
    async with transport(smtp_server.url(), connections=1) as smtp:
        assert (await smtp.send(two)).startswith("2.0.0 Queued")
        both_gone = two._replace(recipients=("gone@example.test", "gone@example.test"))
        with pytest.raises(PermanentFailure) as caught:
            await smtp.send(both_gone)
        assert caught.value.code == 550
        await smtp.send(raw_mail(n=3))  # the refusal was reset: the connection goes on
    received = await smtp_server.wait_for(2)
    assert [m.rcpt_tos for m in received] == [["jane@example.test"], ["jane@example.test"]]
    assert smtp_server.connections == 1


@pytest.mark.parametrize(
    "address",
    ["jane doe@example.test", "jane@example.test>\r\nRCPT TO:<x@evil.test", '"j"@x.test', ""],
)
async def test_a_recipient_that_would_break_the_command_line_is_not_sent(
    smtp_server: SmtpServer, address: str
) -> None:
    odd = raw_mail()._replace(recipients=(address,))
    async with transport(smtp_server.url(), connections=1) as smtp:
        with pytest.raises(
            TemporaryFailure, match=r"not (permitted in an|a permitted) SMTP mailbox"
        ):
            await smtp.send(odd)
        await smtp.send(raw_mail(n=2))
    [received] = await smtp_server.wait_for(1)
    assert received.rcpt_tos == ["jane@example.test"]


@asynccontextmanager
async def helo_relay(
    *,
    helo: bytes = b"250 old.relay.test",
    data: bytes = b"354 Go on",
    queued: bytes | None = b"250 2.0.0 Queued by the old relay",
    silent_at: bytes | None = None,
) -> AsyncIterator[tuple[int, list[bytes]]]:
    """An old relay: EHLO unknown (502), HELO answered with ``helo``, then plain SMTP, DATA
    answered with ``data`` and the message with ``queued`` (None: it hangs up instead).
    From the command ``silent_at`` on (``b"."``: the message's end) it answers nothing and
    waits for the client to close. Yields its port and the command lines it received."""
    heard: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 old.relay.test\r\n")
        replies = {b"EHLO": b"502 5.5.1 Unknown command", b"HELO": helo, b"MAIL": b"250 OK"}
        replies |= {b"RCPT": b"250 OK", b"DATA": data, b"RSET": b"250 OK"}
        try:
            while line := await reader.readline():
                heard.append(line.rstrip())
                verb = line[:4].upper()
                if verb == b"QUIT":
                    writer.write(b"221 Bye\r\n")
                    break
                if verb == silent_at:
                    await reader.read()  # until the client closes
                    heard.append(b"<closed by the client>")
                    break
                writer.write(replies.get(verb, b"500 What?") + b"\r\n")
                if verb == b"DATA" and data.startswith(b"354"):
                    await reader.readuntil(b"\r\n.\r\n")
                    if silent_at == b".":
                        await reader.read()
                        heard.append(b"<closed by the client>")
                        break
                    if queued is None:
                        heard.append(b"<hung up after the message>")
                        break
                    writer.write(queued + b"\r\n")
                await writer.drain()
            else:
                heard.append(b"<closed by the client>")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], heard
    finally:
        server.close()


async def test_a_relay_without_ehlo_is_greeted_with_helo() -> None:
    async with helo_relay() as (port, heard), transport(f"smtp://127.0.0.1:{port}") as smtp:
        answer = await smtp.send(raw_mail(), envelope_from="bounces@tabellion.test")
    assert answer == "2.0.0 Queued by the old relay"
    assert [line.split(b" ")[0] for line in heard[:5]] == [
        b"EHLO",
        b"HELO",
        b"MAIL",
        b"RCPT",
        b"DATA",
    ]
    assert heard[2] == b"MAIL FROM:<bounces@tabellion.test>"  # no SIZE: nothing was offered


async def test_a_relay_refusing_any_greeting_is_temporary_and_let_go() -> None:
    async with (
        helo_relay(helo=b"554 5.7.1 Not you") as (port, heard),
        transport(f"smtp://127.0.0.1:{port}?timeout=5", connections=1) as smtp,
    ):
        with pytest.raises(TemporaryFailure, match="cannot reach the SMTP server"):
            await smtp.send(raw_mail())
        for _ in range(100):  # the refused connection is closed at once, not kept open
            if len(heard) == 3:
                break
            await asyncio.sleep(0.02)
    assert [line.split(b" ")[0] for line in heard] == [b"EHLO", b"HELO", b"<closed"]


async def test_a_built_message_may_go_with_the_null_sender(smtp_server: SmtpServer) -> None:
    """MAIL FROM:<>, as a report about a message is sent (RFC 5321, 4.5.5)."""
    async with transport(smtp_server.url()) as smtp:
        await smtp.send(raw_mail()._replace(sender=""))
    [received] = await smtp_server.wait_for(1)
    assert received.envelope_from == "<>"  # how aiosmtpd records the null reverse-path
    assert received.rcpt_tos == ["jane@example.test"]


async def test_a_built_message_starting_with_a_dot_keeps_it(smtp_server: SmtpServer) -> None:
    """The first line's leading dot is doubled on the wire too (the others follow an LF)."""
    data = b".first\r\nSubject: dots\r\n\r\n.\r\n..two\r\n.three\r\nend\r\n"
    odd = RawMail(data, "no-reply@tabellion.test", ("jane@example.test",))
    async with transport(smtp_server.url()) as smtp:
        await smtp.send(odd)
    [received] = await smtp_server.wait_for(1)
    assert received.raw == data


@pytest.mark.parametrize(
    "data",
    [
        b"Subject: bare\n\nline\n.dot\n",
        b"Subject: mixed\r\n\r\nline\rnext\r\n",
        b"Subject: x\r\n\r\nno end",
    ],
    ids=["LF", "CR", "unterminated"],
)
async def test_a_raw_message_with_other_line_ends_goes_mended(
    smtp_server: SmtpServer, data: bytes
) -> None:
    """Anything but CRLF line ends goes through aiosmtplib's own DATA, which mends them."""
    odd = RawMail(data, "no-reply@tabellion.test", ("jane@example.test",))
    async with transport(smtp_server.url()) as smtp:
        await smtp.send(odd)
    [received] = await smtp_server.wait_for(1)
    mended = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    assert received.raw == (mended if mended.endswith(b"\r\n") else mended + b"\r\n")


@pytest.mark.parametrize(
    ("data", "queued", "failure"),
    [
        (b"554 5.3.4 No data for you", b"250 OK", PermanentFailure),
        (b"451 4.3.0 Try later", b"250 OK", TemporaryFailure),
        (b"354 Go on", b"552 5.3.4 Message too big", PermanentFailure),
        (b"354 Go on", b"452 4.3.1 Out of room", TemporaryFailure),
        (b"354 Go on", None, TemporaryFailure),
    ],
    ids=["DATA-5xx", "DATA-4xx", "message-5xx", "message-4xx", "hung-up"],
)
async def test_a_built_message_refused_at_data(
    data: bytes, queued: bytes | None, failure: type[Exception]
) -> None:
    """A refusal of DATA or of the message is the recipient's (5xx) or a retry (4xx, the
    relay gone); a connection the relay hung up on is not used again."""
    async with (
        helo_relay(data=data, queued=queued) as (port, heard),
        transport(f"smtp://127.0.0.1:{port}?timeout=5", connections=1) as smtp,
    ):
        with pytest.raises(failure):
            await smtp.send(raw_mail())
        if queued is not None:  # the refusal was reset: the same connection goes on
            assert heard[-1] == b"RSET"
        else:
            assert heard[-1] == b"<hung up after the message>"


@pytest.mark.parametrize("silent_at", [b"MAIL", b"RCPT", b"DATA", b"."])
async def test_a_relay_that_stops_answering_times_out_and_is_let_go(silent_at: bytes) -> None:
    """No answer within the URL's ``timeout`` to a command or to the message: a retry
    (temporary), and the connection is closed (a late answer would be read as the next's)."""
    async with (
        helo_relay(silent_at=silent_at) as (port, heard),
        transport(f"smtp://127.0.0.1:{port}?timeout=0.3", connections=1) as smtp,
    ):
        started = time.monotonic()
        # Bounded here too: a send that never timed out would fail the test, not hang it.
        with pytest.raises(TemporaryFailure, match="Timed out waiting for server response"):
            async with asyncio.timeout(5):
                await smtp.send(raw_mail())
        assert time.monotonic() - started >= 0.25
        for _ in range(100):
            if heard[-1] == b"<closed by the client>":
                break
            await asyncio.sleep(0.02)
    assert heard[-1] == b"<closed by the client>"
    # What the relay heard after the greetings: up to the command left unanswered.
    sent = {b"MAIL": 1, b"RCPT": 2, b"DATA": 3, b".": 3}[silent_at]
    assert [line[:4] for line in heard[2:-1]] == [b"MAIL", b"RCPT", b"DATA"][:sent]
