"""``simattest serve``'s gunicorn worker (``server.gunicorn_app.KeepAliveThreadWorker``)
on a real socket: a kept-alive connection is served whether its next request comes at
once (the same thread answers), after a pause (back through gthread's poller), or
pipelined behind the previous one."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.processes import serve_process

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    root = tmp_path_factory.mktemp("keepalive")
    with serve_process(root / "data", root / "serve.log",
                       ["--workers", "1", "--threads", "2"]) as url:
        assert "Using worker: server.gunicorn_app.KeepAliveThreadWorker" \
            in (root / "serve.log").read_text()
        parts = urlsplit(url)
        yield str(parts.hostname), int(parts.port or 80)


def _answers(sock: socket.socket, count: int) -> list[bytes]:
    """Read ``count`` whole answers (head and Content-Length body) off ``sock``."""
    data, answers = b"", []
    while len(answers) < count:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            length = re.search(rb"(?i)content-length:\s*(\d+)", data[:head_end])
            assert length is not None, data[:head_end]
            end = head_end + 4 + int(length[1])
            if len(data) >= end:
                answers.append(data[:end])
                data = data[end:]
                continue
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    return answers


def test_requests_back_to_back_after_a_pause_and_pipelined_on_one_connection(
    server: tuple[str, int],
) -> None:
    with socket.create_connection(server, timeout=10) as sock:
        for _ in range(3):  # each request as soon as the previous answer is in
            sock.sendall(REQUEST)
            [answer] = _answers(sock, 1)
            assert answer.startswith(b"HTTP/1.1 200")
        time.sleep(0.2)  # longer than the worker waits: the connection is parked
        sock.sendall(REQUEST)
        assert _answers(sock, 1)[0].startswith(b"HTTP/1.1 200")
        sock.sendall(REQUEST * 3)  # pipelined
        assert [a[:12] for a in _answers(sock, 3)] == [b"HTTP/1.1 200"] * 3


def test_a_client_that_closes_after_its_request_is_answered_and_let_go(
    server: tuple[str, int],
) -> None:
    with socket.create_connection(server, timeout=10) as sock:
        sock.sendall(REQUEST)
        assert _answers(sock, 1)[0].startswith(b"HTTP/1.1 200")
    # the worker is free for the next client at once
    with socket.create_connection(server, timeout=10) as sock:
        sock.sendall(REQUEST.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        answer = _answers(sock, 1)[0]
        assert answer.startswith(b"HTTP/1.1 200") and sock.recv(1) == b""
