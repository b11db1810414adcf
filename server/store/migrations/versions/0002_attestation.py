"""Attestation tables: attestations (challenge + verdict), checkouts, rate counters.

Revision ID: 0002_attestation
Revises: 0001_foundation
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0002_attestation"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def _utc(name: str, nullable: bool = False) -> sa.Column[dt.datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "attestations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("imei", sa.String(15), nullable=False),
        sa.Column("handset_id", sa.Integer(), sa.ForeignKey("handsets.id"), nullable=True),
        sa.Column("card_id", sa.Integer(), sa.ForeignKey("cards.id"), nullable=True),
        sa.Column("app", sa.String(8), nullable=False),
        sa.Column("rand", sa.LargeBinary(16), nullable=False),
        sa.Column("autn", sa.LargeBinary(16), nullable=False),
        sa.Column("xres_enc", sa.LargeBinary(), nullable=True),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        _utc("created_at"),
        _utc("expires_at"),
        sa.Column("state", sa.String(12), nullable=False),
        _utc("appraised_at", nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=True),
        sa.Column("iccid", sa.String(20), nullable=True),
        sa.Column("imsi", sa.String(15), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("ear", sa.Text(), nullable=True),
        sa.Column("resync_id", sa.String(32), nullable=True),
    )
    op.create_index("ix_attestations_imei_appraised", "attestations", ["imei", "appraised_at"])
    op.create_index("ix_attestations_status_appraised", "attestations",
                    ["status", "appraised_at"])
    op.create_table(
        "checkouts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("attestation_id", sa.String(32), sa.ForeignKey("attestations.id"),
                  nullable=False, unique=True),
        sa.Column("handset_id", sa.Integer(), sa.ForeignKey("handsets.id"), nullable=False),
        sa.Column("card_id", sa.Integer(), sa.ForeignKey("cards.id"), nullable=True),
        sa.Column("user", sa.String(200), nullable=False),
        _utc("started_at"),
        sa.Column("started_by", sa.String(200), nullable=False),
        _utc("returned_at", nullable=True),
        sa.Column("returned_by", sa.String(200), nullable=True),
    )
    # At most one active checkout per handset, enforced by the database.
    active = sa.text("returned_at IS NULL")
    op.create_index("uq_checkouts_active_handset", "checkouts", ["handset_id"], unique=True,
                    sqlite_where=active, postgresql_where=active)
    op.create_table(
        "rate_counters",
        sa.Column("key", sa.String(96), primary_key=True),
        sa.Column("window", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    for table in ("rate_counters", "checkouts", "attestations"):
        op.drop_table(table)
