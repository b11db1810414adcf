"""Operators: API tokens (stored as SHA-256) and their roles.

Tokens are 256-bit random values from ``secrets`` shown once at creation; a hash of
a high-entropy token needs no salt or slow KDF.  Lookup is by hash, then the hash is
compared again with ``hmac.compare_digest`` so the check itself is constant-time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from server.core.errors import ValidationError
from server.core.identifiers import check_text
from server.core.roles import ROLES, grants
from server.core.service import Service
from server.store import audit_chain as audit
from server.store.models import MAX_OPERATOR_LABEL_CHARS, Operator, utcnow

__all__ = ["ROLES", "OperatorView", "authenticate", "create_token", "grants", "list_operators",
           "revoke", "token_hash"]
TOKEN_PREFIX = "sat_"  # noqa: S105 -- a visible marker, not a secret


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def create_token(svc: Service, role: str, label: str = "", actor: str = "cli") -> str:
    """Create an operator and return its token (the only time it is visible)."""
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}", field="role")
    label = check_text(label, "label", max_chars=MAX_OPERATOR_LABEL_CHARS, required=False)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with svc.db.session() as session:
        operator = Operator(token_hash=token_hash(token), role=role, label=label)
        session.add(operator)
        session.flush()
        audit.append(session, actor, "operator.create", f"operator:{operator.id}",
                     {"role": role, "label": label})
    return token


def authenticate(svc: Service, token: str) -> Operator | None:
    """The active operator holding ``token``, or None."""
    digest = token_hash(token)
    with svc.db.read_session() as session:
        operator = session.scalar(
            select(Operator).where(Operator.token_hash == digest, Operator.revoked_at.is_(None))
        )
    if operator is None or not hmac.compare_digest(operator.token_hash, digest):
        return None
    return operator


@dataclass(frozen=True, slots=True)
class OperatorView:
    """A token holder as an administrator sees it: never the token or its hash."""

    id: int
    role: str
    label: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "role": self.role, "label": self.label,
                "created_at": self.created_at.isoformat(timespec="seconds"),
                "revoked_at": None if self.revoked_at is None
                else self.revoked_at.isoformat(timespec="seconds")}


def list_operators(svc: Service, include_revoked: bool = False) -> list[OperatorView]:
    """Token holders in the order they were created; the revoked ones only if asked."""
    query = select(Operator).order_by(Operator.id)
    if not include_revoked:
        query = query.where(Operator.revoked_at.is_(None))
    with svc.db.read_session() as session:
        return [OperatorView(o.id, o.role, o.label, o.created_at, o.revoked_at)
                for o in session.scalars(query)]


def revoke(svc: Service, operator_id: int, actor: str) -> None:
    """Revoke a token: refused from the next request on, in every server process (each
    request looks its token up), and its desk sessions end at their next page."""
    with svc.db.session() as session:
        operator = session.get(Operator, operator_id, with_for_update=True)
        if operator is None or operator.revoked_at is not None:
            raise ValidationError(f"no active operator {operator_id}", field="id")
        operator.revoked_at = utcnow()
        audit.append(session, actor, "operator.revoke", f"operator:{operator_id}",
                     {"role": operator.role, "label": operator.label})
