"""Tree heads as C2SP checkpoints (``tlog-checkpoint``) in signed-note form (``signed-note``).

Standard transparency tooling (witnesses, monitors, ``golang.org/x/mod/sumdb/note``) reads
these; the JWS tree heads stay the ones proofs carry. A checkpoint is::

    <origin>\\n<tree size>\\n<base64 root hash>\\n\\n— <origin> <base64(key hash ‖ signature)>\\n

signed with an Ed25519 key of its own (signed-note type 0x01: the seal key may be ECDSA or RSA,
which the note format does not carry), generated once beside the seal
(``<data dir>/seal/checkpoint.key``). The verifier key, ``<origin>+<key hash>+<base64(0x01 ‖
public key)>``, is published at ``/v1/transparency/checkpoint/key``.

The tree is the RFC 6962 / 9162 one: leaf *i* is the 32-byte hash of proof *i* (SHA-256 of its
canonical content, the JWS payload), hashed as SHA-256(0x00 ‖ leaf).
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tabellion.config import Settings
from tabellion.evidence.sealing.keys import exclusive, write_private

KEY_FILE = "checkpoint.key"
ED25519 = b"\x01"
MEDIA_TYPE = "text/plain; charset=utf-8"


def origin(settings: Settings) -> str:
    """The log's name: its schema-less URL, as tlog-checkpoint recommends."""
    parts = urlsplit(settings.base_url)
    return f"{parts.netloc}{parts.path.rstrip('/')}/v1/transparency"


@cache
def _key(directory: Path) -> Ed25519PrivateKey:
    path = directory / KEY_FILE
    with exclusive(directory):
        if not path.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            write_private(path, pem)
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def _public(settings: Settings) -> bytes:
    return (
        _key(settings.seal_dir)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def key_hash(name: str, public: bytes) -> bytes:
    """signed-note: the first 4 bytes of SHA-256(name ‖ 0x0A ‖ type ‖ public key)."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public).digest()[:4]


def verifier_key(settings: Settings) -> str:
    name, public = origin(settings), _public(settings)
    return f"{name}+{key_hash(name, public).hex()}+{base64.b64encode(ED25519 + public).decode()}"


def checkpoint(settings: Settings, tree_size: int, root_hash: bytes) -> str:
    """The signed checkpoint of a tree of ``tree_size`` leaves with ``root_hash``."""
    name = origin(settings)
    body = f"{name}\n{tree_size}\n{base64.b64encode(root_hash).decode()}\n"
    signature = _key(settings.seal_dir).sign(body.encode())
    stamp = base64.b64encode(key_hash(name, _public(settings)) + signature).decode()
    return f"{body}\n\u2014 {name} {stamp}\n"
