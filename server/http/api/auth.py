"""Bearer-token authentication for the JSON API (RFC 6750) and role checks.

Roles: ``admin`` may do everything; ``provisioner`` and ``desk`` only their own
endpoints (``server.core.roles.grants``).  The authenticated operator is kept in
``flask.g.operator``; ``current_actor()`` names it for the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, request

from server.core import operators
from server.core.service import Service
from server.http.api.problems import Problem, http_problem
from server.store.models import Operator

F = TypeVar("F", bound=Callable[..., Any])


def service() -> Service:
    """The ``Service`` the running app was created with."""
    return cast(Service, current_app.extensions["simattest"])


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _unauthorized(detail: str) -> Problem:
    problem = http_problem(401, detail)
    problem.headers["WWW-Authenticate"] = 'Bearer realm="simattest"'
    return problem


def require_role(*roles: str) -> Callable[[F], F]:
    """Decorator: the request needs a valid Bearer token whose role grants one of ``roles``."""
    for role in roles:
        if role not in operators.ROLES:
            raise ValueError(f"unknown role {role!r}")

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = bearer_token()
            if token is None:
                raise _unauthorized("send 'Authorization: Bearer <token>'")
            operator = operators.authenticate(service(), token)
            if operator is None:
                raise _unauthorized("the token is unknown or revoked")
            if not any(operators.grants(operator.role, role) for role in roles):
                raise http_problem(403, f"needs role {' or '.join(roles)}; the token has "
                                        f"{operator.role}")
            g.operator = operator
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def current_operator() -> Operator:
    return cast(Operator, g.operator)


def current_actor() -> str:
    return current_operator().actor
