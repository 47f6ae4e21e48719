"""Where the master key of encryption at rest lives (docs/data.md, Keys): a file (built in),
a PKCS#11 token, or AWS KMS. Exactly one is configured (``Settings.master_key_source``).

The token and KMS providers wrap and unwrap organisation keys *inside* the token or the
service: the master key never reaches this process. Anything that stops them (an unreachable
service, a refused PIN, a missing key, a wrapped key they do not open) raises
:class:`MasterKeyUnavailable` (503 ``storage-key-unavailable``): no blob is read or written.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from threading import Lock
from typing import TYPE_CHECKING, Any

from tabellion.config import ConfigError
from tabellion.document.encryption import (
    FileKeyProvider,
    KeyProvider,
    MasterKeyUnavailable,
)

if TYPE_CHECKING:
    from tabellion.config import Settings

IV = 12  # bytes: the 96-bit nonce of AES-GCM, random per wrap
TAG = 16
KEY = 32
# What the token's AES-GCM authenticates with every wrapped key besides the key id: a key
# wrapped for another purpose with the same master key does not unwrap here.
PKCS11_AAD = b"tabellion org-key\0"
KMS_CONTEXT = {"tabellion": "org-key"}


def master_key_provider(settings: Settings) -> KeyProvider | None:
    """The provider the settings name, or None (blobs stored plain). Raises ConfigError for
    settings that cannot work; opens nothing yet (the token or KMS is reached on first use)."""
    source = settings.master_key_source
    if source == "file":
        path = settings.resolved_master_key_file
        assert path is not None
        try:
            return FileKeyProvider.from_file(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"TABELLION_MASTER_KEY_FILE: cannot read {path}: {exc}") from exc
    if source == "pkcs11":
        assert settings.master_key_pkcs11_module and settings.master_key_pkcs11_pin
        assert settings.master_key_pkcs11_token and settings.master_key_pkcs11_key
        return Pkcs11KeyProvider(
            str(settings.master_key_pkcs11_module),
            settings.master_key_pkcs11_token,
            settings.master_key_pkcs11_key,
            settings.master_key_pkcs11_pin.get_secret_value(),
        )
    if source == "kms":
        assert settings.master_key_kms_key_id
        return KmsKeyProvider(
            settings.master_key_kms_key_id,
            endpoint_url=settings.master_key_kms_endpoint_url,
            region=settings.master_key_kms_region,
        )
    return None


def _fingerprint(kind: str, *parts: bytes) -> str:
    digest = hashlib.sha256(b"\0".join((f"tabellion {kind} master key".encode(), *parts)))
    return f"{kind}-{digest.hexdigest()[:16]}"


class Pkcs11KeyProvider:
    """The master key: a non-extractable AES-256 secret key in a PKCS#11 token (an HSM,
    SoftHSM), found by its label. A wrapped key is ``iv (12) || AES-GCM ciphertext and tag
    (48)``, sealed by the token (CKM_AES_GCM) with a random IV and, as associated data, the
    provider's key id.

    The token is opened on first use and its session kept; a session or device error drops it
    so the next use opens it again. A PIN the token refused is never tried again by this
    process (tokens lock the PIN after a few wrong tries): fix the setting and restart.
    """

    def __init__(self, module: str, token_label: str, key_label: str, pin: str) -> None:
        try:
            import pkcs11  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                "a PKCS#11 master key needs python-pkcs11: pip install 'tabellion[hsm]'"
            ) from exc
        self._module, self._token, self._label, self._pin = module, token_label, key_label, pin
        self._lock = Lock()  # a PKCS#11 session does one operation at a time
        self._session: Any = None
        self._key: Any = None
        self._id: str | None = None
        self._refused: str | None = None

    def _unavailable(self, why: str) -> MasterKeyUnavailable:
        return MasterKeyUnavailable(
            f"The master key {self._label!r} in the PKCS#11 token {self._token!r} cannot be "
            f"used: {why}."
        )

    def _open(self) -> Any:
        """The token's key (lock held), opening a session if needed. The session is kept even
        when the key is not found (closing it would log the process out: a seal in the same
        token would lose its login), and the key is looked up again on the next use."""
        import pkcs11

        if self._refused is not None:
            raise self._unavailable(self._refused)
        if self._key is not None:
            return self._key
        if self._session is None:
            self._session = self._login()
        try:
            key = self._session.get_key(
                object_class=pkcs11.ObjectClass.SECRET_KEY,
                key_type=pkcs11.KeyType.AES,
                label=self._label,
            )
            extractable = key[pkcs11.Attribute.EXTRACTABLE]
            length = key.key_length
            try:
                ident = bytes(key[pkcs11.Attribute.ID])
            except pkcs11.PKCS11Error:
                ident = b""
        except pkcs11.NoSuchKey as exc:
            raise self._unavailable("the token holds no AES secret key with this label") from exc
        except (pkcs11.PKCS11Error, RuntimeError) as exc:
            self._drop()  # the session or the device: open it again next time
            raise self._unavailable(f"{type(exc).__name__} {exc}".strip()) from exc
        if extractable or length != 256:
            raise self._unavailable("it must be a non-extractable 256-bit AES key")
        self._key = key
        self._id = _fingerprint(
            "p11", self._token.encode(), self._label.encode(), ident.hex().encode()
        )
        return key

    def _login(self) -> Any:
        import pkcs11

        refused = (
            pkcs11.PinIncorrect,
            pkcs11.PinInvalid,
            pkcs11.PinLenRange,
            pkcs11.PinExpired,
            pkcs11.PinLocked,
        )
        try:
            token = pkcs11.lib(self._module).get_token(token_label=self._token)
            try:
                return token.open(user_pin=self._pin)
            except pkcs11.UserAlreadyLoggedIn:
                # PKCS#11 logs a whole process in at once (the seal may share the token).
                return token.open()
        except refused as exc:
            self._refused = f"the token refused the PIN ({type(exc).__name__}); not tried again"
            raise self._unavailable(self._refused) from exc
        except pkcs11.NoSuchToken as exc:
            raise self._unavailable("the module shows no token with this label") from exc
        except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
            raise self._unavailable(f"{type(exc).__name__} {exc}".strip()) from exc

    def _drop(self) -> None:
        session, self._session, self._key = self._session, None, None
        if session is not None:
            with contextlib.suppress(Exception):  # a dead session may not even close
                session.close()

    def _gcm(self, encrypt: bool, data: bytes, iv: bytes) -> bytes:
        import pkcs11
        from pkcs11.mechanisms import GCMParams

        with self._lock:
            key = self._open()
            assert self._id is not None
            params = GCMParams(iv, PKCS11_AAD + self._id.encode(), TAG * 8)
            try:
                if encrypt:
                    return bytes(
                        key.encrypt(
                            data, mechanism=pkcs11.Mechanism.AES_GCM, mechanism_param=params
                        )
                    )
                return bytes(
                    key.decrypt(data, mechanism=pkcs11.Mechanism.AES_GCM, mechanism_param=params)
                )
            except (pkcs11.PKCS11Error, RuntimeError) as exc:
                if not isinstance(exc, (pkcs11.EncryptedDataInvalid, pkcs11.GeneralError)):
                    self._drop()  # the session or the device: open it again next time
                why = "the token did not do it" if encrypt else "the wrapped key does not open"
                raise self._unavailable(f"{why} ({type(exc).__name__})") from exc

    @property
    def key_id(self) -> str:
        """``p11-`` and a fingerprint of the token label, the key label and the key's CKA_ID."""
        if self._id is None:
            with self._lock:
                self._open()
        assert self._id is not None
        return self._id

    def wrap(self, key: bytes) -> bytes:
        iv = os.urandom(IV)
        return iv + self._gcm(True, key, iv)

    def unwrap(self, wrapped: bytes) -> bytes:
        if len(wrapped) != IV + KEY + TAG:
            raise self._unavailable("the storage key was not wrapped by a PKCS#11 token")
        key = self._gcm(False, wrapped[IV:], wrapped[:IV])
        if len(key) != KEY:
            raise self._unavailable("the wrapped key does not open")
        return key


