"""The IdMS's protocol endpoints: OpenID Connect (TS 33.180 Annex B, TS 24.482 clause
6) with authlib as the provider library, the handset's identities and the MCPTT
server's look-up.  What they decide is in ``server.idms.oidc``; this module speaks the
protocols.

Endpoints (discovery lists them):

- ``GET /.well-known/openid-configuration``, ``GET /idms/jwks.json``;
- ``GET /idms/authorize`` (``response_type=code``, PKCE S256 required) shows the login
  form; ``POST`` of the form (the same query, and ``username``, ``password``, ``totp``)
  signs the user in and redirects with the code;
- ``POST /idms/token``: ``authorization_code`` and ``refresh_token`` grants for the
  registered native clients (public: PKCE, and the tokens bound to the device
  certificate the request came over, RFC 8705 clause 3);
- ``POST /idms/introspect`` (RFC 7662) for registered service clients;
- ``GET /idms/identities`` (bound access token): IMPI2, IMPU2, aliases, home domain,
  registrar;
- ``GET /idms/lookup?impu=…`` for the MCPTT server (service client: HTTP Basic client
  credentials, or its pinned TLS client certificate): MCPTT ID and registration facts.

**Errors.**  The OAuth endpoints answer RFC 6749 clause 5.2 / 4.1.2.1 errors (JSON or a
redirect with ``error``), an authorization request whose client or redirect URI cannot
be trusted an HTML page (clause 4.1.2.1: never redirect to it); the identities and
look-up endpoints answer problem+json (with ``WWW-Authenticate`` per RFC 6750 clause 3).
These are protocol endpoints, not the JSON API: the OpenAPI document leaves them to the
discovery document (``OPENAPI = None``).

**Transport.**  Everything here needs TLS, except from loopback (discovery, JWKS and
tests that need no binding): a plain HTTP request from another address is refused before
anything is read.  The handset's device certificate comes from the TLS connection
(``server.http.tls.peer_certificate``) and must be a registered handset's
(``server.pool.devicecerts``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import (
    AccessDeniedError,
    ClientMixin,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oidc.core.grants import OpenIDCode
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    render_template,
    request,
)
from joserfc.jwk import ECKey

from attest.certificates import read_device_certificate
from attest.errors import InputError
from server.core.errors import ValidationError
from server.core.service import Service
from server.http.api.problems import Problem
from server.http.tls import peer_certificate
from server.idms import credentials, oidc, tokens
from server.idms.oidc import ClientView, CodeGrant, Refused, SignedIn
from server.pool.devicecerts import key_refusal

blueprint = Blueprint("idms_oidc", __name__, template_folder="web/templates")
OPENAPI: dict[str, Any] | None = None  # protocol endpoints: see the discovery document

# The longest value of each parameter a request may carry (what the columns hold, or
# the RFCs' limits: RFC 7636 clause 4.1 for the verifier); any other parameter at most
# _OTHER_CHARS.  Longer, repeated, or with control characters: invalid_request.
_LIMITS: dict[str, int] = {
    "response_type": 16, "client_id": 64, "redirect_uri": 512, "scope": 512,
    "state": 512, "nonce": 255, "code_challenge": 128, "code_challenge_method": 8,
    "acr_values": 255, "prompt": 32, "code": 128, "code_verifier": 128, "grant_type": 64,
    "refresh_token": 128, "token": 4096, "token_type_hint": 32, "username": 255,
    "password": 1024, "totp": 16, "impu": 255,
}
_OTHER_CHARS = 512
_OAUTH_PATHS = ("/idms/authorize", "/idms/token", "/idms/introspect")


def service() -> Service:
    svc: Service = current_app.extensions["simattest"]
    return svc


def issuer() -> str:
    """The issuer identifier (OIDC Discovery clause 3): ``[idms] issuer``, the name
    relying parties and resource servers are configured with; without it (a lab, the
    demo) the scheme and host this request reached."""
    configured = service().config.idms.issuer
    return configured if configured is not None else request.host_url.rstrip("/")


# --- transport and parameters ---------------------------------------------------------

def _over_tls() -> bool:
    return request.environ.get("wsgi.url_scheme") == "https"


def _loopback() -> bool:
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@blueprint.before_request
def _transport_and_parameters() -> Response | None:
    if not service().config.idms.enabled:
        raise Problem(404, "not-found", "Not found", "identity management is not enabled "
                      "on this service ([idms] enabled = true)")
    if not _over_tls() and not _loopback():
        detail = ("the IdMS answers plain HTTP on loopback only: connect over TLS "
                  "(simattest serve --tls-cert/--tls-key)")
        if request.path in _OAUTH_PATHS[1:]:
            return _oauth_error("invalid_request", detail)
        g.idms_refusal = ("tls-required", detail)
        raise Problem(403, "tls-required", "TLS required", detail)
    for name in set(request.args) | set(request.form):
        values = request.args.getlist(name) + request.form.getlist(name)
        limit = _LIMITS.get(name, _OTHER_CHARS)
        why = ("is given more than once" if len(values) > 1
               else f"is longer than {limit} characters" if len(values[0]) > limit
               else "has control characters" if not values[0].isprintable() else None)
        if why is not None:
            detail = f"parameter {name[:40]!r} {why}"
            if request.path in _OAUTH_PATHS[1:]:
                return _oauth_error("invalid_request", detail)
            if request.path == _OAUTH_PATHS[0]:
                return _error_page(detail)
            g.idms_refusal = ("malformed-request", detail)
            raise Problem(400, "malformed-request", "Malformed request", detail,
                          field=name[:40])
    return None


@blueprint.after_request
def _audit_refusal(response: Response) -> Response:
    """Every refusal of the protocol is audited (the sign-in's own refusals — wrong
    credentials, the handset rule — are already, with their reasons)."""
    refusal = g.pop("idms_refusal", None)
    if g.pop("idms_audited", False):
        refusal = None
    elif refusal is None and response.status_code >= 400 \
            and request.path in _OAUTH_PATHS[1:]:
        body = response.get_json(silent=True) or {}
        refusal = (str(body.get("error", response.status_code)),
                   str(body.get("error_description", "")))
    elif refusal is None and response.status_code == 302 and request.path == _OAUTH_PATHS[0]:
        query = parse_qs(urlsplit(response.headers.get("Location", "")).query)
        if "error" in query:
            refusal = (query["error"][0], query.get("error_description", [""])[0])
    if refusal is not None and service().config.idms.enabled:
        client_id = request.values.get("client_id")
        oidc.audit_protocol_refusal(
            service(), request.path, refusal[0], refusal[1],
            client_id if client_id and client_id.isprintable() else None,
            request.remote_addr)
    return response


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _error_page(detail: str, status: int = 400) -> Response:
    """RFC 6749 clause 4.1.2.1: with no trustworthy redirect URI, tell the user."""
    g.idms_refusal = ("invalid_request", detail)
    response = Response(render_template("idms/error.html", detail=detail), status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@dataclass(frozen=True, slots=True)
class Device:
    """The handset the request came from: its IMEI, its certificate's ``x5t#S256``, and
    the MC ID of the user it is checked out to now (None: nobody)."""

    imei: str
    x5t: str
    holder: str | None


def _device(svc: Service) -> Device | None:
    """The request's device certificate if it is a registered handset's, else None; the
    request's client read along with it (``_query_client``'s cache)."""
    der = peer_certificate(request.environ)
    if der is None:
        return None
    try:
        cert = read_device_certificate(der)
    except InputError:
        return None
    client_id = request.values.get("client_id", "")
    reads = oidc.login_reads(svc, client_id, cert.imei)
    g.setdefault("idms_clients", {})[client_id] = \
        None if reads.client is None else Client(reads.client)
    if key_refusal(cert, reads.registered_key) is not None:
        return None
    return Device(cert.imei, tokens.certificate_thumbprint(der), reads.holder)


def _x5t() -> str | None:
    der = peer_certificate(request.environ)
    return None if der is None else tokens.certificate_thumbprint(der)


# --- authlib's models -----------------------------------------------------------------

class Client(ClientMixin):
    """A registered client as authlib asks about it."""

    def __init__(self, view: ClientView) -> None:
        self.view = view

    def get_client_id(self) -> str:
        return self.view.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # the request must name one of the registered URIs

    def get_allowed_scope(self, scope: str | None) -> str | None:
        asked = (scope or "").split()
        if not asked or any(s not in self.view.scopes for s in asked):
            return None  # authlib answers invalid_scope
        return " ".join(dict.fromkeys(asked))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.view.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return False  # service clients are authenticated by oidc.service_client

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.view.kind == "native":
            return method == "none" and endpoint == "token"
        return method == "service" and endpoint == "introspection"

    def check_response_type(self, response_type: str) -> bool:
        return self.view.kind == "native" and response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return self.view.kind == "native" and grant_type in ("authorization_code",
                                                             "refresh_token")


class Code:
    """A redeemed authorization code as authlib asks about it."""

    def __init__(self, grant: CodeGrant) -> None:
        self.grant = grant
        self.code_challenge = grant.code_challenge
        self.code_challenge_method = "S256"

    def get_redirect_uri(self) -> str:
        return self.grant.redirect_uri

    def get_scope(self) -> str:
        return self.grant.scope

    def get_nonce(self) -> str | None:
        return self.grant.nonce

    def get_auth_time(self) -> int:
        return int(self.grant.auth_time.timestamp())

    def get_acr(self) -> str | None:
        return self.grant.acr

    def get_amr(self) -> list[str]:
        return list(self.grant.amr)


class RefreshToken:
    """A current refresh token as authlib asks about it."""

    def __init__(self, signed_in: SignedIn) -> None:
        self.signed_in = signed_in

    def check_client(self, client: Client) -> bool:
        return client.get_client_id() == self.signed_in.client_id

    def get_scope(self) -> str:
        return self.signed_in.scope


@dataclass(frozen=True, slots=True)
class Login:
    """What the login form's POST established: authlib's ``grant_user``."""

    user_id: int
    imei: str
    x5t: str


# --- grants ---------------------------------------------------------------------------

class S256Only(CodeChallenge):
    """PKCE (RFC 7636) with S256 only, and required: authlib accepts ``plain`` and an
    authorization request without a challenge by default."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 (authlib's attribute)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        why = ("code_challenge_method must be S256 (RFC 7636 clause 4.2; plain is refused)"
               if data.get("code_challenge_method") not in (None, "S256")
               else "PKCE is required: code_challenge is missing"
               if not data.get("code_challenge")
               else "code_challenge_method must be S256"
               if data.get("code_challenge_method") != "S256" else None)
        if why is not None:
            raise InvalidRequestError(why, redirect_uri=redirect_uri,
                                      state=grant.request.payload.state)
        super().validate_code_challenge(grant, redirect_uri)


