"""The IdM's Cx peer (TS 29.229): a Diameter node on python-diameter.

The library does the framing, the peer state machine (CER/CEA, DWR/DWA, DPR/DPA,
RFC 6733 clause 5) and per-connection threads.  This module fills two gaps of
python-diameter 0.9 through its API rather than around it:

- its CEA advertises the applications only as plain ``Auth-Application-Id``; cdp (the
  Diameter stack of Kamailio's IMS modules) routes Cx only to a peer that advertised
  ``Vendor-Specific-Application-Id`` {Vendor-Id 10415, Auth-Application-Id 16777216}, so
  ``CxNode.send_message`` rewrites the CEA that way;
- its MAR/MAA classes use the RFC 4740 codes for SIP-Auth-Data-Item and
  SIP-Number-Auth-Items instead of the 3GPP ones (612 and 607, vendor 10415), so MAR is
  read and MAA written as raw AVPs with the 3GPP codes.  SAR/SAA and RTR/RTA use the
  library's classes, whose codes are the 3GPP ones.

Peers are accepted only when configured (``[cx] peers``): by Diameter identity (the
library answers an unknown Origin-Host with DIAMETER_UNKNOWN_PEER) and by source address
(``CxNode.receive_cer``).  Malformed requests get the RFC 6733 errors: missing Session-Id
or User-Name ``DIAMETER_MISSING_AVP`` (5005), an unknown AVP with the M-bit
``DIAMETER_AVP_UNSUPPORTED`` (5001), an unknown command ``DIAMETER_COMMAND_UNSUPPORTED``
(3001), another application ``DIAMETER_APPLICATION_UNSUPPORTED`` (3007, the library).
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
from collections.abc import Callable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from diameter.message import Message
from diameter.message.avp import Avp
from diameter.message.avp.dictionary import AVP_DICTIONARY, AVP_VENDOR_DICTIONARY
from diameter.message.avp.grouped import (
    DeregistrationReason,
    ExperimentalResult,
    FailedAvp,
    VendorSpecificApplicationId,
)
from diameter.message.commands import (
    CapabilitiesExchangeAnswer,
    CapabilitiesExchangeRequest,
    RegistrationTerminationRequest,
)
from diameter.node import Node
from diameter.node.application import Application
from diameter.node.peer import (
    PEER_CLOSING,
    PEER_READY_STATES,
    Peer,
    PeerConnection,
    PeerStats,
)

from server.core.service import Service
from server.ims import hss
from server.ims.config import CxConfig
from server.ims.metrics import (
    connections,
    count_request,
    exposition,
    request_counts,
    set_connected,
)

log = logging.getLogger("simattest.cx")

VENDOR_3GPP = 10415
CX_APPLICATION = 16777216
# TS 29.229 clause 6.3 AVP codes (vendor 10415) that the library's MAR/MAA get wrong.
_SIP_NUMBER_AUTH_ITEMS = 607
_SIP_AUTHENTICATION_SCHEME = 608
_SIP_AUTHENTICATE = 609
_SIP_AUTHORIZATION = 610
_SIP_AUTH_DATA_ITEM = 612
_SIP_ITEM_NUMBER = 613
_CONFIDENTIALITY_KEY = 625
_INTEGRITY_KEY = 626
_SESSION_ID = 263
_PUBLIC_IDENTITY = 601
_USER_NAME = 1
_NO_STATE_MAINTAINED = 1
# RFC 6733 clause 7.1
_MISSING_AVP = 5005
_AVP_UNSUPPORTED = 5001
_COMMAND_UNSUPPORTED = 3001
_UNKNOWN_PEER = 3010
# TS 29.229 clause 6.3.17: Reason-Code PERMANENT_TERMINATION
_PERMANENT_TERMINATION = 0
_MAR, _SAR, _RTR, _UAR, _LIR = 303, 301, 304, 300, 302
# The most MARs answered in one transaction (a group's answers wait for its commit).  One
# group is in the database at a time: a second group thread, tried, cost a third more CPU
# per MAR (smaller groups, GIL contention) and gave fewer MAR/s on this 2-core machine.
_MAX_GROUP = 64


def _known(avp: Avp) -> bool:
    if avp.vendor_id:
        return avp.code in AVP_VENDOR_DICTIONARY.get(avp.vendor_id, {})
    return avp.code in AVP_DICTIONARY


def _first(avps: list[Avp], code: int, vendor: int = VENDOR_3GPP) -> Avp | None:
    return next((a for a in avps if a.code == code and a.vendor_id == vendor), None)


class CxNode(Node):
    """python-diameter's node with the Cx CEA and the source-address check."""

    def __init__(self, cfg: CxConfig, *, reuse_port: bool = False) -> None:
        super().__init__(cfg.origin_host, cfg.origin_realm, ip_addresses=[cfg.listen_host],
                         tcp_port=cfg.listen_port, vendor_ids=[VENDOR_3GPP])
        self.cfg = cfg
        self.reuse_port = reuse_port
        self.product_name = "simattest"
        # Requests are checked by CxApplication: the library's own check would demand
        # the RFC 4740 AVPs its MAR class declares.
        self.validate_received_request_avps = False
        self.peer_route_select_func = _select_destination_host
        # How often the node's loop checks peer timers; also how long a forced stop
        # waits (the library's default is 6 s).
        self.wakeup_interval = 1

    def start(self) -> None:
        """Start the node; with ``reuse_port``, on listening sockets that several
        processes share (SO_REUSEPORT: the kernel spreads the incoming connections over
        the processes bound to the address).  The library binds its own socket without
        that option, so the sockets are made here and the library, started without a TCP
        port, serves them (it accepts on every socket in ``tcp_sockets``)."""
        if not self.reuse_port:
            super().start()
            return
        for host in self.ip_addresses:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.bind((host, self.cfg.listen_port))
            listener.listen(128)
            listener.setblocking(False)
            self.tcp_sockets.append(listener)
        self.tcp_port = None  # the library would bind a second socket of its own
        try:
            super().start()
        finally:
            self.tcp_port = self.cfg.listen_port

    def send_message(self, conn: PeerConnection, message: Message) -> None:
        if isinstance(message, CapabilitiesExchangeAnswer):
            message.auth_application_id = []
            message.vendor_specific_application_id = [VendorSpecificApplicationId(
                vendor_id=VENDOR_3GPP, auth_application_id=CX_APPLICATION)]
        super().send_message(conn, message)

    def _add_peer_connection(self, conn: PeerConnection, peer_socket: Any,
                             proto: int) -> str | None:
        guard = _FrameGuard()
        deliver = conn.add_in_bytes

        def add_in_bytes(data: bytes) -> None:
            fault = guard.feed(data)
            if fault is None:
                deliver(data)
                return
            log.warning("Cx: closing the connection from %s: %s", conn.ip, fault)
            self.close_connection_socket(conn)
            conn.close(signal_node=False)

        conn.add_in_bytes = add_in_bytes
        conn.add_out_msg = lambda message: _write_now(conn, peer_socket, message)
        return super()._add_peer_connection(conn, peer_socket, proto)

    def _receive_app_request(self, conn: PeerConnection, message: Message) -> None:
        # The answer must go back on this connection (see CxApplication.send_answer).
        message.simattest_connection = conn
        super()._receive_app_request(conn, message)

    def receive_cer(self, conn: PeerConnection, message: CapabilitiesExchangeRequest) -> None:
        host = (message.origin_host or b"").decode(errors="replace").lower()
        peer = self.cfg.peer_by_host.get(host)
        if peer is not None and conn.ip not in peer.addresses:
            log.warning("Cx: refused CER from %s at %s: not a configured address", host, conn.ip)
            answer = self._generate_answer(conn, message)
            answer.result_code = _UNKNOWN_PEER
            answer.header.is_error = True
            conn.state = PEER_CLOSING
            self.send_message(conn, answer)
            return
        super().receive_cer(conn, message)


