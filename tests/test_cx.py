"""The Cx peer on the wire (TS 29.228/29.229, RFC 6733), on SQLite and PostgreSQL: a
Diameter client of our own (tests/cx_client.py, python-diameter framing) plays the
S-CSCF.  Vectors are checked with the card's keys; every refusal is the result code the
specifications prescribe and changes no state; malformed messages and peers that go away
do not stop the peer."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from sqlalchemy import func, select

from attest.aka.milenage import Milenage
from attest.aka.sqn import IND_BITS, SqnArray, build_auts, open_autn, split_sqn
from hw.cardfile import load_card_file
from server.core.config import IdmsConfig, ServiceConfig
from server.core.service import Service
from server.idms import desk, identities
from server.ims.config import CxPeer
from server.ims.cx import CxServer
from server.store.audit_chain import verify_chain
from server.store.models import AuditEntry, CxSqn, ImsRegistration
from tests.cx_client import CX, CxClient, result_of, vectors_of
from tests.fixtures_db import free_port
from tests.fixtures_ims import CX_XSD, DOMAIN, PS, SCSCF_HOST, cx_test_config, sign_in, wait_for

SCSCFS = [SCSCF_HOST, "scscf2.mcptt.example.org", "scscf3.mcptt.example.org"]
ELSEWHERE = "scscf-elsewhere.mcptt.example.org"


@pytest.fixture
def service_config() -> ServiceConfig:
    return ServiceConfig(idms=IdmsConfig(enabled=True, mcptt_domain=DOMAIN, alias_count=2))


@pytest.fixture
def cx(service: Service) -> Iterator[int]:
    port = free_port()
    peers = (*(CxPeer(host, frozenset({"127.0.0.1"})) for host in SCSCFS),
             CxPeer(ELSEWHERE, frozenset({"192.0.2.10"})))
    server = CxServer(service, cx_test_config(port, peers=peers,
                                             application_server=f"sip:mcptt-as.{DOMAIN}"))
    server.start()
    wait_for(lambda: _listening(port), "the Cx peer listens")
    try:
        yield port
    finally:
        server.stop()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _listens_on(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a listening TCP socket on ``port`` (/proc)."""
    listening = {fields[9] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
                 if (fields := line.split())[3] == "0A"  # TCP_LISTEN
                 and int(fields[1].rsplit(":", 1)[1], 16) == port}
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            held.add(os.readlink(fd).removeprefix("socket:[").removesuffix("]"))
    return bool(listening & held)


def _alg() -> Milenage:
    card = load_card_file(PS)
    return Milenage(card.ki, opc=card.opc)


def _seqs(svc: Service) -> list[int]:
    with svc.db.read_session() as session:
        return list(session.scalars(select(CxSqn.seq)))


def test_cea_advertises_cx_as_a_vendor_specific_application(service: Service, cx: int) -> None:
    client = CxClient(cx)
    assert client.cea is not None and result_of(client.cea) == 2001
    vsai = [(v.vendor_id, v.auth_application_id)
            for v in client.cea.vendor_specific_application_id]
    assert vsai == [(10415, CX)] and client.cea.auth_application_id == []


def test_unknown_peer_and_a_known_peer_from_another_address_are_refused(
        service: Service, cx: int) -> None:
    for host in ("stranger.example.org", ELSEWHERE):
        client = CxClient(cx, origin_host=host)
        assert client.cea is not None and result_of(client.cea) == 3010  # UNKNOWN_PEER


def test_mar_returns_a_vector_the_card_accepts_from_the_idms_own_slot(
        service: Service, cx: int) -> None:
    mapped = sign_in(service)
    answer = CxClient(cx).mar(mapped.impi2, mapped.impu2, count=2)
    assert result_of(answer) == 2001
    vectors = vectors_of(answer)
    alg = _alg()
    assert len(vectors) == 2
    for expected_seq, v in enumerate(vectors, 1):
        sqn, mac_ok = open_autn(alg, v.rand, v.autn)
        assert mac_ok and split_sqn(sqn) == (expected_seq, 30)
        res, ck, ik, _ak = alg.f2345(v.rand)
        assert (v.xres, v.ck, v.ik) == (res, ck, ik)
    assert _seqs(service) == [2]
    with service.db.read_session() as session:
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "cx.vectors")).one()
    text = str(entry.details)
    assert entry.details["count"] == 2
    assert all(value.hex() not in text for v in vectors for value in (v.rand, v.xres, v.ck))