class CodeGrantType(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]  # noqa: RUF012 (authlib's attribute)

    def generate_authorization_code(self) -> str:
        return oidc.new_secret()

    def save_authorization_code(self, code: str, req: Any) -> None:
        login: Login = req.user
        payload = req.payload
        try:
            oidc.issue_code(
                service(), client_id=payload.client_id, redirect_uri=payload.redirect_uri,
                scope=req.scope, nonce=payload.data.get("nonce"),
                code_challenge=payload.data["code_challenge"], user_id=login.user_id,
                imei=login.imei, x5t=login.x5t, code=code)
        except Refused as exc:
            g.idms_audited = True  # with its reason, by issue_code
            raise AccessDeniedError(f"this handset may not sign you in now ({exc})",
                                    redirect_uri=self.redirect_uri) from None

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        redeemed: dict[tuple[str, str], CodeGrant | None] = g.get("idms_redeemed", {})
        key = (client.get_client_id(), code)
        grant = redeemed[key] if key in redeemed \
            else oidc.redeem_code(service(), code, client.get_client_id())
        return None if grant is None else Code(grant)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        pass  # redeem_code consumed it

    def authenticate_user(self, authorization_code: Code) -> SignedIn:
        try:
            return oidc.start_sign_in(service(), authorization_code.grant, _x5t())
        except Refused as exc:
            g.idms_audited = True  # with its reason, by start_sign_in
            raise InvalidGrantError(str(exc)) from None


