"""The desk blueprint object and the request plumbing every desk page shares.

Routes live in one module per page group (``auth``, ``pool``, ``alerts``, ``desk``,
``provision``, ``detail``); they all hang off :data:`bp` defined here so that the
package import order cannot matter.  CSRF is enforced here, for this blueprint only:
the JSON API (Bearer tokens, no cookies) is never subject to it, whatever order the
app factory registers blueprints in.
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from flask.blueprints import BlueprintSetupState
from flask_wtf.csrf import CSRFProtect

from attest import reasons
from server.http.api.auth import service
from server.http.api.body import request_body
from server.http.api.problems import validation
from server.http.api.request_models import INT32_MAX, ascii_int
from server.pool.registry import KEY_KIND_TEXT, VERIFICATION_MEANING

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/desk/static",
)

csrf = CSRFProtect()



@bp.record_once
def _meanings(state: BlueprintSetupState) -> None:
    """What verdicts and card states mean, for every page and macro that shows one
    (``attest.reasons`` is the one table of reasons): template globals, which imported
    macros see too."""
    state.app.jinja_env.globals.update(
        explain_reason=reasons.explain, trust_meaning=reasons.trust_meaning,
        claim_subject=reasons.CLAIM_SUBJECT, status_meaning=reasons.STATUS_MEANING,
        card_answers=reasons.CARD_ANSWERS, verification_meaning=VERIFICATION_MEANING,
        key_kinds=KEY_KIND_TEXT)

# A strict policy is possible because the pages carry no script and no inline style:
# nothing may be loaded from anywhere but this server, and no one may frame the desk.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


# Endpoints that take a vendor batch file: their body may be as large as an import.
UPLOAD_ENDPOINTS = frozenset({"web.provision_import"})
# Form fields whose text has lines (a PEM key, an attestation chain); every other value
# is one line.
MULTILINE_FIELDS = frozenset({"public_key", "reg-attestation"})


def _check_parameters() -> None:
    """The API's rules for what the desk is sent (``server.http.api.request_models``):
    a query parameter at most once, and every query, path and form value printable text
    (no NUL or other control character reaches the database, a log line or a page)."""
    for name, values in request.args.lists():
        if len(values) > 1:
            raise validation(name[:64], "given more than once")
    sources = [(request.args.items(multi=True), False),
               ((request.view_args or {}).items(), False),
               (request.form.items(multi=True), True)]
    for items, form in sources:
        for name, value in items:
            text = str(value)
            if form and name in MULTILINE_FIELDS:
                text = text.replace("\r", "").replace("\n", "")
            if not text.isprintable():
                raise validation(name[:64], "must be printable text (no control characters)")


@bp.before_request
def _csrf_protect() -> None:
    if request.endpoint in UPLOAD_ENDPOINTS:
        # Set before anything reads the form (the CSRF check below does).
        request.max_content_length = service().config.max_import_bytes
    request_body()  # 413 for a chunked body past the limit, before the form is parsed
    _check_parameters()
    # CSRFProtect is initialised with WTF_CSRF_CHECK_DEFAULT off (see setup.py), so this
    # is the only place it checks: every state-changing request to a desk page.
    csrf.protect()


@bp.after_request
def _security_headers(response: Response) -> Response:
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "web.static":
        # Pages show identities and verdicts: keep them out of every cache.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def int_arg(name: str, maximum: int = INT32_MAX) -> int | None:
    """A non-negative integer query parameter in ASCII digits, at most ``maximum`` (what
    its column holds), or None when absent or malformed.

    Page links are built by the pages themselves; a hand-edited bad value just means
    "no value", never an error page.
    """
    return ascii_int(request.args.get(name, ""), maximum)