def _write_now(conn: PeerConnection, peer_socket: socket.socket, message: Message) -> None:
    """Send ``message`` on ``conn`` from the calling thread (python-diameter's
    ``PeerConnection.add_out_msg``, replaced for every connection of this node).

    The library queues each message to a writer thread per connection, which encodes it
    into the connection's write buffer and wakes the node's select loop, which sends it on
    its next pass: under a registration storm, three thread hand-offs per MAA.  Here the
    caller encodes it and, when nothing is waiting in the buffer, sends it at once on the
    non-blocking socket; what the socket does not take goes to the buffer, and the select
    loop is woken to send it, exactly as the writer thread would.  ``write_lock`` orders
    this against the loop: the loop takes sent bytes off the buffer under it, so an empty
    buffer under the lock means no send of the loop is under way and messages stay in
    order."""
    try:
        data = message.as_bytes()
    except Exception:  # as the writer thread: the message is discarded, the peer serves on
        log.exception("Cx: could not encode %s", message)
        return
    with conn.write_lock:
        if not conn.write_buffer and conn.state in PEER_READY_STATES:
            try:
                data = data[peer_socket.send(data):]
            except BlockingIOError:
                pass
            except OSError:  # the socket went away; the node's loop closes the connection
                return
        if data:
            conn._write_buffer += data  # the buffer the node's loop sends
    if data or conn.state not in PEER_READY_STATES:
        # Bytes for the loop to send, or a connection closing after this message (the
        # loop closes it once its buffer is empty).
        conn.demand_attention()


