"""Foundation tables: service meta, operators, cards, handsets, pairings, audit chain.

Revision ID: 0001_foundation
Revises:
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None

_ACTIVE = sa.text("ended_at IS NULL")


def _utc(name: str, nullable: bool = False) -> sa.Column[dt.datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "service_meta",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "operators",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        _utc("created_at"),
        _utc("revoked_at", nullable=True),
    )
    op.create_table(
        "cards",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("iccid", sa.String(20), nullable=False, unique=True),
        sa.Column("imsi", sa.String(15), nullable=False),
        sa.Column("profile", sa.String(100), nullable=True),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("k_enc", sa.LargeBinary(), nullable=False),
        sa.Column("opc_enc", sa.LargeBinary(), nullable=False),
        sa.Column("pin1_enc", sa.LargeBinary(), nullable=True),
        sa.Column("puk1_enc", sa.LargeBinary(), nullable=True),
        sa.Column("adm1_enc", sa.LargeBinary(), nullable=True),
        sa.Column("impi", sa.String(255), nullable=True),
        sa.Column("impu", sa.Text(), nullable=True),
        sa.Column("batch", sa.String(255), nullable=False),
        _utc("imported_at"),
        sa.Column("verification", sa.String(16), nullable=False),
        _utc("verified_at", nullable=True),
        sa.Column("verification_reason", sa.Text(), nullable=True),
        sa.Column("sqn_seq", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_cards_imsi", "cards", ["imsi"])
    op.create_table(
        "handsets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("imei", sa.String(15), nullable=False, unique=True),
        sa.Column("imeisv", sa.String(16), nullable=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column("key_algorithm", sa.String(16), nullable=False),
        _utc("created_at"),
    )
    op.create_index("ix_handsets_label", "handsets", ["label"])
    op.create_table(
        "pairings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("handset_id", sa.Integer(), sa.ForeignKey("handsets.id"), nullable=False),
        sa.Column("card_id", sa.Integer(), sa.ForeignKey("cards.id"), nullable=False),
        _utc("created_at"),
        _utc("ended_at", nullable=True),
    )
    # At most one active pairing per handset and per card, enforced by the database.
    for column in ("handset_id", "card_id"):
        op.create_index(
            f"uq_pairings_active_{column.removesuffix('_id')}",
            "pairings",
            [column],
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        )
    op.create_table(
        "audit_entries",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        _utc("at"),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_index("ix_audit_entries_action", "audit_entries", ["action"])
    op.create_index("ix_audit_entries_subject", "audit_entries", ["subject"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    # The chain starts from seq 0 with an all-zero hash (server.store.audit_chain.GENESIS_HASH).
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": bytes(32)}])


def downgrade() -> None:
    for table in ("audit_head", "audit_entries", "pairings", "handsets", "cards", "operators"):
        op.drop_table(table)
    op.drop_table("service_meta")
