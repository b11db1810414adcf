"""``operators``: API tokens (stored as SHA-256 only) and their roles."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models.base import Base, utcnow

MAX_OPERATOR_LABEL_CHARS = 200  # operators.label is VARCHAR(200)
# audit_entries.actor, checkouts.started_by and returned_by are VARCHAR(200).
MAX_ACTOR_CHARS = 200


class Operator(Base):
    """An API token holder.  Only SHA-256 of the token is stored."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(MAX_OPERATOR_LABEL_CHARS), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    @property
    def actor(self) -> str:
        """How this operator is named in the audit log: the id, and as much of the label
        as the actor columns hold (the id alone identifies the operator)."""
        name = f"operator:{self.id}"
        return f"{name}:{self.label}"[:MAX_ACTOR_CHARS] if self.label else name