def test_refusals_carry_the_cx_result_codes_and_change_nothing(service: Service,
                                                               cx: int) -> None:
    mapped = sign_in(service)
    client = CxClient(cx)
    assert result_of(client.mar(f"nobody@{DOMAIN}", mapped.impu2)) == 5001
    assert result_of(client.mar(mapped.impi2, f"sip:other@{DOMAIN}")) == 5002
    assert result_of(client.mar(mapped.impi2, mapped.impu2,
                                scheme="Digest-AKAv2-SHA-256")) == 5006
    assert _seqs(service) == []
    desk.return_checkout(service, mapped.checkout_id, "desk")
    assert result_of(client.mar(mapped.impi2, mapped.impu2)) == 5003  # returned
    assert result_of(client.sar(mapped.impi2, mapped.impu2, 1)) == 5003
    assert _seqs(service) == []


def test_ended_identities_are_unknown(service: Service, cx: int) -> None:
    mapped = sign_in(service)
    with service.db.session() as session:
        identities.end_identities(session, mapped.id, "ended-by-admin", actor="admin")
    assert result_of(CxClient(cx).mar(mapped.impi2, mapped.impu2)) == 5001


def test_resync_moves_past_the_card_never_backwards_and_a_forged_auts_is_refused(
        service: Service, cx: int) -> None:
    mapped = sign_in(service)
    client = CxClient(cx)
    v = vectors_of(client.mar(mapped.impi2, mapped.impu2))[0]
    alg = _alg()
    card = SqnArray(sqn_ms=((500 << IND_BITS) | 30).to_bytes(6, "big"))
    auts = build_auts(alg, v.rand, card.sqn_ms)
    forged = auts[:6] + bytes(8)
    answer = client.mar(mapped.impi2, mapped.impu2, authorization=v.rand + forged)
    assert result_of(answer) == 5012 and vectors_of(answer) == []
    assert _seqs(service) == [1]  # unchanged
    answer = client.mar(mapped.impi2, mapped.impu2, authorization=v.rand + auts)
    fresh = vectors_of(answer)[0]
    sqn, mac_ok = open_autn(alg, fresh.rand, fresh.autn)
    assert mac_ok and card.accept(sqn) and split_sqn(sqn) == (501, 30)
    # A late AUTS with an older SQN_MS does not move the slot back.
    old = build_auts(alg, v.rand, ((10 << IND_BITS) | 30).to_bytes(6, "big"))
    answer = client.mar(mapped.impi2, mapped.impu2, authorization=v.rand + old)
    assert split_sqn(open_autn(alg, *_rand_autn(answer))[0]) == (502, 30)
    with service.db.read_session() as session:
        refused = session.scalars(select(AuditEntry.action).where(
            AuditEntry.action == "cx.resync_refused")).all()
    assert refused == ["cx.resync_refused"]


def _rand_autn(answer: object) -> tuple[bytes, bytes]:
    v = vectors_of(answer)[0]  # type: ignore[arg-type]
    return v.rand, v.autn


def test_concurrent_mars_from_several_s_cscfs_never_reuse_an_sqn(service: Service,
                                                                  cx: int) -> None:
    mapped = sign_in(service)
    clients = [CxClient(cx, origin_host=host) for host in SCSCFS]

    def run(client: CxClient) -> list[int]:
        seqs = []
        for _ in range(15):
            v = vectors_of(client.mar(mapped.impi2, mapped.impu2))[0]
            sqn, mac_ok = open_autn(_alg(), v.rand, v.autn)
            assert mac_ok  # the answer to this connection's own request
            seqs.append(split_sqn(sqn)[0])
        return seqs

    with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
        per_client = list(pool.map(run, clients))
    every = [seq for seqs in per_client for seq in seqs]
    assert sorted(every) == list(range(1, 46))  # none reused, none skipped
    assert all(seqs == sorted(seqs) for seqs in per_client)  # never backwards
    _assert_audited(service, 45)


def _assert_audited(svc: Service, vectors: int) -> None:
    """One cx.vectors entry per MAR answered, none lost from the groups appended at once,
    and the hash chain intact after them."""
    with svc.db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "cx.vectors")) == vectors
    report = verify_chain(svc.db)
    assert report.ok, report.reason


