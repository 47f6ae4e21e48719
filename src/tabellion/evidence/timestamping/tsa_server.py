"""``tabellion tsa serve``: a small RFC 3161 time-stamping authority for closed networks and tests.

It is NOT a qualified time-stamping service (eIDAS) nor one audited against ETSI EN 319 421:
its time is this machine's clock, its certificate is issued by a root it generates itself,
and nobody but its operator vouches for either. Use it where no public authority can be
reached, and give relying parties its root (``--trust-tsa``, ``TABELLION_TSA_TRUST_FILE``).

Keys: on first start an RSA key and a time-stamping certificate (extended key usage
timeStamping, critical, as RFC 3161 2.3 requires) are generated into its directory, issued by
a root generated for the purpose whose private key is discarded at once: no other
certificate can ever be issued under it. Tokens are built and signed by pyHanko's
``DummyTimeStamper`` (TSTInfo with the request's nonce, the authority's certificate and root
embedded), with the key loaded once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from asn1crypto import cms, core, tsp
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.general import as_signing_certificate
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from tabellion.evidence.sealing.keys import self_signed_root, write_private
from tabellion.evidence.timestamping.rfc3161 import QUERY_MEDIA_TYPE, REPLY_MEDIA_TYPE
from tabellion.kit.certs import key_usage

KEY_FILE = "tsa.key"
CERT_FILE = "tsa.pem"
ROOT_FILE = "tsa-root.pem"
# anyPolicy: this authority follows no published time-stamp policy (see the module's note).
DEFAULT_POLICY = "2.5.29.32.0"
MAX_REQUEST_BYTES = 64 * 1024


@dataclass(frozen=True)
class AuthorityKeys:
    root: x509.Certificate
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey


def generate_authority(
    name: str, *, organization: str, valid_from: datetime | None = None, days: int = 3650
) -> AuthorityKeys:
    """A root and a time-stamping certificate under it; the root's key is not kept."""
    start = valid_from or datetime.now(UTC) - timedelta(hours=1)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{name} Root"),
        ]
    )
    root = self_signed_root(root_name, root_key, start, days=days)
    # pyHanko's DummyTimeStamper builds CMS for RSA keys.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(signing=True, commitment=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )
    return AuthorityKeys(root=root, certificate=certificate, key=key)


def load_or_create(directory: Path, name: str) -> AuthorityKeys:
    """The authority kept in ``directory``, generated there on first use."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = serialization.Encoding.PEM
    if not (directory / KEY_FILE).exists():
        made = generate_authority(name, organization="Tabellion TSA (not qualified)")
        write_private(directory / ROOT_FILE, made.root.public_bytes(pem))
        write_private(directory / CERT_FILE, made.certificate.public_bytes(pem))
        plain, pkcs8 = serialization.NoEncryption(), serialization.PrivateFormat.PKCS8
        # The key last: its presence means the set is complete.
        write_private(directory / KEY_FILE, made.key.private_bytes(pem, pkcs8, plain))
    key = serialization.load_pem_private_key((directory / KEY_FILE).read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return AuthorityKeys(
        root=x509.load_pem_x509_certificate((directory / ROOT_FILE).read_bytes()),
        certificate=x509.load_pem_x509_certificate((directory / CERT_FILE).read_bytes()),
        key=key,
    )


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _attribute(kind: str, value: object) -> cms.CMSAttribute:
    return cms.CMSAttribute({"type": cms.CMSAttributeType(kind), "values": (value,)})


class Stamper(DummyTimeStamper):
    """pyHanko's token builder, with our policy and the key loaded once (an RSA key is checked
    on every load, ~100 ms)."""

    def __init__(self, keys: AuthorityKeys, policy: str = DEFAULT_POLICY) -> None:
        embedded = SimpleCertificateStore()  # type: ignore[no-untyped-call]
        embedded.register(_asn1(keys.root))
        super().__init__(
            tsa_cert=_asn1(keys.certificate),
            tsa_key=asn1_keys.PrivateKeyInfo.load(
                keys.key.private_bytes(
                    serialization.Encoding.DER,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            ),
            certs_to_embed=embedded,
        )
        self._key = keys.key
        self._policy = policy

    def _build_tst_info(self, message_imprint: Any, dt: datetime, req: Any) -> tsp.TSTInfo:
        info = super()._build_tst_info(message_imprint, dt, req)
        info["policy"] = tsp.ObjectIdentifier(self._policy)
        return info

    def _sign_tst_info(
        self, tst_info_data: bytes, md_algorithm: str, dt: datetime
    ) -> tuple[bytes, cms.CMSAttributes]:
        algorithm = get_pyca_cryptography_hash(md_algorithm)
        digest = hashes.Hash(algorithm)
        digest.update(tst_info_data)
        signed_attrs = cms.CMSAttributes(
            [
                _attribute("content_type", "tst_info"),
                _attribute("signing_time", cms.Time({"utc_time": core.UTCTime(dt)})),
                _attribute("signing_certificate", as_signing_certificate(self.tsa_cert)),
                _attribute("message_digest", digest.finalize()),
            ]
        )
        signature = self._key.sign(signed_attrs.dump(), PKCS1v15(), algorithm)
        return signature, signed_attrs

    def reply(self, body: bytes, at: datetime | None = None) -> bytes:
        """The DER ``TimeStampResp`` to a DER ``TimeStampReq`` (a rejection if unreadable)."""
        try:
            request = tsp.TimeStampReq.load(body)
            request.native  # noqa: B018 - asn1crypto parses lazily: fail here, not later
        except Exception:  # asn1crypto raises several kinds
            return rejection("bad_request", "not an RFC 3161 TimeStampReq")
        self.fixed_dt = at or datetime.now(UTC)
        der: bytes = self.request_tsa_response(request).dump()
        return der


def rejection(failure: str, text: str) -> bytes:
    """A ``TimeStampResp`` carrying its status alone (asn1crypto's class insists on a token)."""
    status = tsp.PKIStatusInfo(
        {"status": "rejection", "status_string": [text], "fail_info": {failure}}
    ).dump()
    der: bytes = status
    return b"\x30" + _length(len(der)) + der


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def handler(answer: Any) -> type[BaseHTTPRequestHandler]:
    """An HTTP handler that posts each request body to ``answer(body) -> (status, reply)``."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length", "0"))
            if size > MAX_REQUEST_BYTES:
                self.send_error(413)
                return
            if self.headers.get("Content-Type", QUERY_MEDIA_TYPE) != QUERY_MEDIA_TYPE:
                self.send_error(415)
                return
            status, reply = answer(self.rfile.read(size))
            self.send_response(status)
            self.send_header("Content-Type", REPLY_MEDIA_TYPE)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def serve(stamper: Stamper, host: str, port: int) -> ThreadingHTTPServer:
    """Answer RFC 3161 requests over HTTP (POST any path) from a thread; returns the server."""
    lock = threading.Lock()  # one signature at a time: the stamper is not thread-safe

    def answer(body: bytes) -> tuple[int, bytes]:
        with lock:
            return 200, stamper.reply(body)

    server = ThreadingHTTPServer((host, port), handler(answer))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
