"""Keys of encryption at rest: one row per version of an organisation's key, wrapped by the
master key (see ``tabellion.document.encryption`` and docs/data.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from tabellion.models.base import Base, id_column


class StorageKey(Base):
    __tablename__ = "storage_keys"
    __table_args__ = (Index(None, "organization_id", "version", unique=True),)

    # ``sk_...``: named in the header of every blob it protects.
    id: Mapped[str] = id_column()
    # None: the instance key, for blobs written without an organisation.
    organization_id: Mapped[str | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    version: Mapped[int]
    # Which master key wrapped it (a fingerprint), and the wrapped 32-byte key: 40 bytes with
    # a key file (RFC 3394), 60 with a PKCS#11 token, a KMS ciphertext blob (about 200). The
    # column has no length in PostgreSQL (bytea) or SQLite (blob): 64 was never enforced.
    master_key_id: Mapped[str] = mapped_column(String(32))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary(1024))
    created_at: Mapped[datetime]
    # Set when a newer version took over writing; the key still reads older blobs.
    retired_at: Mapped[datetime | None]


class BlobKey(Base):
    """The data key of a blob in layout 2, wrapped by a version of its organisation's key.

    Kept here, not in the blob: deleting the row shreds the blob, in the store and in every
    copy of the store taken before (docs/data.md, Erasure).
    """

    __tablename__ = "blob_keys"

    # The blob's address in the store: the SHA-256 (hex) of its ciphertext.
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    # None: a blob written without an organisation (under the instance key).
    organization_id: Mapped[str | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    # The version of the organisation's key that wraps the data key (a rotation may re-wrap).
    storage_key_id: Mapped[str] = mapped_column(
        ForeignKey("storage_keys.id", ondelete="CASCADE"), index=True
    )
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[datetime] = mapped_column(index=True)