def test_sar_registers_with_the_subscription_and_deregisters(service: Service,
                                                              cx: int) -> None:
    mapped = sign_in(service)
    client = CxClient(cx)
    answer = client.sar(mapped.impi2, mapped.impu2, 1)  # REGISTRATION
    assert result_of(answer) == 2001
    schema = xmlschema.XMLSchema(str(CX_XSD))
    doc = schema.to_dict(answer.user_data.decode())
    assert isinstance(doc, dict)
    identities_ = [p["Identity"] for p in doc["ServiceProfile"][0]["PublicIdentity"]]
    assert doc["PrivateID"] == mapped.impi2 and identities_ == [mapped.impu2, *mapped.aliases]
    assert doc["ServiceProfile"][0]["InitialFilterCriteria"][0]["ApplicationServer"][
        "ServerName"] == f"sip:mcptt-as.{DOMAIN}"
    # Neither IMPI1 nor the IMEI nor the MC user reaches the S-CSCF by default.
    text = answer.user_data.decode()
    assert mapped.impi1 not in text and mapped.imei not in text and "alice" not in text
    with service.db.read_session() as session:
        assert session.get_one(ImsRegistration, mapped.impu2).state == "registered"
    assert result_of(client.sar(mapped.impi2, mapped.impu2, 5)) == 2001  # USER_DEREG.
    with service.db.read_session() as session:
        assert session.get_one(ImsRegistration, mapped.impu2).state == "unregistered"
        actions = session.scalars(select(AuditEntry.action).where(
            AuditEntry.action.like("ims.%"))).all()
    assert actions == ["ims.registered", "ims.unregistered"]
    assert result_of(client.sar(f"nobody@{DOMAIN}", mapped.impu2, 1)) == 5001


# --- malformed messages and peers that misbehave ---------------------------------------

def test_missing_session_id_and_unknown_mandatory_avp_get_rfc_6733_errors(
        service: Service, cx: int) -> None:
    from diameter.message.avp import Avp

    mapped = sign_in(service)
    client = CxClient(cx)
    mar = client.mar_message(mapped.impi2, mapped.impu2)
    mar.session_id = None
    answer = client.exchange(mar)
    assert result_of(answer) == 5005  # DIAMETER_MISSING_AVP
    mar = client.mar_message(mapped.impi2, mapped.impu2)
    unknown = Avp(9999, 0, b"\x00\x00\x00\x01", 0x40)  # flags: M
    mar.append_avp(unknown)
    answer = client.exchange(mar)
    assert result_of(answer) == 5001  # DIAMETER_AVP_UNSUPPORTED, in Result-Code
    assert answer.result_code == 5001 and answer.failed_avp is not None
    mar = client.mar_message(None, mapped.impu2)  # no User-Name
    assert result_of(client.exchange(mar)) == 5005
    assert _seqs(service) == []


def test_wrong_application_and_unknown_command_are_refused(service: Service, cx: int) -> None:
    mapped = sign_in(service)
    client = CxClient(cx)
    mar = client.mar_message(mapped.impi2, mapped.impu2)
    mar.header.application_id = 4  # Ro
    assert result_of(client.exchange(mar)) == 3007  # DIAMETER_APPLICATION_UNSUPPORTED
    assert _seqs(service) == []


def test_garbage_and_a_peer_gone_mid_exchange_leave_the_peer_serving(
        service: Service, cx: int) -> None:
    mapped = sign_in(service)
    # A header whose length is shorter than a header, then bytes that are not Diameter.
    bad = CxClient(cx)
    bad.send(struct.pack("!B3sB3sIII", 1, (8).to_bytes(3, "big"), 0x80, (303).to_bytes(3, "big"),
                         CX, 1, 1))
    with contextlib.suppress(OSError):  # the peer may have reset the connection already
        bad.send(b"\xff" * 64)
    # A MAR sent and the connection closed before the answer.
    gone = CxClient(cx)
    gone.send(gone.mar_message(mapped.impi2, mapped.impu2).as_bytes())
    gone.close()
    # An oversize length announced and never sent.
    huge = CxClient(cx)
    huge.send(struct.pack("!B3s", 1, (0xFFFFFF).to_bytes(3, "big")) + b"\x80" * 16)
    # Each of them was disconnected rather than read on.
    for client in (bad, huge):
        with pytest.raises((EOFError, OSError)):
            client.receive()
    answer = CxClient(cx, origin_host=SCSCFS[1]).mar(mapped.impi2, mapped.impu2)
    assert result_of(answer) == 2001 and vectors_of(answer)


