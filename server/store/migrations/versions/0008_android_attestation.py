"""Android key attestation: ``handset_attestations`` (what a handset's registration
attestation showed; none for the handsets registered before, whose key kind is
``software``) and ``registration_nonces`` (single-use registration challenges).

Revision ID: 0008_android_attestation
Revises: 0007_idms_users
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_android_attestation"
down_revision = "0007_idms_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handset_attestations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("handset_id", sa.Integer(), sa.ForeignKey("handsets.id"), nullable=False),
        sa.Column("key_kind", sa.String(16), nullable=False),
        sa.Column("attestation_version", sa.Integer(), nullable=False),
        sa.Column("keymint_version", sa.Integer(), nullable=False),
        sa.Column("device_locked", sa.Boolean(), nullable=False),
        sa.Column("verified_boot_state", sa.String(16), nullable=False),
        sa.Column("verified_boot_key", sa.String(128), nullable=False),
        sa.Column("verified_boot_hash", sa.String(128), nullable=True),
        sa.Column("os_version", sa.Integer(), nullable=True),
        sa.Column("os_patch_level", sa.Integer(), nullable=True),
        sa.Column("vendor_patch_level", sa.Integer(), nullable=True),
        sa.Column("boot_patch_level", sa.Integer(), nullable=True),
        sa.Column("attested_imei", sa.String(15), nullable=True),
        sa.Column("attested_second_imei", sa.String(15), nullable=True),
        sa.Column("application_id", sa.Text(), nullable=True),
        sa.Column("device_ids", sa.Text(), nullable=True),
        sa.Column("root_name", sa.String(200), nullable=False),
        sa.Column("chain_sha256", sa.String(64), nullable=False),
        sa.Column("chain_serials", sa.Text(), nullable=False),
        sa.Column("policy_id", sa.String(100), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("handset_id"),
    )
    op.create_table(
        "registration_nonces",
        sa.Column("nonce_sha256", sa.String(64), primary_key=True),
        sa.Column("imei", sa.String(15), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("registration_nonces")
    op.drop_table("handset_attestations")
