"""``simattest ims register`` against registrars that misbehave (a UDP socket in the test
plays the registrar: malformed nonce, unknown algorithm, silence) and a card removed
during AUTHENTICATE (PC/SC).  Each ends with one readable line and its exit code."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from server.agent.sip import SipError, parse_challenge
from tests.fixtures_pcsc import EXAMPLES, CardSlots, run_cli

IMPI = "priv@mcptt.example.org"
IMPU = "sip:pub@mcptt.example.org"


def _reply_401(request: bytes, www_authenticate: str) -> bytes:
    lines = request.decode().split("\r\n")
    keep = [line for line in lines if line.split(":")[0] in ("Via", "From", "To", "Call-ID",
                                                             "CSeq")]
    return ("\r\n".join(["SIP/2.0 401 Unauthorized", *keep,
                         f"WWW-Authenticate: {www_authenticate}", "Content-Length: 0"])
            + "\r\n\r\n").encode()


@pytest.fixture
def registrar() -> Iterator[Callable[[Callable[[bytes], bytes | None]], int]]:
    """A UDP registrar answering each request with ``answer(request)`` (None: silence)."""
    socks: list[socket.socket] = []

    def start(answer: Callable[[bytes], bytes | None]) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        socks.append(sock)

        def serve() -> None:
            while True:
                try:
                    data, peer = sock.recvfrom(65535)
                except OSError:
                    return
                reply = answer(data)
                if reply is not None:
                    sock.sendto(reply, peer)

        threading.Thread(target=serve, daemon=True).start()
        return int(sock.getsockname()[1])

    yield start
    for sock in socks:
        sock.close()


def _register(capsys: pytest.CaptureFixture[str], port: int, reader: str,
              *extra: str) -> tuple[int, str]:
    run = run_cli(capsys, "ims", "register", "--reader", reader, "--impi", IMPI, "--impu",
                  IMPU, "--registrar", f"127.0.0.1:{port}", *extra)
    return run.code, run.err


PS_SIM = f"sim:{EXAMPLES / 'ps-001.yaml'}"


@pytest.mark.parametrize(("challenge", "message"), [
    ('Digest realm="mcptt.example.org", nonce="not base64!", algorithm=AKAv1-MD5',
     "nonce is not base64"),
    (f'Digest realm="mcptt.example.org", nonce="{base64.b64encode(bytes(20)).decode()}", '
     'algorithm=AKAv1-MD5', "nonce carries 20 bytes, expected at least 32"),
    (f'Digest realm="mcptt.example.org", nonce="{base64.b64encode(bytes(32)).decode()}", '
     'algorithm=AKAv2-SHA-256', "algorithm 'AKAv2-SHA-256' is not supported"),
    ('Basic realm="mcptt.example.org"', "authentication scheme 'Basic'"),
])
def test_a_malformed_challenge_is_one_line_and_exit_2(
        registrar: Callable[[Callable[[bytes], bytes | None]], int],
        capsys: pytest.CaptureFixture[str], challenge: str, message: str) -> None:
    port = registrar(lambda request: _reply_401(request, challenge))
    code, err = _register(capsys, port, PS_SIM)
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_silent_registrar_times_out_with_exit_3(
        registrar: Callable[[Callable[[bytes], bytes | None]], int],
        capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[bytes] = []
    port = registrar(lambda request: seen.append(request) or None)  # type: ignore[func-returns-value]
    code, err = _register(capsys, port, PS_SIM, "--timeout", "1.5")
    assert code == 3 and "no answer within 1.5 s" in err
    assert len(seen) >= 2  # UDP retransmissions (RFC 3261 Timer A)


def test_a_card_removed_during_authenticate_is_a_reader_error(
        registrar: Callable[[Callable[[bytes], bytes | None]], int],
        capsys: pytest.CaptureFixture[str], pcsc_cards: CardSlots) -> None:
    nonce = base64.b64encode(bytes(range(32))).decode()
    port = registrar(lambda request: _reply_401(
        request, f'Digest realm="mcptt.example.org", nonce="{nonce}", algorithm=AKAv1-MD5'))
    # The card goes away at the AUTHENTICATE command: the 4th APDU, after reading EF.DIR
    # (two records) and selecting the ISIM.
    inserted = pcsc_cards.insert(EXAMPLES / "ps-001.yaml", remove_at=4)
    code, err = _register(capsys, port, inserted.uri)
    assert code == 3 and "removed" in err and "Traceback" not in err


def test_the_challenge_parser_reads_rand_autn_and_qop() -> None:
    raw = bytes(range(16)) + bytes(range(16, 32)) + b"server"
    ch = parse_challenge(f'Digest realm="r", nonce="{base64.b64encode(raw).decode()}", '
                         'qop="auth,auth-int", algorithm=AKAv1-MD5, ck="00", ik="00"')
    assert (ch.rand, ch.autn, ch.qop) == (bytes(range(16)), bytes(range(16, 32)), "auth")
    with pytest.raises(SipError, match="offers no 'auth'"):
        parse_challenge(f'Digest realm="r", nonce="{base64.b64encode(raw).decode()}", '
                        'qop="auth-int", algorithm=AKAv1-MD5')


@pytest.mark.parametrize(("options", "message"), [
    (["--idms", "https://idms.example.org"], "--access-token-file: required with --idms"),
    (["--idms", "https://idms.example.org", "--impi", IMPI],
     "--impi: not with --idms (the IdMS gives it)"),
    (["--idms", "https://idms.example.org", "--access-token-file", "{token}"],
     "--cert: required with --idms"),
    (["--idms", "https://idms.example.org", "--access-token-file", "{empty}", "--cert",
      "{token}", "--key", "{token}"], "expected one access token"),
    (["--impi", IMPI, "--impu", IMPU], "--registrar: required without --idms"),
    (["--impu", IMPU, "--registrar", "127.0.0.1:5060"], "--impi: required without --idms"),
    (["--impi", IMPI, "--impu", IMPU, "--registrar", "127.0.0.1:5060", "--cert", "{token}"],
     "--cert: only with --idms"),
])
def test_where_the_identities_come_from_is_checked_before_anything_is_sent(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, options: list[str],
        message: str) -> None:
    (tmp_path / "token").write_text("eyJ.e30.sig\n")
    (tmp_path / "empty").write_text("\n")
    files = {"token": str(tmp_path / "token"), "empty": str(tmp_path / "empty")}
    run = run_cli(capsys, "ims", "register", "--reader", PS_SIM,
                  *[option.format(**files) for option in options])
    assert run.code == 2 and message in run.err, run.err
    assert len(run.err.strip().splitlines()) == 1


def test_an_idms_that_does_not_answer_is_one_line_and_exit_3(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = tmp_path / "token"
    token.write_text("eyJ.e30.sig\n")
    pem = EXAMPLES.parent.parent / "deploy" / "stunnel" / "cx-idm.conf"  # any file
    run = run_cli(capsys, "ims", "register", "--reader", PS_SIM, "--idms",
                  f"https://127.0.0.1:{port}", "--access-token-file", str(token),
                  "--cert", str(pem), "--key", str(pem))
    assert run.code == 3, run.err
    assert f"IdMS https://127.0.0.1:{port}: cannot connect: Connection refused" in run.err
    assert len(run.err.strip().splitlines()) == 1 and "eyJ" not in run.err
