"""Desk session cookies cannot be made from a copy of the database.

The cookie signing key is derived from the key-encryption key, which the database does
not hold (``KeyStore.session_key``).  The attacker here has a dump of every table and
every public value of the service, and tries each value as the session key — as is, and
through the derivation the service used before (an HMAC over the KEK check value) —
with Flask's own session serializer, against a real server's desk page.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import MetaData, select

from server.core import operators
from server.core.service import Service
from server.http.app import create_app
from server.pool.keyrotation import rotate_kek
from tests.fixtures_attestation import Pool
from tests.fixtures_browser import serve

COOKIE = "simattest_desk"
PAGE = "/desk/pool"


def _cookie(key: bytes, operator_id: int) -> str:
    """A desk session for ``operator_id`` signed with ``key``, as Flask signs one."""
    app = Flask("forger")
    app.secret_key = key
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None
    return str(serializer.dumps({"_permanent": True, "operator_id": operator_id,
                                 "signed_in_at": int(time.time())}))


def _dump(svc: Service) -> set[bytes]:
    """Every value of every table, as bytes (text UTF-8, hex text also decoded)."""
    meta = MetaData()
    meta.reflect(svc.db.engine)
    values: set[bytes] = set()
    with svc.db.engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    values.update(_as_bytes(value))
    return values


def _as_bytes(value: Any) -> list[bytes]:
    if value is None:
        return []
    if isinstance(value, bytes | memoryview):
        return [bytes(value)]
    text = value if isinstance(value, str) else json.dumps(value, default=str) \
        if isinstance(value, dict | list) else str(value)
    out = [text.encode()]
    with contextlib.suppress(ValueError):
        out.append(bytes.fromhex(text))
    return out


def _public(url: str) -> set[bytes]:
    """What the service shows anyone: its JWKS members, the OpenAPI document."""
    jwks = requests.get(url + "/.well-known/jwks.json", timeout=10).json()
    values = {v.encode() for key in jwks["keys"] for v in key.values()}
    return values | {requests.get(url + "/openapi.json", timeout=10).content}


def _page(url: str, cookie: str) -> int:
    return requests.get(url + PAGE, cookies={COOKIE: cookie}, allow_redirects=False,
                        timeout=10).status_code


@pytest.fixture
def desk(service: Service, pool: Pool) -> Iterator[tuple[str, int]]:
    """The app on a real HTTP server; the admin operator's id."""
    admin = operators.authenticate(service, operators.create_token(service, "admin", "admin 1"))
    assert admin is not None
    with serve(create_app(service)) as url:
        yield url, admin.id


def test_no_value_in_a_database_dump_signs_a_session_the_desk_takes(
        service: Service, desk: tuple[str, int]) -> None:
    url, admin = desk
    # The forgery works with the right key: the desk page opens.
    assert _page(url, _cookie(service.keys.session_key, admin)) == 200
    candidates = _dump(service) | _public(url)
    assert service.keys.check_value in candidates  # the dump is complete
    keys = candidates | {hmac.new(v, b"flask session key", hashlib.sha256).digest()
                         for v in candidates}
    refused = {_page(url, _cookie(key, admin)) for key in keys}
    assert refused == {302}  # to the sign-in page, every one


def test_rotating_the_kek_in_another_process_ends_the_desk_sessions(
        service: Service, desk: tuple[str, int], db_url: str, tmp_path: Path) -> None:
    url, admin = desk
    before = _cookie(service.keys.session_key, admin)
    assert _page(url, before) == 200
    with Service.open(tmp_path / "data", db_url) as other:  # e.g. `simattest pool rotate-kek`
        rotate_kek(other, actor="admin")
        after = _cookie(other.keys.session_key, admin)
    assert _page(url, before) == 302
    assert _page(url, after) == 200  # a new sign-in, under the new key
