"""The mail transport used when no SMTP server is configured: one ``.eml`` file per message.

Files are written atomically (temporary name, then rename) so a reader never sees half a
message, and are named after the Message-ID, so a retried send replaces rather than doubles.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from email.message import EmailMessage
from pathlib import Path

from tabellion.kit.time import utcnow

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class OutboxTransport:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _name(self, message: EmailMessage) -> str:
        message_id = str(message.get("Message-ID", "")).strip("<> ")
        if not message_id:
            message_id = hashlib.sha256(message.as_bytes()).hexdigest()[:32]
        stamp = utcnow().strftime("%Y%m%dT%H%M%S")
        return f"{stamp}-{_UNSAFE.sub('_', message_id)[:150]}.eml"

    async def send(self, message: EmailMessage, *, envelope_from: str | None = None) -> str:
        if envelope_from and "Return-Path" not in message:
            message["Return-Path"] = f"<{envelope_from}>"
        data = message.as_bytes()
        name = self._name(message)
        await asyncio.to_thread(self._write, name, data)
        return f"written to outbox as {name}"

    def _write(self, name: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        message_id = name.split("-", 1)[1]
        for existing in self.directory.glob(f"*-{message_id}"):
            existing.unlink(missing_ok=True)  # a retry of the same message replaces it
        temp = self.directory / f".{name}.tmp"
        with temp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, self.directory / name)

    async def close(self) -> None:
        return None
