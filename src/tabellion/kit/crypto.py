"""Encryption at rest for secrets we must be able to read back (webhook signing secrets).

The key is derived from the service's secret key, so a database dump alone does not reveal
them. Fernet: AES-128-CBC with HMAC-SHA256, authenticated.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet


def _fernet(signing_key: bytes) -> Fernet:
    derived = hashlib.sha256(b"tabellion:at-rest:v1:" + signing_key).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(signing_key: bytes, value: str) -> str:
    return _fernet(signing_key).encrypt(value.encode()).decode()


def decrypt(signing_key: bytes, token: str) -> str:
    return _fernet(signing_key).decrypt(token.encode()).decode()
