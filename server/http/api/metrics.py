"""``GET /metrics``: Prometheus text exposition, for operators: any operator token (no
secrets in it, but counts by verdict and reason are the operators' business), or none on
the address of ``simattest serve --metrics-bind`` (``server.http.metrics``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from server.http.api.auth import require_role
from server.http.api.openapi import BEARER, problem_response
from server.http.metrics import exposition

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
@require_role("desk", "provisioner")
def metrics() -> Response:
    body, content_type = exposition()
    return Response(body, content_type=content_type)


OPENAPI: dict[str, Any] | None = {
    "paths": {
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (attestations by status and reason, latency); "
                           "any operator token, or none on the --metrics-bind address",
                "operationId": "getMetrics", "security": BEARER,
                "responses": {"200": {"description": "Prometheus text format",
                                      "content": {"text/plain": {"schema": {"type": "string"}}}},
                              "401": problem_response("No or unknown token")},
            }
        }
    }
}
