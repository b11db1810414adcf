"""Challenges keep nothing derived from the card's keys: ``attestations.autn`` and
``attestations.xres_enc`` are gone.

AUTN is sent to the device and not needed again; the evidence's RES is now checked
against XRES = f2(K, RAND) computed again from the card's K and OPc (TS 33.102 clause
6.3.2, f2 takes no SQN), so a challenge is stored in the same statement that reserves
its SQN, before its vector exists (``server.store.attestations``).  Challenges pending at
the upgrade still appraise: their RAND and card are all the check needs.  A downgrade
brings the columns back empty (``autn`` nullable): challenges issued since cannot be
appraised by the older code and expire.

Revision ID: 0004_no_derived_secrets
Revises: 0003_hot_path
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_no_derived_secrets"
down_revision = "0003_hot_path"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite ≥ 3.35 drops a column in place (neither is indexed or constrained).
    op.drop_column("attestations", "xres_enc")
    op.drop_column("attestations", "autn")


def downgrade() -> None:
    op.add_column("attestations", sa.Column("autn", sa.LargeBinary(16), nullable=True))
    op.add_column("attestations", sa.Column("xres_enc", sa.LargeBinary(), nullable=True))
