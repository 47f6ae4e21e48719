"""The compose form streams its attachments: a 64 MiB file goes into storage while Python's
allocations stay a small fraction of it (measured with tracemalloc around the request, the
test's client streaming the file from a generator too), and is stored whole (size, hash)."""

from __future__ import annotations

import hashlib
import io
import tracemalloc

import httpx

from tabellion.runtime import Runtime
from tests.dashboard.helpers import signed_in_user
from tests.dashboard.test_compose import NEW, draft_of
from tests.organization.test_activation_smtp import csrf_of

SIZE = 64 * 1024 * 1024
BOUND = 8 * 1024 * 1024  # the most Python may allocate at once while the file streams


class Zeros(io.RawIOBase):
    """A PDF header then zeros, ``size`` bytes in all, made as they are read."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.head = b"%PDF-1.4\n"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self.left)
        chunk = (self.head + bytes(count))[:count]
        self.head = self.head[len(chunk) :]
        buffer[:count] = chunk
        self.left -= count
        return count


def expected_sha256(size: int) -> str:
    digest = hashlib.sha256(b"%PDF-1.4\n")
    block = bytes(1 << 20)
    left = size - 9
    while left:
        digest.update(block[: min(left, len(block))])
        left -= min(left, len(block))
    return digest.hexdigest()


async def test_an_attachment_streams_into_storage(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    assert runtime.settings.max_attachment_bytes > SIZE
    await signed_in_user(client, auth, runtime, "sender")
    token = csrf_of((await client.get(NEW)).text)
    fields = {"csrf_token": token, "mode": "deliver", "subject": "Big", "recipients": "a@x.test"}
    tracemalloc.start()
    try:
        review = await client.post(
            NEW,
            data=fields,
            files=[("attachments", ("big.pdf", io.BufferedReader(Zeros(SIZE)), "application/pdf"))],
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert review.status_code == 201, review.text[-2000:]
    assert peak < BOUND, f"{peak} bytes allocated at the peak for a {SIZE}-byte file"
    api = (await client.get(f"/v1/messages/{draft_of(review)}", headers=auth)).json()
    [stored] = api["attachments"]
    assert stored["size"] == SIZE and stored["sha256"] == expected_sha256(SIZE)
