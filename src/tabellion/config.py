"""Settings, read once from ``TABELLION_*`` environment variables and a ``.env`` file."""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tabellion.identity.config import IdentityProvider

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


class ConfigError(Exception):
    """The settings cannot run a safe service; the message says which one to fix."""


# The master key ``tabellion serve`` makes on a first start without TABELLION_MASTER_KEY_FILE.
DEFAULT_MASTER_KEY = "master.key"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TABELLION_", env_file=".env", extra="ignore", frozen=True
    )

    env: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("./tabellion-data")
    database_url: str | None = None
    storage_url: str | None = None
    public_url: str | None = None
    # The name of the organisation the first start creates (`serve --org-name` overrides it).
    org_name: str | None = Field(default=None, min_length=1, max_length=255)
    # The first start's first dashboard admin: their sign-in address (a link printed once
    # sets their password). Unset: admin@example.com.
    admin_email: str | None = Field(default=None, min_length=3, max_length=320)
    smtp_url: SecretStr | None = None
    mail_from: str = "Tabellion <no-reply@localhost>"
    secret_key: SecretStr | None = None
    # Earlier secret keys still accepted after a change (comma-separated, newest first): links,
    # codes, forms and secrets made with them keep working until they are dropped from here.
    secret_key_previous: SecretStr | None = None
    max_attachment_bytes: int = Field(default=262_144_000, gt=0)
    max_recipients: int = Field(default=10_000, gt=0)
    # A registered letter copied to the recipient's mailbox after acceptance carries its
    # attachments up to this many bytes in all; the others are given as links.
    mailbox_copy_max_bytes: int = Field(default=10_485_760, ge=0)
    webhook_allowed_hosts: str = ""
    timezone: str = "Europe/Paris"
    # Jobs are mostly waiting on mail and HTTP servers: many run at once on one core. Notices
    # and webhooks share their database work among the jobs in flight (one transaction for
    # many), so more in flight is fewer, larger transactions: 128 → 256, ~1.2× the notices
    # a second (docs/performance.md, "7 December, late evening").
    worker_concurrency: int = Field(default=256, gt=0, le=1024)
    # How long a claimed job stays a worker's without a heartbeat (renewed every third of it):
    # a job whose worker died is taken again by another one once this runs out.
    worker_lease_seconds: float = Field(default=60.0, ge=3, le=3600)
    # A notice is four exchanges with the relay, each waiting for its answer: the more
    # connections, the less the relay waits for ours (4 → 16: ~1.3× the notices a second
    # to a local relay, docs/performance.md, "7 December, late evening"). Opened as needed.
    smtp_connections: int = Field(default=16, gt=0, le=64)
    # A relay outage (refused connection, 4xx, timeout) is not the recipient's failure: the
    # notice is retried, first after the base delay, doubling up to the cap, for this many
    # hours from the dispatch; then its job ends dead (``tabellion jobs list --status dead``)
    # and the delivery stays pending until an operator retries it.
    notice_retry_hours: float = Field(default=72.0, gt=0, le=24 * 30)
    notice_retry_base_seconds: float = Field(default=60.0, gt=0, le=86_400)
    notice_retry_cap_seconds: float = Field(default=3_600.0, gt=0, le=86_400)
    log_level: str = "info"
    # ``json`` (one object per line) or ``console`` (readable); unset: console on a terminal.
    log_format: Literal["json", "console"] | None = None
    # Bearer token of GET /metrics; unset, /metrics answers loopback clients only.
    metrics_token: SecretStr | None = None
    # Days before an acceptance deadline on which unanswered recipients get a reminder.
    reminder_days: str = "7,2"
    # The evidence seal: a PEM private key (or a PKCS#12 file) and its PEM certificate chain.
    # Unset: a local root CA and seal certificate are generated into <data dir>/seal/.
    seal_key_file: Path | None = None
    seal_cert_file: Path | None = None
    seal_password: SecretStr | None = None
    # Or a seal key in a PKCS#11 token (HSM): the vendor's library, the token and key labels,
    # the user PIN; the chain is then TABELLION_SEAL_CERT_FILE (evidence/sealing/pkcs11.py).
    seal_pkcs11_module: Path | None = None
    seal_pkcs11_token: str | None = None
    seal_pkcs11_key: str | None = None
    seal_pkcs11_pin: SecretStr | None = None
    # RFC 3161 time-stamping authorities, comma-separated, tried in order; every proof is then
    # timestamped (never with local time in place of a token).
    tsa_url: str | None = None
    # PEM roots of the time-stamping authorities that /v1/verify trusts (its seal root does not
    # vouch for time). Unset: /v1/verify reports a timestamp as untrusted.
    tsa_trust_file: Path | None = None
    # Seconds new evidence waits before it is sealed, so that proofs are sealed in batches
    # (one job seals everything pending). 0 seals after every transaction that wrote evidence.
    seal_delay_seconds: float = Field(default=1.0, ge=0, le=300)
    # Organisation name written in proofs as their issuer.
    issuer_name: str = "Tabellion"
    # The provider's legal name and identifier (EN 319 412-1 form, such as VATBE-0123456789 or
    # NTRFR-123456789) in proofs; unset, those of the seal certificate's subject, if any.
    issuer_legal_name: str | None = None
    issuer_identifier: str | None = None
    # Rate limits (tabellion.kit.ratelimit): counted in memory per process unless a Redis
    # server is named, which all processes then share. Overrides by rule name, in JSON:
    # TABELLION_RATE_LIMITS='{"code-check.ip": "3/15minutes"}'.
    redis_url: str | None = None
    rate_limits: dict[str, str] = {}
    # Request bodies: JSON and form routes read at most this many bytes (uploads have
    # max_attachment_bytes); larger bodies are refused with 413 before being read.
    max_json_bytes: int = Field(default=1_048_576, gt=0)
    # Mutual TLS: the PEM CA whose client certificates may send registered letters where a
    # dialect demands one (STAMPEE LRE), and the proxies (IPs or CIDRs, comma-separated)
    # trusted to pass the client certificate they verified in a header.
    mtls_ca: Path | None = None
    trusted_proxies: str = ""
    # DKIM: an RSA private key in PEM (``tabellion dkim keygen`` makes one) signs every e-mail
    # that leaves. The domain defaults to TABELLION_MAIL_FROM's, which DMARC alignment needs.
    dkim_key_file: Path | None = None
    # Encryption at rest: a file holding the 32-byte master key (raw, hex or base64) that wraps
    # the organisations' keys. Unset: the one the first start made in the data dir, unless
    # TABELLION_STORAGE_ENCRYPTION=false (blobs then stored plain; docs/data.md).
    master_key_file: Path | None = None
    storage_encryption: bool = True
    # Or the master key in a PKCS#11 token (a non-extractable AES-256 secret key, by label),
    # or in AWS KMS (a key id, ARN or alias): exactly one source (document/key_providers.py).
    master_key_pkcs11_module: Path | None = None
    master_key_pkcs11_token: str | None = None
    master_key_pkcs11_key: str | None = None
    master_key_pkcs11_pin: SecretStr | None = None
    master_key_kms_key_id: str | None = None
    master_key_kms_endpoint_url: str | None = Field(default=None, pattern=r"^https?://")
    master_key_kms_region: str | None = None
    dkim_selector: str = Field(default="tabellion", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    # Identity providers recipients may sign in with (tabellion.identity.config), as JSON:
    # {"name": {"preset": "itsme", "discovery_url": ..., "client_id": ...}, ...}.
    identity_providers: dict[
        Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")], IdentityProvider
    ] = {}
    # Text messages for one-time codes (tabellion.identity.sms): an HTTP API, the URL a
    # template ({to}, {text}), the secret sent as a bearer token.
    sms_url: str | None = Field(default=None, pattern=r"^https?://")
    sms_secret: SecretStr | None = None
    sms_sender: str = Field(default="Tabellion", min_length=1, max_length=11)
    dkim_domain: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9-]+)+$"
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("admin_email")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        from tabellion.message.rules import normalize_email

        return normalize_email(value) if value else value

    # ---- derived values -------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self.public_url or DEFAULT_PUBLIC_URL

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tabellion.db').resolve()}"

    @property
    def resolved_storage_url(self) -> str:
        if self.storage_url:
            return self.storage_url
        return f"file://{(self.data_dir / 'blobs').resolve()}"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def allowed_webhook_hosts(self) -> frozenset[str]:
        return frozenset(
            h.strip().lower() for h in self.webhook_allowed_hosts.split(",") if h.strip()
        )

    @property
    def reminder_offsets(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.reminder_days.split(",") if d.strip().isdigit())

    @property
    def tsa_urls(self) -> list[str]:
        return [url.strip() for url in (self.tsa_url or "").split(",") if url.strip()]

    @property
    def seal_dir(self) -> Path:
        return self.data_dir / "seal"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @cached_property
    def signing_key(self) -> bytes:
        """The key that signs links and sessions.

        Outside production a missing key is generated once into the data dir, so links stay
        valid across restarts of a development server.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        if self.env == "production":
            raise ConfigError("TABELLION_SECRET_KEY is required in production")
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()

    @cached_property
    def previous_signing_keys(self) -> tuple[bytes, ...]:
        """The earlier secret keys still accepted (TABELLION_SECRET_KEY_PREVIOUS)."""
        if self.secret_key_previous is None:
            return ()
        listed = self.secret_key_previous.get_secret_value().split(",")
        return tuple(k.strip().encode() for k in listed if k.strip())

    @property
    def signing_keys(self) -> tuple[bytes, ...]:
        """The secret key, then the earlier ones still accepted: what checks a link, a code,
        a form or an encrypted secret. New ones are made with the first only."""
        return (self.signing_key, *self.previous_signing_keys)

    @property
    def master_key_elsewhere(self) -> bool:
        """Whether a PKCS#11 or KMS master key is named (then no key file is made or read)."""
        pkcs11 = (self.master_key_pkcs11_module, self.master_key_pkcs11_token)
        return any(pkcs11) or bool(self.master_key_pkcs11_key or self.master_key_kms_key_id)

    @property
    def master_key_source(self) -> Literal["file", "pkcs11", "kms"] | None:
        """Where the master key is (docs/data.md, Keys); None: blobs stored plain. Raises
        ConfigError when the settings name more than one source, or half of one."""
        named: list[tuple[Literal["file", "pkcs11", "kms"], str]] = []
        if self.master_key_file is not None:
            named.append(("file", "TABELLION_MASTER_KEY_FILE"))
        pkcs11 = {
            "TABELLION_MASTER_KEY_PKCS11_MODULE": self.master_key_pkcs11_module,
            "TABELLION_MASTER_KEY_PKCS11_TOKEN": self.master_key_pkcs11_token,
            "TABELLION_MASTER_KEY_PKCS11_KEY": self.master_key_pkcs11_key,
            "TABELLION_MASTER_KEY_PKCS11_PIN": self.master_key_pkcs11_pin,
        }
        if any(pkcs11.values()):
            named.append(("pkcs11", "TABELLION_MASTER_KEY_PKCS11_*"))
        if self.master_key_kms_key_id:
            named.append(("kms", "TABELLION_MASTER_KEY_KMS_KEY_ID"))
        if len(named) > 1:
            raise ConfigError(
                "one master key source only: "
                + " and ".join(setting for _, setting in named)
                + " are set together; unset all but one (docs/data.md, Keys)"
            )
        if named and named[0][0] == "pkcs11":
            missing = [name for name, value in pkcs11.items() if not value]
            if missing:
                raise ConfigError(f"a PKCS#11 master key also needs {', '.join(missing)}")
        if named:
            return named[0][0]
        return "file" if self.resolved_master_key_file is not None else None

    @property
    def resolved_master_key_file(self) -> Path | None:
        """The master key: TABELLION_MASTER_KEY_FILE, else the one ``tabellion serve`` made in
        the data dir on its first start (docs/data.md), else None (blobs stored plain, or the
        master key is in a PKCS#11 token or KMS)."""
        if self.master_key_file is not None:
            return self.master_key_file
        if not self.storage_encryption or self.master_key_elsewhere:
            return None
        made = self.data_dir / DEFAULT_MASTER_KEY
        return made if made.exists() else None

    def check(self) -> None:
        """Refuse settings that cannot work (two master keys), or would be unsafe in
        production."""
        _ = self.master_key_source
        if self.env != "production":
            return
        problems = []
        if self.secret_key is None:
            problems.append("TABELLION_SECRET_KEY must be set")
        elif len(self.secret_key.get_secret_value()) < 32:
            problems.append("TABELLION_SECRET_KEY must be at least 32 characters")
        if not self.public_url:
            problems.append("TABELLION_PUBLIC_URL must be set")
        if problems:
            raise ConfigError("production settings refused: " + "; ".join(problems))


def get_settings() -> Settings:
    return Settings()