# The largest Cx message accepted (a SAA with a large User-Data stays far below it).
MAX_MESSAGE = 65536
_VERSION = 1
_HEADER = 20


class _FrameGuard:
    """Watches the message boundaries of one connection's byte stream, before the
    library's parser sees it.  python-diameter 0.9 loops forever on a header whose
    length is below the header's own 20 bytes (it "discards" zero bytes and reads the
    same header again) and buffers whatever length a header announces, up to 16 MiB: a
    version other than 1 or a length outside 20..MAX_MESSAGE closes the connection
    instead (RFC 6733 clause 3: the length includes the header; the peer that sent a
    malformed header is disconnected).  It reads only the version and length of each
    header; the framing and parsing stay the library's."""

    def __init__(self) -> None:
        self.skip = 0  # bytes of the current message still to pass
        self.head = b""  # the start of the next header, when a read split it

    def feed(self, data: bytes) -> str | None:
        """None while the stream is well-formed; else why not."""
        pos = 0
        while pos < len(data):
            if self.skip:
                step = min(self.skip, len(data) - pos)
                self.skip -= step
                pos += step
                continue
            take = min(4 - len(self.head), len(data) - pos)
            self.head += data[pos:pos + take]
            pos += take
            if len(self.head) < 4:
                break
            version, length = self.head[0], int.from_bytes(self.head[1:4], "big")
            self.head = b""
            if version != _VERSION:
                return f"Diameter version {version}"
            if not _HEADER <= length <= MAX_MESSAGE:
                return f"message length {length} outside {_HEADER}..{MAX_MESSAGE}"
            self.skip = length - 4
        return None


def _select_destination_host(node: Node, app: Any, message: Message,
                             peers: list[Peer]) -> Peer:
    wanted = getattr(message, "destination_host", None)
    for peer in peers:
        if wanted is not None and peer.node_name == wanted.decode():
            return peer
    return peers[0]


class _PeerStats(PeerStats):
    """python-diameter 0.9 counts the answers it sends by Result-Code and fails on an
    answer that carries only an Experimental-Result (every Cx error of TS 29.229 clause
    6.2), which stops its answering thread: such answers are counted as 5xxx here."""

    def add_sent_result_code(self, result_code: int | None) -> None:
        super().add_sent_result_code(5000 if result_code is None else result_code)


