"""The IdMS's OpenID Connect side: registered clients, authorization codes and sign-ins
(``server.idms.oidc``).

Nothing here is a usable secret: codes, refresh tokens and service-client secrets are
stored as SHA-256 digests of 256-bit random values (a digest cannot be redeemed), and
the token signing key is not in the database at all (``server.idms.tokens``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models.base import Base, utcnow

MAX_CLIENT_ID_CHARS = 64
MAX_REDIRECT_URI_CHARS = 512
MAX_SCOPE_CHARS = 512
END_REASON_CHARS = 64


class IdmsClient(Base):
    """A client registered by an admin: a ``native`` MC client on the handsets (public,
    PKCE, its tokens bound to the device certificate) or a ``service`` client (the MCPTT
    server's look-up; a client secret or a pinned TLS client certificate)."""

    __tablename__ = "idms_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(MAX_CLIENT_ID_CHARS), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    scopes: Mapped[str] = mapped_column(String(MAX_SCOPE_CHARS))
    secret_sha256: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)
    # SHA-256 (hex) of the service client's TLS client certificate, if it uses one.
    certificate_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class IdmsCode(Base):
    """An authorization code (RFC 6749 clause 4.1.2), single use, valid ≤ 60 s, bound to
    the client, the redirect URI, the PKCE challenge and the device certificate the
    sign-in came over."""

    __tablename__ = "idms_codes"

    code_sha256: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(MAX_CLIENT_ID_CHARS))
    redirect_uri: Mapped[str] = mapped_column(String(MAX_REDIRECT_URI_CHARS))
    scope: Mapped[str] = mapped_column(String(MAX_SCOPE_CHARS))
    nonce: Mapped[str | None] = mapped_column(String(255), default=None)
    code_challenge: Mapped[str] = mapped_column(String(128))
    mc_user_id: Mapped[int] = mapped_column(ForeignKey("mc_users.id"))
    imei: Mapped[str] = mapped_column(String(15))
    checkout_id: Mapped[int] = mapped_column(ForeignKey("checkouts.id"))
    x5t: Mapped[str] = mapped_column(String(43))
    acr: Mapped[str | None] = mapped_column(String(64), default=None)
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    auth_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class IdmsSignIn(Base):
    """An MC user signed in on a checked-out handset: what its tokens name (``sid``),
    its current refresh token (rotated at each refresh), and its end."""

    __tablename__ = "idms_sign_ins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mc_user_id: Mapped[int] = mapped_column(ForeignKey("mc_users.id"))
    client_id: Mapped[str] = mapped_column(String(MAX_CLIENT_ID_CHARS))
    imei: Mapped[str] = mapped_column(String(15))
    checkout_id: Mapped[int] = mapped_column(ForeignKey("checkouts.id"))
    # The MCPTT-specific identities allocated at this sign-in (``server.idms``).
    identity_id: Mapped[int] = mapped_column(ForeignKey("mc_identities.id"))
    x5t: Mapped[str] = mapped_column(String(43))
    scope: Mapped[str] = mapped_column(String(MAX_SCOPE_CHARS))
    code_sha256: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    refresh_sha256: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True,
                                                         default=None)
    refresh_expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    refreshed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    end_reason: Mapped[str | None] = mapped_column(String(END_REASON_CHARS), default=None)

    __table_args__ = (
        Index("ix_idms_sign_ins_checkout", "checkout_id"),
    )
