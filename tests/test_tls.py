"""TLS and mutual TLS in the service itself: real handshakes against a real ``simattest
serve --tls-cert --tls-key --client-ca`` (gunicorn), with the lab CA ``simattest admin tls
init`` makes and device certificates from ``simattest admin tls device``.

The device agent and the operator commands run as a handset and a desk would; each
refusal must be one line on stderr.  The refusal of plain HTTP to an address that is not
loopback is tested against a service in a network namespace this test creates, reached
over a veth pair (no traffic leaves the machine).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy import func, select

from attest import certificates, devicekey
from server.cli.main import main
from server.core import operators
from server.core.service import Service
from server.store.models import Attestation
from tests.fixtures_attestation import TestHandset, make_imei, provision_card_files
from tests.processes import SERVE_START_TIMEOUT, serve_process

EXAMPLES = Path(__file__).resolve().parent.parent / "card_profiles" / "examples"
CARD = EXAMPLES / "ps-001.yaml"


@dataclass
class TlsService:
    url: str  # https://localhost:PORT
    port: int
    root: Path
    ca_dir: Path
    data: Path
    handset: TestHandset
    key_file: Path  # the handset's device key (private)
    cert_file: Path  # its device certificate
    token: str
    log: Path

    @property
    def ca(self) -> Path:
        return self.ca_dir / "ca.pem"

    def issuer(self) -> certificates.Issuer:
        cert = x509.load_pem_x509_certificate(self.ca.read_bytes())
        key = serialization.load_pem_private_key((self.ca_dir / "ca-key.pem").read_bytes(),
                                                 password=None)
        assert isinstance(key, certificates.ec.EllipticCurvePrivateKey)
        return certificates.Issuer(cert, key)

    def attestations(self) -> int:
        with Service.open(self.data, None) as svc, svc.db.read_session() as session:
            return int(session.scalar(select(func.count()).select_from(Attestation)) or 0)


@pytest.fixture(scope="module")
def tls_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsService]:
    root = tmp_path_factory.mktemp("tls")
    ca_dir, data = root / "ca", root / "data"
    assert main(["admin", "tls", "init", "--out", str(ca_dir), "--name", "localhost"]) == 0
    with Service.open(data, None) as svc:
        [handset] = provision_card_files(svc, [CARD])
        token = operators.create_token(svc, "admin", "tls test", actor="test")
    key_file, public = root / "device.pem", root / "device.pub.pem"
    key_file.write_bytes(handset.key.private_pem())
    public.write_bytes(handset.key.public_pem())
    assert main(["admin", "tls", "device", "--imei", handset.imei, "--key", str(public),
                 "--ca-dir", str(ca_dir), "--data", str(data)]) == 0
    log = root / "serve.log"
    with serve_process(data, log, tls_ca=ca_dir / "ca.pem", extra=[
            "--workers", "1", "--tls-cert", str(ca_dir / "server.pem"),
            "--tls-key", str(ca_dir / "server-key.pem"),
            "--client-ca", str(ca_dir / "ca.pem")]) as url:
        yield TlsService(url, int(url.rpartition(":")[2]), root, ca_dir, data, handset,
                         key_file, ca_dir / f"device-{handset.imei}.pem", token, log)


def _checkout(svc: TlsService, capsys: pytest.CaptureFixture[str], *extra: str,
              server: str | None = None) -> tuple[int, str, str]:
    code = main(["checkout", "--server", server or svc.url, "--reader", f"sim:{CARD}",
                 "--device-key", str(svc.key_file), "--imei", svc.handset.imei, "--json",
                 *extra])
    out, err = capsys.readouterr()
    return code, out, err


def _device_add(svc: TlsService, server: str, serial: int, *extra: str) -> int:
    """``simattest device add`` (an operator command) of a new handset."""
    public = svc.root / f"handset-{serial}.pub.pem"
    public.write_bytes(devicekey.generate().public_pem())
    return main(["device", "add", "--server", server, "--token", svc.token,
                 "--imei", make_imei(serial), "--key", str(public), *extra])


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _sha256_of_pem(path: Path) -> str:
    return x509.load_pem_x509_certificate(path.read_bytes()).fingerprint(hashes.SHA256()).hex()


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- the good chain -------------------------------------------------------------------

def test_a_checkout_with_the_device_certificate_is_affirming_and_records_it(
        tls_service: TlsService, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _checkout(tls_service, capsys, "--ca", str(tls_service.ca),
                               "--cert", str(tls_service.cert_file))
    assert code == 0, err
    verdict = json.loads(out)
    assert verdict["status"] == "affirming"
    answer = requests.get(f"{tls_service.url}/v1/attestations/{verdict['attestation_id']}",
                          headers={"Authorization": f"Bearer {tls_service.token}"},
                          verify=str(tls_service.ca), timeout=10)
    assert answer.status_code == 200
    assert answer.json()["device_certificate"] == _sha256_of_pem(tls_service.cert_file)


def test_the_ca_comes_from_simattest_ca_too(tls_service: TlsService,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMATTEST_CA", str(tls_service.ca))
    assert _device_add(tls_service, tls_service.url, 901) == 0, capsys.readouterr().err


def test_tls_13_is_negotiated_and_nothing_below_12_is_accepted(tls_service: TlsService
                                                                ) -> None:
    context = ssl.create_default_context(cafile=str(tls_service.ca))
    with socket.create_connection(("127.0.0.1", tls_service.port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.version() == "TLSv1.3"
    old = ssl.create_default_context(cafile=str(tls_service.ca))
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with pytest.warns(DeprecationWarning):  # Python's, for naming TLS 1.1 at all
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("ALL:@SECLEVEL=0")  # so that the client offers TLS 1.1 at all
    with socket.create_connection(("127.0.0.1", tls_service.port), timeout=10) as raw, \
            pytest.raises(ssl.SSLError):
        old.wrap_socket(raw, server_hostname="localhost")


def test_the_desk_and_operator_api_need_no_client_certificate(tls_service: TlsService
                                                              ) -> None:
    page = requests.get(f"{tls_service.url}/desk/sign-in", verify=str(tls_service.ca),
                        timeout=10)
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    cookie = page.headers["Set-Cookie"]
    assert cookie.startswith("simattest_desk=") and "Secure" in cookie.split("; ")
    handsets = requests.get(f"{tls_service.url}/v1/handsets", verify=str(tls_service.ca),
                            headers={"Authorization": f"Bearer {tls_service.token}"},
                            timeout=10)
    assert handsets.status_code == 200


def test_idle_tls_connections_do_not_stall_the_service(tls_service: TlsService) -> None:
    # As many handshaken-but-silent connections as the fixture's one worker has threads
    # (serve's default, 4): each holds a thread until its time for a first request runs
    # out; without that limit the next request would never be answered.
    context = ssl.create_default_context(cafile=str(tls_service.ca))
    idle = [context.wrap_socket(socket.create_connection(("127.0.0.1", tls_service.port)),
                                server_hostname="localhost") for _ in range(4)]
    try:
        answer = requests.get(f"{tls_service.url}/healthz", verify=str(tls_service.ca),
                              timeout=SERVE_START_TIMEOUT)
        assert answer.status_code == 200
        idle[0].settimeout(SERVE_START_TIMEOUT)
        assert idle[0].recv(1) == b""  # the service closed it
    finally:
        for conn in idle:
            conn.close()


# --- refusals -------------------------------------------------------------------------

def test_device_endpoints_refuse_a_request_without_a_client_certificate(
        tls_service: TlsService, capsys: pytest.CaptureFixture[str]) -> None:
    before = tls_service.attestations()
    answer = requests.post(f"{tls_service.url}/v1/attestations", verify=str(tls_service.ca),
                           json={"imei": tls_service.handset.imei}, timeout=10)
    assert answer.status_code == 403
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/device-certificate-refused")
    evidence = requests.post(f"{tls_service.url}/v1/attestations/{'0' * 32}/evidence",
                             verify=str(tls_service.ca), timeout=10,
                             json={"evidence": {"imei": tls_service.handset.imei},
                                   "signature": "AA"})
    assert evidence.status_code == 403
    code, _out, err = _checkout(tls_service, capsys, "--ca", str(tls_service.ca))
    assert code == 2
    assert "device certificate" in _one_line(err)
    assert tls_service.attestations() == before  # nothing stored


def test_a_device_certificate_whose_key_is_not_the_handsets_is_refused(
        tls_service: TlsService, capsys: pytest.CaptureFixture[str]) -> None:
    other = devicekey.generate()
    other_key = tls_service.root / "other.pem"
    other_key.write_bytes(other.private_pem())
    # Signed by the service's own CA, for this handset's IMEI: only the key is wrong.
    forged = _write_cert(tls_service.root / "other-cert.pem", certificates.make_device_certificate(
        tls_service.issuer(), tls_service.handset.imei, other.key.public_key(), _now()))
    before = tls_service.attestations()
    code, _out, err = _checkout(tls_service, capsys, "--ca", str(tls_service.ca),
                                "--cert", str(forged), "--key", str(other_key))
    assert code == 2
    assert "not the device key registered" in _one_line(err)
    assert tls_service.attestations() == before
    # ... and the CA's command does not issue one.
    public = tls_service.root / "other.pub.pem"
    public.write_bytes(other.public_pem())
    code = main(["admin", "tls", "device", "--imei", tls_service.handset.imei, "--key",
                 str(public), "--ca-dir", str(tls_service.root / "other-ca"),
                 "--data", str(tls_service.data)])
    assert code == 2
    assert "not the device key registered" in _one_line(capsys.readouterr().err)


def test_a_service_certificate_from_an_unknown_ca_is_refused(
        tls_service: TlsService, capsys: pytest.CaptureFixture[str]) -> None:
    stranger = certificates.make_ca("stranger", certificates.new_key(), _now())
    ca = _write_cert(tls_service.root / "stranger-ca.pem", stranger.certificate)
    code, _out, err = _checkout(tls_service, capsys, "--ca", str(ca),
                                "--cert", str(tls_service.cert_file))
    assert code == 3
    line = _one_line(err)
    assert "TLS refused: the service's certificate" in line and "certificate" in line


def test_a_client_certificate_from_an_unknown_ca_is_refused(
        tls_service: TlsService, capsys: pytest.CaptureFixture[str]) -> None:
    stranger = certificates.make_ca("stranger", certificates.new_key(), _now())
    cert = _write_cert(tls_service.root / "stranger-device.pem",
                       certificates.make_device_certificate(
                           stranger, tls_service.handset.imei,
                           tls_service.handset.key.key.public_key(), _now()))
    code, _out, err = _checkout(tls_service, capsys, "--ca", str(tls_service.ca),
                                "--cert", str(cert))
    assert code == 3
    assert "TLS refused: the service ended the handshake" in _one_line(err)
    assert "unknown ca" in err


def test_an_expired_device_certificate_is_refused(
        tls_service: TlsService, capsys: pytest.CaptureFixture[str]) -> None:
    month_ago = _now() - dt.timedelta(days=30)
    cert = _write_cert(tls_service.root / "expired-device.pem",
                       certificates.make_device_certificate(
                           tls_service.issuer(), tls_service.handset.imei,
                           tls_service.handset.key.key.public_key(), month_ago, days=1))
    code, _out, err = _checkout(tls_service, capsys, "--ca", str(tls_service.ca),
                                "--cert", str(cert))
    assert code == 3
    assert "TLS refused" in _one_line(err) and "expired" in err


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_a_service_with_an_expired_certificate_is_refused(
        tls_service: TlsService, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = certificates.new_key()
    expired = certificates.make_server_certificate(
        tls_service.issuer(), ["localhost"], key.public_key(), _now() - dt.timedelta(days=30),
        days=1)
    cert = _write_cert(tmp_path / "server.pem", expired)
    (tmp_path / "server-key.pem").write_bytes(certificates.private_key_pem(key))
    with serve_process(tls_service.data, tmp_path / "serve.log", extra=[
            "--workers", "1", "--tls-cert", str(cert),
            "--tls-key", str(tmp_path / "server-key.pem")],
            tls_ca=tls_service.ca, verify_health=False) as url:
        code = _device_add(tls_service, url, 902, "--ca", str(tls_service.ca))
    assert code == 3
    assert "certificate has expired" in _one_line(capsys.readouterr().err)


def test_a_wrong_host_name_is_refused(tls_service: TlsService,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    # The certificate names localhost only (admin tls init --name localhost).
    code = _device_add(tls_service, f"https://127.0.0.1:{tls_service.port}", 903,
                       "--ca", str(tls_service.ca))
    assert code == 3
    line = _one_line(capsys.readouterr().err)
    assert "TLS refused" in line and "not valid for '127.0.0.1'" in line


# --- the lab CA and serve's options ---------------------------------------------------

def test_tls_init_writes_private_keys_0600_and_never_overwrites(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ca"
    assert main(["admin", "tls", "init", "--out", str(out), "--name", "desk.example",
                 "192.0.2.7"]) == 0
    assert {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()} == {
        "ca.pem": 0o600, "ca-key.pem": 0o600, "server.pem": 0o600, "server-key.pem": 0o600}
    server = x509.load_pem_x509_certificate((out / "server.pem").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(n.value) for n in names] == ["desk.example", "192.0.2.7"]
    ca = x509.load_pem_x509_certificate((out / "ca.pem").read_bytes())
    server.verify_directly_issued_by(ca)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "server.pem").unlink()  # one file missing: still nothing is written
    capsys.readouterr()
    assert main(["admin", "tls", "init", "--out", str(out), "--name", "other"]) == 2
    assert "refusing to overwrite" in _one_line(capsys.readouterr().err)
    assert {p.name: p.read_bytes() for p in out.iterdir()} \
        == {k: v for k, v in before.items() if k != "server.pem"}


def test_tls_device_refuses_an_unregistered_handset(
        tls_service: TlsService, capsys: pytest.CaptureFixture[str]) -> None:
    public = tls_service.root / "unregistered.pub.pem"
    public.write_bytes(devicekey.generate().public_pem())
    assert main(["admin", "tls", "device", "--imei", make_imei(904), "--key", str(public),
                 "--ca-dir", str(tls_service.ca_dir), "--data", str(tls_service.data)]) == 2
    assert "is not registered" in _one_line(capsys.readouterr().err)
    assert not (tls_service.ca_dir / f"device-{make_imei(904)}.pem").exists()


@pytest.mark.parametrize(("options", "message"), [
    (["--tls-cert", "{ca}/server.pem"], "--tls-cert and --tls-key go together"),
    (["--client-ca", "{ca}/ca.pem"], "--client-ca needs --tls-cert"),
    (["--tls-cert", "{ca}/server.pem", "--tls-key", "{ca}/ca-key.pem"],
     "ca-key.pem: the key is not the certificate's"),
    (["--tls-cert", "{ca}/missing.pem", "--tls-key", "{ca}/server-key.pem"],
     "missing.pem: cannot read it (No such file or directory)"),
    (["--tls-cert", "{ca}/server.pem", "--tls-key", "{ca}/server-key.pem",
      "--client-ca", "{ca}/server-key.pem"], "server-key.pem: holds no PEM certificate"),
])
def test_serve_refuses_tls_options_that_cannot_work(
        tls_service: TlsService, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        options: list[str], message: str) -> None:
    port = str(tls_service.port + 1)  # refused before it is bound: need not be free
    code = main(["serve", "--data", str(tmp_path / "data"), "--bind", f"127.0.0.1:{port}",
                 *[o.format(ca=tls_service.ca_dir) for o in options]])
    assert code == 2
    assert message in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "data").exists()


# --- plain HTTP off loopback ----------------------------------------------------------

def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    assert done.returncode == 0, f"ip {' '.join(args)}: {done.stderr.strip()}"


@dataclass
class Namespace:
    name: str
    address: str  # the namespace's end of the veth pair


@pytest.fixture
def netns() -> Iterator[Namespace]:
    """A network namespace joined to this one by a veth pair on a /30 of 10.x (unique to
    this process, so parallel test runs do not collide); removed afterwards.  Needs root
    (CAP_NET_ADMIN) and iproute2 (Makefile DEB_PACKAGES): without them this fails."""
    pid = os.getpid()
    name, host_if, ns_if = f"simattest-{pid}", f"sa{pid}h", f"sa{pid}n"
    net = f"10.{200 + pid % 50}.{(pid // 50) % 256}"
    _ip("netns", "add", name)
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", name)
        _ip("addr", "add", f"{net}.1/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", name, "addr", "add", f"{net}.2/30", "dev", ns_if)
        _ip("-n", name, "link", "set", ns_if, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        yield Namespace(name, f"{net}.2")
    finally:
        # Deleting one end removes the pair; deleting the namespace removes its end.
        subprocess.run(["ip", "link", "delete", host_if], capture_output=True)
        _ip("netns", "delete", name)


def test_plain_http_off_loopback_is_refused_unless_insecure(
        netns: Namespace, tls_service: TlsService, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://{netns.address}:8080"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", netns.name, sys.executable, "-m", "server.cli.main",
             "serve", "--data", str(tls_service.data), "--bind", f"{netns.address}:8080",
             "--workers", "1"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVE_START_TIMEOUT
        while '"path":"/healthz"' not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not come up"
            try:
                requests.get(f"{url}/healthz", timeout=5)
            except requests.RequestException:
                time.sleep(0.2)
        code, _out, err = _checkout(tls_service, capsys, server=url)
        assert code == 2
        assert "plain HTTP" in _one_line(err) and "--insecure" in err
        assert _device_add(tls_service, url, 905) == 2
        assert "plain HTTP" in _one_line(capsys.readouterr().err)
        assert '"path":"/v1/' not in log.read_text()  # nothing was sent
        assert _device_add(tls_service, url, 905, "--insecure") == 0  # over the veth pair
        assert '"path":"/v1/handsets"' in log.read_text()
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def test_checkout_refuses_a_key_without_its_certificate(
        tls_service: TlsService, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _checkout(tls_service, capsys, "--ca", str(tls_service.ca),
                                "--key", str(tls_service.key_file))
    assert code == 2
    assert "--key is the key of --cert" in _one_line(err)
