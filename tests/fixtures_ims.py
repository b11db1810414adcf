"""A real IMS core for tests: ``server.ims.kamailio`` (Kamailio 5.6's S-CSCF with the
configuration of ``deploy/kamailio/``, talking Cx to our own Cx peer on loopback).

``ims_core`` (per test) starts the Cx peer on the test's service, then Kamailio, waits
until cdp has connected, and stops both by PID at the end.  A missing Kamailio fails the
fixture with the apt-get line; it never skips.  Also: Kamailio's I-CSCF, stunnel for Cx
over TLS, and a signed-in handset.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from hw.cardfile import load_card_file
from server.attestation.challenge import create_challenge
from server.attestation.evidence import submit_evidence
from server.core.service import Service
from server.idms import desk, identities, users
from server.ims import kamailio
from server.ims.config import CxConfig
from server.ims.cx import CxServer
from server.ims.kamailio import (
    APT_LINE,
    DOMAIN,
    SCSCF_HOST,
    loopback_cx_config,
    start_core,
    wait_for,
)
from server.ims.kamailio import CX_XSD as CX_XSD  # tests.test_cx reads it here
from server.store.models import McUser
from tests.fixtures_attestation import TestCard, TestHandset, provision_card_files
from tests.fixtures_db import free_port

REPO = Path(__file__).resolve().parent.parent
PS = REPO / "card_profiles" / "examples" / "ps-001.yaml"
cx_test_config = loopback_cx_config


def _require_kamailio() -> None:
    problem = kamailio.missing()
    if problem is not None:
        pytest.fail(problem)


class Kamailio(kamailio.Scscf):
    """The S-CSCF of ``server.ims.kamailio`` on a free port; a missing Kamailio fails
    the test with the apt-get line."""

    def __init__(self, workdir: Path, cx_port: int, scscf_host: str = SCSCF_HOST) -> None:
        _require_kamailio()
        super().__init__(workdir, cx_port, free_port(), scscf_host)


class Icscf(kamailio.Icscf):
    """Kamailio's I-CSCF of ``server.ims.kamailio`` on a free port, in front of an S-CSCF
    at ``scscf_uri``; a missing Kamailio fails the test with the apt-get line."""

    def __init__(self, workdir: Path, cx_port: int, scscf_uri: str) -> None:
        _require_kamailio()
        super().__init__(workdir, cx_port, free_port(), scscf_uri)


@dataclass
class ImsCore:
    service: Service
    cx: CxServer
    kamailio: Kamailio

    @property
    def registrar(self) -> tuple[str, int]:
        return ("127.0.0.1", self.kamailio.sip_port)

    def impu_state(self, impu: str) -> str | None:
        return self.kamailio.impu_state(impu)


def check_out(svc: Service, card_file: Path = PS) -> TestHandset:
    """Provision ``card_file``'s card and handset, attest it and check it out to the MC
    user alice (password ``correct horse battery``)."""
    handset: TestHandset = provision_card_files(svc, [card_file])[0]
    f = load_card_file(card_file)
    card = TestCard(f.iccid, f.imsi, f.ki, f.opc or b"")
    challenge = create_challenge(svc, handset.request(), "127.0.0.1").to_json()
    doc, sig = handset.evidence(challenge, card)
    attestation = submit_evidence(svc, challenge["id"], doc, sig, "127.0.0.1")
    assert attestation.status == "affirming"
    users.add_user(svc, mc_id="alice", mcptt_id=f"sip:alice@{DOMAIN}", display_name="Alice",
                   password="correct horse battery", agency="Police", actor="test")
    desk.start_checkout(svc, attestation.attestation_id, "alice", "desk")
    return handset


def sign_in(svc: Service, card_file: Path = PS) -> identities.McIdentities:
    """``check_out``, then allocate the MCPTT-specific identities (as the IdMS does at
    sign-in)."""
    handset = check_out(svc, card_file)
    with svc.db.session() as session:
        user = session.scalar(select(McUser).where(McUser.mc_id == "alice"))
        assert user is not None
        checkout = identities.checkout_for_sign_in(session, handset.imei, user.id)
        return identities.allocate_identities(session, svc.config.idms, checkout, user,
                                              actor="idms")


def card_file_with(tmp_path: Path, name: str = "card.yaml", **changes: object) -> Path:
    """A copy of the example card file with ``changes`` (sqn_ms, ki…)."""
    doc = yaml.safe_load(PS.read_text())
    doc.update(changes)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    return path


StartCore = Callable[..., ImsCore]


@pytest.fixture
def ims_core_factory(tmp_path: Path) -> Iterator[StartCore]:
    """Start the Cx peer for a service and a Kamailio S-CSCF in front of it."""
    started: list[ImsCore] = []

    def start(service: Service, cx_port: int | None = None, cx: CxConfig | None = None,
              kamailio_cx_port: int | None = None, scscf_host: str = SCSCF_HOST) -> ImsCore:
        port = cx_port or free_port()
        scscf = Kamailio(tmp_path / f"kamailio{len(started)}", kamailio_cx_port or port,
                         scscf_host)
        core = ImsCore(service, start_core(service, cx or cx_test_config(port), scscf),
                       scscf)
        started.append(core)
        return core

    try:
        yield start
    finally:
        for core in started:
            core.kamailio.stop()
            core.cx.stop()


@pytest.fixture
def ims_core(service: Service, ims_core_factory: StartCore) -> ImsCore:
    return ims_core_factory(service)


# --- Cx over TLS through stunnel (deploy/stunnel/) ---------------------------------------

def _tls_files(workdir: Path) -> dict[str, Path]:
    """A CA, the IdM's server certificate (localhost) and the S-CSCF's client
    certificate, as PEM files."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from attest import certificates

    now = dt.datetime.now(dt.UTC)
    ca = certificates.make_ca("Cx test CA", certificates.new_key(), now)
    idm_key, scscf_key = certificates.new_key(), certificates.new_key()
    idm = certificates.make_server_certificate(ca, ["localhost"], idm_key.public_key(), now)
    scscf = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SCSCF_HOST)]))
             .issuer_name(ca.certificate.subject).public_key(scscf_key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - dt.timedelta(minutes=5))
             .not_valid_after(now + dt.timedelta(days=1))
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                            critical=False)
             .sign(ca.key, hashes.SHA256()))
    files = {"ca": certificates.certificate_pem(ca.certificate),
             "idm": certificates.certificate_pem(idm),
             "idm-key": certificates.private_key_pem(idm_key),
             "scscf": certificates.certificate_pem(scscf),
             "scscf-key": certificates.private_key_pem(scscf_key)}
    paths = {}
    for name, content in files.items():
        paths[name] = workdir / f"{name}.pem"
        paths[name].write_bytes(content)
    return paths


