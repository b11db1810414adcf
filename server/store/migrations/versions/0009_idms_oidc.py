"""The IdMS's OpenID Connect tables (``server.idms.oidc``): ``idms_clients`` (registered
native and service clients), ``idms_codes`` (authorization codes, as digests, single
use) and ``idms_sign_ins`` (an MC user signed in on a checked-out handset: its current
refresh token's digest, the device certificate its tokens are bound to, its end).

Revision ID: 0009_idms_oidc
Revises: 0008_android_attestation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_idms_oidc"
down_revision = "0008_android_attestation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idms_clients",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("redirect_uris", sa.JSON, nullable=False),
        sa.Column("scopes", sa.String(512), nullable=False),
        sa.Column("secret_sha256", sa.LargeBinary(32), nullable=True),
        sa.Column("certificate_sha256", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "idms_codes",
        sa.Column("code_sha256", sa.LargeBinary(32), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("redirect_uri", sa.String(512), nullable=False),
        sa.Column("scope", sa.String(512), nullable=False),
        sa.Column("nonce", sa.String(255), nullable=True),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        sa.Column("mc_user_id", sa.Integer, sa.ForeignKey("mc_users.id"), nullable=False),
        sa.Column("imei", sa.String(15), nullable=False),
        sa.Column("checkout_id", sa.Integer, sa.ForeignKey("checkouts.id"), nullable=False),
        sa.Column("x5t", sa.String(43), nullable=False),
        sa.Column("acr", sa.String(64), nullable=True),
        sa.Column("amr", sa.JSON, nullable=False),
        sa.Column("auth_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "idms_sign_ins",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("mc_user_id", sa.Integer, sa.ForeignKey("mc_users.id"), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("imei", sa.String(15), nullable=False),
        sa.Column("checkout_id", sa.Integer, sa.ForeignKey("checkouts.id"), nullable=False),
        sa.Column("identity_id", sa.Integer, sa.ForeignKey("mc_identities.id"),
                  nullable=False),
        sa.Column("x5t", sa.String(43), nullable=False),
        sa.Column("scope", sa.String(512), nullable=False),
        sa.Column("code_sha256", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("refresh_sha256", sa.LargeBinary(32), nullable=True, unique=True),
        sa.Column("refresh_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(64), nullable=True),
    )
    op.create_index("ix_idms_sign_ins_checkout", "idms_sign_ins", ["checkout_id"])


def downgrade() -> None:
    op.drop_index("ix_idms_sign_ins_checkout", "idms_sign_ins")
    op.drop_table("idms_sign_ins")
    op.drop_table("idms_codes")
    op.drop_table("idms_clients")
