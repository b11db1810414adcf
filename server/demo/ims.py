"""``make demo``, IMS registration: the signed-in demo MC user's handset (unit 1)
registers its MCPTT-specific identities with a real IMS core.

The core is ``server.ims.kamailio``: our Cx peer (in this process, on the demo's data
directory) and Kamailio 5.6's S-CSCF with ``deploy/kamailio/``.  The handset reads
IMPI2, IMPU2, its instance id and the registrar from the IdMS with its bound access
token over mutual TLS (``simattest ims register --idms``'s path), and unit 1's card
answers the IMS AKA challenge on its ISIM through the demo's PC/SC reader, with vectors
our Cx peer computed from the pooled card's K/OPc.  When the desk takes unit 1 back,
the Cx peer's Registration-Termination-Request (TS 29.228 clause 6.1.3) ends the
registration at the S-CSCF.  Every line fits 80 columns.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from server.agent.ims import register_from_idms
from server.core.config import ServiceConfig
from server.core.service import Service
from server.ims.hss import registration_of
from server.ims.kamailio import Scscf, loopback_cx_config, start_core, wait_for


@dataclass(frozen=True)
class DemoIms:
    """The running IMS core and what unit 1 registers with."""

    scscf: Scscf
    svc: Service  # the Cx peer's (the demo's data directory)
    reader: str  # unit 1's card, on the demo's PC/SC stack

    @property
    def registrar(self) -> str:
        return f"127.0.0.1:{self.scscf.sip_port}"


@contextlib.contextmanager
def ims_core(console: Console, workdir: Path, data_dir: Path, config: ServiceConfig,
             reader: str, cx_port: int, sip_port: int) -> Iterator[DemoIms]:
    """Our Cx peer and Kamailio's S-CSCF, stopped (by their own ids) at the end."""
    scscf = Scscf(workdir / "kamailio", cx_port, sip_port)
    with Service.open(data_dir, None, config, create=False) as svc, \
            _logged_to(workdir / "cx.log", "diameter", "simattest.cx"):
        with console.status("starting our Cx peer and Kamailio's S-CSCF…"):
            cx = start_core(svc, loopback_cx_config(cx_port), scscf)
        try:
            console.print(f"[green]✓[/] IMS core: Kamailio S-CSCF at 127.0.0.1:{sip_port},"
                          f" our Cx peer at :{cx_port}", highlight=False)
            yield DemoIms(scscf, svc, reader)
        finally:
            scscf.stop()
            cx.stop()


@contextlib.contextmanager
def _logged_to(path: Path, *names: str) -> Iterator[None]:
    """The Diameter library's and the Cx peer's log lines into ``path`` (scanned for
    keys like the demo's other logs), not onto the demo's terminal."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
            logger.propagate = True
        handler.close()


def register_unit(console: Console, ims: DemoIms, idms: str, access_token: str,
                  cert: tuple[str, str], ca: str) -> str | None:
    """Unit 1 registers with what the IdMS gives it; its IMPU2 when the S-CSCF holds
    the registration."""
    found, outcome = register_from_idms(reader=ims.reader, idms=idms,
                                        access_token=access_token, cert=cert, ca=ca)
    if outcome.status != 200 or ims.scscf.impu_state(found.impu) != "registered":
        console.print(f"[red]✗[/] IMS registration: {outcome.status} {outcome.reason}",
                      highlight=False)
        return None
    console.print(f"[green]✓[/] unit 1 registered to IMS as IMPU2 ({outcome.application.upper()}"
                  ", vectors from our Cx peer)", highlight=False)
    lines = [("200 OK", f"from the S-CSCF {found.registrar[0]}:{found.registrar[1]}, "
                        f"expires {outcome.expires} s")]
    lines += [("P-Associated-URI", uri) for uri in outcome.associated_uris]
    lines += [("Service-Route", route) for route in outcome.service_routes]
    lines += [("+sip.instance", found.instance)]
    for name, value in lines:
        console.out(f"  {name:<17} {value}", highlight=False)
    return found.impu


def deregistered_by_rtr(console: Console, ims: DemoIms, impu: str) -> bool:
    """After the return: the Cx peer's RTR has ended IMPU2's registration."""
    def ended() -> bool:
        seen = registration_of(ims.svc, impu)
        return seen is not None and seen.state == "unregistered" \
            and ims.scscf.impu_state(impu) != "registered"

    try:
        wait_for(ended, "the RTR ended the registration", timeout=10)
    except TimeoutError:
        console.print("[red]✗[/] the S-CSCF still holds IMPU2's registration",
                      highlight=False)
        return False
    console.print("[green]✓[/] RTR (Cx 304) to the S-CSCF: IMPU2 deregistered there",
                  highlight=False)
    return True
