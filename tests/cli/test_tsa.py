"""``tabellion tsa serve``: a real process answering RFC 3161 requests over HTTP."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from tabellion.evidence.timestamping.rfc3161 import (
    REPLY_MEDIA_TYPE,
    TimestampInvalid,
    read_token,
    token_from_reply,
)
from tabellion.evidence.timestamping.stamps import request_token
from tabellion.evidence.timestamping.tsa_server import CERT_FILE, KEY_FILE, ROOT_FILE
from tabellion.evidence.verification.certpath import validate_authority
from tests.fixtures.server import free_port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    port, folder = free_port(), tmp_path / "tsa"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABELLION_")}
    env["TABELLION_DATA_DIR"] = str(tmp_path / "data")
    command = ["tsa", "serve", "--port", str(port), "--dir", str(folder), "--name", "Closed TSA"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tabellion", *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(200):
            assert proc.poll() is None, proc.communicate()[0]
            try:
                httpx.get(url)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url, folder, proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def test_tsa_serve_stamps_with_its_own_documented_root(
    served: tuple[str, Path, subprocess.Popen[str]],
) -> None:
    url, folder, proc = served
    digest = hashlib.sha256(b"a proof").digest()
    before = datetime.now(UTC) - timedelta(seconds=2)
    async with httpx.AsyncClient() as client:
        token = read_token(await request_token(client, url, digest))
        garbage = await client.post(
            url, content=b"not a request", headers={"Content-Type": "application/timestamp-query"}
        )
    assert (
        token.imprint == digest
        and token.authority == "CN=Closed TSA,O=Tabellion TSA (not qualified)"
    )
    assert before <= token.gen_time <= datetime.now(UTC) + timedelta(seconds=2)
    assert token.policy == "2.5.29.32.0"
    root = x509.load_pem_x509_certificate((folder / ROOT_FILE).read_bytes())
    path = validate_authority(token.certificate, token.certificates, [root], token.gen_time)
    assert path[-1] == root
    # A request it cannot read: an RFC 3161 rejection, not an HTTP error.
    assert garbage.status_code == 200 and garbage.headers["content-type"] == REPLY_MEDIA_TYPE
    with pytest.raises(TimestampInvalid, match="rejection"):
        token_from_reply(garbage.content, digest=digest, nonce=1)
    # Its key is private; its root's key was never written down.
    assert sorted(p.name for p in folder.iterdir()) == sorted([CERT_FILE, KEY_FILE, ROOT_FILE])
    assert stat.S_IMODE((folder / KEY_FILE).stat().st_mode) == 0o600
    proc.terminate()
    output = proc.communicate(timeout=20)[0]
    assert "Not a qualified time-stamping service" in " ".join(output.split())
