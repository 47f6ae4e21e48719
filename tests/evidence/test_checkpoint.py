"""Tree heads as C2SP signed-note checkpoints, read the way transparency tooling reads them."""

from __future__ import annotations

import base64
import hashlib

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tabellion.runtime import Runtime
from tests.evidence.helpers import received_delivery, run_jobs


async def test_the_latest_tree_head_is_a_signed_note_checkpoint(
    client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    missing = await client.get("/v1/transparency/checkpoint")
    assert missing.status_code == 404 and missing.json()["code"] == "tree-head-not-found"
    await received_delivery(client, auth, runtime)
    await run_jobs(runtime)
    head = (await client.get("/v1/transparency/tree-head")).json()
    response = await client.get("/v1/transparency/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    note = response.text
    vkey = (await client.get("/v1/transparency/checkpoint/key")).text.strip()

    # The verifier key: <name>+<hex key hash>+<base64(0x01 || Ed25519 public key)>.
    name, hash_hex, encoded = vkey.split("+", 2)  # base64 may hold "+" too
    typed = base64.b64decode(encoded)
    assert typed[0] == 1 and len(typed) == 33
    assert hashlib.sha256(name.encode() + b"\n" + typed).digest()[:4].hex() == hash_hex
    assert name == "tabellion.test/v1/transparency"

    # The note: a body, a blank line, signature lines "— <name> <base64(hash || sig)>".
    body, signatures = note.split("\n\n", 1)
    body += "\n"
    origin, size, root = body.splitlines()
    assert origin == name
    assert int(size) == head["tree_size"]
    assert base64.b64decode(root).hex() == head["root_hash"]
    [line] = signatures.splitlines()
    dash, signer, stamp = line.split(" ")
    assert dash == "\u2014" and signer == name
    raw = base64.b64decode(stamp)
    assert raw[:4].hex() == hash_hex
    Ed25519PublicKey.from_public_bytes(typed[1:]).verify(raw[4:], body.encode())  # raises if not
    # Stable: the same head gives the same checkpoint.
    assert (await client.get("/v1/transparency/checkpoint")).text == note
