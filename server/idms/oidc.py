"""The IdMS's OpenID Connect side (TS 33.180 Annex B, TS 24.482 clause 6): registered
clients, the handset rule, authorization codes, sign-ins, refresh, introspection, the
handset's identities and the MCPTT server's look-up.  ``server.http.idms`` speaks the
protocol (authlib) and calls these.

**The handset rule**: a sign-in, and every refresh, token use and introspection,
holds only while the handset the request came from (the IMEI of its device
certificate, whose key is the registered device key: RFC 8705 clause 2, checked by
``server.http.idms`` with ``server.pool.devicecerts``) is checked out now to this MC
user, and the rule of ``server.idms`` (its docstring: not returned, not lost, user
enabled, newest attestation affirming — so the checkout's or a later one) holds:
``identities.checkout_for_sign_in`` at sign-in, ``identities.identities_valid`` of the
sign-in's mapping afterwards.  Both derive it from the tables on every read, so a return,
a loss report, a disabled user or a contraindicated attestation ends sign-ins at once,
whichever process recorded it.  The tokens are bound to the certificate of the sign-in
(``cnf``/``x5t#S256``): the token request, every refresh and every use must come over
it.

**Codes** (RFC 6749 clause 4.1.2) are single use by one conditional UPDATE, valid
``[idms] code_seconds`` (at most 60 s); a code presented a second time also ends the
sign-in made with it (clause 4.1.2: "SHOULD revoke … all tokens previously issued based
on that code").

**Sign-ins** hold the current refresh token's SHA-256; a refresh rotates it by a
conditional UPDATE (a refresh token is good once: of two concurrent refreshes one wins).
Tokens carry ``sid``, the sign-in's id, so introspection and the identities endpoint
find the sign-in and apply the rule.

Audit: every sign-in, refusal (with its reason), allocation (``server.idms``' service
functions), refresh refusal and ending is an audit entry; the actor of a handset's
requests is ``mc-user:<MC ID>`` (or ``idms`` for unknown users: no enumeration).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.orm import Session

from server.core.errors import AlreadyExists, NotFound, ValidationError
from server.core.identifiers import check_text
from server.core.service import Service
from server.idms import identities
from server.store import audit_chain as audit
from server.store.models import (
    Checkout,
    Handset,
    IdmsClient,
    IdmsCode,
    IdmsSignIn,
    McUser,
    utcnow,
)
from server.store.models.idms_oidc import (
    END_REASON_CHARS,
    MAX_CLIENT_ID_CHARS,
    MAX_REDIRECT_URI_CHARS,
    MAX_SCOPE_CHARS,
)

ACTOR = "idms"

# TS 24.482 clause 6 / TS 33.180 Annex B: the MC service scopes, and the older TS 33.179
# names that clients of earlier releases still ask for.
SERVICE_SCOPES: tuple[str, ...] = (
    "3gpp:mc:ptt_service", "3gpp:mc:video_service", "3gpp:mc:data_service",
    "3gpp:mc:ptt_key_management_service", "3gpp:mc:ptt_config_management_service",
    "3gpp:mc:ptt_group_management_service", "3gpp:mc:video_key_management_service",
    "3gpp:mc:video_config_management_service", "3gpp:mc:video_group_management_service",
    "3gpp:mc:data_key_management_service", "3gpp:mc:data_config_management_service",
    "3gpp:mc:data_group_management_service",
    "3gpp:mcptt:ptt_server", "3gpp:mcptt:key_management_server",
    "3gpp:mcptt:config_management_server", "3gpp:mcptt:group_management_server",
)
SCOPES: tuple[str, ...] = ("openid", *SERVICE_SCOPES)
# The scope a service client (the MCPTT server) needs for the look-up.
LOOKUP_SCOPE = "3gpp:mc:identity_lookup"
CLIENT_KINDS = ("native", "service")
CLIENT_ID_PATTERN = r"[A-Za-z0-9._~-]{1,64}"
_CLIENT_ID = re.compile(CLIENT_ID_PATTERN)
# A native client's redirect URI: a private-use scheme (RFC 8252 clause 7.1) or the
# loopback interface (clause 7.3); never another host, so a code cannot be sent away.
# Printable ASCII without space or "#" (no fragment: RFC 6749 clause 3.1.2).
REDIRECT_URI_PATTERN = (
    r'(?:[a-z][a-z0-9.+-]*\.[a-z0-9.+-]+:/[!-"$-~]*|http://(?:127\.0\.0\.1|\[::1\])'
    r'(?::[0-9]{1,5})?/[!-"$-~]*)')
_REDIRECT_URI = re.compile(REDIRECT_URI_PATTERN)


def digest(secret: str) -> bytes:
    """SHA-256 of a random 256-bit secret (code, refresh token, client secret): enough
    at rest, as the secret cannot be guessed from its digest nor brute-forced."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


