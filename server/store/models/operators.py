"""``operators``: API tokens (stored as SHA-256 only) and their roles."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models.base import Base, utcnow


class Operator(Base):
    """An API token holder.  Only SHA-256 of the token is stored."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    @property
    def actor(self) -> str:
        """How this operator is named in the audit log."""
        return f"operator:{self.id}:{self.label}" if self.label else f"operator:{self.id}"
