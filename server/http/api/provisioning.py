"""Provisioning endpoint: import a SIM vendor batch file into the pool."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from server.http.api.auth import current_actor, require_role, service
from server.http.api.body import json_body
from server.http.api.openapi import BEARER, json_request, json_response, problem_response, ref
from server.http.api.request_models import NewImport
from server.pool import provisioning

blueprint = Blueprint("provisioning", __name__, url_prefix="/v1")


@blueprint.post("/pool/imports")
@require_role("provisioner")
def import_batch() -> tuple[dict[str, Any], int]:
    # Batch files are large; this endpoint alone accepts bodies up to max_import_bytes.
    request.max_content_length = service().config.max_import_bytes
    body = json_body(NewImport)
    report = provisioning.import_batch(
        service(), body.content, body.filename,
        None if body.transport_key is None
        else provisioning.parse_transport_key(body.transport_key),
        partial=body.partial, actor=current_actor(),
    )
    return report.to_json(), 201


_ROW_ERROR = {"type": "object", "properties": {
    "line": {"type": "integer"}, "field": {"type": "string"}, "reason": {"type": "string"}}}

OPENAPI: dict[str, Any] | None = {
    "paths": {
        "/v1/pool/imports": {
            "post": {
                "summary": "Import a vendor batch file (CSV or vendor output file)",
                "description": "All-or-nothing unless partial is true. Key material is "
                               "never returned; rejected rows name line, field and reason.",
                "operationId": "importBatch", "security": BEARER,
                "requestBody": json_request(NewImport),
                "responses": {
                    "201": json_response("Imported", ref("ImportReport")),
                    "401": problem_response("No or unknown token"),
                    "403": problem_response("Role not allowed"),
                    "409": problem_response("Every card of the file is already in the pool "
                                            "(already-in-pool: nothing to do), every "
                                            "rejected row's card is (import-rejected; "
                                            "errors lists them), or a concurrent import "
                                            "of the same cards"),
                    "413": problem_response("File too large"),
                    "422": problem_response("Rows rejected (import-rejected: errors lists "
                                            "every rejected line; rows and good_rows say "
                                            "whether partial would import any), the "
                                            "header's quantity disagrees with the rows "
                                            "(quantity-mismatch), or invalid file"),
                },
            }
        }
    },
    "components": {"schemas": {"ImportReport": {"type": "object", "properties": {
        "filename": {"type": "string"}, "format": {"enum": ["csv", "vendor-out"]},
        "rows": {"type": "integer"}, "imported": {"type": "integer"},
        "rejected": {"type": "array", "items": _ROW_ERROR},
        "ignored_columns": {"type": "array", "items": {"type": "string"}},
        "sha256": {"type": "string"}}}}},
}