# --- clients --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ClientView:
    client_id: str
    kind: str
    name: str
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    certificate_sha256: str | None
    has_secret: bool
    created_at: dt.datetime
    created_by: str

    def to_json(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "kind": self.kind, "name": self.name,
                "redirect_uris": list(self.redirect_uris), "scopes": list(self.scopes),
                "certificate_sha256": self.certificate_sha256,
                "has_secret": self.has_secret,
                "created_at": self.created_at.isoformat(timespec="seconds"),
                "created_by": self.created_by}


def _client_view(row: IdmsClient) -> ClientView:
    return ClientView(row.client_id, row.kind, row.name, tuple(row.redirect_uris),
                      tuple(row.scopes.split()), row.certificate_sha256,
                      row.secret_sha256 is not None, row.created_at, row.created_by)


def check_client_id(client_id: str) -> str:
    if not _CLIENT_ID.fullmatch(client_id):
        raise ValidationError("client id: 1-64 of A-Z a-z 0-9 . _ ~ -", field="client_id")
    return client_id


def _check_scopes(scopes: list[str], kind: str) -> str:
    allowed = (LOOKUP_SCOPE,) if kind == "service" else SCOPES
    for scope in scopes:
        if scope not in allowed:
            raise ValidationError(f"scope {scope[:80]!r} is not one a {kind} client may have "
                                  f"({', '.join(allowed)})", field="scopes")
    if kind == "native" and "openid" not in scopes:
        scopes = ["openid", *scopes]  # an OpenID Connect client: always openid
    joined = " ".join(dict.fromkeys(scopes))
    if not joined or len(joined) > MAX_SCOPE_CHARS:
        raise ValidationError("give at least one scope", field="scopes")
    return joined


def add_client(svc: Service, client_id: str, kind: str, name: str, redirect_uris: list[str],
               scopes: list[str], actor: str, certificate_sha256: str | None = None
               ) -> tuple[ClientView, str | None]:
    """Register a client; for a service client without a pinned certificate, also its
    client secret (returned once, stored only as a digest)."""
    check_client_id(client_id)
    if kind not in CLIENT_KINDS:
        raise ValidationError(f"kind: one of {', '.join(CLIENT_KINDS)}", field="kind")
    name = check_text(name, "name", max_chars=200, required=True)
    joined = _check_scopes(scopes, kind)
    if kind == "native":
        if not redirect_uris:
            raise ValidationError("a native client needs a redirect URI", field="redirect_uris")
        for uri in redirect_uris:
            if len(uri) > MAX_REDIRECT_URI_CHARS or not _REDIRECT_URI.fullmatch(uri):
                raise ValidationError(
                    f"redirect URI {uri[:80]!r}: a native client's is a private-use scheme "
                    "(com.example.app:/cb) or http://127.0.0.1/… (RFC 8252)",
                    field="redirect_uris")
        if certificate_sha256 is not None:
            raise ValidationError("a native client proves itself with the handset's device "
                                  "certificate, not a pinned one", field="certificate_sha256")
    elif redirect_uris:
        raise ValidationError("a service client has no redirect URIs", field="redirect_uris")
    if certificate_sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}",
                                                          certificate_sha256):
        raise ValidationError("certificate SHA-256: 64 lower-case hex digits",
                              field="certificate_sha256")
    secret = new_secret() if kind == "service" and certificate_sha256 is None else None
    with svc.db.session() as session:
        if session.scalar(select(IdmsClient.id).where(IdmsClient.client_id == client_id)):
            raise AlreadyExists(f"client {client_id} is registered already", field="client_id")
        row = IdmsClient(client_id=client_id, kind=kind, name=name,
                         redirect_uris=list(dict.fromkeys(redirect_uris)), scopes=joined,
                         secret_sha256=None if secret is None else digest(secret),
                         certificate_sha256=certificate_sha256, created_by=actor)
        session.add(row)
        session.flush()
        audit.append(session, actor, "idms.client.add", f"client:{client_id}",
                     {"kind": kind, "scopes": joined, "redirect_uris": row.redirect_uris,
                      "certificate_sha256": certificate_sha256})
        return _client_view(row), secret


