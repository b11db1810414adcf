"""``service_meta``: service-wide values settled once across processes (the KEK check
value, the EAR signing key id; ``server.store.metastore``)."""

from __future__ import annotations

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models.base import Base


class Meta(Base):
    """Service-wide facts: the KEK check value, the EAR signing key id."""

    __tablename__ = "service_meta"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
