"""Client certificates (mutual TLS) for the calls that demand one.

A certificate reaches the application in one of two ways:

- ``tabellion serve --tls-cert/--tls-key`` with ``TABELLION_MTLS_CA``: the TLS server asks
  for a client certificate, verifies any presented against that CA during the handshake (a
  certificate of another CA, or expired, ends the connection), and passes the one it
  verified in the request's ``tls`` extension (``scope["extensions"]["tls"]["client_cert"]``,
  DER);
- behind a proxy that terminates TLS and is listed in ``TABELLION_TRUSTED_PROXIES``: the
  proxy's ``X-Client-Cert`` header (URL-encoded PEM, as nginx's ``$ssl_client_escaped_cert``),
  verified here against the same CA. The header from anyone else is ignored.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from starlette.requests import Request
from uvicorn.protocols.http.h11_impl import H11Protocol

from tabellion.config import Settings
from tabellion.errors import Unauthorized
from tabellion.kit.certs import key_usage
from tabellion.kit.time import utcnow

CLIENT_CERT_HEADER = "x-client-cert"


class ClientCertificateRequired(Unauthorized):
    code = "client-certificate-required"
    title = "A client certificate is required"


@cache
def _authorities(path: Path) -> tuple[x509.Certificate, ...]:
    return tuple(x509.load_pem_x509_certificates(path.read_bytes()))


def _trusted(settings: Settings, host: str | None) -> bool:
    if not host or not settings.trusted_proxies.strip():
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    for item in settings.trusted_proxies.split(","):
        if item.strip() and address in ipaddress.ip_network(item.strip(), strict=False):
            return True
    return False


def _peer(request: Request) -> str | None:
    """The direct peer: the proxy itself, not the client its headers name."""
    extensions = request.scope.get("extensions") or {}
    if "tabellion.peer" in extensions:
        peer: str | None = extensions["tabellion.peer"]
        return peer
    client = request.scope.get("client")
    return client[0] if client else None


def verify_client_certificate(
    ca_file: Path, certificate: x509.Certificate, *, now: datetime | None = None
) -> None:
    """Raise unless ``certificate`` was issued by one of the CA file's certificates and is
    valid now (as the TLS server checks a directly issued certificate)."""
    moment = now or utcnow()
    if not certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc:
        raise ClientCertificateRequired("The client certificate is not accepted: it has expired.")
    for authority in _authorities(ca_file):
        if authority.subject != certificate.issuer:
            continue
        try:
            certificate.verify_directly_issued_by(authority)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return
    raise ClientCertificateRequired(
        "The client certificate is not accepted: the service's CA did not issue it."
    )


def client_certificate(request: Request, settings: Settings) -> x509.Certificate | None:
    """The client certificate the TLS server or a trusted proxy verified, if any."""
    tls: dict[str, Any] = request.scope.get("extensions", {}).get("tls") or {}
    der = tls.get("client_cert")
    if der:
        return x509.load_der_x509_certificate(der)
    header = request.headers.get(CLIENT_CERT_HEADER)
    if header and settings.mtls_ca and _trusted(settings, _peer(request)):
        try:
            certificate = x509.load_pem_x509_certificate(unquote(header).encode())
        except ValueError as exc:
            raise ClientCertificateRequired("The client certificate header is not PEM.") from exc
        verify_client_certificate(settings.mtls_ca, certificate)
        return certificate
    return None


def require_client_certificate(request: Request) -> None:
    """401 unless a verified client certificate came with the request (when mTLS is on)."""
    settings: Settings = request.app.state.runtime.settings
    if settings.mtls_ca is None:
        return
    if client_certificate(request, settings) is None:
        raise ClientCertificateRequired(
            "This call needs a client certificate issued by the service's CA (mutual TLS)."
        )


# ---- serving HTTPS with client certificates (``tabellion serve --tls-cert``) -----------------


class ClientCertProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, passing on each request the connection's facts that ASGI
    servers do not: the verified client certificate (the ``tls`` extension) and the direct
    peer's address (``tabellion.peer``, before proxy headers rewrite the client)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        peer = self.client[0] if self.client else None
        app = self.app

        async def with_connection_facts(scope: Any, receive: Any, send: Any) -> None:
            scope["extensions"] = {
                **(scope.get("extensions") or {}),
                "tls": {"client_cert": der} if ssl_object is not None else None,
                "tabellion.peer": peer,
            }
            await app(scope, receive, send)

        self.app = with_connection_facts


def server_options(
    settings: Settings, cert_file: Path | None, key_file: Path | None
) -> dict[str, Any]:
    """uvicorn options: HTTPS with the given certificate; with ``TABELLION_MTLS_CA`` the
    handshake asks for a client certificate (optional: LS needs none) from that CA."""
    options: dict[str, Any] = {}
    if cert_file is not None:
        options.update(ssl_certfile=str(cert_file), ssl_keyfile=str(key_file) if key_file else None)
        if settings.mtls_ca is not None:
            options.update(ssl_cert_reqs=ssl.CERT_OPTIONAL, ssl_ca_certs=str(settings.mtls_ca))
    if cert_file is not None or settings.trusted_proxies.strip():
        options["http"] = ClientCertProtocol
    return options


# ---- issuing client certificates (``tabellion mtls issue``) ---------------------------------


def issue_client_certificate(
    ca_cert: x509.Certificate,
    ca_key: CertificateIssuerPrivateKeyTypes,
    common_name: str,
    *,
    days: int = 365,
    not_before: datetime | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A new P-256 key and its client-authentication certificate signed by the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or utcnow() - timedelta(minutes=5)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            key_usage(signing=True),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return certificate, key
