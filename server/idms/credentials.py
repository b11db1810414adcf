"""MC user credentials: Argon2id password hashes, TOTP second factor, and the checking of
a sign-in's credentials with growing delays.

**Passwords** are hashed with Argon2id (RFC 9106) at the OWASP Password Storage Cheat
Sheet's parameters — 19 MiB of memory, 2 iterations, 1 lane — through ``argon2-cffi``;
a hash made under older parameters is replaced at the next successful sign-in.

**TOTP** (RFC 6238, 30 s steps, 6 digits, SHA-1 as authenticator apps expect) through
``pyotp``; the secret is stored encrypted under the KEK; a code is accepted in the step
before, at or after now, and each step only once (``mc_users.totp_last_step``).

**No user enumeration.**  ``verify_credentials`` does the same work for a name that is
not in the directory as for one that is: one Argon2id verification (against
``_dummy_hash()``, a hash at the same parameters, for an unknown name), one throttle
update, the same answer ``invalid-credentials``.  Whether the user exists, is disabled
or has TOTP is said only after the right password.

**Throttling: growing delays, never a lockout.**  Each failure is counted under three
keys (SHA-256 of the key, so no name or address is stored): the user name with the
client address, the address alone, and the user name alone.  After ``n`` failures
counted under a key, no attempt under it is checked for ``delay(n)`` seconds — it is
answered ``throttled`` with the time to wait, without any password work, and without
counting (so waiting attempts do not lengthen the delay):

- user+address: 2^(n-1) s from the first failure, at most 60 s (a typo costs a second);
- address: free for 10 failures, then 2^(n-10) s, at most 300 s (one address trying
  many names);
- user alone: free for 10, then 2^(n-10) s, at most 30 s (many addresses trying one
  name).  This is the only key a stranger can drive for an officer, so it is capped
  low, and it does not apply at all to a request that the caller vouches comes from
  the handset checked out to that user now (``trusted_device``: mutual TLS with that
  handset's device certificate — OWASP's "device cookie" defence): a stranger cannot
  delay an officer signing in on the handset the desk gave them.

A key's count is forgotten ``FAILURE_MEMORY`` after its last failure; a successful
sign-in clears its user+address and user keys.  Nothing ever locks an account: an
admin's ``users.disable_user`` is the only way to refuse a right password.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

import argon2
import pyotp
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.core.errors import ValidationError
from server.core.service import Service
from server.store.models import IdmsThrottle, McUser, totp_aad, utcnow

# OWASP Password Storage Cheat Sheet, Argon2id: m=19 MiB, t=2, p=1.
_hasher = argon2.PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1,
                                hash_len=32, salt_len=16, type=argon2.Type.ID)
MIN_PASSWORD_CHARS = 12  # NIST SP 800-63B clause 3.1.1.2 asks at least 8; agencies more
MAX_PASSWORD_CHARS = 256  # bounds the hashing work an attacker can ask for
TOTP_STEP = 30
FAILURE_MEMORY = dt.timedelta(hours=1)
# (free failures, cap in seconds) per key kind; see the module docstring.
_POLICY: dict[str, tuple[int, int]] = {"pair": (0, 60), "address": (10, 300),
                                       "user": (10, 30)}

Outcome = Literal["ok", "invalid-credentials", "totp-required", "user-disabled",
                  "throttled"]


def check_password(password: str, field: str = "password") -> str:
    """A new password: 12-256 characters, printable (no NUL or other control
    characters, which a terminal or form would not show).  Spaces and any printable
    Unicode are allowed (NIST SP 800-63B clause 5.1.1.2)."""
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise ValidationError(f"a password must be {MIN_PASSWORD_CHARS} to "
                              f"{MAX_PASSWORD_CHARS} characters, got {len(password)}",
                              field=field)
    if not password.isprintable():
        raise ValidationError("a password must not contain control characters", field=field)
    return password


def hash_password(password: str) -> str:
    """The Argon2id PHC string of ``password`` (random salt)."""
    return _hasher.hash(password)


@functools.cache
def _dummy_hash() -> str:
    """A hash at the same parameters that no password is known for: what an unknown
    name's attempt is verified against, so that it costs what a known one does."""
    return _hasher.hash(hashlib.sha256(b"simattest idms: no such user").hexdigest())