class CxApplication(Application):
    """Cx requests in, answers out: each request is handled on the reading thread of the
    connection it came in on, MARs in groups on one thread (``_answer_mars``).

    python-diameter's ``ThreadingApplication`` hands every request through two queues
    and a new thread and the answer through a third thread: under a registration storm
    those hand-offs cost several times the MAR's own work (the GIL switches between
    five threads per message).  Here the library's per-connection reader thread, which
    has just decoded the request, answers it: connections are served in parallel, the
    requests of one connection in order (a slow database slows only that S-CSCF's
    connection, which is the back-pressure RFC 6733 clause 5.5 expects)."""

    def __init__(self, svc: Service, cfg: CxConfig) -> None:
        super().__init__(CX_APPLICATION, is_auth_application=True)
        self.svc = svc
        self.cfg = cfg
        # MARs waiting for the next group (request, what it asks); None stops the loop.
        self._groups: queue.SimpleQueue[tuple[Message, hss.MarRequest] | None] = \
            queue.SimpleQueue()
        self._group_thread = threading.Thread(target=self._answer_mars, name="cx-mar",
                                              daemon=True)

    def start(self) -> None:
        self._group_thread.start()

    def stop(self) -> None:
        self._groups.put(None)
        self._group_thread.join(5)
        super().stop()

    def receive_request(self, message: Message) -> None:
        try:
            answer = self._dispatch(message)
        except Exception:  # the reader thread must outlive one bad request
            log.exception("Cx: request %s failed", message.header.command_code)
            answer = self._answer(message, hss.Result.UNABLE_TO_COMPLY)
        if answer is not None:  # None: a MAR, answered by its group
            self.send_answer(self._finish(message, answer))

    def send_answer(self, message: Message) -> None:
        """Send the answer on the connection its request came in on.

        python-diameter 0.9 routes an answer to the first peer with a request pending
        under the same Hop-by-Hop Identifier, but each S-CSCF numbers its own requests:
        with several S-CSCFs, an answer (vectors for one user) could go to another
        S-CSCF.  Its one answering thread also ends on an answer whose peer has gone away
        (NotRoutable), and every later answer with it: such an answer is dropped here
        (RFC 6733 clause 6.2)."""
        conn: PeerConnection | None = getattr(message, "simattest_connection", None)
        if conn is None or conn.state not in PEER_READY_STATES \
                or conn.ident not in self.node.connections:
            log.info("Cx: answer dropped, its peer went away")
            return
        self.node.send_message(conn, message)

    def _answer(self, request: Message, result: hss.Result | int) -> Message:
        answer = self.generate_answer(request)
        # From the attribute when the request's class defines it: ``avps`` of a received
        # message is built again from its attributes at every read.  python-diameter
        # 0.9's UAR class does not define Session-Id: from its AVPs.
        session_id = getattr(request, "session_id", None)
        if session_id is None:
            session = _first(request.avps, _SESSION_ID, 0)
            session_id = None if session is None else session.value
        if session_id is not None:
            answer.session_id = session_id
        answer.vendor_specific_application_id = VendorSpecificApplicationId(
            vendor_id=VENDOR_3GPP, auth_application_id=CX_APPLICATION)
        answer.auth_session_state = _NO_STATE_MAINTAINED
        if isinstance(result, hss.Result) and result.experimental:
            answer.experimental_result = ExperimentalResult(
                vendor_id=VENDOR_3GPP, experimental_result_code=result.code)
        else:
            answer.result_code = int(result)
            answer.header.is_error = 3000 <= int(result) < 4000
        return answer

    def _refusal(self, request: Message, code: int, failed: list[Avp]) -> Message:
        answer = self._answer(request, code)
        answer.failed_avp = FailedAvp(additional_avps=failed)
        return answer

    def _finish(self, message: Message, answer: Message) -> Message:
        """``answer`` to ``message``, bound to its connection and counted."""
        command = message.header.command_code
        name = {_MAR: "MAR", _SAR: "SAR", _UAR: "UAR", _LIR: "LIR"}.get(command, str(command))
        answer.simattest_connection = getattr(message, "simattest_connection", None)
        result = getattr(answer, "result_code", None)
        if result is None and getattr(answer, "experimental_result", None) is not None:
            result = answer.experimental_result.experimental_result_code
        count_request(name, int(result or 0))
        return answer

    def _dispatch(self, message: Message) -> Message | None:
        avps = message.avps
        if _first(avps, _SESSION_ID, 0) is None:
            return self._refusal(message, _MISSING_AVP,
                                 [Avp.new(_SESSION_ID, value="")])
        unknown = [a for a in avps if a.is_mandatory and not _known(a)]
        if unknown:
            return self._refusal(message, _AVP_UNSUPPORTED, unknown[:1])
        handler: Callable[[Message, list[Avp], str], Message | None] | None = {
            _MAR: self._mar, _SAR: self._sar, _UAR: self._uar, _LIR: self._lir,
        }.get(message.header.command_code)
        if handler is None:
            return self._answer(message, _COMMAND_UNSUPPORTED)
        peer = (message.origin_host or b"").decode(errors="replace")
        if _first(avps, _USER_NAME, 0) is None \
                and message.header.command_code in (_MAR, _UAR):
            return self._refusal(message, _MISSING_AVP, [Avp.new(_USER_NAME, value="")])
        try:
            return handler(message, avps, peer)
        except Exception:
            log.exception("Cx: %s from %s failed", message.header.command_code, peer)
            return self._answer(message, hss.Result.UNABLE_TO_COMPLY)

    def _mar(self, request: Message, avps: list[Avp], peer: str) -> None:
        item = _first(avps, _SIP_AUTH_DATA_ITEM)
        parts: list[Avp] = item.value if item is not None else []
        scheme_avp = _first(parts, _SIP_AUTHENTICATION_SCHEME)
        authorization = _first(parts, _SIP_AUTHORIZATION)
        number = _first(avps, _SIP_NUMBER_AUTH_ITEMS)
        impus = request.public_identity or []
        self._groups.put((request, hss.MarRequest(
            peer=peer, impi=request.user_name, impu=impus[0] if impus else None,
            scheme=scheme_avp.value if scheme_avp is not None else hss.AKAV1_MD5,
            count=number.value if number is not None else 1,
            server_name=request.server_name or "",
            resync_data=authorization.value if authorization is not None else None)))

    def _answer_mars(self) -> None:
        """The MAR group loop: whatever MARs have arrived (from any connection) while the
        previous group was in the database form the next group,
        answered in one transaction (``hss.multimedia_auth``).  Under a storm the groups
        grow with the load, so commits, round trips and the audit head lock are shared; a
        lone MAR is a group of one and waits for nobody.  A group whose transaction fails is retried
        one MAR at a time, so one bad MAR costs only its own answer
        (DIAMETER_UNABLE_TO_COMPLY)."""
        while True:
            first = self._groups.get()
            if first is None:
                return
            group = [first]
            while len(group) < _MAX_GROUP:
                try:
                    more = self._groups.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._groups.put(None)  # stop after this group
                    break
                group.append(more)
            try:
                outcomes = hss.multimedia_auth(self.svc, self.cfg, [r for _m, r in group])
            except Exception:
                outcomes = [self._alone(message, r) for message, r in group]
            for (message, _r), outcome in zip(group, outcomes, strict=True):
                try:
                    self.send_answer(self._finish(message, self._mar_answer(message, outcome)))
                except Exception:  # the loop must outlive one bad answer
                    log.exception("Cx: MAA to %s failed", _r.peer)

    def _alone(self, message: Message, request: hss.MarRequest) -> hss.MarOutcome:
        try:
            return hss.multimedia_auth(self.svc, self.cfg, [request])[0]
        except Exception:
            log.exception("Cx: MAR from %s failed", request.peer)
            return hss.MarOutcome(hss.Result.UNABLE_TO_COMPLY)

    def _mar_answer(self, request: Message, outcome: hss.MarOutcome) -> Message:
        answer = self._answer(request, outcome.result)
        impus = request.public_identity or []
        if impus:
            answer.public_identity = impus[0]
        if request.user_name:
            answer.append_avp(Avp.new(_USER_NAME, value=request.user_name))
        if outcome.vectors:
            answer.append_avp(Avp.new(_SIP_NUMBER_AUTH_ITEMS, VENDOR_3GPP,
                                      value=len(outcome.vectors)))
        for number_, v in enumerate(outcome.vectors, 1):
            answer.append_avp(Avp.new(_SIP_AUTH_DATA_ITEM, VENDOR_3GPP, value=[
                Avp.new(_SIP_ITEM_NUMBER, VENDOR_3GPP, value=number_),
                Avp.new(_SIP_AUTHENTICATION_SCHEME, VENDOR_3GPP, value=hss.AKAV1_MD5),
                Avp.new(_SIP_AUTHENTICATE, VENDOR_3GPP, value=v.rand + v.autn),
                Avp.new(_SIP_AUTHORIZATION, VENDOR_3GPP, value=v.xres),
                Avp.new(_CONFIDENTIALITY_KEY, VENDOR_3GPP, value=v.ck),
                Avp.new(_INTEGRITY_KEY, VENDOR_3GPP, value=v.ik),
            ]))
        return answer

    def _sar(self, request: Message, avps: list[Avp], peer: str) -> Message:
        impus = request.public_identity or []
        if request.server_assignment_type is None:
            return self._refusal(request, _MISSING_AVP, [
                Avp.new(614, VENDOR_3GPP, value=0)])
        outcome = hss.server_assignment(
            self.svc, self.cfg, peer=peer, impi=request.user_name,
            impu=impus[0] if impus else None, assignment=request.server_assignment_type,
            server_name=request.server_name or "")
        answer = self._answer(request, outcome.result)
        if request.user_name:
            answer.append_avp(Avp.new(_USER_NAME, value=request.user_name))
        if outcome.user_data is not None:
            answer.user_data = outcome.user_data
        return answer

    def _server_answer(self, request: Message, outcome: hss.ServerOutcome) -> Message:
        answer = self._answer(request, outcome.result)
        if outcome.server_name is not None:
            answer.server_name = outcome.server_name
        return answer

    def _uar(self, request: Message, avps: list[Avp], peer: str) -> Message:
        impu = _first(avps, _PUBLIC_IDENTITY)
        if impu is None:
            return self._refusal(request, _MISSING_AVP, [Avp.new(601, VENDOR_3GPP, value="")])
        return self._server_answer(request, hss.user_authorization(
            self.svc, impi=request.user_name, impu=impu.value,
            authorization_type=request.user_authorization_type or 0))

    def _lir(self, request: Message, avps: list[Avp], peer: str) -> Message:
        impu = _first(avps, _PUBLIC_IDENTITY)
        if impu is None:
            return self._refusal(request, _MISSING_AVP, [Avp.new(601, VENDOR_3GPP, value="")])
        return self._server_answer(request, hss.location_info(self.svc, impu=impu.value))

    def terminate(self, term: hss.Termination, timeout: float = 5.0) -> bool | None:
        """Send the RTR for ``term`` (TS 29.228 clause 6.1.3): True when the S-CSCF
        answered DIAMETER_SUCCESS, False when it answered otherwise, None when it is not
        connected now (try again later)."""
        peer = self.node.peers.get(term.scscf_host.lower())
        if peer is None or peer.connection is None \
                or peer.connection.state not in PEER_READY_STATES:
            return None
        rtr = RegistrationTerminationRequest()
        rtr.session_id = self.node.session_generator.next_id()
        rtr.vendor_specific_application_id = VendorSpecificApplicationId(
            vendor_id=VENDOR_3GPP, auth_application_id=CX_APPLICATION)
        rtr.auth_session_state = _NO_STATE_MAINTAINED
        rtr.origin_host = self.node.origin_host.encode()
        rtr.origin_realm = self.node.realm_name.encode()
        rtr.destination_host = term.scscf_host.encode()
        rtr.destination_realm = peer.realm_name.encode()
        rtr.user_name = term.impi
        rtr.public_identity = [term.impu]
        rtr.deregistration_reason = DeregistrationReason(
            reason_code=_PERMANENT_TERMINATION,
            reason_info="the MCPTT identities ended")
        try:
            answer = self.send_request(rtr, timeout=int(timeout))
        except Exception as exc:  # the library raises several kinds
            log.warning("Cx: RTR for %s to %s: %s", term.impu, term.scscf_host, exc)
            count_request("RTR", 0)
            return None
        code = getattr(answer, "result_code", None)
        count_request("RTR", int(code or 0))
        return code == hss.Result.SUCCESS


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("status listener: " + format, *args)


