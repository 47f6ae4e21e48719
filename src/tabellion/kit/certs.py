"""X.509 building blocks shared by the certificates Tabellion makes (seal, mTLS clients)."""

from __future__ import annotations

from cryptography import x509


def key_usage(
    *, signing: bool = False, commitment: bool = False, authority: bool = False
) -> x509.KeyUsage:
    """A KeyUsage with only the named uses: ``signing`` (digital signature), ``commitment``
    (non-repudiation), ``authority`` (signing certificates and CRLs)."""
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=authority,
        crl_sign=authority,
        encipher_only=False,
        decipher_only=False,
    )
