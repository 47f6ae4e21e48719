"""DKIM signatures on every e-mail that leaves (RFC 6376), when a key is configured.

Signing happens in one place, a transport that wraps the real one (SMTP or outbox), so no
kind of e-mail can be forgotten. The key is an RSA private key in PEM
(``TABELLION_DKIM_KEY_FILE``, made by ``tabellion dkim keygen``); the signing domain
(``TABELLION_DKIM_DOMAIN``) defaults to the domain of ``TABELLION_MAIL_FROM``, which is what
DMARC alignment asks for, and the selector (``TABELLION_DKIM_SELECTOR``) names the DNS record
``<selector>._domainkey.<domain>`` that publishes the public key.
"""

from __future__ import annotations

import base64
import email.policy
from dataclasses import dataclass
from email.utils import getaddresses, parseaddr
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tabellion.config import ConfigError, Settings
from tabellion.notification.mime import RawMail
from tabellion.notification.transport import Mail, MailTransport

# Signed headers: those a reader sees and DMARC relies on. A name the message lacks is signed
# as absent, so adding it on the way breaks the signature; From is signed twice so a second
# From does too (RFC 6376 §5.4.2 and §8.15, "over-signing").
SIGNED_HEADERS = (
    b"from",
    b"from",
    b"to",
    b"cc",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)
MIN_KEY_BITS = 1024


@dataclass(frozen=True)
class DkimKey:
    selector: str
    domain: str
    private_pem: bytes

    @classmethod
    def load(cls, path: Path, *, selector: str, domain: str) -> DkimKey:
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"TABELLION_DKIM_KEY_FILE: cannot read {path}: {exc}") from exc
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"TABELLION_DKIM_KEY_FILE: {path} is not an unencrypted PEM private key"
            ) from exc
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_KEY_BITS:
            raise ConfigError(
                f"TABELLION_DKIM_KEY_FILE: {path} must hold an RSA key of at least "
                f"{MIN_KEY_BITS} bits"
            )
        # dkimpy reads PKCS#1 ("BEGIN RSA PRIVATE KEY") and PKCS#8 alike; keep the bytes.
        return cls(selector=selector, domain=domain, private_pem=pem)

    def sign(self, data: bytes) -> bytes:
        """``data`` (a whole message, CRLF line ends) with its DKIM-Signature on top."""
        header = dkim.sign(
            data,
            self.selector.encode(),
            self.domain.encode(),
            self.private_pem,
            include_headers=list(SIGNED_HEADERS),
            canonicalize=(b"relaxed", b"relaxed"),
        )
        return bytes(header) + data


def signing_domain(settings: Settings) -> str:
    if settings.dkim_domain:
        return settings.dkim_domain
    address = parseaddr(settings.mail_from)[1]
    return address.rpartition("@")[2] or "localhost"


def load_key(settings: Settings) -> DkimKey | None:
    if settings.dkim_key_file is None:
        return None
    return DkimKey.load(
        settings.dkim_key_file, selector=settings.dkim_selector, domain=signing_domain(settings)
    )


def new_private_key(bits: int = 2048) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def dns_value(private_pem: bytes) -> str:
    """The TXT record's value that publishes the public half of ``private_pem``."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"


def dns_record(key: DkimKey) -> str:
    """A zone-file line: long values are split into 255-character strings, as DNS needs."""
    value = dns_value(key.private_pem)
    chunks = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
    return f"{key.selector}._domainkey.{key.domain}. IN TXT ( {chunks} )"


def to_raw(message: Mail) -> RawMail:
    """A composed message as the bytes that go on the wire (Bcc removed, CRLF line ends)."""
    if isinstance(message, RawMail):
        return message
    recipients = tuple(
        address
        for _, address in getaddresses(
            [str(v) for name in ("To", "Cc", "Bcc") for v in message.get_all(name, [])]
        )
        if address
    )
    sender = parseaddr(str(message.get("From", "")))[1]
    smtputf8 = not all(a.isascii() for a in (sender, *recipients))
    del message["Bcc"]
    policy = email.policy.SMTPUTF8 if smtputf8 else email.policy.SMTP
    return RawMail(
        data=message.as_bytes(policy=policy),
        sender=sender,
        recipients=recipients,
        smtputf8=smtputf8,
    )


class DkimTransport:
    """Signs each message, then hands it to the transport it wraps."""

    def __init__(self, inner: MailTransport, key: DkimKey) -> None:
        self.inner = inner
        self.key = key

    async def send(self, message: Mail, *, envelope_from: str | None = None) -> str:
        raw = to_raw(message)
        signed = RawMail(
            data=self.key.sign(raw.data),
            sender=raw.sender,
            recipients=raw.recipients,
            smtputf8=raw.smtputf8,
        )
        return await self.inner.send(signed, envelope_from=envelope_from)

    async def close(self) -> None:
        await self.inner.close()
