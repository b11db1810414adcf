"""A Diameter Cx client for tests and bench/bench_cx.py, playing an S-CSCF: framing and
messages by python-diameter (``Message.as_bytes``/``from_bytes``), a blocking socket,
one request at a time per connection.  MAR is built with the 3GPP codes of TS 29.229
(SIP-Auth-Data-Item 612, SIP-Number-Auth-Items 607, vendor 10415)."""

from __future__ import annotations

import itertools
import socket
from dataclasses import dataclass

from diameter.message import Message, MessageHeader
from diameter.message.avp import Avp
from diameter.message.avp.grouped import VendorSpecificApplicationId
from diameter.message.commands import (
    CapabilitiesExchangeRequest,
    MultimediaAuthRequest,
    ServerAssignmentRequest,
)

TGPP = 10415
CX = 16777216
AKAV1 = "Digest-AKAv1-MD5"
_HEADER = 20


@dataclass(frozen=True)
class Vector:
    rand: bytes
    autn: bytes
    xres: bytes
    ck: bytes
    ik: bytes


def result_of(answer: Message) -> int:
    """Result-Code, or the Experimental-Result-Code (a Cx code such as 5001)."""
    code = getattr(answer, "result_code", None)
    if code is not None:
        return int(code)
    for avp in answer.avps:
        if avp.code == 297:
            return int(next(a.value for a in avp.value if a.code == 298))
    raise AssertionError("answer without Result-Code or Experimental-Result")


def vectors_of(answer: Message) -> list[Vector]:
    found = []
    for avp in answer.avps:
        if (avp.code, avp.vendor_id) == (612, TGPP):
            parts = {a.code: a.value for a in avp.value}
            found.append(Vector(parts[609][:16], parts[609][16:], parts[610], parts[625],
                                parts[626]))
    return found


class CxClient:
    """One S-CSCF connection: CER/CEA at connect, then requests.  Each connection numbers
    its requests from 1, as independent S-CSCFs do: their Hop-by-Hop Identifiers
    collide, and the Cx peer must still answer each on its own connection."""

    def __init__(self, port: int, origin_host: str = "scscf.mcptt.example.org",
                 realm: str = "mcptt.example.org", *, cer: bool = True) -> None:
        self.origin_host = origin_host
        self.realm = realm
        self._ids = itertools.count(1)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.cea: Message | None = None
        if cer:
            req = CapabilitiesExchangeRequest()
            req.origin_host = origin_host.encode()
            req.origin_realm = realm.encode()
            req.host_ip_address = ["127.0.0.1"]
            req.vendor_id = TGPP
            req.product_name = "test S-CSCF"
            req.supported_vendor_id = [TGPP]
            req.vendor_specific_application_id = [
                VendorSpecificApplicationId(vendor_id=TGPP, auth_application_id=CX)]
            self.cea = self.exchange(req)

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self) -> Message:
        """The next message; EOFError when the peer closed the connection."""
        data = self._read(_HEADER)
        length = MessageHeader.from_bytes(data).length
        return Message.from_bytes(data + self._read(length - _HEADER))

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError("the Cx peer closed the connection")
            data += chunk
        return data

    def exchange(self, request: Message) -> Message:
        request.header.hop_by_hop_identifier = next(self._ids)
        request.header.end_to_end_identifier = next(self._ids)
        self.send(request.as_bytes())
        while True:
            answer = self.receive()
            if answer.header.is_request:  # a DWR or an RTR from the peer: not ours here
                continue
            return answer

    def _base(self, request: Message, impi: str | None) -> Message:
        request.header.application_id = CX
        request.session_id = f"{self.origin_host};{next(self._ids)}"
        request.vendor_specific_application_id = VendorSpecificApplicationId(
            vendor_id=TGPP, auth_application_id=CX)
        request.auth_session_state = 1
        request.origin_host = self.origin_host.encode()
        request.origin_realm = self.realm.encode()
        request.destination_realm = self.realm.encode()
        if impi is not None:
            request.user_name = impi
        return request

    def mar_message(self, impi: str | None, impu: str, *, count: int = 1,
                    scheme: str = AKAV1, authorization: bytes | None = None) -> Message:
        mar = self._base(MultimediaAuthRequest(), impi)
        mar.public_identity = [impu]
        mar.server_name = "sip:scscf.mcptt.example.org:6060"
        mar.append_avp(Avp.new(607, TGPP, value=count))
        item = [Avp.new(608, TGPP, value=scheme)]
        if authorization is not None:
            item.append(Avp.new(610, TGPP, value=authorization))
        mar.append_avp(Avp.new(612, TGPP, value=item))
        return mar

    def mar(self, impi: str | None, impu: str, **kw: object) -> Message:
        return self.exchange(self.mar_message(impi, impu, **kw))  # type: ignore[arg-type]

    def sar(self, impi: str | None, impu: str, assignment: int) -> Message:
        sar = self._base(ServerAssignmentRequest(), impi)
        sar.public_identity = [impu]
        sar.server_name = "sip:scscf.mcptt.example.org:6060"
        sar.server_assignment_type = assignment
        sar.user_data_already_available = 0
        return self.exchange(sar)

    def uar(self, impi: str, impu: str, authorization_type: int = 0) -> Message:
        from diameter.message.commands import UserAuthorizationRequest

        uar = self._base(UserAuthorizationRequest(), impi)
        # python-diameter's UAR class has no Session-Id attribute: the AVP itself.
        uar.append_avp(Avp.new(263, value=f"{self.origin_host};{next(self._ids)}"))
        uar.public_identity = impu
        uar.visited_network_identifier = self.realm.encode()
        uar.user_authorization_type = authorization_type
        return self.exchange(uar)

    def lir(self, impu: str) -> Message:
        from diameter.message.commands import LocationInfoRequest

        lir = self._base(LocationInfoRequest(), None)
        lir.public_identity = impu
        return self.exchange(lir)
