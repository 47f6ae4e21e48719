"""Memory of a Registered E-mail send with a large base64 attachment: peak RSS vs size.

The API server runs as a uvicorn process on loopback; the client streams JSON bodies whose
attachment is 8, 32 and 100 MiB (base64: a third more on the wire). For each size it prints
the server's peak RSS growth during the request. Decoding as the body arrives keeps it flat
(target ≤ 32 MiB whatever the size); reading the body, the string and the bytes whole would
need about three times the attachment.

    .venv/bin/python bench/bench_regmail_base64.py [--mib 8 32 100]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench.common import (
    bench_settings,
    free_port,
    reset_peak_rss,
    rss_kib,
    start_process,
    wait_for_port,
)

SENDER = "bench.sender@example.test"
BLOCK = 48 * 1024  # bytes per base64 block: 64 KiB of text, no padding inside


def body(mib: int) -> tuple[int, Iterator[bytes]]:
    """The JSON body's length and its chunks, the attachment generated as it is sent."""
    head = (
        '{"message_body": "Bench", "sender_email": "' + SENDER + '", "subject": "Bench", '
        '"recipient_email": "r@example.test", "recipient_language": "nl", '
        '"attachments": [{"attachment_name": "big.bin", "attachment": "'
    ).encode()
    tail = b'"}]}'
    blocks = mib * 1024 * 1024 // BLOCK
    encoded = base64.b64encode(os.urandom(BLOCK))

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(blocks):
            yield encoded
        yield tail

    return len(head) + blocks * len(encoded) + len(tail), chunks()


async def activate_sender(data: Path) -> None:
    """The sender user, created through the dialect, activated as by its e-mail's link."""
    from sqlalchemy import select

    from tabellion.db import transaction
    from tabellion.models.user import User
    from tabellion.organization import accounts
    from tabellion.runtime import Runtime

    runtime = Runtime.build(bench_settings(data, secret_key=None, env="development"))
    try:
        async with transaction(runtime.sessions) as session:
            user = await session.scalar(select(User).where(User.email == SENDER))
            assert user is not None
            await accounts.activate(session, user, "bench password 0123456789")
    finally:
        await runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, nargs="+", default=[8, 32, 100])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        port = free_port()
        env = {
            "TABELLION_DATA_DIR": str(data),
            "TABELLION_LOG_LEVEL": "warning",
            "TABELLION_PUBLIC_URL": "http://bench.test",
        }
        api = start_process(
            ["-m", "tabellion.cli.main", "serve", "--port", str(port), "--no-worker"], env
        )
        rows = []
        try:
            wait_for_port(port)
            key = (data / "first-api-key.txt").read_text().strip()
            auth = {"Authorization": f"Bearer {key}"}
            base = f"http://127.0.0.1:{port}/compat/registered-email"
            with httpx.Client(base_url=base, headers=auth, timeout=600) as client:
                client.post("/api/user/", json={"email_address": SENDER}).raise_for_status()
                asyncio.run(activate_sender(data))
                for mib in args.mib:
                    length, chunks = body(mib)
                    before = rss_kib(api.pid)
                    exact = reset_peak_rss(api.pid)
                    started = time.perf_counter()
                    response = client.post(
                        "/webservice/mailsender/send",
                        content=chunks,
                        headers={"Content-Type": "application/json", "Content-Length": str(length)},
                    )
                    elapsed = time.perf_counter() - started
                    response.raise_for_status()
                    peak = rss_kib(api.pid, "VmHWM")
                    growth = (peak - before) / 1024 if exact else float("nan")
                    rows.append((mib, length / 1024 / 1024, growth, elapsed))
        finally:
            api.terminate()
            api.wait(timeout=10)
    print("Registered E-mail send, one base64 attachment:")
    print("  attachment   body on the wire   server peak RSS growth   time")
    for mib, wire, growth, elapsed in rows:
        verdict = "ok" if growth <= 32 else "ABOVE TARGET"
        print(
            f"  {mib:6d} MiB   {wire:10.1f} MiB   {growth:12.1f} MiB [{verdict}]   {elapsed:5.1f} s"
        )
    print("  target: growth ≤ 32 MiB whatever the size (flat); a whole-body read needs ~3×.")


if __name__ == "__main__":
    main()
