"""Identity management (``server.idms``): the MC user directory (``mc_users``), the
MCPTT-specific identities and their mapping (``mc_identities``,
``mc_identity_aliases``), the sign-in throttle (``idms_throttle``); a handset can be
reported lost or stolen (``handsets.lost_at``/``lost_by``/``lost_note``); a checkout
can name the MC user of the directory it went to (``checkouts.mc_user_id``).

Existing handsets are not lost; existing checkouts name no MC user (their free-text
``user`` stays what it was).

Revision ID: 0007_idms_users
Revises: 0006_device_certificate
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_idms_users"
down_revision = "0006_device_certificate"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mc_users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("mc_id", sa.String(255), nullable=False, unique=True),
        sa.Column("mcptt_id", sa.String(255), nullable=False, unique=True),
        sa.Column("mcvideo_id", sa.String(255), nullable=True, unique=True),
        sa.Column("mcdata_id", sa.String(255), nullable=True, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("agency", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("totp_enc", sa.LargeBinary(), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
    )
    op.create_table(
        "mc_identities",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("checkout_id", sa.Integer(), sa.ForeignKey("checkouts.id"), nullable=False),
        sa.Column("mc_user_id", sa.Integer(), sa.ForeignKey("mc_users.id"), nullable=False),
        sa.Column("handset_id", sa.Integer(), sa.ForeignKey("handsets.id"), nullable=False),
        sa.Column("card_id", sa.Integer(), sa.ForeignKey("cards.id"), nullable=False),
        sa.Column("impi1", sa.String(255), nullable=False),
        sa.Column("impi2", sa.String(255), nullable=False, unique=True),
        sa.Column("impu2", sa.String(255), nullable=False, unique=True),
        sa.Column("instance_id", sa.String(64), nullable=False, unique=True),
        sa.Column("allocated_at", _TIME, nullable=False),
        sa.Column("allocated_by", sa.String(200), nullable=False),
        sa.Column("ended_at", _TIME, nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.Column("ended_by", sa.String(200), nullable=True),
    )
    op.create_index("ix_mc_identities_checkout_id", "mc_identities", ["checkout_id"])
    op.create_index("ix_mc_identities_mc_user_id", "mc_identities", ["mc_user_id"])
    op.create_index("ix_mc_identities_ended", "mc_identities", ["ended_at"])
    op.create_index("uq_mc_identities_active_checkout", "mc_identities", ["checkout_id"],
                    unique=True, sqlite_where=sa.text("ended_at IS NULL"),
                    postgresql_where=sa.text("ended_at IS NULL"))
    op.create_table(
        "mc_identity_aliases",
        sa.Column("impu", sa.String(255), primary_key=True),
        sa.Column("identity_id", sa.Integer(),
                  sa.ForeignKey("mc_identities.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_index("ix_mc_identity_aliases_identity_id", "mc_identity_aliases",
                    ["identity_id"])
    op.create_table(
        "idms_throttle",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", _TIME, nullable=False),
        sa.Column("not_before", _TIME, nullable=False),
    )
    op.add_column("handsets", sa.Column("lost_at", _TIME, nullable=True))
    op.add_column("handsets", sa.Column("lost_by", sa.String(200), nullable=True))
    op.add_column("handsets", sa.Column("lost_note", sa.String(500), nullable=True))
    with op.batch_alter_table("checkouts") as batch:
        batch.add_column(sa.Column("mc_user_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_checkouts_mc_user_id", "mc_users", ["mc_user_id"], ["id"])
        batch.create_index("ix_checkouts_mc_user_id", ["mc_user_id"])


def downgrade() -> None:
    with op.batch_alter_table("checkouts") as batch:
        batch.drop_index("ix_checkouts_mc_user_id")
        batch.drop_constraint("fk_checkouts_mc_user_id", type_="foreignkey")
        batch.drop_column("mc_user_id")
    for column in ("lost_note", "lost_by", "lost_at"):
        op.drop_column("handsets", column)
    op.drop_table("idms_throttle")
    op.drop_table("mc_identity_aliases")
    op.drop_table("mc_identities")
    op.drop_table("mc_users")
