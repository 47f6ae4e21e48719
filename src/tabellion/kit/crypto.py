"""Encryption at rest for secrets we must be able to read back (webhook signing secrets,
authenticator secrets).

The key is derived from the service's secret key, so a database dump alone does not reveal
them. Fernet: AES-128-CBC with HMAC-SHA256, authenticated. After the secret key changes, values
encrypted with an earlier one (TABELLION_SECRET_KEY_PREVIOUS) are still read, and
``tabellion keys reencrypt-secrets`` writes them again with the new one.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, MultiFernet


def _fernet(signing_key: bytes) -> Fernet:
    derived = hashlib.sha256(b"tabellion:at-rest:v1:" + signing_key).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(signing_key: bytes, value: str) -> str:
    return _fernet(signing_key).encrypt(value.encode()).decode()


def decrypt(keys: Sequence[bytes], token: str) -> str:
    """``token`` decrypted with whichever of ``keys`` encrypted it (InvalidToken if none)."""
    return MultiFernet([_fernet(k) for k in keys]).decrypt(token.encode()).decode()


def reencrypt(keys: Sequence[bytes], token: str) -> str:
    """``token`` encrypted again with the first of ``keys`` (read with any of them)."""
    return MultiFernet([_fernet(k) for k in keys]).rotate(token.encode()).decode()
