"""The MC user directory (TS 33.180 clause 5.1.1): add, list, disable, enable, reset a
password, enrol or remove a TOTP second factor.  Every change appends an audit entry in
the same transaction; no password, hash or TOTP secret is ever in one.

An MC user has an MC ID (what they sign in with: lower-case letters, digits and
``. _ - + @``), an MCPTT ID (a ``sip:`` URI, TS 23.379 clause 3.1), optionally an
MCVideo ID and an MCData ID (``sip:`` URIs too), a display name and an agency.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.core.errors import AlreadyExists, Conflict, NotFound, ValidationError
from server.core.identifiers import check_text
from server.core.service import Service
from server.idms import credentials
from server.idms.identities import end_for_user
from server.pool.registry import Page, paginate
from server.store import audit_chain as audit
from server.store.models import McUser, totp_aad, utcnow
from server.store.models.idms import MAX_IDENTITY_CHARS

_MC_ID = re.compile(r"[a-z0-9][a-z0-9._+@-]{0,254}")
# RFC 3261 clause 25.1: user = 1*( unreserved / escaped / user-unreserved ); a host name.
_SIP_URI = re.compile(r"sip:([A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+"
                      r"@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}"
                      r"[a-z0-9])?")
MAX_NAME_CHARS = 200


class UserDisabled(Conflict):
    slug = "mc-user-disabled"
    title = "MC user is disabled"


@dataclass(frozen=True, slots=True)
class McUserView:
    """An MC user as the API, the desk and the CLI show it (no credential in it)."""

    id: int
    mc_id: str
    mcptt_id: str
    mcvideo_id: str | None
    mcdata_id: str | None
    display_name: str
    agency: str
    enabled: bool
    totp: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {"mc_id": self.mc_id, "mcptt_id": self.mcptt_id,
                "mcvideo_id": self.mcvideo_id, "mcdata_id": self.mcdata_id,
                "display_name": self.display_name, "agency": self.agency,
                "enabled": self.enabled, "totp": self.totp,
                "created_at": self.created_at.isoformat(timespec="seconds"),
                "updated_at": self.updated_at.isoformat(timespec="seconds")}


def view(user: McUser) -> McUserView:
    return McUserView(user.id, user.mc_id, user.mcptt_id, user.mcvideo_id, user.mcdata_id,
                      user.display_name, user.agency, user.enabled,
                      user.totp_enc is not None, user.created_at, user.updated_at)


def check_mc_id(value: str, field: str = "mc_id") -> str:
    """An MC ID, lower-cased: 1-255 of ``a-z 0-9 . _ + @ -``, starting alphanumeric."""
    value = value.strip().lower()
    if not _MC_ID.fullmatch(value):
        raise ValidationError("an MC ID is 1-255 characters of a-z, 0-9 and . _ + @ -, "
                              "starting with a letter or digit", field=field)
    return value


def check_sip_uri(value: str, field: str) -> str:
    """A ``sip:user@host`` URI (RFC 3261 clause 19.1), host lower-cased; no parameters."""
    value = value.strip()
    user, at, host = value.rpartition("@")
    value = f"{user[:4].lower()}{user[4:]}{at}{host.lower()}"
    if len(value) > MAX_IDENTITY_CHARS or not _SIP_URI.fullmatch(value):
        raise ValidationError(f"expected a SIP URI sip:user@domain of at most "
                              f"{MAX_IDENTITY_CHARS} characters", field=field)
    return value


def _issuer(svc: Service) -> str:
    return f"simattest IdMS {svc.config.idms.mcptt_domain}"


def _locked_user(session: Session, mc_id: str) -> McUser:
    user = session.scalar(select(McUser).where(McUser.mc_id == check_mc_id(mc_id))
                          .with_for_update())
    if user is None:
        raise NotFound(f"MC user {mc_id} is not in the directory", field="mc_id")
    return user


def _taken(session: Session, user: McUser) -> AlreadyExists | None:
    """The first of the user's unique identities another user has, as a 409."""
    for name in ("mc_id", "mcptt_id", "mcvideo_id", "mcdata_id"):
        value = getattr(user, name)
        if value is None:
            continue
        holder = session.scalar(select(McUser.mc_id).where(
            getattr(McUser, name) == value, McUser.id != (user.id or -1)))
        if holder is not None:
            return AlreadyExists(f"{name.replace('_', ' ')} {value} is already MC user "
                                 f"{holder}'s", field=name)
    return None


def add_user(svc: Service, *, mc_id: str, mcptt_id: str, display_name: str, password: str,
             actor: str, agency: str = "", mcvideo_id: str | None = None,
             mcdata_id: str | None = None, totp: bool = False
             ) -> tuple[McUserView, str | None]:
    """Add an MC user; with ``totp``, enrol a TOTP secret and return its provisioning
    URI (shown once: only the encrypted secret is kept).  409 already-exists naming the
    field when the MC ID, MCPTT ID, MCVideo ID or MCData ID is another user's."""
    now = utcnow()
    user = McUser(
        mc_id=check_mc_id(mc_id), mcptt_id=check_sip_uri(mcptt_id, "mcptt_id"),
        mcvideo_id=None if not mcvideo_id else check_sip_uri(mcvideo_id, "mcvideo_id"),
        mcdata_id=None if not mcdata_id else check_sip_uri(mcdata_id, "mcdata_id"),
        display_name=check_text(display_name, "display_name", max_chars=MAX_NAME_CHARS,
                                required=True),
        agency=check_text(agency, "agency", max_chars=MAX_NAME_CHARS, required=False),
        password_hash="", enabled=True, created_at=now, updated_at=now)
    credentials.check_password(password)
    secret = credentials.new_totp_secret() if totp else None
    try:
        with svc.db.session() as session:
            taken = _taken(session, user)
            if taken is not None:
                raise taken
            user.password_hash = credentials.hash_password(password)
            if secret is not None:
                user.totp_enc = svc.keys.encrypt_secret(totp_aad(user.mc_id),
                                                        secret.encode())
            session.add(user)
            session.flush()
            audit.append(session, actor, "idms.user.add", f"mc-user:{user.mc_id}",
                         {"mcptt_id": user.mcptt_id, "mcvideo_id": user.mcvideo_id,
                          "mcdata_id": user.mcdata_id, "display_name": user.display_name,
                          "agency": user.agency, "totp": secret is not None})
            result = view(user)
    except IntegrityError:  # added meanwhile by another desk
        with svc.db.read_session() as session:
            taken = _taken(session, user)
        raise (taken or AlreadyExists("added concurrently", field="mc_id")) from None
    uri = None if secret is None else credentials.provisioning_uri(secret, user.mc_id,
                                                                   _issuer(svc))
    return result, uri


