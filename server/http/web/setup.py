"""App-level settings the desk pages need: cookie flags, HSTS and CSRF.

Applied once when the blueprint is registered (``bp.record_once``), so the app factory
only lists the blueprint.  Session cookies are signed with the service's session key,
derived from the key-encryption key (``server.core.keystore.KeyStore.session_key``):
every gunicorn worker and every host sharing the keys signs cookies with the same key,
and nothing in the database (a copy, a dump) makes one.  Each desk request first adopts
a KEK another process rotated (``Service.reload_keys``), so a rotation ends every desk
session at once, in every process.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import cast

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from server.core.service import Service
from server.http.web.blueprint import csrf

SECURE_COOKIES_ENV = "SIMATTEST_SECURE_COOKIES"
DESK_PREFIX = "/desk/"
# RFC 6797: browsers that saw the service over TLS use only https:// to it for a year, so
# a desk on a hostile network cannot be downgraded to plain HTTP and its cookie read.
HSTS = "max-age=31536000"
# One desk shift: a session signed in at the start of a shift lasts until its end
# (``server.http.web.auth`` checks the sign-in time on every request).
SESSION_LIFETIME = timedelta(hours=12)
# The cookie outlives the session by a day, so that a request after the end of the
# session still carries it and the sign-in page can say the session ended, and why.
COOKIE_LIFETIME = SESSION_LIFETIME + timedelta(days=1)


class TlsAwareSessionInterface(SecureCookieSessionInterface):
    """Marks the cookie ``Secure`` when the request came over TLS, or always if configured.

    The request tells when gunicorn sees TLS or a trusted proxy's
    ``X-Forwarded-Proto: https`` (gunicorn's ``forwarded_allow_ips``);
    ``simattest serve --tls-cert`` (``ServiceConfig.tls``) or
    ``SIMATTEST_SECURE_COOKIES=1`` (for any other TLS front end) force the flag.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # Only the desk pages have a session; the JSON API and the device endpoints (the
        # hot path) authenticate per request and skip building the cookie serializer.
        if request.path != "/" and not request.path.startswith(DESK_PREFIX):
            return self.make_null_session(app)
        _service(app).reload_keys()
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        # The service's key now, not the one the app started with: after a rotation
        # (reload_keys) the old key signs nothing and verifies nothing.
        return URLSafeTimedSerializer(
            _service(app).keys.session_key, salt=self.salt, serializer=self.serializer,
            signer_kwargs={"key_derivation": self.key_derivation,
                           "digest_method": self.digest_method})


def _service(app: Flask) -> Service:
    return cast(Service, app.extensions["simattest"])


def configure_app(app: Flask) -> None:
    """Session and CSRF settings shared by every desk page."""
    app.session_interface = TlsAwareSessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME="simattest_desk",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=COOKIE_LIFETIME,
        # Checked by the desk blueprint only (blueprint.py), never for the JSON API.
        WTF_CSRF_CHECK_DEFAULT=False,
        # The token lives as long as the session: a form left open all shift still posts.
        WTF_CSRF_TIME_LIMIT=None,
    )
    # Flask's own default is False, so this is set, not defaulted.
    tls = app.extensions["simattest"].config.tls
    app.config["SESSION_COOKIE_SECURE"] = tls or os.environ.get(SECURE_COOKIES_ENV, "") == "1"
    if tls:
        app.after_request(_hsts)
    csrf.init_app(app)


def _hsts(response: Response) -> Response:
    response.headers["Strict-Transport-Security"] = HSTS
    return response
