"""Evidence: one row per event in a delivery's or a signing envelope's life, sealed after
commit by a job. A row names either a delivery (and its message) or an envelope (and, for a
recipient's act, the recipient).

Each organisation's evidence forms a hash chain (``seq``, ``prev_hash``, ``hash``); every
sealed evidence hash is also a leaf of one append-only Merkle tree (RFC 9162) whose perfect
subtree hashes are kept in ``transparency_nodes`` and whose signed heads are published.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tabellion.models.base import Base, id_column

# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere 64 bits.
BigInt = BigInteger().with_variant(Integer(), "sqlite")


class Evidence(Base):
    __tablename__ = "evidence"
    __table_args__ = (
        Index(None, "organization_id", "seq", unique=True),
        Index(None, "sealed_at", "id"),
    )

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    delivery_id: Mapped[str | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[str | None] = mapped_column(String(40))
    envelope_id: Mapped[str | None] = mapped_column(
        ForeignKey("envelopes.id", ondelete="CASCADE"), index=True
    )
    recipient_id: Mapped[str | None] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(255))
    occurred_at: Mapped[datetime]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set when sealed: the chain position, the content hash, the JWS (flattened JSON).
    seq: Mapped[int | None] = mapped_column(BigInt)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64), index=True)
    jws: Mapped[str | None] = mapped_column(Text)
    sealed_at: Mapped[datetime | None]
    leaf_index: Mapped[int | None] = mapped_column(BigInt)
    # RFC 3161: "none" (no authority configured), "awaiting", "stamped".
    timestamp_status: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    timestamp_token: Mapped[str | None] = mapped_column(Text)  # base64 DER TimeStampToken
    pdf_key: Mapped[str | None] = mapped_column(String(255))
    # Past its proof retention period (docs/data.md): ``jws``, ``details`` and the PDF are
    # deleted; ``seq``, ``prev_hash``, ``hash``, the log leaf and the timestamp token stay, so
    # the chain and the log still verify and a copy of the proof is still recognised.
    expired_at: Mapped[datetime | None]


class EvidenceChain(Base):
    """The head of one organisation's chain."""

    __tablename__ = "evidence_chains"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInt)
    head_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class TransparencyLog(Base):
    """The log's size (one row). Sealing locks it, so leaves are appended one batch at a time."""

    __tablename__ = "transparency_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInt)
    updated_at: Mapped[datetime]


class TransparencyNode(Base):
    """The hash of the perfect subtree of 2**level leaves starting at leaf index << level."""

    __tablename__ = "transparency_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class TreeHead(Base):
    """A signed tree head, as published."""

    __tablename__ = "tree_heads"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime]
    signature: Mapped[str] = mapped_column(Text)  # compact JWS over the canonical head
