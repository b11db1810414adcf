"""``CxConfig``: the ``[cx]`` section of the configuration file, checked once.

The IdM answers MARs with SQNs from its own IND slot (TS 33.102 Annex C.1.1.2), which
must differ from the attestation service's ``[service] ind_slot`` so IMS registrations
and checkout challenges never consume each other's sequence numbers.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from attest.errors import InputError
from server.core.configfile import CxSection


@dataclass(frozen=True)
class CxPeer:
    """An S-CSCF/I-CSCF allowed to connect: Diameter identity and source addresses."""

    origin_host: str
    addresses: frozenset[str]


@dataclass(frozen=True)
class CxConfig:
    origin_host: str = "localhost"
    origin_realm: str = "mcptt.example.org"
    listen_host: str = "127.0.0.1"
    listen_port: int = 3868
    ind_slot: int = 30
    peers: tuple[CxPeer, ...] = ()
    # The MCPTT application server the initial filter criterion sends REGISTERs to
    # (third-party registration, TS 24.229 clause 5.4.1.7); None: no iFC.
    application_server: str | None = None
    # Whether the SAA's User-Data names IMPI1 for charging (an ``Extension`` of the
    # IMSSubscription, docs/ims.md): off by default, as it tells the IMS core which
    # card is behind the MCPTT identities.
    charging_impi1: bool = False
    # How often (seconds) the peer looks for registrations whose identities ended.
    termination_poll: float = 1.0
    peer_by_host: dict[str, CxPeer] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.peer_by_host.update({peer.origin_host: peer for peer in self.peers})


def _check_address(text: str, where: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise InputError(f"{where}: expected a numeric IP address, got {text!r}") from None


def cx_config(section: CxSection, service_ind_slot: int, where: str = "[cx]") -> CxConfig:
    """The checked ``CxConfig``; a fault is one ``InputError`` naming the key."""
    host, sep, port = section.listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"{where} listen: expected ADDRESS:PORT, got {section.listen!r}")
    host = _check_address(host.strip("[]"), f"{where} listen")
    if not 0 <= section.ind_slot < 32:
        raise InputError(f"{where} ind_slot: must be 0..31 (5-bit IND), got {section.ind_slot}")
    if section.ind_slot == service_ind_slot:
        raise InputError(f"{where} ind_slot: {section.ind_slot} is the attestation service's "
                         "slot ([service] ind_slot); the Cx peer needs its own")
    if section.termination_poll <= 0:
        raise InputError(f"{where} termination_poll: must be positive")
    peers = tuple(
        CxPeer(peer.origin_host.lower(), frozenset(
            _check_address(a, f"{where} peers[{i}].addresses") for a in peer.addresses))
        for i, peer in enumerate(section.peers))
    return CxConfig(origin_host=section.origin_host, origin_realm=section.origin_realm,
                    listen_host=host, listen_port=int(port), ind_slot=section.ind_slot,
                    peers=peers, application_server=section.application_server,
                    charging_impi1=section.charging_impi1,
                    termination_poll=section.termination_poll)