def get_user(svc: Service, mc_id: str) -> McUserView:
    with svc.db.read_session() as session:
        user = session.scalar(select(McUser).where(McUser.mc_id == check_mc_id(mc_id)))
        if user is None:
            raise NotFound(f"MC user {mc_id} is not in the directory", field="mc_id")
        return view(user)


def list_users(svc: Service, *, search: str = "", enabled: bool | None = None,
               offset: int = 0, limit: int = 50) -> Page:
    """MC users by MC ID (items: McUserView); ``search`` matches a substring of the MC
    ID, MCPTT ID, display name or agency."""
    search = check_text(search, "search", max_chars=MAX_NAME_CHARS, required=False)
    query = select(McUser).order_by(McUser.mc_id)
    if search:
        query = query.where(or_(*(column.contains(search, autoescape=True) for column in (
            McUser.mc_id, McUser.mcptt_id, McUser.display_name, McUser.agency))))
    if enabled is not None:
        query = query.where(McUser.enabled.is_(enabled))
    with svc.db.read_session() as session:
        page = paginate(session, query, offset, limit)
    return dataclasses.replace(page, items=[view(u) for u in page.items])


def _change(svc: Service, mc_id: str, actor: str, action: str,
            details: dict[str, Any], change: Any) -> McUserView:
    with svc.db.session() as session:
        user = _locked_user(session, mc_id)
        extra = change(session, user) or {}
        user.updated_at = utcnow()
        audit.append(session, actor, action, f"mc-user:{user.mc_id}", {**details, **extra})
        return view(user)


def disable_user(svc: Service, mc_id: str, *, actor: str, reason: str = "") -> McUserView:
    """Disable an MC user: no sign-in, and their identities end now ("user-disabled")."""
    reason = check_text(reason, "reason", max_chars=MAX_NAME_CHARS, required=False)

    def change(session: Session, user: McUser) -> dict[str, Any]:
        user.enabled = False
        ended = end_for_user(session, user.id, "user-disabled", actor)
        return {"identities_ended": [e.impu2 for e in ended]}
    return _change(svc, mc_id, actor, "idms.user.disable", {"reason": reason}, change)


def enable_user(svc: Service, mc_id: str, *, actor: str) -> McUserView:
    def change(_session: Session, user: McUser) -> None:
        user.enabled = True
    return _change(svc, mc_id, actor, "idms.user.enable", {}, change)


def reset_password(svc: Service, mc_id: str, password: str, *, actor: str) -> McUserView:
    """Set a new password (the old one stops working at once) and forget the user's
    counted failures."""
    credentials.check_password(password)
    hashed = credentials.hash_password(password)

    def change(session: Session, user: McUser) -> None:
        user.password_hash = hashed
        credentials.forget_failures(session, user.mc_id)
    return _change(svc, mc_id, actor, "idms.user.reset-password", {}, change)


def set_totp(svc: Service, mc_id: str, *, actor: str) -> tuple[McUserView, str]:
    """Enrol a new TOTP secret (replacing any); returns the provisioning URI, shown once."""
    secret = credentials.new_totp_secret()

    def change(_session: Session, user: McUser) -> None:
        user.totp_enc = svc.keys.encrypt_secret(totp_aad(user.mc_id), secret.encode())
        user.totp_last_step = None
    user = _change(svc, mc_id, actor, "idms.user.set-totp", {}, change)
    return user, credentials.provisioning_uri(secret, user.mc_id, _issuer(svc))


def clear_totp(svc: Service, mc_id: str, *, actor: str) -> McUserView:
    """Remove the user's TOTP second factor (a lost authenticator)."""
    def change(_session: Session, user: McUser) -> None:
        user.totp_enc = None
        user.totp_last_step = None
    return _change(svc, mc_id, actor, "idms.user.clear-totp", {}, change)


def enabled_user(session: Session, mc_id: str, field: str = "user") -> McUser:
    """The enabled MC user ``mc_id`` (404 not in the directory, 409 disabled)."""
    try:
        mc_id = check_mc_id(mc_id, field)
    except ValidationError as exc:
        raise ValidationError(f"identity management is enabled: name the MC user by the "
                              f"MC ID of the directory ({exc.detail})", field=field) from None
    user = session.scalar(select(McUser).where(McUser.mc_id == mc_id))
    if user is None:
        raise NotFound(f"MC user {mc_id} is not in the directory", field=field)
    if not user.enabled:
        raise UserDisabled(f"MC user {user.mc_id} is disabled", field=field)
    return user
