"""Identity management's service functions (``server.idms``): the MC user directory,
credential checks with their throttle, the MCPTT-specific identities and their end.
On SQLite and PostgreSQL (the ``service`` fixture)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import argon2
import pyotp
import pytest
from sqlalchemy import select, update

from server.attestation.challenge import create_challenge
from server.attestation.evidence import submit_evidence
from server.checkout.desk import HandsetLost
from server.core.config import IdmsConfig, ServiceConfig
from server.core.errors import AlreadyExists, NotFound, ValidationError
from server.core.service import Service
from server.idms import credentials, desk, identities, users
from server.idms.identities import SignInRefused
from server.store import audit_chain as audit
from server.store.models import AuditEntry, Checkout, IdmsThrottle, McIdentity, McUser
from tests.fixtures_attestation import Pool, TestCard, TestHandset

PASSWORD = "correct horse battery"
# Refused before any storage is touched, or storage already covered on both databases by
# another test: SQLite only, to keep the suite's time.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
DOMAIN = "mcptt.police.example"


@pytest.fixture
def service_config() -> ServiceConfig:
    return ServiceConfig(idms=IdmsConfig(enabled=True, mcptt_domain=DOMAIN, alias_count=2))


def _add(svc: Service, mc_id: str = "alice", **kw: Any) -> users.McUserView:
    fields = {"mcptt_id": f"sip:{mc_id}@{DOMAIN}", "display_name": mc_id.title(),
              "password": PASSWORD, "agency": "Police", **kw}
    return users.add_user(svc, mc_id=mc_id, actor="test", **fields)[0]


def _attest(svc: Service, handset: TestHandset, card: TestCard) -> str:
    challenge = create_challenge(svc, handset.request(), "127.0.0.1").to_json()
    doc, sig = handset.evidence(challenge, card)
    return submit_evidence(svc, challenge["id"], doc, sig, "127.0.0.1").attestation_id


def _signed_in(svc: Service, pool: Pool, mc_id: str = "alice", unit: int = 0
               ) -> identities.McIdentities:
    """Check handset ``unit`` out to ``mc_id`` and allocate its identities."""
    view = desk.start_checkout(svc, _attest(svc, pool.handsets[unit], pool.cards[unit]),
                               mc_id, "desk")
    with svc.db.session() as session:
        user = session.scalar(select(McUser).where(McUser.mc_id == mc_id))
        assert user is not None
        checkout = identities.checkout_for_sign_in(session, pool.handsets[unit].imei,
                                                   user.id)
        assert checkout.id == view.id
        return identities.allocate_identities(session, svc.config.idms, checkout, user,
                                              actor="idms")


def _validity(svc: Service, identity_id: int) -> identities.Validity:
    with svc.db.read_session() as session:
        return identities.identities_valid(session, identity_id)


# --- the directory --------------------------------------------------------------------

def test_add_and_list_users_audited_without_the_password(service: Service) -> None:
    alice, uri = users.add_user(service, mc_id=" Alice@Police ", mcptt_id="sip:alice@" + DOMAIN,
                                display_name="Alice Example", password=PASSWORD,
                                actor="operator:1:admin", agency="Police", totp=True)
    assert (alice.mc_id, alice.totp, alice.enabled) == ("alice@police", True, True)
    assert uri is not None and uri.startswith("otpauth://totp/")
    _add(service, "bob", mcvideo_id=f"sip:bob.video@{DOMAIN}")
    page = users.list_users(service, search="bob")
    assert [u.mc_id for u in page.items] == ["bob"] and page.total == 1
    assert [u.mc_id for u in users.list_users(service).items] == ["alice@police", "bob"]
    with service.db.read_session() as session:
        stored = session.scalar(select(McUser).where(McUser.mc_id == "bob"))
        entries = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "idms.user.add")).all()
    assert stored is not None and stored.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert len(entries) == 2
    secret = dict(re.findall(r"(\w+)=([^&]+)", uri))["secret"]
    for entry in entries:
        text = str(entry.details)
        assert PASSWORD not in text and "argon2" not in text and secret not in text


@sqlite_only
def test_the_totp_secret_is_encrypted_under_the_kek(service: Service) -> None:
    _view, uri = users.set_totp(service, _add(service).mc_id, actor="test")
    secret = dict(re.findall(r"(\w+)=([^&]+)", uri))["secret"]
    with service.db.read_session() as session:
        blob = session.scalar(select(McUser.totp_enc).where(McUser.mc_id == "alice"))
    assert blob is not None and secret.encode() not in blob
    assert service.decrypt_secret("mc-user-totp:alice", blob) == secret.encode()


@sqlite_only
@pytest.mark.parametrize(("field", "value", "message"), [
    ("mc_id", "", "an MC ID is 1-255"),
    ("mc_id", "a" * 256, "an MC ID is 1-255"),
    ("mc_id", "al\x00ice", "an MC ID is 1-255"),
    ("mcptt_id", "alice@" + DOMAIN, "expected a SIP URI"),
    ("mcptt_id", "sip:alice", "expected a SIP URI"),
    ("mcptt_id", "sip:al ice@" + DOMAIN, "expected a SIP URI"),
    ("mcptt_id", "sip:" + "a" * 250 + "@" + DOMAIN, "at most 255"),
    ("mcdata_id", "tel:+15550100", "expected a SIP URI"),
    ("display_name", "", "expected 1-200 printable"),
    ("display_name", "Eve\x1b[2J", "expected 1-200 printable"),
    ("agency", "x" * 201, "expected 1-200 printable"),
    ("password", "short", "12 to 256 characters"),
    ("password", "x" * 257, "12 to 256 characters"),
    ("password", "twelve chars\x00!", "control characters"),
])
def test_malformed_user_fields_are_refused(service: Service, field: str, value: str,
                                           message: str) -> None:
    fields = {"mc_id": "alice", "mcptt_id": f"sip:alice@{DOMAIN}", "display_name": "Alice",
              "password": PASSWORD, "agency": "", field: value}
    with pytest.raises(ValidationError, match=message) as refused:
        users.add_user(service, actor="test", **fields)
    assert refused.value.field == field
    assert users.list_users(service).total == 0


def test_a_taken_identity_is_refused_naming_it(service: Service) -> None:
    _add(service, "alice")
    with pytest.raises(AlreadyExists, match=r"mcptt id sip:alice@.* is already MC user alice"):
        _add(service, "alice2", mcptt_id=f"sip:alice@{DOMAIN}")
    with pytest.raises(AlreadyExists) as refused:
        _add(service, "ALICE", mcptt_id=f"sip:other@{DOMAIN}")
    assert refused.value.field == "mc_id"
    assert users.list_users(service).total == 1


def test_unknown_user_is_not_found(service: Service) -> None:
    with pytest.raises(NotFound, match="MC user nobody is not in the directory"):
        users.disable_user(service, "nobody", actor="test")


# --- credentials ----------------------------------------------------------------------

class _CountingHasher:
    """Wraps the module's Argon2 hasher, recording the parameters of every verify."""

    def __init__(self, real: argon2.PasswordHasher) -> None:
        self.real = real
        self.verified: list[argon2.Parameters] = []

    def verify(self, stored: str, password: str) -> bool:
        self.verified.append(argon2.extract_parameters(stored))
        return self.real.verify(stored, password)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_unknown_and_known_users_cost_the_same_argon2_work(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    _add(service)
    counting = _CountingHasher(credentials._hasher)
    monkeypatch.setattr(credentials, "_hasher", counting)
    known = credentials.verify_credentials(service, "alice", "wrong password!",
                                           address="192.0.2.1")
    unknown = credentials.verify_credentials(service, "mallory", "wrong password!",
                                             address="192.0.2.2")
    assert (known.outcome, unknown.outcome) == ("invalid-credentials", "invalid-credentials")
    # one Argon2id verification each, at the same parameters
    assert len(counting.verified) == 2
    assert counting.verified[0] == counting.verified[1]
    assert counting.verified[0].type is argon2.Type.ID
    # and both counted a failure under their three keys
    with service.db.read_session() as session:
        assert len(session.scalars(select(IdmsThrottle)).all()) == 6


def test_right_password_signs_in_and_a_disabled_user_is_told_only_after_it(
        service: Service) -> None:
    _add(service)
    ok = credentials.verify_credentials(service, "Alice", PASSWORD, address="192.0.2.1")
    assert ok.ok and ok.user_id is not None
    users.disable_user(service, "alice", actor="test")
    assert credentials.verify_credentials(service, "alice", "not the password",
                                          address="192.0.2.1").outcome == "invalid-credentials"
    assert credentials.verify_credentials(service, "alice", PASSWORD,
                                          address="192.0.2.3").outcome == "user-disabled"
    users.enable_user(service, "alice", actor="test")
    assert credentials.verify_credentials(service, "alice", PASSWORD,
                                          address="192.0.2.3").ok


def test_growing_delays_never_a_lockout(service: Service,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _add(service)
    now = dt.datetime(2026, 1, 1, 8, tzinfo=dt.UTC)
    monkeypatch.setattr(credentials, "utcnow", lambda: now)
    waits = []
    for _ in range(4):
        assert credentials.verify_credentials(service, "alice", "wrong password!",
                                              address="192.0.2.1").outcome \
            == "invalid-credentials"
        throttled = credentials.verify_credentials(service, "alice", PASSWORD,
                                                   address="192.0.2.1")
        assert throttled.outcome == "throttled"  # even the right password waits
        assert throttled.retry_after is not None
        waits.append(throttled.retry_after)
        now += dt.timedelta(seconds=throttled.retry_after)
    assert waits == [1.0, 2.0, 4.0, 8.0]
    # another address is not delayed by these (the user-alone key is free for 10)
    assert credentials.verify_credentials(service, "alice", PASSWORD,
                                          address="198.51.100.7").ok
    # waiting out the delay, the right password works
    assert credentials.verify_credentials(service, "alice", PASSWORD,
                                          address="192.0.2.1").ok


@sqlite_only
def test_a_stranger_cannot_delay_the_officer_on_their_handset(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    _add(service)
    now = dt.datetime(2026, 1, 1, 8, tzinfo=dt.UTC)
    monkeypatch.setattr(credentials, "utcnow", lambda: now)
    waits = []
    for i in range(40):  # a stranger from many addresses, waiting out every delay
        guess = credentials.verify_credentials(service, "alice", "guess guess guess",
                                               address=f"203.0.113.{i}")
        if guess.retry_after is not None:
            waits.append(guess.retry_after)
            now += dt.timedelta(seconds=guess.retry_after)
    assert max(waits) == 30.0  # the user-alone delay's cap
    assert credentials.verify_credentials(service, "alice", "guess guess guess",
                                          address="203.0.113.99").outcome \
        == "invalid-credentials"
    delayed = credentials.verify_credentials(service, "alice", PASSWORD,
                                             address="192.0.2.50")
    assert delayed.outcome == "throttled" and delayed.retry_after == 30.0
    on_handset = credentials.verify_credentials(service, "alice", PASSWORD,
                                                address="192.0.2.50", trusted_device=True)
    assert on_handset.ok


def test_totp_is_asked_after_the_password_and_each_code_works_once(
        service: Service) -> None:
    _add(service)
    _view, uri = users.set_totp(service, "alice", actor="test")
    totp = pyotp.parse_uri(uri)
    assert credentials.verify_credentials(service, "alice", PASSWORD,
                                          address="192.0.2.1").outcome == "totp-required"
    code = totp.now()
    assert credentials.verify_credentials(service, "alice", PASSWORD, address="192.0.2.1",
                                          totp_code=code).ok
    assert credentials.verify_credentials(service, "alice", PASSWORD, address="192.0.2.2",
                                          totp_code=code).outcome == "invalid-credentials"
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert credentials.verify_credentials(service, "alice", PASSWORD, address="192.0.2.3",
                                          totp_code=wrong).outcome == "invalid-credentials"


@sqlite_only
@pytest.mark.parametrize(("mc_id", "password", "field"), [
    ("", PASSWORD, "username"), ("a" * 256, PASSWORD, "username"),
    ("al\x00ice", PASSWORD, "username"), ("alice", "", "password"),
    ("alice", "x" * 257, "password"), ("alice", "pass\x00word", "password"),
])
def test_malformed_sign_in_input_is_refused_for_everyone(
        service: Service, mc_id: str, password: str, field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        credentials.verify_credentials(service, mc_id, password, address="192.0.2.1")
    assert refused.value.field == field


def test_reset_password_replaces_the_old_one(service: Service) -> None:
    _add(service)
    users.reset_password(service, "alice", "a new long passphrase", actor="test")
    assert credentials.verify_credentials(service, "alice", PASSWORD,
                                          address="192.0.2.1").outcome == "invalid-credentials"
    assert credentials.verify_credentials(service, "alice", "a new long passphrase",
                                          address="192.0.2.2").ok


# --- identities -----------------------------------------------------------------------

_RANDOM = r"[a-z2-7]{26}"


def test_identities_allocated_unlinkable_and_mapped(service: Service, pool: Pool) -> None:
    _add(service)
    first = _signed_in(service, pool)
    assert re.fullmatch(_RANDOM + "@" + re.escape(DOMAIN), first.impi2)
    assert re.fullmatch("sip:" + _RANDOM + "@" + re.escape(DOMAIN), first.impu2)
    assert len(first.aliases) == 2 and len(set(first.impus)) == 3
    assert first.valid and first.mcptt_id == f"sip:alice@{DOMAIN}"
    assert (first.imei, first.iccid) == (pool.handsets[0].imei, pool.cards[0].iccid)
    # no ISIM IMPI recorded by the import: derived from the IMSI (TS 23.003 13.3)
    imsi = pool.cards[0].imsi
    assert first.impi1 == f"{imsi}@ims.mnc{imsi[3:5].zfill(3)}.mcc{imsi[:3]}.3gppnetwork.org"
    assert first.instance_id.startswith("urn:uuid:")
    # signing in again on the same checkout: the same identities
    again = _signed_in_again(service, pool)
    assert again.id == first.id
    with service.db.read_session() as session:
        assert identities.lookup_by_impi2(session, first.impi2) == first
        assert identities.lookup_by_impu(session, first.aliases[1]) == first
        assert identities.lookup_by_impu(session, "sip:nobody@" + DOMAIN) is None
    # the next checkout's share nothing with this one's
    desk.return_checkout(service, first.checkout_id, "desk")
    second = _signed_in(service, pool)
    assert second.id != first.id
    assert not {*second.impus, second.impi2, second.instance_id} \
        & {*first.impus, first.impi2, first.instance_id}


def _signed_in_again(svc: Service, pool: Pool) -> identities.McIdentities:
    with svc.db.session() as session:
        user = session.scalar(select(McUser).where(McUser.mc_id == "alice"))
        assert user is not None
        checkout = identities.checkout_for_sign_in(session, pool.handsets[0].imei, user.id)
        return identities.allocate_identities(session, svc.config.idms, checkout, user,
                                              actor="idms")


def test_return_ends_the_identities_at_once(service: Service, pool: Pool) -> None:
    _add(service)
    mapped = _signed_in(service, pool)
    desk.return_checkout(service, mapped.checkout_id, "desk")
    assert _validity(service, mapped.id) == identities.Validity(False, "returned")
    with service.db.read_session() as session:
        row = session.get_one(McIdentity, mapped.id)
        assert (row.end_reason, row.ended_by) == ("returned", "desk")


def test_disabling_the_user_ends_the_identities(service: Service, pool: Pool) -> None:
    _add(service)
    mapped = _signed_in(service, pool)
    users.disable_user(service, "alice", actor="admin", reason="left the force")
    assert _validity(service, mapped.id).reason == "user-disabled"
    with service.db.session() as session, pytest.raises(SignInRefused) as refused:
        identities.checkout_for_sign_in(session, pool.handsets[0].imei, mapped.mc_user_id)
    assert refused.value.reason == "user-disabled"


def test_a_contraindicated_attestation_ends_them_without_idms_taking_part(
        service: Service, pool: Pool) -> None:
    _add(service)
    mapped = _signed_in(service, pool)
    # the handset now attests with another card in it (SIM swapped): contraindicated
    _attest(service, pool.handsets[0], pool.cards[1])
    assert _validity(service, mapped.id) == identities.Validity(
        False, "attestation-not-affirming")
    with service.db.read_session() as session:
        assert session.get_one(McIdentity, mapped.id).ended_at is None  # not yet recorded
    settled = identities.settle(service, actor="idms")
    assert [(s.id, s.end_reason) for s in settled] == [(mapped.id,
                                                        "attestation-not-affirming")]
    assert identities.settle(service, actor="idms") == []


def test_lost_handset_ends_identities_and_blocks_checkout_until_cleared(
        service: Service, pool: Pool) -> None:
    _add(service)
    mapped = _signed_in(service, pool)
    imei = pool.handsets[0].imei
    reported = desk.report_lost(service, imei, actor="operator:2:desk",
                                note="left in patrol car 7")
    assert reported["lost"]["reported_by"] == "operator:2:desk"
    assert reported["identities_ended"] == [mapped.impu2]
    assert _validity(service, mapped.id).reason == "lost"
    desk.return_checkout(service, mapped.checkout_id, "desk")
    att = _attest(service, pool.handsets[0], pool.cards[0])
    with pytest.raises(HandsetLost, match="reported lost or stolen by operator:2:desk"):
        desk.start_checkout(service, att, "alice", "desk")
    desk.clear_lost(service, imei, actor="operator:2:desk", note="found, checked")
    assert desk.start_checkout(service, att, "alice", "desk").user == "alice"
    assert audit.verify_chain(service.db).ok


def test_with_idms_enabled_a_checkout_names_an_enabled_directory_user(
        service: Service, pool: Pool) -> None:
    _add(service)
    att = _attest(service, pool.handsets[0], pool.cards[0])
    with pytest.raises(ValidationError, match="name the MC user by the MC ID"):
        desk.start_checkout(service, att, "Officer Jane", "desk")
    with pytest.raises(NotFound, match=r"MC user officer\.jane is not in the directory"):
        desk.start_checkout(service, att, "officer.jane", "desk")
    users.disable_user(service, "alice", actor="test")
    with pytest.raises(users.UserDisabled):
        desk.start_checkout(service, att, "alice", "desk")
    users.enable_user(service, "alice", actor="test")
    view = desk.start_checkout(service, att, "ALICE", "desk")
    with service.db.read_session() as session:
        assert session.get_one(Checkout, view.id).mc_user_id is not None


def test_sign_in_refused_on_a_handset_out_to_another_user(service: Service,
                                                           pool: Pool) -> None:
    _add(service, "alice")
    bob = _add(service, "bob")
    _signed_in(service, pool, "alice")
    with service.db.session() as session, pytest.raises(SignInRefused) as refused:
        identities.checkout_for_sign_in(session, pool.handsets[0].imei, bob.id)
    assert refused.value.reason == "checkout-other-user"
    with service.db.session() as session, pytest.raises(SignInRefused) as refused:
        identities.checkout_for_sign_in(session, pool.handsets[1].imei, bob.id)
    assert refused.value.reason == "not-checked-out"


def test_prune_deletes_ended_mappings_after_the_retention_and_keeps_the_audit(
        service: Service, pool: Pool) -> None:
    _add(service)
    old = _signed_in(service, pool)
    desk.return_checkout(service, old.checkout_id, "desk")
    recent = _signed_in(service, pool)
    desk.return_checkout(service, recent.checkout_id, "desk")
    live = _signed_in(service, pool)
    with service.db.session() as session:
        session.execute(update(McIdentity).where(McIdentity.id == old.id).values(
            ended_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=91)))
    report = identities.prune(service, actor="timer")
    assert (report.pruned, report.settled) == (1, 0)
    with service.db.read_session() as session:
        assert identities.lookup_by_impi2(session, old.impi2) is None
        assert identities.lookup_by_impu(session, old.aliases[0]) is None
        assert identities.lookup_by_impi2(session, recent.impi2) is not None
        assert identities.lookup_by_impi2(session, live.impi2) is not None
        actions = session.scalars(select(AuditEntry.action)).all()
    assert actions.count("idms.identities.allocate") == 3 and "idms.prune" in actions
    assert audit.verify_chain(service.db).ok


def test_kek_rotation_re_encrypts_totp_secrets(service: Service) -> None:
    from server.pool.keyrotation import rotate_kek

    _add(service)
    _view, uri = users.set_totp(service, "alice", actor="test")
    rotate_kek(service, actor="test")
    # the new KEK decrypts the secret: a code from the enrolled authenticator works
    assert credentials.verify_credentials(service, "alice", PASSWORD, address="192.0.2.1",
                                          totp_code=pyotp.parse_uri(uri).now()).ok


@sqlite_only
def test_no_audit_entry_holds_a_password_hash_or_totp_secret(service: Service) -> None:
    _add(service)
    users.reset_password(service, "alice", "second long passphrase", actor="admin")
    _view, uri = users.set_totp(service, "alice", actor="admin")
    users.clear_totp(service, "alice", actor="admin")
    users.disable_user(service, "alice", actor="admin", reason="left")
    users.enable_user(service, "alice", actor="admin")
    secret = dict(re.findall(r"(\w+)=([^&]+)", uri))["secret"]
    with service.db.read_session() as session:
        entries = session.scalars(select(AuditEntry).where(
            AuditEntry.action.startswith("idms.user."))).all()
    assert [e.action for e in entries] == [
        "idms.user.add", "idms.user.reset-password", "idms.user.set-totp",
        "idms.user.clear-totp", "idms.user.disable", "idms.user.enable"]
    for entry in entries:
        text = f"{entry.subject} {entry.details}"
        for leaked in (PASSWORD, "second long passphrase", "$argon2", secret):
            assert leaked not in text, entry.action


def _at_once(count: int, work: Any) -> list[Any]:
    """``work()`` in ``count`` threads released together; their results (or errors)."""
    import threading

    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work()
        except Exception as exc:  # reported, not swallowed: the test compares them
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_failures_are_all_counted(service: Service) -> None:
    _add(service)
    results = _at_once(4, lambda: credentials.verify_credentials(
        service, "alice", "wrong password!", address="192.0.2.9").outcome)
    # each either counted (invalid) or, arriving after a counted one, told to wait
    assert sorted(set(results)) <= ["invalid-credentials", "throttled"], results
    with service.db.read_session() as session:
        failures = session.scalar(select(IdmsThrottle.failures).where(
            IdmsThrottle.key == credentials._key("address", "192.0.2.9")))
    assert failures == results.count("invalid-credentials") >= 1


def test_concurrent_sign_ins_on_one_checkout_share_one_mapping(service: Service,
                                                               pool: Pool) -> None:
    _add(service)
    desk.start_checkout(service, _attest(service, pool.handsets[0], pool.cards[0]),
                        "alice", "desk")
    results = _at_once(3, lambda: _signed_in_again(service, pool))
    assert all(isinstance(r, identities.McIdentities) for r in results), results
    assert len({r.id for r in results}) == 1
    with service.db.read_session() as session:
        assert len(session.scalars(select(McIdentity)).all()) == 1
