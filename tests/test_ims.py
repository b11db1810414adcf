"""IMS registration with the MCPTT-specific identities through a real Kamailio 5.6
S-CSCF (``deploy/kamailio/``) with vectors from our Cx peer: the handset's card answers
IMS AKA over PC/SC (pcscd + vpcd) and over the simulated modem, through ``simattest ims
register``.  Resynchronisation, return (RTR), a clone card, de-registration, alias IMPUs
in P-Associated-URI.  Kamailio costs a few seconds per test: these run on SQLite (the Cx
peer's SQL runs on PostgreSQL in tests/test_cx.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from attest.aka.sqn import IND_BITS
from server.agent import mcclient
from server.core.config import IdmsConfig, ServiceConfig
from server.core.labca import CA_CERT, SERVER_CERT, SERVER_KEY, LabCA
from server.core.service import Service
from server.idms import desk, identities, oidc
from server.ims.hss import registration_of
from server.pool.devicecerts import issue_device_certificate
from server.store.models import AuditEntry, CxSqn, McIdentity
from tests.fixtures_db import free_port
from tests.fixtures_ims import (
    DOMAIN,
    PS,
    ImsCore,
    StartCore,
    card_file_with,
    check_out,
    sign_in,
    wait_for,
)
from tests.fixtures_modem import StartModem, modem_uri
from tests.fixtures_pcsc import CardSlots, run_cli
from tests.processes import serve_process

IND_CX = 30
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def service_config() -> ServiceConfig:
    return ServiceConfig(idms=IdmsConfig(enabled=True, mcptt_domain=DOMAIN, alias_count=2))


def register_args(core: ImsCore, reader: str, mapped: identities.McIdentities,
                  *extra: str) -> list[str]:
    host, port = core.registrar
    return ["ims", "register", "--reader", reader, "--impi", mapped.impi2, "--impu",
            mapped.impu2, "--registrar", f"{host}:{port}", "--timeout", "8", *extra]


def test_register_impi2_through_the_s_cscf_with_the_card_on_pcsc(
        service: Service, ims_core: ImsCore, pcsc_cards: CardSlots,
        capsys: pytest.CaptureFixture[str]) -> None:
    mapped = sign_in(service)
    inserted = pcsc_cards.insert(PS)
    run = run_cli(capsys, *register_args(ims_core, inserted.uri, mapped, "--json"))
    assert run.code == 0, run.err
    answer = yaml.safe_load(run.out)
    assert answer["status"] == 200 and answer["application"] == "isim"
    # The implicit registration set: IMPU2 and both aliases, from the SAA's User-Data.
    assert answer["p_associated_uri"] == [mapped.impu2, *mapped.aliases]
    assert answer["service_route"] and 0 < answer["expires"] <= 600
    # The instance id is a urn:uuid:, never the IMEI.
    assert answer["instance"].startswith("urn:uuid:") and mapped.imei not in run.out
    assert ims_core.impu_state(mapped.impu2) == "registered"
    seen = registration_of(service, mapped.impu2)
    assert seen is not None and seen.state == "registered"
    assert seen.scscf_name == f"sip:scscf.{DOMAIN}:{ims_core.kamailio.sip_port}"
    # Vectors came from the IdM's own slot: SEQ 1 in IND 30, the attestation's untouched.
    with service.db.read_session() as session:
        assert session.scalars(select(CxSqn.seq)).all() == [1]
        entries = session.scalars(select(AuditEntry).where(
            AuditEntry.action.in_(("cx.vectors", "ims.registered")))).all()
    assert [e.action for e in entries] == ["cx.vectors", "ims.registered"]
    assert entries[0].details["count"] == 1 and entries[0].details["resync"] is False
    assert not {"rand", "autn", "xres", "ck", "ik", "res"} & set(entries[0].details)


def test_register_with_the_identities_the_idms_gives_the_signed_in_handset(
        service: Service, db_url: str, ims_core: ImsCore, pcsc_cards: CardSlots,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The MC user signs in on the handset at the IdMS (a real `simattest serve` over TLS
    # asking for client certificates); the handset then registers with nothing but the
    # IdMS's URL, the access token and the device certificate it is bound to.
    handset = check_out(service)
    client, redirect = "org.example.mcptt", "org.example.mcptt:/oidc/callback"
    oidc.add_client(service, client, "native", "MCPTT client", [redirect],
                    ["openid", "3gpp:mc:ptt_service"], actor="test")
    ca = LabCA(tmp_path / "ca")
    ca.init(["localhost"], dt.datetime.now(dt.UTC))
    # Moved aside: the CA writes a device's certificate under one name.
    cert = issue_device_certificate(service, ca, handset.imei,
                                    handset.key.public_pem().decode(), dt.datetime.now(dt.UTC)
                                    ).rename(tmp_path / "device.pem")
    key = tmp_path / "device-key.pem"
    key.write_bytes(handset.key.private_pem())
    host, port = ims_core.registrar
    config = tmp_path / "simattest.toml"
    config.write_text(f'[idms]\nenabled = true\nmcptt_domain = "{DOMAIN}"\n'
                      f'alias_count = 2\nregistrar = "{host}:{port}"\n')
    with serve_process(tmp_path / "data", tmp_path / "idms.log", tls_ca=ca.path / CA_CERT,
                       extra=["--db", db_url, "--config", str(config), "--workers", "1",
                              "--tls-cert", str(ca.path / SERVER_CERT),
                              "--tls-key", str(ca.path / SERVER_KEY),
                              "--client-ca", str(ca.path / CA_CERT)]) as url:
        signed_in = mcclient.sign_in(url, client, redirect, "alice",
                                     "correct horse battery", cert=(str(cert), str(key)),
                                     ca=str(ca.path / CA_CERT))
        token_file = tmp_path / "access-token"
        token_file.write_text(signed_in.token["access_token"])
        inserted = pcsc_cards.insert(PS)
        idms_args = ["ims", "register", "--reader", inserted.uri, "--idms", url,
                     "--access-token-file", str(token_file), "--cert", str(cert),
                     "--key", str(key), "--ca", str(ca.path / CA_CERT), "--timeout", "8"]
        run = run_cli(capsys, *idms_args, "--json")
        assert run.code == 0, run.err
        # The token over another certificate (a second one for the same device key) is
        # refused by the IdMS: the token is bound to the first (RFC 8705 clause 3).
        other = issue_device_certificate(service, ca, handset.imei,
                                         handset.key.public_pem().decode(),
                                         dt.datetime.now(dt.UTC))
        stolen = run_cli(capsys, *idms_args[:8], "--cert", str(other), "--key", str(key),
                         "--ca", str(ca.path / CA_CERT))
    assert stolen.code == 2 and "identities: HTTP 401" in stolen.err, stolen.err
    assert len(stolen.err.strip().splitlines()) == 1, stolen.err
    with service.db.read_session() as session:
        allocated = session.scalars(select(McIdentity)).one()
        mapped = identities.lookup_by_id(session, allocated.id)
    assert mapped is not None
    answer = yaml.safe_load(run.out)
    assert answer["status"] == 200 and answer["impu"] == mapped.impu2
    assert answer["p_associated_uri"] == [mapped.impu2, *mapped.aliases]
    # +sip.instance is the IdM's per-checkout instance id, not the IMEI nor IMPI2's UUID.
    assert answer["instance"] == mapped.instance_id and handset.imei not in run.out
    assert ims_core.impu_state(mapped.impu2) == "registered"
    seen = registration_of(service, mapped.impu2)
    assert seen is not None and seen.state == "registered"


def test_register_over_the_modem_on_tcp(service: Service, ims_core: ImsCore,
                                         sim_modem: StartModem,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    mapped = sign_in(service)
    modem = sim_modem(PS)
    run = run_cli(capsys, *register_args(ims_core, modem_uri(modem, 5.0), mapped,
                                         "--transport", "tcp"))
    assert run.code == 0, run.err
    assert "200 OK" in run.out and mapped.aliases[0] in run.out
    assert ims_core.impu_state(mapped.impu2) == "registered"


def test_a_card_whose_sqn_ran_ahead_registers_through_resynchronisation(
        service: Service, ims_core: ImsCore, pcsc_cards: CardSlots, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # The card has accepted SEQ 1000 in the Cx slot already (an IdM restored from an old
    # backup, say): our SEQ 1 is stale, the card answers AUTS, the IdM moves past it.
    ahead = ((1000 << IND_BITS) | IND_CX).to_bytes(6, "big").hex()
    card_file = card_file_with(tmp_path, sqn_ms=ahead)
    mapped = sign_in(service, card_file)
    inserted = pcsc_cards.insert(card_file)
    run = run_cli(capsys, *register_args(ims_core, inserted.uri, mapped, "--json"))
    assert run.code == 0, run.err
    answer = yaml.safe_load(run.out)
    assert answer["status"] == 200 and answer["resynchronised"] is True
    with service.db.read_session() as session:
        assert session.scalars(select(CxSqn.seq)).all() == [1001]
        actions = session.scalars(select(AuditEntry.action).where(
            AuditEntry.action.like("cx.%"))).all()
    assert actions == ["cx.vectors", "cx.vectors"]


def test_return_at_the_desk_deregisters_by_rtr_and_register_is_refused(
        service: Service, ims_core: ImsCore, pcsc_cards: CardSlots,
        capsys: pytest.CaptureFixture[str]) -> None:
    mapped = sign_in(service)
    inserted = pcsc_cards.insert(PS)
    assert run_cli(capsys, *register_args(ims_core, inserted.uri, mapped)).code == 0
    assert ims_core.impu_state(mapped.impu2) == "registered"
    desk.return_checkout(service, mapped.checkout_id, "desk")
    # The Cx peer notices the ended identities and sends the RTR naming IMPU2.
    wait_for(lambda: ims_core.impu_state(mapped.impu2) != "registered",
             "the S-CSCF dropped the registration after the RTR",
             detail=ims_core.kamailio.tail)
    wait_for(lambda: (registration_of(service, mapped.impu2) or object()).__getattribute__(
        "state") == "unregistered", "the IdM recorded the termination")
    run = run_cli(capsys, *register_args(ims_core, inserted.uri, mapped))
    assert run.code == 1 and "403" in run.err and "Traceback" not in run.err
    assert len(run.err.strip().splitlines()) == 1


def test_a_clone_card_fails_the_aka_with_one_line_and_no_retry(
        service: Service, ims_core: ImsCore, pcsc_cards: CardSlots, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    mapped = sign_in(service)
    clone = card_file_with(tmp_path, ki="00112233445566778899aabbccddeeff")
    inserted = pcsc_cards.insert(clone)
    run = run_cli(capsys, *register_args(ims_core, inserted.uri, mapped))
    assert run.code == 1 and "MAC failure" in run.err and "not retrying" in run.err
    assert len(run.err.strip().splitlines()) == 1
    assert ims_core.impu_state(mapped.impu2) != "registered"
    with service.db.read_session() as session:
        assert session.scalars(select(CxSqn.seq)).all() == [1]  # one challenge, no retry


def test_unregister_clears_the_registration_at_the_s_cscf_and_the_idm(
        service: Service, ims_core: ImsCore, pcsc_cards: CardSlots,
        capsys: pytest.CaptureFixture[str]) -> None:
    mapped = sign_in(service)
    inserted = pcsc_cards.insert(PS)
    port = str(free_port())
    assert run_cli(capsys, *register_args(ims_core, inserted.uri, mapped,
                                          "--local-port", port)).code == 0
    run = run_cli(capsys, *register_args(ims_core, inserted.uri, mapped, "--unregister",
                                         "--local-port", port))
    assert run.code == 0, run.err
    assert "expires\t0" in run.out
    # Kamailio removes a de-registered contact on its usrloc timer (5 s here).
    wait_for(lambda: ims_core.impu_state(mapped.impu2) != "registered",
             "the S-CSCF removed the de-registered contact", detail=ims_core.kamailio.tail)
    wait_for(lambda: (registration_of(service, mapped.impu2) or object()).__getattribute__(
        "state") == "unregistered", "the IdM recorded the de-registration (SAR)")


def test_cx_over_mutual_tls_through_stunnel(
        service: Service, ims_core_factory: StartCore, cx_tls: Callable[[int], int],
        pcsc_cards: CardSlots, capsys: pytest.CaptureFixture[str]) -> None:
    """cdp → stunnel (client certificate) → TLS → stunnel → the Cx peer: the shipped
    deploy/stunnel/ files with test ports; a registration goes through."""
    mapped = sign_in(service)
    cx_port = free_port()
    core = ims_core_factory(service, cx_port=cx_port, kamailio_cx_port=cx_tls(cx_port))
    inserted = pcsc_cards.insert(PS)
    run = run_cli(capsys, *register_args(core, inserted.uri, mapped))
    assert run.code == 0, run.err
    assert core.impu_state(mapped.impu2) == "registered"


def test_register_through_the_i_cscf_uar_and_reach_the_s_cscf_by_lir(
        service: Service, ims_core_factory: StartCore, pcsc_cards: CardSlots,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Kamailio's I-CSCF (ims_icscf) in front of the S-CSCF: REGISTER goes through a UAR,
    a later request to IMPU2 through an LIR to the S-CSCF that holds the registration
    (which answers it 405: it serves registrations only)."""
    import socket

    from server.agent.sip import parse_response
    from server.ims.config import CxPeer
    from tests.fixtures_ims import Icscf, cx_test_config

    mapped = sign_in(service)
    cx_port = free_port()
    peers = (CxPeer("scscf.mcptt.example.org", frozenset({"127.0.0.1"})),
             CxPeer("icscf.mcptt.example.org", frozenset({"127.0.0.1"})))
    core = ims_core_factory(service, cx_port=cx_port, cx=cx_test_config(cx_port, peers=peers),
                            scscf_host="127.0.0.1")
    icscf = Icscf(tmp_path / "icscf", cx_port, f"sip:127.0.0.1:{core.kamailio.sip_port}")
    icscf.start()
    try:
        wait_for(lambda: sum(p["connected"] for p in core.cx.peers()) == 2,
                 "the I-CSCF's cdp connected", detail=icscf.tail)
        inserted = pcsc_cards.insert(PS)
        run = run_cli(capsys, "ims", "register", "--reader", inserted.uri, "--impi",
                      mapped.impi2, "--impu", mapped.impu2, "--registrar",
                      f"127.0.0.1:{icscf.sip_port}", "--timeout", "8")
        assert run.code == 0, run.err + icscf.tail()
        assert core.impu_state(mapped.impu2) == "registered"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(8)
            port = sock.getsockname()[1]
            request = (f"OPTIONS {mapped.aliases[0]} SIP/2.0\r\n"
                       f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKlir1;rport\r\n"
                       "Max-Forwards: 70\r\nFrom: <sip:as@mcptt.example.org>;tag=1\r\n"
                       f"To: <{mapped.aliases[0]}>\r\nCall-ID: lir-1\r\nCSeq: 1 OPTIONS\r\n"
                       "Content-Length: 0\r\n\r\n")
            sock.sendto(request.encode(), ("127.0.0.1", icscf.sip_port))
            answer = parse_response(sock.recv(65535))
        assert answer.status == 405, icscf.tail()  # the S-CSCF's answer, found by LIR
    finally:
        icscf.stop()