def _password_matches(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except argon2.exceptions.VerificationError:
        return False
    except argon2.exceptions.InvalidHashError:
        return False


# --- TOTP -----------------------------------------------------------------------------

def new_totp_secret() -> str:
    """A random TOTP secret, base32 (160 bits: RFC 4226 clause 4 R6's recommendation)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, mc_id: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app scans (shown once, at enrolment)."""
    return pyotp.TOTP(secret, interval=TOTP_STEP).provisioning_uri(name=mc_id,
                                                                   issuer_name=issuer)


def _totp_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The time step ``code`` is right for (now, one before or one after), else None."""
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_STEP)
    step = totp.timecode(now)
    found = None
    for candidate in (step - 1, step, step + 1):  # compare all: constant work
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            found = candidate
    return found


# --- throttle -------------------------------------------------------------------------

def _key(kind: str, *parts: str) -> str:
    return hashlib.sha256("\x00".join((kind, *parts)).encode()).hexdigest()


def _delay(kind: str, failures: int) -> float:
    free, cap = _POLICY[kind]
    over = failures - free
    return 0.0 if over <= 0 else float(min(2 ** (over - 1), cap))


def _throttle_keys(mc_id: str, address: str, trusted_device: bool) -> dict[str, str]:
    keys = {"pair": _key("pair", mc_id, address), "address": _key("address", address)}
    if not trusted_device:
        keys["user"] = _key("user", mc_id)
    return keys


# Built once: on every login (building one cost about as much as running it).
_THROTTLE_ROWS = select(IdmsThrottle).where(
    IdmsThrottle.key.in_(bindparam("keys", expanding=True)))
_USER = select(McUser).where(McUser.mc_id == bindparam("mc_id"))


def _wait(rows: dict[str, IdmsThrottle], keys: dict[str, str], now: dt.datetime) -> float:
    """Seconds to wait before any of ``keys`` may be tried again (0: now), from their
    ``rows`` (by key; a key without a row has no failures)."""
    counted = (rows[key] for key in keys.values() if key in rows)
    return max((max(0.0, (row.not_before - now).total_seconds()) for row in counted
                if now - row.last_failure_at < FAILURE_MEMORY), default=0.0)


def _count_failure(session: Session, keys: dict[str, str], now: dt.datetime) -> None:
    for kind, key in keys.items():
        row = session.get(IdmsThrottle, key, with_for_update=True)
        if row is None:
            row = IdmsThrottle(key=key, failures=0, last_failure_at=now, not_before=now)
            session.add(row)
        elif now - row.last_failure_at >= FAILURE_MEMORY:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        row.not_before = now + dt.timedelta(seconds=_delay(kind, row.failures))
    session.flush()


def _clear(session: Session, keys: list[str]) -> None:
    for key in keys:
        row = session.get(IdmsThrottle, key)
        if row is not None:
            session.delete(row)


def forget_failures(session: Session, mc_id: str) -> None:
    """Clear the user-alone key (an admin reset the password)."""
    _clear(session, [_key("user", mc_id)])


# --- checking a sign-in ---------------------------------------------------------------

@dataclass(frozen=True)
class CredentialCheck:
    """What ``verify_credentials`` found.  ``user_id`` only when ``outcome`` is "ok";
    ``retry_after`` (seconds) only when "throttled"."""

    outcome: Outcome
    user_id: int | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def check_sign_in_input(mc_id: str, password: str) -> None:
    """Refuse input no user could have (whoever asks, so nothing about users is told)."""
    if not 1 <= len(mc_id) <= 255 or not mc_id.isprintable():
        raise ValidationError("expected an MC ID of 1-255 printable characters",
                              field="username")
    if not 1 <= len(password) <= MAX_PASSWORD_CHARS or "\x00" in password:
        raise ValidationError(f"expected a password of 1-{MAX_PASSWORD_CHARS} characters "
                              "without NUL", field="password")


def verify_credentials(svc: Service, mc_id: str, password: str, *, address: str,
                       totp_code: str | None = None,
                       trusted_device: bool = False) -> CredentialCheck:
    """Check an MC user's sign-in credentials (TS 33.180 clause 5.1.2 user
    authentication), throttled as the module docstring says.

    ``address``: the client's address; ``trusted_device``: the caller has established
    that the request comes from the handset checked out to this user now (then the
    user-alone delay does not apply).  Malformed input is a ValidationError; every other
    refusal is an outcome, and counted failures are committed.
    """
    check_sign_in_input(mc_id, password)
    mc_id = mc_id.strip().lower()
    now = utcnow()
    keys = _throttle_keys(mc_id, address, trusted_device)
    for attempt in range(2):  # a concurrent first failure may insert a key first
        try:
            with svc.db.session() as session:
                return _verify(svc, session, mc_id, password, totp_code, keys, now)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def _verify(svc: Service, session: Session, mc_id: str, password: str,
            totp_code: str | None, keys: dict[str, str], now: dt.datetime
            ) -> CredentialCheck:
    # One read for the delay and for what a success clears (the user-alone key even
    # when it does not delay this attempt).
    cleared = [keys["pair"], _key("user", mc_id)]
    rows = {row.key: row for row in session.scalars(
        _THROTTLE_ROWS, {"keys": list({*keys.values(), *cleared})})}
    wait = _wait(rows, keys, now)
    if wait > 0:
        return CredentialCheck("throttled", retry_after=wait)
    user = session.scalar(_USER, {"mc_id": mc_id})
    # The same Argon2id work whether or not the name is in the directory.
    matches = _password_matches(_dummy_hash() if user is None else user.password_hash,
                                password)
    if user is None or not matches:
        _count_failure(session, keys, now)
        return CredentialCheck("invalid-credentials")
    if user.totp_enc is not None:
        if not totp_code:
            return CredentialCheck("totp-required")
        secret = svc.decrypt_secret(totp_aad(user.mc_id), user.totp_enc).decode()
        step = _totp_step(secret, totp_code, now)
        if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
            _count_failure(session, keys, now)
            return CredentialCheck("invalid-credentials")
        user.totp_last_step = step
    if not user.enabled:
        return CredentialCheck("user-disabled")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    for key in cleared:  # most sign-ins have nothing to clear: no statement then
        if key in rows:
            session.delete(rows[key])
    return CredentialCheck("ok", user_id=user.id)