class MissionCriticalIdToken(OpenIDCode):
    """The ID token of TS 24.482 clause 6 / TS 33.180 clause B.3: ``mcptt_id`` (and the
    MCVideo and MCData IDs the user has), signed ES256 with the IdMS key."""

    def exists_nonce(self, nonce: str, req: Any) -> bool:
        return False  # a code is single use: its nonce cannot come back with it

    def resolve_client_private_key(self, client: Client) -> ECKey:
        key = tokens.signer(service().keys)
        return ECKey.import_key(key.private_key, parameters={"kid": key.kid})

    def get_client_algorithm(self, client: Client) -> str:
        return tokens.ALGORITHM

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": tokens.ALGORITHM, "kid": tokens.signer(service().keys).kid,
                "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": issuer(), "aud": [client.get_client_id()], "iat": now,
                "exp": now + _lifetimes(service())["id"]}

    def generate_user_info(self, user: SignedIn, scope: str) -> dict[str, Any]:
        return mc_claims(user)


def mc_claims(signed_in: SignedIn) -> dict[str, Any]:
    """``sub`` and the MC service IDs of the signed-in user (TS 24.482 clause 6)."""
    user = signed_in.user
    claims: dict[str, Any] = {"sub": user.mc_id, "mcptt_id": user.mcptt_id}
    if user.mcvideo_id:
        claims["mcvideo_id"] = user.mcvideo_id
    if user.mcdata_id:
        claims["mcdata_id"] = user.mcdata_id
    return claims


