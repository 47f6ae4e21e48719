"""The upload benchmark's baseline: a minimal ASGI app that hashes the request body and writes
it to a file (temp file, fsync, rename), with nothing else: no framework, database or auth.

The fastest plain means: the body is hashed as it arrives and written in 1 MiB blocks by a
thread, so the event loop keeps reading the socket while the disk writes (a write of each
64 KiB chunk on the event loop stalls the reading, and was slower than our own path)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import tempfile
from typing import Any

DIRECTORY = os.environ.get("BASELINE_DIR", tempfile.gettempdir())
BLOCK = 1 << 20


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    digest = hashlib.sha256()
    size = 0
    fd, path = tempfile.mkstemp(dir=DIRECTORY)
    with os.fdopen(fd, "wb") as fh:
        pending: list[bytes] = []
        pending_size = 0
        more = True
        while more:
            message = await receive()
            chunk = message.get("body", b"")
            digest.update(chunk)
            pending.append(chunk)
            pending_size += len(chunk)
            size += len(chunk)
            more = message.get("more_body", False)
            if pending_size >= BLOCK or not more:
                await asyncio.to_thread(fh.writelines, pending)
                pending, pending_size = [], 0
        fh.flush()
        await asyncio.to_thread(os.fsync, fh.fileno())
    os.replace(path, os.path.join(DIRECTORY, digest.hexdigest()))
    body = json.dumps({"sha256": digest.hexdigest(), "size": size}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
