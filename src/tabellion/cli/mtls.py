"""``tabellion mtls issue``: client certificates for the calls that demand mutual TLS."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

mtls_app = typer.Typer(help="Client certificates (mutual TLS).", no_args_is_help=True)
console = Console()


@mtls_app.command("issue")
def issue(
    name: Annotated[str, typer.Argument(help="Who holds it: the certificate's common name.")],
    ca_cert: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="The CA's PEM.")],
    ca_key: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="The CA's PEM private key.")
    ],
    out: Annotated[Path, typer.Option(help="Write OUT.crt and OUT.key (mode 0600).")] = Path(
        "client"
    ),
    days: Annotated[int, typer.Option(min=1, max=3650, help="Validity.")] = 365,
) -> None:
    """Issue a client certificate from a CA you hold (the one TABELLION_MTLS_CA names).

    Rotate by issuing a new one before the old expires: both work until then.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    from tabellion.auth.mtls import issue_client_certificate

    ca = x509.load_pem_x509_certificate(ca_cert.read_bytes())
    signer = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
    if not isinstance(
        signer, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise typer.BadParameter("The CA key cannot sign certificates.", param_hint="--ca-key")
    certificate, key = issue_client_certificate(ca, signer, name, days=days)
    cert_path, key_path = out.with_suffix(".crt"), out.with_suffix(".key")
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    console.print(
        f"Wrote {cert_path} and {key_path}; valid until {certificate.not_valid_after_utc:%Y-%m-%d}."
    )