class RefreshGrantType(RefreshTokenGrant):
    """TS 33.180 clause B.5: a new access token while the handset rule holds; the refresh
    token rotates (single use)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]  # noqa: RUF012 (authlib's attribute)
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken:
        try:
            return RefreshToken(oidc.refresh(service(), refresh_token,
                                             self.request.payload.client_id or "", _x5t()))
        except Refused as exc:
            raise InvalidGrantError(str(exc)) from None

    def authenticate_user(self, refresh_token: RefreshToken) -> SignedIn:
        return refresh_token.signed_in

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        pass  # save_token replaced it, conditionally


def _refresh_token(*, user: SignedIn, **_context: Any) -> str:
    """The sign-in's first refresh token (stored with it), or a new one for a refresh
    (stored by ``_save_token``)."""
    return user.refresh_token or oidc.new_secret()


class AccessTokens(JWTBearerTokenGenerator):
    """Access tokens of the RFC 9068 profile: the MC IDs, scope, client id, the sign-in
    (``sid``) and the binding to the device certificate (``cnf``, RFC 8705 clause 3)."""

    def __init__(self, svc: Service) -> None:
        super().__init__(issuer="", alg=tokens.ALGORITHM,
                         refresh_token_generator=_refresh_token,
                         expires_generator=lambda _client, grant_type:
                         _lifetimes(svc)["access"])

    def access_token_generator(self, client: Client, grant_type: str, user: SignedIn,
                               scope: str) -> str:
        now = int(time.time())
        claims = {"iss": issuer(), "exp": now + _lifetimes(service())["access"],
                  "aud": client.get_client_id(), "client_id": client.get_client_id(),
                  "iat": now, "jti": oidc.new_secret()[:22], "scope": scope,
                  "sid": user.sign_in_id, "auth_time": int(user.auth_time.timestamp()),
                  "cnf": {"x5t#S256": user.x5t}, **mc_claims(user)}
        key = tokens.signer(service().keys)
        return jwt.encode(claims, key.private_key, algorithm=tokens.ALGORITHM,
                          headers={"typ": tokens.ACCESS_TOKEN_TYPE, "kid": key.kid})


def _lifetimes(svc: Service) -> dict[str, int]:
    # The ID token lives as long as the access token issued with it: both say who is
    # signed in, and neither may outlast an ended sign-in by more than that.
    seconds = svc.config.idms.access_token_seconds
    return {"access": seconds, "id": seconds}


class Introspection(IntrospectionEndpoint):
    """RFC 7662 for registered service clients: ``active`` only while the sign-in holds
    (ended, identities ended, or the handset rule broken: inactive at once)."""

    CLIENT_AUTH_METHODS = ["service"]  # noqa: RUF012 (authlib's attribute)
    SUPPORTED_TOKEN_TYPES = ("access_token",)

    def query_token(self, token_string: str, token_type_hint: str | None
                    ) -> tokens.AccessToken | None:
        try:
            claims = jwt.decode(token_string, tokens.signer(service().keys).private_key
                                .public_key(), algorithms=[tokens.ALGORITHM],
                                issuer=issuer(), options={"verify_aud": False})
        except jwt.PyJWTError:
            return None
        return tokens.AccessToken(claims) if isinstance(claims.get("sid"), int) else None

    def check_permission(self, token: tokens.AccessToken, client: Client, req: Any) -> bool:
        return client.view.kind == "service"

    def create_introspection_payload(self, token: tokens.AccessToken | None
                                     ) -> dict[str, Any]:
        if token is None:
            return {"active": False}
        active, _why = oidc.active_sign_in(service(), token.sign_in)
        if active is None:
            return {"active": False}
        claims = token.claims
        return {"active": True, "token_type": "Bearer", **{
            name: claims[name] for name in ("scope", "client_id", "sub", "exp", "iat", "iss",
                                            "aud", "cnf", "mcptt_id", "mcvideo_id",
                                            "mcdata_id") if name in claims}}


def _service_client() -> Client | None:
    """Service client authentication: client_secret_basic (RFC 6749 clause 2.3.1) or
    its pinned TLS client certificate (RFC 8705 clause 2)."""
    auth = request.authorization
    client_id, secret = (auth.username, auth.password) if auth and auth.type == "basic" \
        else (None, None)
    der = peer_certificate(request.environ)
    view = oidc.service_client(service(), client_id, secret,
                               None if der is None else hashlib.sha256(der).hexdigest())
    return None if view is None else Client(view)


def _authenticate_service(_query_client: Any, _req: Any) -> Client:
    """authlib's client authentication method "service": RFC 6749 clause 5.2's 401
    invalid_client when it fails."""
    client = _service_client()
    if client is None:
        raise InvalidClientError(status_code=401, description=(
            "authenticate as a registered service client (HTTP Basic client credentials "
            "or its TLS client certificate)"))
    return client


def _query_client(client_id: str) -> Client | None:
    # authlib asks several times a request: read the registration once a request.
    cache: dict[str, Client | None] = g.setdefault("idms_clients", {})
    if client_id not in cache:
        view = oidc.find_client(service(), client_id)
        cache[client_id] = None if view is None else Client(view)
    return cache[client_id]


def _save_token(token: dict[str, Any], req: Any) -> None:
    signed_in: SignedIn = req.user
    if signed_in.refresh_token is None and not oidc.store_refresh_token(
            service(), signed_in.sign_in_id, req.form["refresh_token"],
            token["refresh_token"]):
        raise InvalidGrantError("the refresh token was used already")


def install(app: Flask) -> None:
    """The authorization server on ``app`` (``server.http.app.create_app``)."""
    svc: Service = app.extensions["simattest"]
    server = AuthorizationServer()
    server.init_app(app, query_client=_query_client, save_token=_save_token)
    server.register_token_generator("default", AccessTokens(svc))
    server.register_grant(CodeGrantType, [S256Only(required=True),
                                          MissionCriticalIdToken(require_nonce=False)])
    server.register_grant(RefreshGrantType)
    server.register_client_auth_method("service", _authenticate_service)
    server.register_endpoint(Introspection)
    app.extensions["simattest_idms"] = server


def _server() -> AuthorizationServer:
    server: AuthorizationServer = current_app.extensions["simattest_idms"]
    return server


# --- discovery and keys ---------------------------------------------------------------

@blueprint.get("/.well-known/openid-configuration")
def discovery() -> Response:
    base = issuer()
    response = jsonify({
        "issuer": base,
        "authorization_endpoint": f"{base}/idms/authorize",
        "token_endpoint": f"{base}/idms/token",
        "introspection_endpoint": f"{base}/idms/introspect",
        "jwks_uri": f"{base}/idms/jwks.json",
        "scopes_supported": list(oidc.SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [tokens.ALGORITHM],
        "token_endpoint_auth_methods_supported": ["none"],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic", "tls_client_auth"],
        "code_challenge_methods_supported": ["S256"],
        "tls_client_certificate_bound_access_tokens": True,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "mcptt_id",
                             "mcvideo_id", "mcdata_id"],
        "mc_identities_endpoint": f"{base}/idms/identities",
    })
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@blueprint.get("/idms/jwks.json")
def jwks() -> Response:
    response = jsonify(tokens.signer(service().keys).jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# --- the authorization endpoint -------------------------------------------------------

def _login_form(grant: Any, message: str | None = None, status: int = 200) -> Response:
    client: Client = grant.request.client
    response = Response(render_template(
        "idms/login.html", client=client.view.name, action=request.full_path,
        message=message), status=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


@blueprint.route("/idms/authorize", methods=["GET", "POST"])
def authorize() -> Response:
    server = _server()
    svc = service()
    # The login's device and client in one read, before authlib asks for the client.
    device = _device(svc) if request.method == "POST" else None
    try:
        grant = server.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        if error.redirect_uri:
            return _redirect_error(error)
        return _error_page(f"{error.error}: {error.description or ''}".strip(": "))
    if request.method == "GET":
        return _login_form(grant)
    if device is None:
        # Before the credentials: without a registered handset's certificate nobody gets
        # to try a password (no password oracle off the handsets, no Argon2id work).
        oidc.audit_refusal(svc, oidc.ACTOR, None, "no-device-certificate")
        g.idms_audited = True
        return _redirect_error(AccessDeniedError(
            "sign in from the handset: connect with its device certificate (mutual TLS)",
            redirect_uri=grant.redirect_uri, state=grant.request.payload.state))
    username = request.form.get("username", "")
    try:
        check = credentials.verify_credentials(
            svc, username, request.form.get("password", ""),
            address=request.remote_addr or "", totp_code=request.form.get("totp") or None,
            trusted_device=device.holder == username.strip().lower())
    except ValidationError as exc:
        return _login_form(grant, exc.detail, 400)
    if check.outcome != "ok" or check.user_id is None:
        return _login_refused(svc, grant, check, device)
    return _server().create_authorization_response(
        grant=grant, grant_user=Login(check.user_id, device.imei, device.x5t))


# What the login form says for each refusal of the credentials: the same for an unknown
# user, a wrong password and a wrong code (no enumeration).
_LOGIN_MESSAGES = {
    "invalid-credentials": ("Wrong MC ID, password or one-time code.", 401),
    "totp-required": ("Enter the one-time code of your authenticator as well.", 401),
    "user-disabled": ("This MC user is disabled; ask an administrator.", 403),
}


def _login_refused(svc: Service, grant: Any, check: credentials.CredentialCheck,
                   device: Device) -> Response:
    """The login form again, saying why; the refusal audited (no user name: it may be
    anyone's, or a password typed in the wrong field)."""
    oidc.audit_refusal(svc, oidc.ACTOR, device.imei, check.outcome)
    if check.outcome == "throttled":
        wait = int(check.retry_after or 1) + 1
        response = _login_form(grant, f"Too many failed sign-ins: try again in {wait} s.",
                               429)
        response.headers["Retry-After"] = str(wait)
        return response
    message, status = _LOGIN_MESSAGES[check.outcome]
    return _login_form(grant, message, status)


def _redirect_error(error: OAuth2Error) -> Response:
    return _server().handle_error_response(None, error)


@blueprint.post("/idms/token")
def token() -> Response:
    form = request.form
    if form.get("grant_type") == "authorization_code" and form.get("code") \
            and form.get("client_id"):
        # The client and the code in one transaction, before authlib asks for them (its
        # client check passes for the native client a code can belong to, so the code
        # is consumed just as it would be, a little earlier).
        client_id, code = form["client_id"], form["code"]
        view, grant = oidc.client_and_code(service(), client_id, code)
        g.setdefault("idms_clients", {})[client_id] = None if view is None else Client(view)
        g.setdefault("idms_redeemed", {})[client_id, code] = grant
    return _server().create_token_response()


@blueprint.post("/idms/introspect")
def introspect() -> Response:
    return _server().create_endpoint_response(
        Introspection.ENDPOINT_NAME)


# --- resource endpoints ---------------------------------------------------------------

def _bearer_problem(detail: str, error: str = "invalid_token") -> Problem:
    g.idms_refusal = (error, detail)
    problem = Problem(401, "invalid-token", "Access token refused", detail)
    problem.headers["WWW-Authenticate"] = f'Bearer error="{error}"'
    return problem


def _bearer() -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@blueprint.get("/idms/identities")
def identities() -> Response:
    """The handset's MCPTT-specific identities (the seed; TS 23.379 clause 10.2)."""
    token_string = _bearer()
    if token_string is None or len(token_string) > _LIMITS["token"]:
        raise _bearer_problem("send the access token: Authorization: Bearer …",
                              "invalid_request")
    svc = service()
    try:
        verified = tokens.verify_access_token(
            token_string, tokens.signer(svc.keys).private_key.public_key(), issuer(),
            peer_certificate(request.environ))
    except tokens.TokenRefused as exc:
        raise _bearer_problem(str(exc)) from None
    active, why = oidc.active_sign_in(svc, verified.sign_in)
    if active is None:
        raise _bearer_problem(f"the sign-in no longer holds: {why}")
    response = jsonify(oidc.identities_json(svc, active))
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/idms/lookup")
def lookup() -> Response:
    """The MCPTT server's look-up (the seed's step 22): IMPU2 or alias → MCPTT ID and
    registration facts; never IMPI1 nor IMEI."""
    if _bearer() is not None:
        g.idms_refusal = ("service-credential-required", "an access token at the look-up")
        raise Problem(403, "service-credential-required", "Service credential required",
                      "the look-up is for service clients (client credentials or their TLS "
                      "certificate); an access token is not one")
    client = _service_client()
    if client is None:
        g.idms_refusal = ("unauthorized", "no registered service client's credential")
        problem = Problem(401, "unauthorized", "Authentication required",
                          "authenticate as a registered service client")
        problem.headers["WWW-Authenticate"] = 'Basic realm="idms"'
        raise problem
    impu = request.args.get("impu", "")
    if not impu:
        raise Problem(400, "malformed-request", "Malformed request",
                      "give the IMPU to look up: ?impu=sip:…", field="impu")
    response = jsonify(oidc.lookup(service(), impu, client.view.client_id))
    response.headers["Cache-Control"] = "no-store"
    return response
