"""Sign-in with an operator token, sign-out, and the role check on every desk page.

The session cookie holds the operator's id, never the token: a stolen cookie is
bounded by the session lifetime and by the operator's revocation, which is checked on
every request (``revoked_at``).  Roles follow ``server.core.operators``: ``admin`` may do
what ``desk`` and ``provisioner`` may.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import abort, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from server.core import operators
from server.http.api.auth import service
from server.http.web import queries
from server.http.web.blueprint import bp
from server.http.web.forms import SignInForm, SignOutForm
from server.http.web.setup import SESSION_LIFETIME
from server.store.models import Operator

P = ParamSpec("P")
R = TypeVar("R")

DESK = "desk"
PROVISIONER = "provisioner"
ANY_ROLE = (DESK, PROVISIONER)


def _granted(operator: Operator, roles: tuple[str, ...]) -> bool:
    return any(operators.grants(operator.role, role) for role in roles)


def _load_operator() -> Operator | None:
    operator_id = session.get("operator_id")
    if not isinstance(operator_id, int):
        return None
    signed_in_at = session.get("signed_in_at")
    if not isinstance(signed_in_at, (int, float)) \
            or time.time() - signed_in_at > SESSION_LIFETIME.total_seconds():
        _end_session(f"Your session ended: sessions last "
                     f"{int(SESSION_LIFETIME.total_seconds() // 3600)} hours (one shift). "
                     "Sign in again.")
        return None
    with service().db.read_session() as db:
        operator = db.get(Operator, operator_id)
    if operator is None or operator.revoked_at is not None:
        _end_session("Your session ended: your operator token has been revoked. Sign in "
                     "with a current token, or ask an administrator for one.")
        return None
    return operator


def _end_session(why: str) -> None:
    """Forget the operator, and say why on the sign-in page the request is sent to."""
    session.clear()
    flash(why, "error")


def require_role(*roles: str) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """Page decorator: signed-in operator with one of ``roles``, else sign-in or 403."""

    def decorator(view: Callable[P, R]) -> Callable[P, R | Response]:
        @functools.wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            operator = _load_operator()
            if operator is None:
                return redirect(url_for("web.sign_in", next=request.full_path.rstrip("?")))
            g.operator = operator  # before the role check: the 403 page keeps its menu
            if not _granted(operator, roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else the pool page.

    An open redirect would let a link send a desk operator, just signed in, to a
    look-alike page.  Browsers read ``/\\host`` as ``//host``, so backslashes are out too;
    and a line break would end the Location header (header injection).
    """
    if target and target.startswith("/") and "\\" not in target and target.isprintable():
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("web.pool")


@bp.route("/desk/sign-in", methods=["GET", "POST"])
def sign_in() -> ResponseReturnValue:
    form = SignInForm()
    if form.validate_on_submit():
        operator = operators.authenticate(service(), form.token.data or "")
        if operator is None:
            form.token.errors.append("This token is not valid or has been revoked.")
        else:
            # A fresh session: nothing from before sign-in survives (session fixation).
            session.clear()
            session.permanent = True
            session["operator_id"] = operator.id
            session["signed_in_at"] = int(time.time())
            flash(f"Signed in as {operator.label or 'operator ' + str(operator.id)} "
                  f"({operator.role}).", "ok")
            return redirect(safe_next(request.args.get("next")))
    return render_template("sign_in.html", form=form), 200 if not form.errors else 401


@bp.route("/desk/sign-out", methods=["POST"])
def sign_out() -> ResponseReturnValue:
    SignOutForm()  # CSRF was checked by the blueprint before this view ran
    session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("web.sign_in"))


@bp.route("/")
@bp.route("/desk/")
def home() -> ResponseReturnValue:
    return redirect(url_for("web.pool"))


@bp.context_processor
def _layout_context() -> dict[str, object]:
    operator = g.get("operator")
    if operator is None:
        return {}
    return {
        "operator": operator,
        "alert_count": queries.recent_alert_count(service()),
        "sign_out_form": SignOutForm(),
        "can_desk": _granted(operator, (DESK,)),
        "can_provision": _granted(operator, (PROVISIONER,)),
    }


@bp.errorhandler(CSRFError)
def _csrf_failed(error: CSRFError) -> ResponseReturnValue:
    return render_template("error.html", status=400, title="Form refused",
                           detail="This form was not sent from a page of this desk, or the "
                                  "session ended. Go back, reload the page and try again."), 400


_ERROR_TEXT = {
    403: ("Not allowed for your role", "Your operator token does not have the role this page "
                                       "needs. Ask an administrator if you need it."),
    404: ("Not found", "There is nothing at this address: the handset, attestation or page "
                       "may have been mistyped."),
    413: ("File too large", "The upload is larger than the service accepts for this form."),
}


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> ResponseReturnValue:
    code = error.code or 500
    title, detail = _ERROR_TEXT.get(code, (error.name, error.description or ""))
    return render_template("error.html", status=code, title=title, detail=detail), code