def list_clients(svc: Service) -> list[ClientView]:
    with svc.db.read_session() as session:
        rows = session.scalars(select(IdmsClient).order_by(IdmsClient.client_id)).all()
        return [_client_view(row) for row in rows]


def remove_client(svc: Service, client_id: str, actor: str) -> None:
    """Remove a client: its codes go, its sign-ins end (their tokens stop working)."""
    check_client_id(client_id)
    with svc.db.session() as session:
        row = session.scalar(select(IdmsClient).where(IdmsClient.client_id == client_id))
        if row is None:
            raise NotFound(f"client {client_id} is not registered", field="client_id")
        session.execute(delete(IdmsCode).where(IdmsCode.client_id == client_id))
        ended = _end_where(session, IdmsSignIn.client_id == client_id, "client removed")
        session.delete(row)
        audit.append(session, actor, "idms.client.remove", f"client:{client_id}",
                     {"sign_ins_ended": ended})


# The statements of every sign-in, built once (building one cost about as much as
# running it: see server.pool.devicecerts).
_CLIENT = select(IdmsClient).where(IdmsClient.client_id == bindparam("client_id"))
_DEVICE = (select(Handset.public_key_pem, McUser.mc_id).select_from(Handset)
           .outerjoin(Checkout, and_(Checkout.handset_id == Handset.id,
                                     Checkout.returned_at.is_(None)))
           .outerjoin(McUser, McUser.id == Checkout.mc_user_id)
           .where(Handset.imei == bindparam("imei")))
_REDEEM = (update(IdmsCode)
           .where(IdmsCode.code_sha256 == bindparam("b_code"),
                  IdmsCode.client_id == bindparam("b_client"), IdmsCode.used_at.is_(None),
                  IdmsCode.expires_at > bindparam("b_now"))
           .values(used_at=bindparam("b_used_at"))
           .returning(IdmsCode.client_id, IdmsCode.redirect_uri, IdmsCode.scope,
                      IdmsCode.nonce, IdmsCode.code_challenge, IdmsCode.mc_user_id,
                      IdmsCode.imei, IdmsCode.checkout_id, IdmsCode.x5t, IdmsCode.acr,
                      IdmsCode.amr, IdmsCode.auth_time))


def find_client(svc: Service, client_id: str) -> ClientView | None:
    if len(client_id) > MAX_CLIENT_ID_CHARS:
        return None
    with svc.db.read_session() as session:
        return _client_in(session, client_id)


def _client_in(session: Session, client_id: str) -> ClientView | None:
    if len(client_id) > MAX_CLIENT_ID_CHARS:
        return None
    row = session.scalar(_CLIENT, {"client_id": client_id})
    return None if row is None else _client_view(row)


def service_client(svc: Service, client_id: str | None, secret: str | None,
                   certificate_sha256: str | None) -> ClientView | None:
    """The service client authenticated by its secret (client_secret_basic/post) or by
    its pinned TLS client certificate (RFC 8705 clause 2.2, self-signed or CA-issued);
    None if neither holds."""
    with svc.db.read_session() as session:
        if client_id is not None and len(client_id) <= MAX_CLIENT_ID_CHARS:
            row = session.scalar(select(IdmsClient).where(IdmsClient.client_id == client_id,
                                                          IdmsClient.kind == "service"))
        elif certificate_sha256 is not None:
            row = session.scalar(select(IdmsClient).where(
                IdmsClient.certificate_sha256 == certificate_sha256,
                IdmsClient.kind == "service"))
        else:
            return None
        if row is None:
            # The same work for an unknown client id as for a wrong secret.
            hmac.compare_digest(digest(secret or ""), bytes(32))
            return None
        if row.secret_sha256 is not None and secret is not None \
                and hmac.compare_digest(row.secret_sha256, digest(secret)):
            return _client_view(row)
        if row.certificate_sha256 is not None and certificate_sha256 is not None \
                and hmac.compare_digest(row.certificate_sha256, certificate_sha256):
            return _client_view(row)
        return None


