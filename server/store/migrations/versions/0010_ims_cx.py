"""The IMS Cx peer (``server.ims``): its own SEQ per card in its IND slot (``cx_sqn``,
TS 33.102 Annex C.1.1.2) and where each MCPTT-specific public identity is registered
(``ims_registrations``: state, S-CSCF name and Diameter identity).

No card has an entry until its first MAR; no IMPU is registered.

Revision ID: 0010_ims_cx
Revises: 0009_idms_oidc
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_ims_cx"
down_revision = "0009_idms_oidc"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cx_sqn",
        sa.Column("card_id", sa.Integer(), sa.ForeignKey("cards.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "ims_registrations",
        sa.Column("impu", sa.String(255), primary_key=True),
        sa.Column("impi", sa.String(255), nullable=False, index=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("scscf_name", sa.Text(), nullable=False),
        sa.Column("scscf_host", sa.String(255), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ims_registrations")
    op.drop_table("cx_sqn")
