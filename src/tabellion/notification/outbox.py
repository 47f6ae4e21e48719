"""The mail transport used when no SMTP server is configured: one ``.eml`` file per message.

Files are written atomically (temporary name, then rename) so a reader never sees half a
message, and are named after the Message-ID, so a retried send replaces rather than doubles.
They hold recipients' personal links, so only the service's user may read them (mode 0600).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
from email.message import EmailMessage
from pathlib import Path

from tabellion.kit.time import utcnow
from tabellion.notification.mime import RawMail

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class OutboxTransport:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _key(self, message: EmailMessage | RawMail, data: bytes) -> str:
        """The file name's stable part: the Message-ID, made safe for a file system."""
        if isinstance(message, RawMail):
            message_id = str(message.parsed().get("Message-ID", "")).strip("<> ")
        else:
            message_id = str(message.get("Message-ID", "")).strip("<> ")
        if not message_id:
            message_id = hashlib.sha256(data).hexdigest()[:32]
        return _UNSAFE.sub("_", message_id)[:150]

    async def send(
        self, message: EmailMessage | RawMail, *, envelope_from: str | None = None
    ) -> str:
        data = message.data if isinstance(message, RawMail) else message.as_bytes()
        has_return_path = (
            data.lower().startswith(b"return-path:")
            if isinstance(message, RawMail)
            else "Return-Path" in message
        )
        if envelope_from and not has_return_path:
            # Added on top, as the receiving server would; the caller's message is left alone.
            path = envelope_from.replace("\r", "").replace("\n", "")
            data = f"Return-Path: <{path}>\n".encode() + data
        key = self._key(message, data)
        # The time stamp first, so a directory listing reads in sending order.
        name = f"{utcnow().strftime('%Y%m%dT%H%M%S')}-{key}.eml"
        await asyncio.to_thread(self._write, key, name, data)
        return f"written to outbox as {name}"

    def _write(self, key: str, name: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temp, self.directory / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        for existing in self.directory.glob("*.eml"):
            # A retry of the same message replaces earlier copies (never a later one written
            # meanwhile). The stamp holds no "-": what follows the first is the Message-ID.
            if existing.name < name and existing.name.split("-", 1)[-1] == f"{key}.eml":
                existing.unlink(missing_ok=True)

    async def close(self) -> None:
        return None