# --- codes and sign-ins ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CodeGrant:
    """A redeemed authorization code: what the sign-in is made from."""

    code_sha256: bytes
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str
    mc_user_id: int
    imei: str
    checkout_id: int  # the checkout the user signed in on
    x5t: str
    acr: str | None
    amr: tuple[str, ...]
    auth_time: dt.datetime


def issue_code(svc: Service, *, client_id: str, redirect_uri: str, scope: str,
               nonce: str | None, code_challenge: str, user_id: int, imei: str, x5t: str,
               code: str) -> None:
    """Store ``code`` (as its digest), a new authorization code, for an authenticated
    user on handset ``imei`` — if the handset rule lets the user sign in on it
    (``identities.checkout_for_sign_in``); Refused (audited, nothing stored) if not."""
    now = utcnow()
    with svc.db.session() as session:
        user = session.get_one(McUser, user_id)
        actor = f"mc-user:{user.mc_id}"
        try:
            checkout = identities.checkout_for_sign_in(session, imei, user_id)
        except identities.SignInRefused as exc:
            refused = _refuse(session, actor, imei, exc.reason, detail=exc.detail)
        else:
            # RFC 8176: a password, and a one-time password when the user has TOTP
            # (verify_credentials then required it).
            amr = ["pwd", "otp", "mfa"] if user.totp_enc is not None else ["pwd"]
            session.add(IdmsCode(
                code_sha256=digest(code), client_id=client_id, redirect_uri=redirect_uri,
                scope=scope, nonce=nonce, code_challenge=code_challenge, mc_user_id=user_id,
                imei=imei, checkout_id=checkout.id, x5t=x5t, acr=None, amr=amr,
                auth_time=now,
                expires_at=now + dt.timedelta(seconds=svc.config.idms.code_seconds)))
            # Expired codes of anyone go now and then (one code in 32): the table stays
            # small without a statement more in every sign-in.
            if secrets.randbelow(32) == 0:
                session.execute(delete(IdmsCode).where(
                    IdmsCode.expires_at < now - dt.timedelta(minutes=10)))
            audit.append(session, actor, "idms.sign-in.authorized", f"handset:{imei}",
                         {"client_id": client_id, "checkout_id": checkout.id,
                          "scope": scope, "amr": amr})
            return
    raise refused  # after the commit: the refusal stays audited


@dataclass(frozen=True, slots=True)
class LoginReads:
    """What the login's POST reads before any password work, in one transaction: the
    client (``find_client``), the device key registered for the handset (None: not
    registered; what ``server.pool.devicecerts.key_refusal`` compares the certificate's
    with) and the MC ID of the user the handset is checked out to now, if any — a
    sign-in of that user from that handset is not slowed by the per-user delay
    (``credentials.verify_credentials``' ``trusted_device``)."""

    client: ClientView | None
    registered_key: str | None
    holder: str | None


def login_reads(svc: Service, client_id: str, imei: str) -> LoginReads:
    with svc.db.read_session() as session:
        row = session.execute(_DEVICE, {"imei": imei}).one_or_none()
        return LoginReads(_client_in(session, client_id),
                          None if row is None else row.public_key_pem,
                          None if row is None else row.mc_id)


def redeem_code(svc: Service, code: str, client_id: str) -> CodeGrant | None:
    """Consume ``code`` of ``client_id`` (single use, unexpired); None if it is not one.
    A code used before ends the sign-in made with it (RFC 6749 clause 4.1.2)."""
    with svc.db.session() as session:
        return _redeem(session, code, client_id)


