"""The seal: the private key and certificate chain that sign every proof.

Operators configure their own (``TABELLION_SEAL_KEY_FILE`` with a PEM key or a PKCS#12 file,
``TABELLION_SEAL_CERT_FILE`` with the PEM chain, leaf first, ``TABELLION_SEAL_PASSWORD``).
Without one, a local root CA and an ECDSA P-256 seal certificate are generated once into
``<data dir>/seal/`` (files mode 0600): proofs then verify against that root, which a relying
party must be given (``tabellion verify --trust``); the seal is "self-issued".
The key is loaded once per process.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from threading import Lock

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from tabellion.config import ConfigError, Settings
from tabellion.evidence.verification.certpath import DOCUMENT_SIGNING
from tabellion.kit.certs import key_usage

log = logging.getLogger(__name__)

SealPrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
ROOT_FILE = "root-ca.pem"
ROOT_KEY_FILE = "seal-root-ca.key.MOVE-OFFLINE"
SEAL_FILE = "seal.pem"
SEAL_KEY_FILE = "seal.key"
# The organisation name of the generated root and seal: how a verifier tells a self-issued seal.
SELF_ISSUED_ORGANIZATION = "Tabellion (self-issued)"
SELF_ISSUED_WARNING = (
    "SELF-ISSUED SEAL: no TABELLION_SEAL_KEY_FILE is configured, so proofs are sealed "
    "with a locally generated certificate that relying parties do not trust by default."
)


@dataclass(frozen=True)
class Seal:
    key: SealPrivateKey
    chain: tuple[x509.Certificate, ...]  # the seal certificate first, up to the root
    self_issued: bool

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def root(self) -> x509.Certificate:
        return self.chain[-1]

    @cached_property
    def x5c(self) -> list[str]:
        return [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
            for c in self.chain
        ]

    @cached_property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.certificate.public_bytes(serialization.Encoding.DER)).hexdigest()

    @property
    def algorithm(self) -> str:
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            return {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}[
                self.key.curve.name
            ]
        return "PS256"

    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)


_CACHE: dict[tuple[str, str, str], Seal] = {}
_LOCK = Lock()


def load_seal(settings: Settings) -> Seal:
    """The process's seal, loaded (or generated) on first use."""
    cache_key = (
        str(settings.seal_key_file or settings.seal_pkcs11_module),
        f"{settings.seal_cert_file}:{settings.seal_pkcs11_token}:{settings.seal_pkcs11_key}",
        str(settings.seal_dir),
    )
    with _LOCK:
        seal = _CACHE.get(cache_key)
        if seal is None:
            seal = _load(settings)
            _CACHE[cache_key] = seal
        return seal


def _load(settings: Settings) -> Seal:
    if settings.seal_pkcs11_module is not None:
        return _in_token(settings)
    if settings.seal_key_file is not None:
        return _configured(settings)
    if settings.env == "production":
        log.warning(SELF_ISSUED_WARNING)
    return _self_issued(settings.seal_dir)


def _configured(settings: Settings) -> Seal:
    assert settings.seal_key_file is not None
    password = (
        settings.seal_password.get_secret_value().encode() if settings.seal_password else None
    )
    chain_pem = settings.seal_cert_file.read_bytes() if settings.seal_cert_file else None
    return read_seal(settings.seal_key_file, password, chain_pem)


def _in_token(settings: Settings) -> Seal:
    """The seal key in a PKCS#11 token, its chain from TABELLION_SEAL_CERT_FILE."""
    from tabellion.evidence.sealing.pkcs11 import Pkcs11EcKey, Pkcs11Error

    missing = [
        name
        for name, value in (
            ("TABELLION_SEAL_PKCS11_TOKEN", settings.seal_pkcs11_token),
            ("TABELLION_SEAL_PKCS11_KEY", settings.seal_pkcs11_key),
            ("TABELLION_SEAL_PKCS11_PIN", settings.seal_pkcs11_pin),
            ("TABELLION_SEAL_CERT_FILE", settings.seal_cert_file),
        )
        if not value
    ]
    if missing:
        raise ConfigError(f"a PKCS#11 seal also needs {', '.join(missing)}")
    assert settings.seal_pkcs11_token and settings.seal_pkcs11_key and settings.seal_cert_file
    assert settings.seal_pkcs11_pin is not None
    try:
        key = Pkcs11EcKey(
            str(settings.seal_pkcs11_module),
            settings.seal_pkcs11_token,
            settings.seal_pkcs11_key,
            settings.seal_pkcs11_pin.get_secret_value(),
        )
    except Pkcs11Error as exc:
        raise ConfigError(f"the PKCS#11 seal key cannot be used: {exc}") from exc
    chain = tuple(x509.load_pem_x509_certificates(settings.seal_cert_file.read_bytes()))
    if chain[0].public_key() != key.public_key():
        raise ConfigError("the first certificate of the seal chain does not match the token's key")
    return Seal(key=key, chain=chain, self_issued=False)


