"""``GET /metrics``: Prometheus text exposition (no secrets, no token needed)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from server.http.metrics import exposition

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
def metrics() -> Response:
    body, content_type = exposition()
    return Response(body, content_type=content_type)


OPENAPI: dict[str, Any] | None = {
    "paths": {
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (attestations by status and reason, latency)",
                "operationId": "getMetrics",
                "responses": {"200": {"description": "Prometheus text format",
                                      "content": {"text/plain": {"schema": {"type": "string"}}}}},
            }
        }
    }
}
