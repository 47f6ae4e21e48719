"""The outbox transport: one ``.eml`` per message, written atomically, named by Message-ID."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import stat
import threading
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from tabellion.config import Settings
from tabellion.kit.time import utcnow
from tabellion.notification.outbox import OutboxTransport
from tabellion.notification.smtp import SmtpTransport
from tabellion.notification.transport import open_transport
from tests.conftest import make_settings


def mail(
    message_id: str | None = "<dlv_01abc.notice@tabellion.test>", body: str = "Hi"
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Tabellion <no-reply@tabellion.test>"
    message["To"] = "jane@example.test"
    message["Subject"] = "A registered electronic letter awaits you"
    if message_id:
        message["Message-ID"] = message_id
    message.set_content(body)
    return message


def emls(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.eml"))


async def test_writes_one_file_named_after_the_message_id(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path / "outbox")
    message = mail()
    answer = await outbox.send(message, envelope_from="bounces+dlv_01abc@tabellion.test")

    [path] = emls(tmp_path / "outbox")
    stamp, _, rest = path.name.partition("-")
    assert len(stamp) == len("20261122T093000") and stamp[8] == "T"
    assert rest == "dlv_01abc.notice_tabellion.test.eml"
    assert answer == f"written to outbox as {path.name}"
    # Nothing half-written left beside it, and only the service's user may read the links.
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == [path.name]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    raw = path.read_bytes()
    assert raw.startswith(b"Return-Path: <bounces+dlv_01abc@tabellion.test>\n")
    assert raw.endswith(message.as_bytes())
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Return-Path"] == "<bounces+dlv_01abc@tabellion.test>"
    assert parsed["Message-ID"] == "<dlv_01abc.notice@tabellion.test>"
    # The caller's message is not changed.
    assert "Return-Path" not in message


async def test_without_envelope_sender_there_is_no_return_path(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path)
    await outbox.send(mail())
    [path] = emls(tmp_path)
    assert b"Return-Path" not in path.read_bytes()


async def test_a_resend_replaces_the_earlier_copy(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path)
    key = "dlv_01abc.notice_tabellion.test.eml"
    # A copy written by an earlier attempt, and other messages that must stay.
    (tmp_path / f"20200101T000000-{key}").write_bytes(b"old attempt")
    (tmp_path / f"20200101T000000-x-{key}").write_bytes(b"another message")
    (tmp_path / "20200101T000000-dlv_other.notice_tabellion.test.eml").write_bytes(b"other")

    await outbox.send(mail(body="first"))
    await outbox.send(mail(body="second"))  # the same second or a later one: one copy

    names = [p.name for p in emls(tmp_path)]
    mine = [n for n in names if n.split("-", 1)[1] == key]
    assert len(mine) == 1 and not mine[0].startswith("2020")
    assert b"second" in (tmp_path / mine[0]).read_bytes()
    assert f"20200101T000000-x-{key}" in names
    assert "20200101T000000-dlv_other.notice_tabellion.test.eml" in names


async def test_a_later_copy_written_meanwhile_is_kept(tmp_path: Path) -> None:
    """Two runs of one job racing: the newest copy wins, whichever finishes last."""
    outbox = OutboxTransport(tmp_path)
    later = tmp_path / "29991231T235959-dlv_01abc.notice_tabellion.test.eml"
    later.write_bytes(b"written by the other run")
    await outbox.send(mail())
    assert later.exists()
    assert len(emls(tmp_path)) == 2


async def test_message_without_id_is_named_by_its_content(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path)
    await outbox.send(mail(message_id=None))
    await outbox.send(mail(message_id=None))
    await outbox.send(mail(message_id=None, body="different"))
    names = [p.name.split("-", 1)[1] for p in emls(tmp_path)]
    assert len(names) == 2
    assert all(len(n) == len("0" * 32 + ".eml") for n in names)


async def test_unsafe_message_ids_cannot_escape_the_directory(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path / "outbox")
    await outbox.send(mail(message_id="<../../etc/passwd@x>"))
    [path] = emls(tmp_path / "outbox")
    assert path.parent == tmp_path / "outbox"
    assert path.name.endswith("-.._.._etc_passwd_x.eml")


async def test_readers_never_see_half_a_message(tmp_path: Path) -> None:
    """A reader polling the directory while large messages are rewritten sees whole files."""
    outbox = OutboxTransport(tmp_path)
    message = mail(body="x" * 2_000_000)
    expected = len(message.as_bytes())
    stop = threading.Event()
    seen: list[int] = []

    def read() -> None:
        while not stop.is_set():
            for path in tmp_path.glob("*.eml"):
                # A file may be replaced between listing and reading.
                with contextlib.suppress(FileNotFoundError):
                    seen.append(len(path.read_bytes()))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(5):
            await outbox.send(message)
            await asyncio.sleep(0)
    finally:
        stop.set()
        reader.join()
    assert seen, "the reader saw no file"
    assert set(seen) == {expected}


async def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path)
    # The final name is taken by a directory (for this second and the next): the rename fails.
    now = utcnow()
    blockers = []
    for seconds in range(3):
        stamp = (now + timedelta(seconds=seconds)).strftime("%Y%m%dT%H%M%S")
        blocker = tmp_path / f"{stamp}-dlv_01abc.notice_tabellion.test.eml"
        blocker.mkdir()
        (blocker / "keep").touch()
        blockers.append(blocker.name)
    with pytest.raises(OSError):
        await outbox.send(mail())
    assert sorted(p.name for p in tmp_path.iterdir()) == blockers  # noqa: ASYNC240


def test_without_smtp_url_mail_goes_to_the_outbox(settings: Settings, tmp_path: Path) -> None:
    transport = open_transport(settings)
    assert isinstance(transport, OutboxTransport)
    assert transport.directory == settings.data_dir / "outbox"
    with_smtp = make_settings(
        tmp_path, "sqlite+aiosqlite://", smtp_url="smtp://u:p@mail.test:2525?starttls=true"
    )
    smtp = open_transport(with_smtp)
    assert isinstance(smtp, SmtpTransport)
    assert (smtp.config.host, smtp.config.port, smtp.config.starttls) == ("mail.test", 2525, True)
    assert smtp.size == with_smtp.smtp_connections
