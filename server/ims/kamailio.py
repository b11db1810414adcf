"""Kamailio 5.6's S-CSCF (Debian's ``kamailio`` and ``kamailio-ims-modules``) with the
configuration the project ships in ``deploy/kamailio/``, as one process on loopback with
temporary directories (db_text for presence, the ctl socket, the cdp file), talking Cx to
our own Cx peer (``server.ims.cx``): what the tests and ``make demo`` run as the IMS core.

``KamailioProcess`` is what every such process shares (the configuration from
``deploy/kamailio/``, its directories, start, stop by process group, the log); ``Scscf``
and ``Icscf`` (Kamailio's I-CSCF, for UAR/LIR) are its two roles.  ``start_core`` starts
the Cx peer, then Kamailio, and waits until cdp has connected (TS 29.229 clause 6: the
CER/CEA exchange); ``Scscf.impu_state`` asks the running S-CSCF
(``kamcmd ulscscf.showimpu``) whether an IMPU is registered there.  Both are stopped by
their own process (group) id.  The files of ``deploy/`` are read from the source tree
(the package is installed editable: ``make``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

from server.core.config import StartupError
from server.core.service import Service
from server.ims.config import CxConfig, CxPeer
from server.ims.cx import CxServer

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kamailio"
DBTEXT_TEMPLATES = Path("/usr/share/kamailio/dbtext/kamailio")
CX_XSD = Path("/usr/share/doc/kamailio/examples/ims/scscf/CxDataType_Rel7.xsd")
SCSCF_HOST = "scscf.mcptt.example.org"
DOMAIN = "mcptt.example.org"
APT_LINE = ("apt-get install -y kamailio kamailio-ims-modules kamailio-presence-modules "
            "stunnel4")
START_TIMEOUT = 20.0


def missing() -> str | None:
    """What to install when Kamailio or its IMS modules are missing; None: all there."""
    if shutil.which("kamailio") is None or shutil.which("kamcmd") is None \
            or not CX_XSD.is_file():
        return f"Kamailio with its IMS modules is not installed; run: {APT_LINE}"
    return None


def wait_for(condition: Callable[[], bool], what: str, timeout: float = START_TIMEOUT,
             detail: Callable[[], str] = lambda: "") -> None:
    """Poll ``condition`` until it holds; TimeoutError saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout:g} s\n{detail()}")
        time.sleep(0.05)


def loopback_cx_config(port: int, **overrides: object) -> CxConfig:
    """The Cx peer as ``localhost`` (cdp looks the peer's FQDN up) on 127.0.0.1:``port``,
    the S-CSCF ``SCSCF_HOST`` its one peer; IND slot 30, ended sign-ins noticed within
    0.2 s."""
    settings: dict[str, object] = {
        "origin_host": "localhost", "origin_realm": DOMAIN, "listen_host": "127.0.0.1",
        "listen_port": port, "ind_slot": 30, "termination_poll": 0.2,
        "peers": (CxPeer(SCSCF_HOST, frozenset({"127.0.0.1"})),)}
    settings.update(overrides)
    return CxConfig(**settings)  # type: ignore[arg-type]


