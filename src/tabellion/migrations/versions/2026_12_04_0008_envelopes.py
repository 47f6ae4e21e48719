"""Envelopes (e-signature): envelopes, their documents, recipients and fields.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 12:45:02.123676
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tabellion.models.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "envelopes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("submitted_by_key_id", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("signing_order", sa.String(length=16), nullable=False),
        sa.Column("expires_in_days", sa.Integer(), nullable=False),
        sa.Column("sent_at", tabellion.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", tabellion.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", tabellion.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", tabellion.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("certificate_storage_key", sa.String(length=255), nullable=True),
        sa.Column(
            "last_reminded_at", tabellion.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", tabellion.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tabellion.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_envelopes_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_envelopes")),
    )
    with op.batch_alter_table("envelopes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_envelopes_certificate_storage_key"),
            ["certificate_storage_key"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_envelopes_organization_id_id"), ["organization_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_envelopes_organization_id_status"),
            ["organization_id", "status"],
            unique=False,
        )

    op.create_table(
        "envelope_documents",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("envelope_id", sa.String(length=40), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("signed_sha256", sa.String(length=64), nullable=True),
        sa.Column("signed_storage_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", tabellion.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["envelope_id"],
            ["envelopes.id"],
            name=op.f("fk_envelope_documents_envelope_id_envelopes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_envelope_documents_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_envelope_documents")),
    )
    with op.batch_alter_table("envelope_documents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_envelope_documents_envelope_id"), ["envelope_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_envelope_documents_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_envelope_documents_sha256"), ["sha256"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_envelope_documents_signed_sha256"), ["signed_sha256"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_envelope_documents_signed_storage_key"),
            ["signed_storage_key"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_envelope_documents_storage_key"), ["storage_key"], unique=False
        )

    op.create_table(
        "envelope_recipients",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("envelope_id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "access_auth",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "action_auth",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("token_salt", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("sent_at", tabellion.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opened_at", tabellion.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acted_at", tabellion.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "trail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", tabellion.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tabellion.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["envelope_id"],
            ["envelopes.id"],
            name=op.f("fk_envelope_recipients_envelope_id_envelopes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_envelope_recipients_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_envelope_recipients")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_envelope_recipients_token_hash")),
    )
    with op.batch_alter_table("envelope_recipients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_envelope_recipients_email"), ["email"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_envelope_recipients_envelope_id"), ["envelope_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_envelope_recipients_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "envelope_fields",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("envelope_id", sa.String(length=40), nullable=False),
        sa.Column("recipient_id", sa.String(length=40), nullable=False),
        sa.Column("document_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("x", sa.Float(), nullable=False),
        sa.Column("y", sa.Float(), nullable=False),
        sa.Column("width", sa.Float(), nullable=False),
        sa.Column("height", sa.Float(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column(
            "meta",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", tabellion.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["envelope_documents.id"],
            name=op.f("fk_envelope_fields_document_id_envelope_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["envelope_id"],
            ["envelopes.id"],
            name=op.f("fk_envelope_fields_envelope_id_envelopes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_envelope_fields_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["envelope_recipients.id"],
            name=op.f("fk_envelope_fields_recipient_id_envelope_recipients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_envelope_fields")),
    )
    with op.batch_alter_table("envelope_fields", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_envelope_fields_document_id"), ["document_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_envelope_fields_envelope_id"), ["envelope_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_envelope_fields_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_envelope_fields_recipient_id"), ["recipient_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("envelope_fields", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_envelope_fields_recipient_id"))
        batch_op.drop_index(batch_op.f("ix_envelope_fields_organization_id"))
        batch_op.drop_index(batch_op.f("ix_envelope_fields_envelope_id"))
        batch_op.drop_index(batch_op.f("ix_envelope_fields_document_id"))

    op.drop_table("envelope_fields")
    with op.batch_alter_table("envelope_recipients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_envelope_recipients_organization_id"))
        batch_op.drop_index(batch_op.f("ix_envelope_recipients_envelope_id"))
        batch_op.drop_index(batch_op.f("ix_envelope_recipients_email"))

    op.drop_table("envelope_recipients")
    with op.batch_alter_table("envelope_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_envelope_documents_storage_key"))
        batch_op.drop_index(batch_op.f("ix_envelope_documents_signed_storage_key"))
        batch_op.drop_index(batch_op.f("ix_envelope_documents_signed_sha256"))
        batch_op.drop_index(batch_op.f("ix_envelope_documents_sha256"))
        batch_op.drop_index(batch_op.f("ix_envelope_documents_organization_id"))
        batch_op.drop_index(batch_op.f("ix_envelope_documents_envelope_id"))

    op.drop_table("envelope_documents")
    with op.batch_alter_table("envelopes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_envelopes_organization_id_status"))
        batch_op.drop_index(batch_op.f("ix_envelopes_certificate_storage_key"))
        batch_op.drop_index(batch_op.f("ix_envelopes_organization_id_id"))

    op.drop_table("envelopes")