def read_seal(key_file: Path, password: bytes | None, chain_pem: bytes | None) -> Seal:
    """A seal from a PEM key or a PKCS#12 file (with its chain unless ``chain_pem`` is given);
    raises ConfigError when the key and the chain's first certificate do not match."""
    data = key_file.read_bytes()
    chain: list[x509.Certificate] = []
    if key_file.suffix.lower() in (".p12", ".pfx"):
        key, cert, extra = pkcs12.load_key_and_certificates(data, password)
        if key is None or cert is None:
            raise ConfigError("the PKCS#12 file holds no key and certificate")
        chain = [cert, *extra]
    else:
        key = serialization.load_pem_private_key(data, password)
    if chain_pem is not None:
        chain = x509.load_pem_x509_certificates(chain_pem)
    if not chain:
        raise ConfigError("the seal certificate chain is missing (TABELLION_SEAL_CERT_FILE)")
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ConfigError("the seal key must be an EC (P-256/384/521) or RSA key")
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if chain[0].public_key().public_bytes(der, pub) != key.public_key().public_bytes(der, pub):
        raise ConfigError("the first certificate of the seal chain does not match the seal key")
    return Seal(key=key, chain=tuple(chain), self_issued=False)


def import_seal(seal: Seal, directory: Path) -> tuple[Path, Path, Path]:
    """Write an operator's seal as the files TABELLION_SEAL_KEY_FILE and _CERT_FILE name, and
    its root alone (what relying parties give ``--trust``)."""
    pem = serialization.Encoding.PEM
    key_path, chain_path = directory / "imported-seal.key", directory / "imported-seal.pem"
    root_path = directory / "imported-seal-root.pem"
    with exclusive(directory):
        write_private(chain_path, seal.chain_pem())
        write_private(root_path, seal.root.public_bytes(pem))
        plain = serialization.NoEncryption()
        write_private(
            key_path, seal.key.private_bytes(pem, serialization.PrivateFormat.PKCS8, plain)
        )
    return key_path, chain_path, root_path


@contextlib.contextmanager
def exclusive(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with (directory / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _self_issued(directory: Path) -> Seal:
    with exclusive(directory):
        if not (directory / SEAL_KEY_FILE).exists():
            _generate(directory)
    key = serialization.load_pem_private_key((directory / SEAL_KEY_FILE).read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    seal_cert = x509.load_pem_x509_certificate((directory / SEAL_FILE).read_bytes())
    root = x509.load_pem_x509_certificate((directory / ROOT_FILE).read_bytes())
    return Seal(key=key, chain=(seal_cert, root), self_issued=True)


def offline_root_key(seal_dir: Path) -> Path:
    """Where set-up leaves the generated root's key: beside the seal folder, not in it."""
    return seal_dir.parent / ROOT_KEY_FILE


def write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def self_signed_root(
    name: x509.Name, key: ec.EllipticCurvePrivateKey, start: datetime, *, days: int
) -> x509.Certificate:
    """A root CA that issues end entities only (pathLenConstraint 0)."""
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(authority=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )


def _generate(directory: Path) -> None:
    now = datetime.now(UTC) - timedelta(minutes=5)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, SELF_ISSUED_ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, "Tabellion local evidence root CA"),
        ]
    )
    root = self_signed_root(root_name, root_key, now, days=365 * 30)
    seal_key = ec.generate_private_key(ec.SECP256R1())
    seal = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, SELF_ISSUED_ORGANIZATION),
                    x509.NameAttribute(NameOID.COMMON_NAME, "Tabellion evidence seal"),
                ]
            )
        )
        .issuer_name(root_name)
        .public_key(seal_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=365 * 10))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(signing=True, commitment=True), critical=True)
        # Marks it as a seal certificate for verifiers (RFC 9336 id-kp-documentSigning): a
        # certificate of the same root made for another purpose cannot seal a proof.
        .add_extension(x509.ExtendedKeyUsage([DOCUMENT_SIGNING]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(seal_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    plain = serialization.NoEncryption()
    pkcs8 = serialization.PrivateFormat.PKCS8
    # The root's key can issue seal certificates; the service never needs it again. Written
    # once, away from the seal key, for the operator to move offline (see start_notices).
    write_private(offline_root_key(directory), root_key.private_bytes(pem, pkcs8, plain))
    write_private(directory / ROOT_FILE, root.public_bytes(pem))
    write_private(directory / SEAL_FILE, seal.public_bytes(pem))
    # The key last: its presence means the set is complete.
    write_private(directory / SEAL_KEY_FILE, seal_key.private_bytes(pem, pkcs8, plain))


def is_self_issued(chain: list[x509.Certificate] | tuple[x509.Certificate, ...]) -> bool:
    """Whether a seal chain ends at a root that a Tabellion generated for itself."""
    names = chain[-1].subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return any(n.value == SELF_ISSUED_ORGANIZATION for n in names)
