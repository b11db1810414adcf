"""Operator tokens: shown once, stored hashed, roles, revocation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.core import operators
from server.core.errors import ValidationError
from server.core.service import Service
from server.store.models import Operator


def test_token_is_stored_only_as_hash(service: Service) -> None:
    token = operators.create_token(service, "desk", "front desk")
    assert token.startswith("sat_") and len(token) > 40
    with service.db.read_session() as session:
        stored = session.scalar(select(Operator))
    assert stored is not None
    assert token.encode() not in stored.token_hash and len(stored.token_hash) == 32
    found = operators.authenticate(service, token)
    assert found is not None and (found.role, found.label) == ("desk", "front desk")


def test_unknown_revoked_and_bad_role(service: Service) -> None:
    token = operators.create_token(service, "provisioner")
    assert operators.authenticate(service, token + "x") is None
    found = operators.authenticate(service, token)
    assert found is not None
    operators.revoke(service, found.id, actor="admin")
    assert operators.authenticate(service, token) is None
    with pytest.raises(ValidationError, match="role must be one of"):
        operators.create_token(service, "root")


def test_role_grants() -> None:
    assert operators.grants("admin", "desk") and operators.grants("admin", "provisioner")
    assert operators.grants("desk", "desk")
    assert not operators.grants("desk", "provisioner")
    assert not operators.grants("provisioner", "desk")
    assert not operators.grants("provisioner", "admin")
