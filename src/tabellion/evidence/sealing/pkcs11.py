"""A seal key held in a PKCS#11 token (an HSM, a smart card, SoftHSM): it never leaves it.

``TABELLION_SEAL_PKCS11_MODULE`` (the vendor's library, such as
``/usr/lib/softhsm/libsofthsm2.so``), ``TABELLION_SEAL_PKCS11_TOKEN`` (the token's label),
``TABELLION_SEAL_PKCS11_KEY`` (the private key's label), ``TABELLION_SEAL_PKCS11_PIN`` (the
user PIN), and the certificate chain in ``TABELLION_SEAL_CERT_FILE`` (PEM, the seal first).

The key is an EC key (P-256, P-384, P-521); it is offered to the rest of the service as a
``cryptography`` private key whose ``sign`` asks the token (mechanism CKM_ECDSA over the
digest), so JWS proofs, tree heads and PDF seals are signed the same way as with a key file.
"""

from __future__ import annotations

from threading import Lock
from typing import Any, NoReturn

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    encode_dss_signature,
)


class Pkcs11Error(Exception):
    """The token, its key or its PIN cannot be used."""


class Pkcs11EcKey(ec.EllipticCurvePrivateKey):
    """An EC private key that signs in the token; nothing else of it can be had."""

    def __init__(self, module: str, token_label: str, key_label: str, pin: str) -> None:
        import pkcs11

        self._lock = Lock()
        try:
            library = pkcs11.lib(module)
            token = library.get_token(token_label=token_label)
            try:
                self._session = token.open(user_pin=pin)
            except pkcs11.UserAlreadyLoggedIn:
                # PKCS#11 logs in a whole process at once: another session of this process
                # (an earlier load of the same seal) did; this one shares that login.
                self._session = token.open()
            self._key = self._session.get_key(
                object_class=pkcs11.ObjectClass.PRIVATE_KEY, label=key_label
            )
            public = self._session.get_key(
                object_class=pkcs11.ObjectClass.PUBLIC_KEY, label=key_label
            )
        except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
            raise Pkcs11Error(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
        if self._key.key_type != pkcs11.KeyType.EC:
            raise Pkcs11Error("the token's seal key must be an EC key")
        from pkcs11.util.ec import encode_ec_public_key

        loaded = serialization.load_der_public_key(encode_ec_public_key(public))  # type: ignore[arg-type]
        assert isinstance(loaded, ec.EllipticCurvePublicKey)
        self._public = loaded

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def sign(
        self,
        data: bytes | bytearray | memoryview,
        signature_algorithm: ec.EllipticCurveSignatureAlgorithm,
    ) -> bytes:
        import pkcs11

        algorithm: Any = signature_algorithm.algorithm
        if isinstance(algorithm, Prehashed):
            digest = bytes(data)
        else:
            hasher = hashes.Hash(algorithm)
            hasher.update(data)
            digest = hasher.finalize()
        with self._lock:  # a PKCS#11 session does one operation at a time
            try:
                raw: bytes = self._key.sign(digest, mechanism=pkcs11.Mechanism.ECDSA)  # type: ignore[attr-defined]
            except pkcs11.PKCS11Error as exc:
                raise Pkcs11Error(f"the token refused to sign: {type(exc).__name__}") from exc
        half = len(raw) // 2
        return encode_dss_signature(
            int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        )

    def _not_exportable(self, *args: object, **kwargs: object) -> NoReturn:
        raise Pkcs11Error("a key held in a PKCS#11 token cannot be exported")

    exchange = _not_exportable
    private_numbers = _not_exportable
    private_bytes = _not_exportable

    def __copy__(self) -> Pkcs11EcKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Pkcs11EcKey:
        return self
