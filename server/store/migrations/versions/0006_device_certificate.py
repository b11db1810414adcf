"""Attestations record the device certificate the evidence came with:
``attestations.device_certificate``, the SHA-256 (hex) of the TLS client certificate
(``simattest serve --client-ca``), NULL for attestations without one — every
attestation made before this revision.

Revision ID: 0006_device_certificate
Revises: 0005_alert_acknowledgements
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_device_certificate"
down_revision = "0005_alert_acknowledgements"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("attestations",
                  sa.Column("device_certificate", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("attestations", "device_certificate")
