"""``GET /healthz``: the service is up and its database answers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import text

from server.http.api.auth import service
from server.http.api.openapi import json_response, problem_response

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> dict[str, Any]:
    svc = service()
    with svc.db.read_session() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok", "database": svc.db.dialect}


OPENAPI: dict[str, Any] | None = {
    "paths": {
        "/healthz": {
            "get": {
                "summary": "Liveness and database check",
                "operationId": "getHealth",
                "responses": {
                    "200": json_response("Healthy", {
                        "type": "object",
                        "properties": {"status": {"const": "ok"},
                                       "database": {"type": "string"}},
                    }),
                    "503": problem_response("Database unavailable"),
                },
            }
        }
    }
}