def client_and_code(svc: Service, client_id: str, code: str
                    ) -> tuple[ClientView | None, CodeGrant | None]:
    """The token request's two reads in one transaction: ``find_client`` and, if it is
    a registered native client (the only kind codes are issued to), ``redeem_code``."""
    with svc.db.session() as session:
        client = _client_in(session, client_id)
        grant = _redeem(session, code, client_id) \
            if client is not None and client.kind == "native" else None
        return client, grant


def _redeem(session: Session, code: str, client_id: str) -> CodeGrant | None:
    if len(code) > 128:
        return None
    code_hash, now = digest(code), utcnow()
    row = session.execute(_REDEEM, {"b_code": code_hash, "b_client": client_id,
                                    "b_now": now, "b_used_at": now}).one_or_none()
    if row is not None:
        return CodeGrant(code_hash, row.client_id, row.redirect_uri, row.scope,
                         row.nonce, row.code_challenge, row.mc_user_id, row.imei,
                         row.checkout_id, row.x5t, row.acr, tuple(row.amr or ()),
                         row.auth_time)
    used = session.execute(select(IdmsCode.imei, IdmsCode.used_at).where(
        IdmsCode.code_sha256 == code_hash)).one_or_none()
    if used is not None and used.used_at is not None:
        ended = _end_where(session, IdmsSignIn.code_sha256 == code_hash,
                           "authorization code replayed")
        audit.append(session, ACTOR, "idms.sign-in.refused", f"handset:{used.imei}",
                     {"reason": "authorization code used twice", "sign_ins_ended": ended})
    return None


@dataclass(frozen=True, slots=True)
class SignedIn:
    """An MC user signed in on a handset: what the tokens are made of."""

    sign_in_id: int
    user: McUser
    client_id: str
    scope: str
    x5t: str
    imei: str
    checkout_id: int
    auth_time: dt.datetime
    acr: str | None
    amr: tuple[str, ...]
    nonce: str | None
    refresh_token: str | None = None  # made with a new sign-in; a refresh makes another

    def get_user_id(self) -> str:
        """authlib's user interface: the ``sub`` of the tokens (the MC ID)."""
        return self.user.mc_id


class Refused(Exception):
    """A sign-in, code redemption or refresh the handset rule or the binding refuses;
    the message is the audited reason (never a secret)."""


def _refuse(session: Session, actor: str, imei: str, reason: str, **details: Any) -> Refused:
    audit.append(session, actor, "idms.sign-in.refused", f"handset:{imei}",
                 {"reason": reason, **details})
    return Refused(reason)


def audit_refusal(svc: Service, actor: str, imei: str | None, reason: str,
                  **details: Any) -> None:
    """Record a refusal decided before any sign-in state was read (wrong credentials,
    no device certificate…)."""
    with svc.db.session() as session:
        audit.append(session, actor, "idms.sign-in.refused",
                     f"handset:{imei}" if imei else "handset:unknown",
                     {"reason": reason, **details})


def audit_protocol_refusal(svc: Service, endpoint: str, error: str, description: str,
                           client_id: str | None, address: str | None) -> None:
    """Record a refusal the protocol decided (RFC 6749/7636/7662 errors, a bearer token
    or a service credential refused, plain HTTP off loopback): what, from where, for
    which client — never a code, token, verifier or password."""
    with svc.db.session() as session:
        audit.append(session, ACTOR, "idms.protocol.refused", f"endpoint:{endpoint}",
                     {"error": error[:64], "description": description[:300],
                      "client_id": None if client_id is None else client_id[:64],
                      "address": address})


def start_sign_in(svc: Service, grant: CodeGrant, x5t: str | None) -> SignedIn:
    """Make the sign-in of a redeemed code: the token request must come over the
    certificate the code was issued over and the handset rule must still hold; then the
    identities are allocated (``identities.allocate_identities``).  Refused (audited)
    otherwise, with nothing allocated."""
    with svc.db.session() as session:
        user = session.get_one(McUser, grant.mc_user_id)
        actor = f"mc-user:{user.mc_id}"
        if x5t is None or not hmac.compare_digest(x5t, grant.x5t):
            refused = _refuse(session, actor, grant.imei, "token request over another "
                              "client certificate than the sign-in")
        else:
            try:
                checkout = identities.checkout_for_sign_in(session, grant.imei, user.id)
            except identities.SignInRefused as exc:
                refused = _refuse(session, actor, grant.imei, exc.reason, detail=exc.detail)
            else:
                if checkout.id == grant.checkout_id:
                    return _signed_in(svc, session, grant, user, checkout, actor)
                # Returned and checked out again since the login: that login, and the
                # attestation its checkout was granted on, belong to the earlier one.
                refused = _refuse(session, actor, grant.imei, "checked-out-again",
                                  detail="the handset was checked out again since the login")
    raise refused  # after the commit: the refusal stays audited