class CxServer:
    """The running Cx peer: the node, the application and the RTR loop."""

    def __init__(self, svc: Service, cfg: CxConfig, *, reuse_port: bool = False) -> None:
        self.svc = svc
        self.cfg = cfg
        self.node = CxNode(cfg, reuse_port=reuse_port)
        self.app = CxApplication(svc, cfg)
        peers = [self.node.add_peer(f"aaa://{p.origin_host}", cfg.origin_realm)
                 for p in cfg.peers]
        for peer in peers:
            peer.statistics = _PeerStats()
        self.node.add_application(self.app, peers)
        self._stop = threading.Event()
        self._rtr_thread = threading.Thread(target=self._terminations, name="cx-rtr",
                                            daemon=True)

    def start(self) -> None:
        self.node.start()
        self._rtr_thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.node.stop(wait_timeout=5, force=True)

    def _terminations(self) -> None:
        while not self._stop.wait(self.cfg.termination_poll):
            for peer in self.peers():  # for the status of all processes (metrics)
                set_connected(peer["origin_host"], peer["connected"])
            try:
                for term in hss.terminations_due(self.svc):
                    accepted = self.app.terminate(term)
                    if accepted is not None:
                        hss.terminated(self.svc, term, peer=term.scscf_host,
                                       accepted=accepted)
            except Exception:  # the loop must outlive one bad round
                log.exception("Cx: registration termination round failed")

    def serve_status(self, host: str, port: int) -> None:
        """The status listener (``serve_status``) of this process alone."""
        serve_status(host, port, self.peers)

    def peers(self) -> list[dict[str, Any]]:
        """Configured peers and whether each is connected now."""
        return [{"origin_host": name, "connected": peer.connection is not None
                 and peer.connection.state in PEER_READY_STATES,
                 "address": peer.connection.ip if peer.connection else None}
                for name, peer in self.node.peers.items()]


def serve_status(host: str, port: int,
                 peers: Callable[[], list[dict[str, Any]]]) -> WSGIServer:
    """GET /metrics (Prometheus text) and GET /status (``peers()`` and the request
    counts, JSON) on ``host:port``, on a thread, until the process ends or the returned
    server is shut down.  The counts are every process's when they share a metrics
    directory (``server.ims.metrics``)."""
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            body, kind = exposition()
        elif path == "/status":
            body = json.dumps({"peers": peers(), "requests": request_counts()}).encode()
            kind = "application/json"
        else:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        start_response("200 OK", [("Content-Type", kind)])
        return [body]

    server = make_server(host, port, app, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="cx-status", daemon=True).start()
    return server


def shared_peers(cfg: CxConfig) -> list[dict[str, Any]]:
    """The configured peers and whether a live peer process holds a connection of each
    (as each process last recorded it, within ``termination_poll``): the status of
    ``cx serve --processes N``, from the processes' shared metrics."""
    held = connections()
    return [{"origin_host": p.origin_host, "connected": held.get(p.origin_host, 0) > 0,
             "address": None} for p in cfg.peers]
