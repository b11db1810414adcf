"""``make demo``, identity management: after the checkout cases, unit 1 is attested
again and checked out at the desk to the demo MC user, who signs in on it at the IdMS
through the real OpenID Connect flow.

The IdMS is a second ``simattest serve`` on the same data directory, over TLS with a lab
CA the demo makes (``simattest admin tls init``'s ``LabCA``), asking for client
certificates: the sign-in's tokens are bound to unit 1's device certificate (RFC 8705),
which certifies its registered device key.  The MC client is an independent relying
party — authlib's OAuth 2.0 client for requests (``server.agent.mcclient``) with PKCE
S256 and mutual TLS.  Then: the handset's IMPI2/IMPU2 and aliases, the MCPTT server's
look-up of the IMPU2 (a service client), a sign-in on unit 2 — checked out to nobody —
refused, unit 1's IMS registration as IMPU2 through Kamailio (``server.demo.ims``; the
IdMS names the S-CSCF as the registrar), and the return of unit 1 ending the sign-in,
its identities and, by the Cx peer's RTR, its registration.  Every line fits 80 columns.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import requests
from rich.console import Console

from server.agent import mcclient
from server.core.config import IdmsConfig, ServiceConfig
from server.core.labca import CA_CERT, SERVER_CERT, SERVER_KEY, LabCA
from server.core.service import Service
from server.demo.ims import DemoIms, deregistered_by_rtr, ims_core, register_unit
from server.idms import desk, oidc, users
from server.pool.devicecerts import issue_device_certificate

if TYPE_CHECKING:
    from server.demo.scenario import DemoHandset, Genuine

DOMAIN = "mcptt.example.org"
CLIENT_ID = "org.example.mcptt"
REDIRECT_URI = "org.example.mcptt:/oidc/callback"
LOOKUP_CLIENT = "mcptt-server"
USER = "alice"


def _ok(console: Console, text: str) -> None:
    console.print(f"[green]✓[/] {text}", highlight=False)


def _device_files(svc: Service, ca: LabCA, workdir: Path, handset: DemoHandset,
                  now: dt.datetime) -> tuple[str, str]:
    cert = issue_device_certificate(svc, ca, handset.imei,
                                    handset.key.public_pem().decode("ascii"), now)
    key = workdir / f"device-key-{handset.imei}.pem"
    key.write_bytes(handset.key.private_pem())
    key.chmod(0o600)
    return str(cert), str(key)


def idms_demo(console: Console, workdir: Path, data_dir: Path, genuine: Genuine) -> bool:
    """The identity-management chain (module docstring); whether it went as expected."""
    from server.demo.scenario import ServiceProcess, TlsFiles, _agent, _free_port

    now = dt.datetime.now(dt.UTC)
    ca = LabCA(workdir / "lab-ca")
    ca.init(["localhost"], now)
    cx_port, sip_port = _free_port(), _free_port()
    registrar = f"127.0.0.1:{sip_port}"  # the S-CSCF: the demo has no P-CSCF
    config_file = workdir / "simattest.toml"
    config_file.write_text(f'[idms]\nenabled = true\nmcptt_domain = "{DOMAIN}"\n'
                           f'registrar = "{registrar}"\n')
    config = ServiceConfig(idms=IdmsConfig(enabled=True, mcptt_domain=DOMAIN,
                                           registrar=registrar))
    password = secrets.token_urlsafe(12)
    body, answer = _agent(genuine.client, genuine.reader, genuine.handset,
                          genuine.handset.imei)
    with Service.open(data_dir, None, config, create=False) as svc:
        users.add_user(svc, mc_id=USER, mcptt_id=f"sip:{USER}@{DOMAIN}",
                       display_name="Alice (demo)", password=password, actor="demo admin")
        oidc.add_client(svc, CLIENT_ID, "native", "MCPTT client", [REDIRECT_URI],
                        ["openid", "3gpp:mc:ptt_service"], actor="demo admin")
        _view, secret = oidc.add_client(svc, LOOKUP_CLIENT, "service", "MCPTT server", [],
                                        [oidc.LOOKUP_SCOPE], actor="demo admin")
        assert secret is not None
        unit1 = _device_files(svc, ca, workdir, genuine.handset, now)
        unit2 = _device_files(svc, ca, workdir, genuine.other, now)
        checkout = desk.start_checkout(svc, body["evidence"]["attestation_id"], USER,
                                       actor="demo desk")
    _ok(console, f"unit 1 attested again ({answer['status']}), checked out to MC user "
                 f"{USER}")
    idms = ServiceProcess(data_dir, workdir / "idms.log", workers=1,
                          tls=TlsFiles(ca.path / SERVER_CERT, ca.path / SERVER_KEY,
                                       ca.path / CA_CERT), config=config_file)
    with console.status("starting the IdMS (TLS, client certificates)…"):
        idms.start()
    try:
        _ok(console, f"IdMS at {idms.url} (TLS, lab CA, device certificates)")
        with ims_core(console, workdir, data_dir, config, genuine.reader, cx_port,
                      sip_port) as ims:
            return _sign_in_chain(console, idms.url, str(ca.path / CA_CERT), password,
                                  unit1, unit2, secret, data_dir, config, checkout.id, ims)
    finally:
        idms.stop()


def _sign_in_chain(console: Console, url: str, ca: str, password: str,
                   unit1: tuple[str, str], unit2: tuple[str, str], secret: str,
                   data_dir: Path, config: ServiceConfig, checkout_id: int,
                   ims: DemoIms) -> bool:
    signed_in = mcclient.sign_in(url, CLIENT_ID, REDIRECT_URI, USER, password, cert=unit1,
                                 ca=ca)
    _ok(console, "alice signed in on unit 1 (PKCE S256, its device certificate)")
    found = signed_in.identities()
    console.out(f"  IMPI2  {found['impi']}", highlight=False)
    console.out(f"  IMPU2  {found['impu']}", highlight=False)
    for alias in found["aliases"]:
        console.out(f"  alias  {alias}", highlight=False)

    def lookup() -> dict[str, object]:
        answer = requests.get(f"{url}/idms/lookup", params={"impu": found["impu"]},
                              auth=(LOOKUP_CLIENT, secret), verify=ca, timeout=30)
        answer.raise_for_status()
        result: dict[str, object] = answer.json()
        return result

    looked_up = lookup()
    _ok(console, f"MCPTT server's look-up: IMPU2 → {looked_up['mcptt_id']} (active)")
    try:
        mcclient.sign_in(url, CLIENT_ID, REDIRECT_URI, USER, password, cert=unit2, ca=ca)
        refused = False
    except mcclient.SignInRefused as exc:
        refused = exc.error == "access_denied"
        _ok(console, "alice on unit 2 (not checked out to her): refused, access_denied")
    registered = register_unit(console, ims, url, signed_in.token["access_token"], unit1,
                               ca)
    with Service.open(data_dir, None, config, create=False) as svc:
        desk.return_checkout(svc, checkout_id, actor="demo desk")
    try:
        signed_in.refresh()
        ended = False
    except mcclient.SignInRefused:
        ended = lookup()["active"] is False
        _ok(console, "unit 1 returned: refresh refused, look-up says inactive")
    rtr = registered is not None and deregistered_by_rtr(console, ims, registered)
    return bool(looked_up["active"]) and refused and ended and rtr
