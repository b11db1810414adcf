"""Alerts can be acknowledged: ``alert_acknowledgements`` (who, when, a note).

A table of its own rather than columns on ``attestations``: the hot path's statements
never touch it, and an alert is acknowledged at most once (the primary key).  Existing
alerts start unacknowledged.  Cards keep their ``verification`` column; a new value,
``unchecked-key``, marks cards imported from now on under a transport key the file
gave no check value for (cards imported before cannot be told apart: they stay
``unverified``).

Revision ID: 0005_alert_acknowledgements
Revises: 0004_no_derived_secrets
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_alert_acknowledgements"
down_revision = "0004_no_derived_secrets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_acknowledgements",
        sa.Column("attestation_id", sa.String(32), sa.ForeignKey("attestations.id"),
                  primary_key=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_acknowledgements")
