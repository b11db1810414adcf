"""A test AuC for hostapd's EAP-SIM/AKA database (``eap_sim_db=unix:<path>``).

It speaks the text protocol of hostapd's ``hlr_auc_gw`` on a Unix datagram socket, one
request per datagram, the answer sent back to the sender's own socket:

* ``AKA-REQ-AUTH <imsi>`` → ``AKA-RESP-AUTH <imsi> <rand> <autn> <ik> <ck> <res>`` (hex),
  or ``AKA-RESP-AUTH <imsi> FAILURE`` for a subscriber it does not know;
* ``AKA-AUTS <imsi> <auts> <rand>`` (no answer): SQN_MS recovered from AUTS, the next
  vector goes past it (TS 33.102 clause 6.3.5).

Vectors come from our own Milenage/TUAK and SQN code with the card file's keys, and SEQ
counts up in IND slot 0 (TS 33.102 Annex C.1.1).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

from attest.aka.base import AkaAlgorithm
from attest.aka.sqn import AutsInvalid, join_sqn, resync, split_sqn

AMF = bytes.fromhex("0000")  # separation bit 0: not an E-UTRAN vector (TS 33.401 annex H)


@dataclass
class Subscriber:
    """One IMSI's keys and the AuC's SEQ for it (the next vector uses ``seq + 1``)."""

    algorithm: AkaAlgorithm
    seq: int = 0
    resyncs: list[int] = field(default_factory=list)  # SEQ_MS of each accepted AUTS


class HlrAuc:
    """The AuC on ``path``; :meth:`start` serves it on a thread, :meth:`stop` ends it."""

    def __init__(self, path: Path, subscribers: dict[str, Subscriber]) -> None:
        self.path = path
        self.subscribers = subscribers
        self.requests: list[str] = []  # every request's verb and IMSI, in order
        self.bad_auts = 0  # AUTS whose MAC-S did not verify
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._thread: threading.Thread | None = None

    def reset(self, subscribers: dict[str, Subscriber]) -> None:
        """Serve these subscribers from now on, with the request log emptied."""
        self.subscribers = subscribers
        self.requests.clear()
        self.bad_auts = 0

    def start(self) -> HlrAuc:
        self._sock.bind(str(self.path))
        self._thread = threading.Thread(target=self._serve, name="hlr-auc", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        # shutdown() wakes the blocked recvfrom; the thread then ends.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self) -> HlrAuc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        while True:
            try:
                data, sender = self._sock.recvfrom(4096)
            except OSError:
                return
            if not data:
                return
            answer = self.answer(data.decode("ascii", errors="replace").strip())
            if answer is not None and sender:
                with contextlib.suppress(OSError):
                    self._sock.sendto(answer.encode("ascii"), sender)

    def answer(self, request: str) -> str | None:
        """The reply line to one request (None: the protocol has no reply)."""
        words = request.split()
        self.requests.append(" ".join(words[:2]))
        if len(words) == 2 and words[0] == "AKA-REQ-AUTH":
            return self._vector(words[1])
        if len(words) == 4 and words[0] == "AKA-AUTS":
            self._resync(words[1], bytes.fromhex(words[2]), bytes.fromhex(words[3]))
        return None

    def _vector(self, imsi: str) -> str:
        sub = self.subscribers.get(imsi)
        if sub is None:
            return f"AKA-RESP-AUTH {imsi} FAILURE"
        sub.seq += 1
        rand = os.urandom(16)
        v = sub.algorithm.vector(rand, join_sqn(sub.seq, 0), AMF)
        fields = (v.rand, v.autn, v.ik, v.ck, v.res)
        return f"AKA-RESP-AUTH {imsi} " + " ".join(f.hex() for f in fields)

    def _resync(self, imsi: str, auts: bytes, rand: bytes) -> None:
        sub = self.subscribers.get(imsi)
        if sub is None:
            return
        try:
            sqn_ms = resync(sub.algorithm, rand, auts)
        except AutsInvalid:
            self.bad_auts += 1
            return
        sub.seq = split_sqn(sqn_ms)[0]
        sub.resyncs.append(sub.seq)
