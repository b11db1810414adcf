"""RFC 9457 problem details: every error the HTTP API answers with.

``type`` is ``https://simattest.dev/problems/<slug>`` — stable, one slug per kind of
error (RFC 9457 clause 3.1.1; the URI is an identifier, not necessarily a page).
Extension members: ``errors`` (list of ``{field, reason}`` or import rows) and
``field``.  Nothing here ever echoes request values, so no key material can leak.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, has_request_context, jsonify, request
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, NotFound

from server.core.errors import ServiceError

PROBLEM_BASE = "https://simattest.dev/problems/"
MEDIA_TYPE = "application/problem+json"

log = logging.getLogger("simattest.api")

# Werkzeug's HTTP errors that reach the client, by status: (slug, title).
_HTTP_SLUGS: dict[int, tuple[str, str]] = {
    400: ("malformed-request", "Malformed request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not allowed for this role"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("body-too-large", "Request body too large"),
    414: ("request-line-too-long", "Request line too long"),
    415: ("unsupported-media-type", "Unsupported media type"),
    417: ("expectation-failed", "Expectation failed"),
    429: ("rate-limited", "Too many requests"),
    431: ("header-fields-too-large", "Request header fields too large"),
    500: ("internal-error", "Internal server error"),
    501: ("not-implemented", "Not implemented"),
}


class Problem(Exception):
    """Raise from a view to answer with problem+json.

    ``type`` is the slug (the URI prefix is added); ``extra`` becomes extension members.
    """

    def __init__(
        self, status: int, type: str, title: str, detail: str = "", **extra: Any
    ) -> None:
        super().__init__(f"{status} {type}: {detail or title}")
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.type

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type_uri, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        body.update(self.extra)
        return body

    def response(self) -> Response:
        resp = jsonify(self.to_json())
        resp.status_code = self.status
        resp.mimetype = MEDIA_TYPE
        resp.headers.update(self.headers)
        return resp

    @classmethod
    def from_service_error(cls, exc: ServiceError) -> Problem:
        extra: dict[str, Any] = {"errors": exc.errors} if exc.errors else {}
        return cls(exc.status, exc.slug, exc.title, exc.detail, **extra, **exc.extra)


def validation(field: str, reason: str) -> Problem:
    """422 naming the offending field (JSON Pointer-ish dotted path)."""
    return Problem(
        422, "validation-error", "Invalid request", f"{field}: {reason}",
        errors=[{"field": field, "reason": reason}],
    )


# Seconds a client is asked to wait after a 503: a restart or failover takes about this.
DATABASE_RETRY_AFTER = 5


def database_unavailable() -> Problem:
    problem = Problem(503, "database-unavailable", "Database unavailable",
                      "the database cannot be reached; nothing was changed, retry later")
    problem.headers["Retry-After"] = str(DATABASE_RETRY_AFTER)
    return problem


def http_problem(status: int, detail: str) -> Problem:
    """A problem with the stable type and title of an HTTP status (``_HTTP_SLUGS``)."""
    slug, title = _HTTP_SLUGS[status]
    return Problem(status, slug, title, detail)


def for_status(status: int, title: str, detail: str) -> Problem:
    """A problem for an HTTP status ``title`` names when ``_HTTP_SLUGS`` has no entry."""
    slug, known_title = _HTTP_SLUGS.get(status, ("http-error", title))
    return Problem(status, slug, known_title, detail)


def body_too_large(limit: int) -> Problem:
    """413 naming the limit (the Flask app's and ``server.http.api.device``'s own reading)."""
    return http_problem(413, f"the body may be at most {limit} bytes")


def too_many_requests(scope: str, retry_after: int) -> Problem:
    """429 naming the limit's scope, with ``Retry-After`` (``server.http.api.device``)."""
    problem = http_problem(429, f"too many requests for this {scope}; retry in {retry_after} s")
    problem.headers["Retry-After"] = str(retry_after)
    return problem


def _detail(exc: HTTPException) -> str:
    """Werkzeug's description, except where its stock text does not say what to do."""
    if exc.code == 404 and exc.description == NotFound.description:
        return "no such path or resource (GET /openapi.json lists the API's paths)"
    return exc.description or ""


def _http_problem(exc: HTTPException) -> Problem:
    status = exc.code or 500
    if status == 413 and has_request_context() and request.max_content_length:
        return body_too_large(request.max_content_length)
    problem = for_status(status, exc.name, _detail(exc))
    if status == 405 and exc.response is None:
        allowed = getattr(exc, "valid_methods", None)
        if allowed:
            problem.headers["Allow"] = ", ".join(allowed)
    return problem


def for_exception(exc: Exception) -> Problem:
    """The problem a failed request answers with (the Flask app and ``server.http.api.device``)."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, ServiceError):
        return Problem.from_service_error(exc)
    if isinstance(exc, HTTPException):
        return _http_problem(exc)
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        # The transaction was rolled back (or never committed); nothing half-written.
        log.error("database unavailable: %s", exc.orig.__class__.__name__)
        return database_unavailable()
    log.exception("unhandled error", exc_info=exc)
    return http_problem(500, "")


def install(app: Flask) -> None:
    """Register the error handler that turns every failure into problem+json."""

    @app.errorhandler(Exception)
    def _any(exc: Exception) -> Response:
        return for_exception(exc).response()