class Stunnel:
    """One stunnel4 process from a file of deploy/stunnel/ with test ports and files."""

    def __init__(self, workdir: Path, shipped: str, replacements: dict[str, str]) -> None:
        if shutil.which("stunnel4") is None:
            pytest.fail(f"stunnel4 is not installed; run: {APT_LINE}")
        text = (REPO / "deploy" / "stunnel" / shipped).read_text()
        for old, new in replacements.items():
            assert old in text, f"{shipped} no longer has {old!r}"
            text = text.replace(old, new)
        self.conf = workdir / shipped
        self.conf.write_text(text)
        self.log = workdir / f"{shipped}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(["stunnel4", str(self.conf)], stdout=log,
                                            stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def cx_tls(tmp_path: Path) -> Iterator[Callable[[int], int]]:
    """``cx_tls(cx_port)``: stunnel in front of the Cx peer (mutual TLS) and stunnel for
    the S-CSCF; returns the plain port cdp connects to."""
    started: list[Stunnel] = []

    def start(cx_port: int) -> int:
        workdir = tmp_path / "stunnel"
        workdir.mkdir()
        files = _tls_files(workdir)
        tls_port, plain_port = free_port(), free_port()
        started.append(Stunnel(workdir, "cx-idm.conf", {
            "accept = 0.0.0.0:3869": f"accept = 127.0.0.1:{tls_port}",
            "connect = 127.0.0.1:3868": f"connect = 127.0.0.1:{cx_port}",
            "/etc/simattest/cx/idm.pem": str(files["idm"]),
            "/etc/simattest/cx/idm-key.pem": str(files["idm-key"]),
            "/etc/simattest/cx/ca.pem": str(files["ca"])}))
        started.append(Stunnel(workdir, "cx-scscf.conf", {
            "accept = 127.0.0.1:3868": f"accept = 127.0.0.1:{plain_port}",
            "connect = idm.mcptt.example.org:3869": f"connect = 127.0.0.1:{tls_port}",
            "checkHost = idm.mcptt.example.org": "checkHost = localhost",
            "/etc/simattest/cx/scscf.pem": str(files["scscf"]),
            "/etc/simattest/cx/scscf-key.pem": str(files["scscf-key"]),
            "/etc/simattest/cx/ca.pem": str(files["ca"])}))
        wait_for(lambda: _port_open(plain_port) and _port_open(tls_port),
                 "stunnel listens", detail=lambda: "\n".join(
                     s.log.read_text(errors="replace") for s in started))
        return plain_port

    try:
        yield start
    finally:
        for tunnel in started:
            tunnel.stop()


def _port_open(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