def _signed_in(svc: Service, session: Session, grant: CodeGrant, user: McUser,
               checkout: Checkout, actor: str) -> SignedIn:
    identity_id = identities.allocate_identity_id(session, svc.config.idms, checkout, user,
                                                  actor=actor)
    refresh_token = new_secret()  # stored with the sign-in: one transaction fewer
    row = IdmsSignIn(mc_user_id=user.id, client_id=grant.client_id, imei=grant.imei,
                     checkout_id=checkout.id, identity_id=identity_id, x5t=grant.x5t,
                     scope=grant.scope, code_sha256=grant.code_sha256,
                     refresh_sha256=digest(refresh_token),
                     refresh_expires_at=utcnow() + dt.timedelta(
                         seconds=svc.config.idms.refresh_token_seconds),
                     started_at=grant.auth_time)
    session.add(row)
    session.flush()
    audit.append(session, actor, "idms.sign-in", f"handset:{grant.imei}",
                 {"sign_in": row.id, "client_id": grant.client_id,
                  "checkout_id": checkout.id, "identity_id": identity_id,
                  "scope": grant.scope})
    session.expunge(user)
    return SignedIn(row.id, user, grant.client_id, grant.scope, grant.x5t, grant.imei,
                    checkout.id, grant.auth_time, grant.acr, grant.amr, grant.nonce,
                    refresh_token)


def store_refresh_token(svc: Service, sign_in_id: int, old: str, new: str) -> bool:
    """Replace the sign-in's refresh token ``old`` by ``new`` if ``old`` is still its
    current one and it has not ended: a refresh token's single use.  Whether it was."""
    condition = IdmsSignIn.refresh_sha256 == digest(old)
    now = utcnow()
    with svc.db.session() as session:
        done = session.execute(
            update(IdmsSignIn)
            .where(IdmsSignIn.id == sign_in_id, IdmsSignIn.ended_at.is_(None), condition)
            .values(refresh_sha256=digest(new),
                    refresh_expires_at=now + dt.timedelta(
                        seconds=svc.config.idms.refresh_token_seconds),
                    refreshed_at=now))
        return bool(done.rowcount)  # type: ignore[attr-defined]


def _why_ended(session: Session, row: IdmsSignIn) -> str | None:
    """Why the sign-in no longer holds (ended, or its identities no longer valid: the
    handset rule, ``identities.identities_valid``), or None."""
    if row.ended_at is not None:
        return row.end_reason or "ended"
    validity = identities.identities_valid(session, row.identity_id)
    return None if validity.valid else validity.reason


def refresh(svc: Service, refresh_token: str, client_id: str, x5t: str | None) -> SignedIn:
    """The sign-in of ``refresh_token`` (TS 33.180 clause B.5), if the token is current,
    the request came over the sign-in's certificate and the sign-in still holds;
    Refused (audited) otherwise.  A sign-in found no longer holding is ended."""
    if len(refresh_token) > 128:
        raise Refused("not a refresh token of this IdMS")
    with svc.db.session() as session:
        row = session.scalar(select(IdmsSignIn).where(
            IdmsSignIn.refresh_sha256 == digest(refresh_token)))
        if row is None:  # never issued, used already, or its sign-in ended
            raise Refused("not a current refresh token")
        if row.client_id != client_id:
            raise Refused("the refresh token is another client's")
        user = session.get_one(McUser, row.mc_user_id)
        actor = f"mc-user:{user.mc_id}"
        assert row.refresh_expires_at is not None
        if x5t is None or not hmac.compare_digest(x5t, row.x5t):
            refused = _refuse(session, actor, row.imei, "refresh over another client "
                              "certificate than the sign-in", sign_in=row.id)
        else:
            why = "refresh-token-expired" if row.refresh_expires_at < utcnow() \
                else _why_ended(session, row)
            if why is None:
                session.expunge(user)
                return SignedIn(row.id, user, row.client_id, row.scope, row.x5t, row.imei,
                                row.checkout_id, row.started_at, None, (), None)
            refused = _refuse(session, actor, row.imei, why, sign_in=row.id)
            _end(session, row, why, ACTOR)
    raise refused  # after the commit: the refusal and the end stay recorded