class KamailioProcess:
    """One Kamailio process on loopback with a configuration the project ships
    (``deploy/kamailio/<role>.cfg`` and its cdp file ``<role>.xml``, whose Cx port is
    set to ``cx_port``), with its own directories under ``workdir`` (db_text in
    ``dbtext/``, the run directory), SIP on UDP ``sip_port``; ``defines`` are the
    role's further ``-A`` definitions.  Started in a session of its own and stopped by
    its process group id."""

    role: ClassVar[str]

    def __init__(self, workdir: Path, cx_port: int, sip_port: int,
                 defines: Sequence[str] = ()) -> None:
        problem = missing()
        if problem is not None:
            raise StartupError(problem)
        self.workdir = workdir
        self.sip_port = sip_port
        self.ctl = workdir / "ctl"
        self.log = workdir / "kamailio.log"
        self.db = workdir / "dbtext"
        self.db.mkdir(parents=True)
        cdp = workdir / f"{self.role}.xml"
        cdp.write_text((DEPLOY / cdp.name).read_text().replace(
            'port="3868"', f'port="{cx_port}"'))
        self.argv = ["kamailio", "-DD", "-E", "-f", str(DEPLOY / f"{self.role}.cfg")]
        for define in (f"SIP_LISTEN_UDP=udp:127.0.0.1:{sip_port}", *defines,
                       f'DBTEXT_URL="text://{self.db}"', f'RUN_DIR="{workdir}"',
                       f'CDP_CONFIG="{cdp}"'):
            self.argv += ["-A", define]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class Scscf(KamailioProcess):
    """Kamailio's S-CSCF (``deploy/kamailio/scscf.cfg``), SIP on UDP and TCP
    ``sip_port``, answering ``kamcmd`` on its ctl socket."""

    role = "scscf"

    def __init__(self, workdir: Path, cx_port: int, sip_port: int,
                 scscf_host: str = SCSCF_HOST) -> None:
        super().__init__(workdir, cx_port, sip_port, [
            f"SIP_LISTEN_TCP=tcp:127.0.0.1:{sip_port}",
            f'SCSCF_URI="sip:{scscf_host}:{sip_port}"',
            f'CTL_SOCKET="unix:{workdir / "ctl"}"',
            f'CX_XSD="{CX_XSD}"'])
        for table in ("version", "presentity", "active_watchers", "watchers", "xcap", "pua"):
            shutil.copy(DBTEXT_TEMPLATES / table, self.db / table)

    def impu_state(self, impu: str) -> str | None:
        """``registered`` while the S-CSCF's usrloc holds ``impu`` registered with at
        least one contact; else its state there (``not_registered``…), None when it
        holds no record of it."""
        done = subprocess.run(["kamcmd", "-s", f"unix:{self.ctl}", "ulscscf.showimpu", impu],
                              capture_output=True, text=True, timeout=10, check=False)
        match = re.search(r"^\s*state:\s*(\S+)", done.stdout, re.M)
        if match is None:
            return None
        contacts = re.search(r"contacts: \{\s*sip:", done.stdout)
        if match.group(1) == "registered" and contacts is None:
            return "registered-without-contacts"
        return match.group(1)


class Icscf(KamailioProcess):
    """Kamailio's I-CSCF (``deploy/kamailio/icscf.cfg``) in front of the S-CSCF at
    ``scscf_uri``, the one S-CSCF of its database (db_text tables ``s_cscf``…)."""

    role = "icscf"

    def __init__(self, workdir: Path, cx_port: int, sip_port: int, scscf_uri: str) -> None:
        super().__init__(workdir, cx_port, sip_port)
        escaped = scscf_uri.replace(":", "\\:")
        (self.db / "version").write_text(
            (DBTEXT_TEMPLATES / "version").read_text()
            + "s_cscf:1\ns_cscf_capabilities:1\nnds_trusted_domains:1\n")
        (self.db / "s_cscf").write_text(
            f"id(int,auto) name(string) s_cscf_uri(string)\n1:scscf:{escaped}\n")
        (self.db / "s_cscf_capabilities").write_text(
            "id(int,auto) id_s_cscf(int) capability(int)\n")
        (self.db / "nds_trusted_domains").write_text(
            f"id(int,auto) trusted_domain(string)\n1:{DOMAIN}\n")


def start_core(service: Service, cx: CxConfig, scscf: Scscf) -> CxServer:
    """Start the Cx peer for ``service``, then ``scscf``; return once the S-CSCF's cdp
    has connected.  On a failure both are stopped again."""
    server = CxServer(service, cx)
    server.start()
    try:
        scscf.start()
        wait_for(lambda: any(p["connected"] for p in server.peers()),
                 "the S-CSCF's cdp connected to the Cx peer", detail=scscf.tail)
    except BaseException:
        scscf.stop()
        server.stop()
        raise
    return server