def test_cx_config_is_checked_with_one_line_per_fault(tmp_path: Path) -> None:
    from attest.errors import InputError
    from server.core.configfile import CxSection
    from server.ims.config import cx_config

    with pytest.raises(InputError, match=r"\[cx\] ind_slot: 31 is the attestation"):
        cx_config(CxSection(ind_slot=31), 31)
    with pytest.raises(InputError, match=r"\[cx\] listen: expected ADDRESS:PORT"):
        cx_config(CxSection(listen="localhost"), 31)
    with pytest.raises(InputError, match=r"peers\[0\].addresses"):
        cx_config(CxSection.model_validate(
            {"peers": [{"origin_host": "s", "addresses": ["scscf.example"]}]}), 31)


def _config_file(tmp_path: Path, port: int, hosts: list[str]) -> Path:
    """A configuration file: the Cx peer on 127.0.0.1:``port``, S-CSCF peers ``hosts``
    on 127.0.0.1."""
    config = tmp_path / "simattest.toml"
    config.write_text(f'[cx]\nlisten = "127.0.0.1:{port}"\n' + "".join(
        f'[[cx.peers]]\norigin_host = "{h}"\naddresses = ["127.0.0.1"]\n' for h in hosts))
    return config


def test_cx_status_lists_peers_connections_and_counts(
        service: Service, db_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from tests.fixtures_pcsc import run_cli

    mapped = sign_in(service)
    port, status_port = free_port(), free_port()
    config = _config_file(tmp_path, port, [SCSCF_HOST])
    server = CxServer(service, cx_test_config(port))
    server.start()
    server.serve_status("127.0.0.1", status_port)
    try:
        wait_for(lambda: _listening(port), "the Cx peer listens")
        client = CxClient(port)
        assert result_of(client.sar(mapped.impi2, mapped.impu2, 1)) == 2001
        run = run_cli(capsys, "cx", "status", "--config", str(config), "--data",
                      str(service.data_dir.path), "--db", db_url, "--server",
                      f"http://127.0.0.1:{status_port}", "--json")
        assert run.code == 0, run.err
        shown = json.loads(run.out)
        assert shown["peers"] == [{"origin_host": SCSCF_HOST, "addresses": ["127.0.0.1"],
                                   "connected": True}]
        assert shown["registrations"] == {"registered": 1}
        # The counters are the process's (earlier tests in this process count too).
        assert any((r["command"], r["result"]) == ("SAR", "2001") and r["count"] >= 1
                   for r in shown["requests"])
    finally:
        server.stop()
    bad = tmp_path / "bad.toml"
    bad.write_text("[cx]\nind_slot = 31\n")
    run = run_cli(capsys, "cx", "status", "--config", str(bad), "--data",
                  str(service.data_dir.path), "--db", db_url)
    assert run.code == 2 and "cx ind_slot: 31 is the attestation service's slot" in run.err


def test_cx_serve_answers_and_stops_on_sigterm(service: Service, db_url: str,
                                               tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    mapped = sign_in(service)
    port, status_port = free_port(), free_port()
    config = _config_file(tmp_path, port, [SCSCF_HOST])
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli.main", "cx", "serve", "--config", str(config),
         "--data", str(service.data_dir.path), "--db", db_url,
         "--status-bind", f"127.0.0.1:{status_port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _listening(port) and _listening(status_port), "cx serve listens")
        answer = CxClient(port).mar(mapped.impi2, mapped.impu2)
        assert result_of(answer) == 2001 and vectors_of(answer)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"listening on 127.0.0.1:{port}" in out


def test_uar_and_lir_for_an_i_cscf(service: Service, cx: int) -> None:
    """UAR (TS 29.228 6.1.1) and LIR (6.1.4): first registration, then the S-CSCF that
    holds the registration; unknown, mismatched and returned identities refused."""
    mapped = sign_in(service)
    client = CxClient(cx)
    assert result_of(client.uar(mapped.impi2, mapped.impu2)) == 2001  # FIRST_REGISTRATION
    assert result_of(client.uar(mapped.impi2, mapped.impu2, 1)) == 5003  # not registered
    assert result_of(client.lir(mapped.impu2)) == 5003  # IDENTITY_NOT_REGISTERED
    assert result_of(client.uar(f"nobody@{DOMAIN}", mapped.impu2)) == 5001
    assert result_of(client.uar(mapped.impi2, f"sip:other@{DOMAIN}")) == 5002
    assert result_of(client.lir(f"sip:nobody@{DOMAIN}")) == 5001
    assert result_of(client.sar(mapped.impi2, mapped.impu2, 1)) == 2001
    answer = client.uar(mapped.impi2, mapped.impu2)
    assert result_of(answer) == 2002 and answer.server_name == "sip:scscf.mcptt.example.org:6060"
    answer = client.lir(mapped.aliases[0])  # an alias is served by the same S-CSCF
    assert result_of(answer) == 2001 and answer.server_name == "sip:scscf.mcptt.example.org:6060"
    desk.return_checkout(service, mapped.checkout_id, "desk")
    assert result_of(client.uar(mapped.impi2, mapped.impu2)) == 5003  # rejected


def test_cx_serve_with_two_processes_never_reuses_an_sqn_and_restarts_a_dead_one(
        service: Service, db_url: str, tmp_path: Path) -> None:
    """``cx serve --processes 2``: two peer processes on one address (SO_REUSEPORT);
    concurrent MARs for one card over six S-CSCF connections spread over both get
    SQNs that are never reused, never go backwards on a connection, and each answer
    comes back on the connection of its request.  The status listener counts the
    requests of both processes and shows a peer connected to either; a peer process
    that dies is started again (and said so), its counts stay counted."""
    import json
    import signal
    import subprocess
    import sys
    import urllib.request

    mapped = sign_in(service)
    port, status_port = free_port(), free_port()
    hosts = [f"scscf{i}.{DOMAIN}" for i in range(6)]
    config = _config_file(tmp_path, port, hosts)
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli.main", "cx", "serve", "--config", str(config),
         "--data", str(service.data_dir.path), "--db", db_url, "--processes", "2",
         "--status-bind", f"127.0.0.1:{status_port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def children() -> list[int]:
        return [int(pid) for pid in
                Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]

    def status() -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{status_port}/status") as reply:
            return dict(json.load(reply))

    def maas(shown: dict[str, Any]) -> int:
        return sum(r["count"] for r in shown["requests"]
                   if (r["command"], r["result"]) == ("MAR", "2001"))

    try:
        wait_for(lambda: _listening(port) and _listening(status_port), "cx serve listens")
        wait_for(lambda: len(children()) == 2
                 and all(_listens_on(pid, port) for pid in children()),
                 "both peer processes listen")
        assert not _listens_on(proc.pid, port)  # the first process only supervises

        def run(host: str) -> list[int]:
            client = CxClient(port, origin_host=host)
            seqs = []
            for _ in range(10):
                request = client.mar_message(mapped.impi2, mapped.impu2)
                answer = client.exchange(request)
                assert result_of(answer) == 2001
                assert answer.session_id == request.session_id  # its own connection
                v = vectors_of(answer)[0]
                sqn, mac_ok = open_autn(_alg(), v.rand, v.autn)
                assert mac_ok
                seqs.append(split_sqn(sqn)[0])
            client.close()
            return seqs

        with concurrent.futures.ThreadPoolExecutor(len(hosts)) as pool:
            per_client = list(pool.map(run, hosts))
        assert maas(status()) == 60  # both processes' answers
        held = CxClient(port, origin_host=hosts[0])
        wait_for(lambda: {p["origin_host"]: p["connected"] for p in status()["peers"]}
                 == {h: h == hosts[0] for h in hosts}, "the held connection shows")
        held.close()

        dead = children()[0]
        os.kill(dead, signal.SIGKILL)
        wait_for(lambda: len(children()) == 2 and dead not in children()
                 and all(_listens_on(pid, port) for pid in children()),
                 "a new peer process listens")
        wait_for(lambda: _listening(status_port), "the status listener is back")
        answer = CxClient(port, origin_host=hosts[1]).mar(mapped.impi2, mapped.impu2)
        assert result_of(answer) == 2001
        assert maas(status()) == 61  # the dead process's answers still counted
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"listening on 127.0.0.1:{port} (2 process(es))" in out
    assert f"peer process {dead} ended (killed by signal 9); starting another" in err
    every = [seq for seqs in per_client for seq in seqs]
    assert sorted(every) == list(range(1, 61))  # none reused, none skipped
    assert all(seqs == sorted(seqs) for seqs in per_client)  # never backwards
    assert sorted(_seqs(service)) == [61]  # the card's SQN row, one for its IND slot
    _assert_audited(service, 61)
