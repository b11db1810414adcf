"""Attestation hot path: the audit head keeps its previous hash; rate counters unlogged;
fewer index writes per verdict.

``audit_head.prev_hash`` lets PostgreSQL append an audit entry in one statement
(``server.store.audit_chain``): the UPDATE that advances the head sets ``prev_hash = hash`` and
returns both, since PostgreSQL 15's RETURNING sees only the new row.

PostgreSQL: ``rate_counters`` becomes UNLOGGED.  Its rows are counted on every device
request; an unlogged table writes no WAL, so a statement that writes only there commits
without waiting for a disk flush and holds the counter row (shared by every client
behind one address) for microseconds.  A crash empties the counters, which only resets the
current minute's windows.

Every verdict updates its attestation row and appends an audit entry; each index on
those tables is one more write.  The alert index now holds contraindicated verdicts
only (the one status the desk's queries look up by), and the audit entries' index on
``action``, which no query uses, is gone.

Revision ID: 0003_hot_path
Revises: 0002_attestation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_hot_path"
down_revision = "0002_attestation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.add_column(sa.Column("prev_hash", sa.LargeBinary(32), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE rate_counters SET UNLOGGED")
    op.drop_index("ix_attestations_status_appraised", "attestations")
    op.create_index("ix_attestations_alerts", "attestations", ["appraised_at"],
                    postgresql_where=sa.text("status = 'contraindicated'"),
                    sqlite_where=sa.text("status = 'contraindicated'"))
    op.drop_index("ix_audit_entries_action", "audit_entries")


def downgrade() -> None:
    op.create_index("ix_audit_entries_action", "audit_entries", ["action"])
    op.drop_index("ix_attestations_alerts", "attestations")
    op.create_index("ix_attestations_status_appraised", "attestations",
                    ["status", "appraised_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE rate_counters SET LOGGED")
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("prev_hash")
