"""Mutual TLS for STAMPEE LRE: over a real TLS socket (no certificate, another CA's, an expired
one, a valid one; LS and LRE each), and through a trusted proxy's header."""

from __future__ import annotations

import ipaddress
import os
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from tabellion.auth.mtls import issue_client_certificate, server_options
from tabellion.cli.main import app as cli
from tabellion.kit.certs import key_usage
from tabellion.kit.time import utcnow
from tabellion.runtime import Runtime
from tests.compat.stampee.helpers import BASE, assert_error, letter, token
from tests.conftest import make_settings
from tests.fixtures.factories import create_org_with_key
from tests.fixtures.server import free_port, live_server

SEND = f"{BASE}/messages/bulk_send"


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass
class Authority:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, name: str) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = utcnow()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                key_usage(signing=True, authority=True),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(certificate, key)

    def server_certificate(self, directory: Path) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = utcnow()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return self.write(directory, "server", certificate, key)

    def client(self, directory: Path, name: str, **options: object) -> tuple[Path, Path]:
        certificate, key = issue_client_certificate(self.certificate, self.key, name, **options)  # type: ignore[arg-type]
        return self.write(directory, name, certificate, key)

    @staticmethod
    def write(
        directory: Path, name: str, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey
    ) -> tuple[Path, Path]:
        cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
        cert_path.write_bytes(_pem(certificate))
        key_path.write_bytes(_key_pem(key))
        return cert_path, key_path


@dataclass
class Pki:
    ca: Authority
    ca_file: Path
    valid: tuple[Path, Path]
    other_ca: tuple[Path, Path]
    expired: tuple[Path, Path]
    server: tuple[Path, Path]


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca, other = Authority.create("Tabellion clients"), Authority.create("Someone else")
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(_pem(ca.certificate))
    long_ago = utcnow() - timedelta(days=400)
    return Pki(
        ca=ca,
        ca_file=ca_file,
        valid=ca.client(tmp_path, "valid"),
        other_ca=other.client(tmp_path, "other"),
        expired=ca.client(tmp_path, "expired", not_before=long_ago, days=30),
        server=ca.server_certificate(tmp_path),
    )


@pytest.fixture
async def mtls_runtime(data_dir: Path, database_url: str, pki: Pki) -> AsyncIterator[Runtime]:
    settings = make_settings(
        data_dir, database_url, mtls_ca=pki.ca_file, trusted_proxies="127.0.0.1, 10.1.0.0/16"
    )
    runtime = Runtime.build(settings, pool_size=5)
    try:
        yield runtime
    finally:
        await runtime.close()


def _context(pki: Pki, client: tuple[Path, Path] | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    if client is not None:
        context.load_cert_chain(str(client[0]), str(client[1]))
    return context


async def test_over_a_real_tls_socket(mtls_runtime: Runtime, pki: Pki) -> None:
    _, secret = await create_org_with_key(mtls_runtime)
    options = server_options(mtls_runtime.settings, *pki.server)
    async with live_server(mtls_runtime, options=options) as url:

        async def send(client: tuple[Path, Path] | None, kind: str) -> httpx.Response:
            async with httpx.AsyncClient(
                base_url=url, verify=_context(pki, client), timeout=30
            ) as http:
                return await http.post(SEND, json=letter(kind), headers=token(secret))

        for kind in ("LS", "LRE"):
            assert (await send(pki.valid, kind)).status_code == 201
        assert (await send(None, "LS")).status_code == 201
        message = assert_error(await send(None, "LRE"), 401, "client-certificate-required")
        assert "client certificate" in message
        # The handshake itself refuses a certificate the CA did not issue, or an expired one.
        for client in (pki.other_ca, pki.expired):
            for kind in ("LS", "LRE"):
                with pytest.raises(httpx.TransportError):
                    await send(client, kind)


async def test_trusted_proxy_header(mtls_runtime: Runtime, pki: Pki) -> None:
    from tabellion.app import create_app

    _, secret = await create_org_with_key(mtls_runtime)

    def header(path: Path) -> dict[str, str]:
        # nginx's $ssl_client_escaped_cert: the PEM, URL-encoded.
        return {"X-Client-Cert": quote(path.read_text())}

    async def send(peer: str, kind: str, extra: dict[str, str]) -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(runtime=mtls_runtime), client=(peer, 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://tabellion.test") as http:
            return await http.post(SEND, json=letter(kind), headers={**token(secret), **extra})

    first = await send("127.0.0.1", "LRE", header(pki.valid[0]))
    assert first.status_code == 201, first.text
    assert (await send("10.1.2.3", "LRE", header(pki.valid[0]))).status_code == 201
    assert (await send("127.0.0.1", "LS", {})).status_code == 201
    # From anyone but a trusted proxy, the header is ignored.
    ignored = await send("192.0.2.7", "LRE", header(pki.valid[0]))
    assert_error(ignored, 401, "client-certificate-required")
    for bad in (pki.other_ca[0], pki.expired[0]):
        refused = await send("127.0.0.1", "LRE", header(bad))
        assert "not accepted" in assert_error(refused, 401, "client-certificate-required")
    garbage = await send("127.0.0.1", "LRE", {"X-Client-Cert": "nope"})
    assert_error(garbage, 401, "client-certificate-required")


def test_cli_issues_a_client_certificate(tmp_path: Path, pki: Pki) -> None:
    ca_key = tmp_path / "ca.key"
    ca_key.write_bytes(_key_pem(pki.ca.key))
    result = CliRunner().invoke(
        cli,
        [
            "mtls",
            "issue",
            "Acme LRE sender",
            "--ca-cert",
            str(pki.ca_file),
            "--ca-key",
            str(ca_key),
            "--out",
            str(tmp_path / "acme"),
            "--days",
            "90",
        ],
    )
    assert result.exit_code == 0, result.output
    certificate = x509.load_pem_x509_certificate((tmp_path / "acme.crt").read_bytes())
    assert certificate.issuer == pki.ca.certificate.subject
    assert certificate.subject.rfc4514_string() == "CN=Acme LRE sender"
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime == timedelta(days=90)
    assert (tmp_path / "acme.key").stat().st_mode & 0o777 == 0o600
    from tabellion.auth.mtls import verify_client_certificate

    verify_client_certificate(pki.ca_file, certificate)


def test_serve_command_speaks_https_with_client_certificates(tmp_path: Path, pki: Pki) -> None:
    """``tabellion serve --tls-cert --tls-key`` with ``TABELLION_MTLS_CA``, as operators run it."""
    port = free_port()
    data_dir = tmp_path / "served"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABELLION_")}
    env.update(
        TABELLION_DATA_DIR=str(data_dir),
        TABELLION_LOG_LEVEL="warning",
        TABELLION_MTLS_CA=str(pki.ca_file),
    )
    command = [sys.executable, "-m", "tabellion", "serve", "--port", str(port), "--no-worker"]
    command += ["--tls-cert", str(pki.server[0]), "--tls-key", str(pki.server[1])]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    try:
        for _ in range(400):
            assert proc.poll() is None, proc.communicate()[0]
            try:
                httpx.get(f"{url}/health", verify=_context(pki, None))
                break
            except httpx.TransportError:
                time.sleep(0.05)
        secret = (data_dir / "first-api-key.txt").read_text().strip()
        for client, status in ((pki.valid, 201), (None, 401)):
            response = httpx.post(
                f"{url}{SEND}",
                json=letter("LRE"),
                headers=token(secret),
                verify=_context(pki, client),
                timeout=30,
            )
            assert response.status_code == status, response.text
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