class KmsKeyProvider:
    """The master key in AWS KMS (or a service speaking its API): a wrapped key is the
    ciphertext blob of ``Encrypt`` under the key, with the encryption context
    ``{"tabellion": "org-key"}`` that ``Decrypt`` must give again. Credentials come from
    boto3's usual chain (environment, profile, instance role)."""

    def __init__(
        self, key: str, *, endpoint_url: str | None = None, region: str | None = None
    ) -> None:
        self._key, self._endpoint, self._region = key, endpoint_url, region
        self._id = _fingerprint("kms", key.encode())
        self._client: Any = None
        self._lock = Lock()

    def _kms(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                self._client = boto3.session.Session().client(
                    "kms",
                    endpoint_url=self._endpoint,
                    region_name=self._region,
                    # An outage must answer 503 soon, not hold a request for minutes.
                    config=Config(
                        connect_timeout=5,
                        read_timeout=10,
                        retries={"max_attempts": 2, "mode": "standard"},
                    ),
                )
            return self._client

    def _call(self, operation: str, **arguments: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._kms(), operation)(
                KeyId=self._key, EncryptionContext=KMS_CONTEXT, **arguments
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise self._unavailable(f"KMS answered {code}") from exc
        except BotoCoreError as exc:
            raise self._unavailable(f"{type(exc).__name__}") from exc

    def _unavailable(self, why: str) -> MasterKeyUnavailable:
        return MasterKeyUnavailable(f"The KMS master key {self._key!r} cannot be used: {why}.")

    @property
    def key_id(self) -> str:
        """``kms-`` and a fingerprint of the key as configured (id, ARN or alias)."""
        return self._id

    def wrap(self, key: bytes) -> bytes:
        return bytes(self._call("encrypt", Plaintext=key)["CiphertextBlob"])

    def unwrap(self, wrapped: bytes) -> bytes:
        key = bytes(self._call("decrypt", CiphertextBlob=wrapped)["Plaintext"])
        if len(key) != KEY:
            raise self._unavailable("the wrapped key is not a storage key")
        return key