@dataclass(frozen=True, slots=True)
class ActiveSignIn:
    """A sign-in that holds now, with its identities."""

    sign_in_id: int
    identities: identities.McIdentities
    client_id: str


def active_sign_in(svc: Service, sign_in_id: int) -> tuple[ActiveSignIn | None, str]:
    """The sign-in ``sign_in_id`` if it holds now, else why not: not ended, and its
    mapping valid (``identities.lookup_by_sign_in`` derives ``end_reason`` by the rule
    of ``server.idms``, as ``identities_valid`` does, in the same one statement)."""
    with svc.db.read_session() as session:
        found = identities.lookup_by_sign_in(session, sign_in_id)
    if found is None:
        return None, "unknown sign-in"
    if found.ended_at is not None:
        return None, found.end_reason or "ended"
    view = found.identities
    if view.end_reason is not None:
        return None, view.end_reason
    return ActiveSignIn(sign_in_id, view, found.client_id), ""


def _end(session: Session, row: IdmsSignIn, reason: str, actor: str) -> None:
    row.ended_at = utcnow()
    row.end_reason = reason[:END_REASON_CHARS]
    row.refresh_sha256 = None
    audit.append(session, actor, "idms.sign-in.end", f"handset:{row.imei}",
                 {"sign_in": row.id, "reason": reason})


def _end_where(session: Session, condition: Any, reason: str) -> list[int]:
    rows = session.scalars(select(IdmsSignIn).where(condition, IdmsSignIn.ended_at.is_(None))
                           .with_for_update()).all()
    for row in rows:
        _end(session, row, reason, ACTOR)
    return [row.id for row in rows]


# --- what the handset and the MCPTT server read ---------------------------------------

def identities_json(svc: Service, active: ActiveSignIn) -> dict[str, Any]:
    """The handset's MCPTT-specific identities (the seed: "the Identity Management
    Server provides the UE with an MCPTT specific Private User Identity and … Public
    User Identity"), with the home network domain and registrar to register with."""
    view, config = active.identities, svc.config.idms
    return {"impi": view.impi2, "impu": view.impu2, "aliases": list(view.aliases),
            "instance_id": view.instance_id, "home_domain": config.network_domain,
            "registrar": config.registrar_address, "mcptt_id": view.mcptt_id}


def lookup(svc: Service, impu: str, client_id: str) -> dict[str, Any]:
    """The MCPTT server's look-up (the seed's step 22): the MCPTT ID an IMPU2 or alias
    stands for and the registration facts — nothing that links it to the card or the
    handset (no IMPI1, no IMEI)."""
    with svc.db.session() as session:
        view = identities.lookup_by_impu(session, impu)
        if view is None:
            raise NotFound("no mapping holds that IMPU", field="impu")
        sign_in = session.scalar(select(IdmsSignIn).where(
            IdmsSignIn.identity_id == view.id).order_by(IdmsSignIn.id.desc()).limit(1))
        active = view.end_reason is None and sign_in is not None \
            and _why_ended(session, sign_in) is None
        audit.append(session, f"client:{client_id}", "idms.lookup", f"impu:{impu}",
                     {"identity_id": view.id, "active": active})
        return {"impu": impu, "public_identity": view.impu2, "aliases": list(view.aliases),
                "mcptt_id": view.mcptt_id, "active": active,
                "end_reason": view.end_reason,
                "allocated_at": view.allocated_at.isoformat(timespec="seconds"),
                "signed_in_at": None if sign_in is None
                else sign_in.started_at.isoformat(timespec="seconds"),
                "refreshed_at": None if sign_in is None or sign_in.refreshed_at is None
                else sign_in.refreshed_at.isoformat(timespec="seconds")}
