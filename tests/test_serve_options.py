"""``simattest serve`` options the benchmark relies on, against a real gunicorn process:
rate limits from the command line, ``/metrics`` adding up every worker's samples, and
workers pinned to CPUs; and extra card profiles (``simattest --profiles DIR serve``)
reaching the workers."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from attest import devicekey
from server.agent.checkout import challenge_request
from server.cli.main import main
from server.core import operators
from server.core.identifiers import luhn_digit
from server.core.service import Service
from server.demo.batchgen import csv_text, synth_cards
from server.http.gunicorn_app import least_used_cpu
from server.pool import registry
from tests.fixtures_db import free_port
from tests.processes import serve_process
from tests.test_profiles import MINIMAL

IMEI_BODY = "35693803000042"
IMEI = IMEI_BODY + luhn_digit(IMEI_BODY)


@dataclass
class LimitedServer:
    url: str
    metrics_url: str  # the --metrics-bind listener
    handset: devicekey.DeviceSigner  # the key registered for IMEI


@pytest.fixture
def limited_server(tmp_path: Path) -> Iterator[LimitedServer]:
    """Two single-threaded workers on SQLite, at most 2 device requests a minute per IMEI,
    metrics on an address of their own; IMEI registered."""
    key = devicekey.generate()
    with Service.open(tmp_path / "data") as svc:
        registry.add_handset(svc, IMEI, key.public_pem().decode(), actor="test")
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    metrics = f"127.0.0.1:{free_port()}"
    with serve_process(tmp_path / "data", tmp_path / "serve.log",
                       ["--workers", "2", "--threads", "1", "--rate-limit-per-imei", "2",
                        "--rate-limit-per-client", "0", "--metrics-bind", metrics],
                       env=env) as url:
        yield LimitedServer(url, f"http://{metrics}", key)


def test_rate_limit_option_applies_across_workers_and_metrics_add_up(
    limited_server: LimitedServer,
) -> None:
    # A fresh connection per request, so the kernel spreads them over both workers.
    answers = [requests.post(limited_server.url + "/v1/attestations",
                             json=challenge_request(limited_server.handset, IMEI),
                             headers={"Connection": "close"}, timeout=10)
               for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].headers["Content-Type"] == "application/problem+json"
    assert int(answers[2].headers["Retry-After"]) > 0
    # Whichever worker answers /metrics, it reports the refusal (all workers' samples):
    # on the metrics address without a token; on the service's only with one.
    for _ in range(4):
        text = requests.get(limited_server.metrics_url + "/metrics", timeout=10,
                            headers={"Connection": "close"}).text
        assert 'simattest_rate_limited_total{scope="imei"} 1.0' in text
    assert requests.get(limited_server.url + "/metrics", timeout=10).status_code == 401
    # The metrics address serves nothing else.
    assert requests.get(limited_server.metrics_url + "/healthz", timeout=10).status_code == 404
    assert requests.post(limited_server.metrics_url + "/v1/attestations", timeout=10,
                         json=challenge_request(limited_server.handset, IMEI)
                         ).status_code == 404


def _raw_answer(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as it is on a new connection; the answer's status, headers
    (lower-case names) and body, read until the server closes."""
    host, _, port = url.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip()
               for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split(" ")[1]), headers, body


@pytest.mark.parametrize("request_bytes, status, slug", [
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414,
     "request-line-too-long"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431,
     "header-fields-too-large"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-A: 1\r\n" * 120 + b"\r\n", 431,
     "header-fields-too-large"),
    (b"G\x01T /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed-request"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400, "malformed-request"),
    (b"POST /v1/attestations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br, chunked\r\n\r\n", 501,
     "not-implemented"),
])
def test_requests_gunicorn_refuses_itself_answer_problem_json(
    limited_server: LimitedServer, request_bytes: bytes, status: int, slug: str,
) -> None:
    # Refused by gunicorn's HTTP parser, before the app: still problem+json, not HTML.
    code, headers, body = _raw_answer(limited_server.url, request_bytes)
    assert code == status
    assert headers["content-type"] == "application/problem+json"
    assert int(headers["content-length"]) == len(body)
    problem = json.loads(body)
    assert problem["status"] == status
    assert problem["type"] == "https://simattest.dev/problems/" + slug
    assert problem["detail"].isascii() and problem["detail"].isprintable()
    # The service still answers afterwards.
    assert requests.get(limited_server.url + "/healthz", timeout=10).ok


def test_negative_rate_limit_is_refused_before_anything_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["serve", "--data", str(tmp_path / "data"), "--rate-limit-per-imei", "-1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--rate-limit-per-imei" in err
    assert "Traceback" not in err
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("bind, message", [
    ("127.0.0.1:99999", "port must be 1 to 65535"),
    ("127.0.0.1:0", "port must be 1 to 65535"),
    ("127.0.0.1", "expected HOST:PORT"),
])
def test_a_bad_bind_address_is_refused_before_anything_starts(
    tmp_path: Path, bind: str, message: str, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve", "--data", str(tmp_path / "data"), "--bind", bind]) == 2
    assert capsys.readouterr().err == f"simattest: --bind {bind!r}: {message}\n"
    assert not (tmp_path / "data").exists()


def test_pin_workers_with_debug_is_refused_before_anything_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve", "--data", str(tmp_path / "data"), "--debug", "--pin-workers"]) == 2
    assert capsys.readouterr().err == \
        "simattest: --pin-workers: there are no workers with --debug (one process)\n"
    assert not (tmp_path / "data").exists()


def test_an_address_it_cannot_listen_on_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        assert main(["serve", "--data", str(tmp_path / "data"), "--bind", bind]) == 2
    assert capsys.readouterr().err == \
        f"simattest: --bind {bind}: cannot listen there (Address already in use)\n"
    # 192.0.2.1 (TEST-NET-1, RFC 5737) is no address of this host.
    assert main(["serve", "--data", str(tmp_path / "data"), "--bind", "192.0.2.1:8080"]) == 2
    assert "cannot listen there (Cannot assign requested address)" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_extra_profiles_reach_the_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "test-ps.yaml").write_text(MINIMAL)
    data = tmp_path / "data"
    with Service.open(data) as svc:
        token = operators.create_token(svc, "provisioner", "profiles test")
    # A vendor batch naming the extra profile, imported through the gunicorn workers.
    (card,) = synth_cards(1, iccid_prefix="8900101")
    lines = csv_text([card]).splitlines()
    batch = tmp_path / "batch.csv"
    batch.write_text(f"{lines[0]},PROFILE\n{lines[1]},test-ps\n")
    monkeypatch.setenv("SIMATTEST_TOKEN", token)
    monkeypatch.delenv("SIMATTEST_PROFILES", raising=False)
    with serve_process(data, tmp_path / "serve.log", ["--workers", "2"],
                       global_options=["--profiles", str(profiles)]) as url:
        monkeypatch.setenv("SIMATTEST_SERVER", url)
        assert main(["pool", "import", str(batch), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["imported"] == 1
    with serve_process(data, tmp_path / "serve2.log", ["--workers", "2"]) as url:
        monkeypatch.setenv("SIMATTEST_SERVER", url)
        assert main(["pool", "import", str(batch), "--json"]) == 2
        assert "unknown profile" in capsys.readouterr().out


def test_a_missing_profile_directory_is_refused_before_anything_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    missing = tmp_path / "nowhere"
    assert main(["--profiles", str(missing), "serve", "--data", str(tmp_path / "data")]) == 2
    assert capsys.readouterr().err == f"simattest: profile directory {missing} does not exist\n"
    assert not (tmp_path / "data").exists()


def test_least_used_cpu_fills_empty_cpus_first_and_the_lowest_of_equals() -> None:
    assert least_used_cpu([0, 1], []) == 0
    assert least_used_cpu([0, 1], [0]) == 1
    assert least_used_cpu([3, 1, 2], [1, 2]) == 3
    assert least_used_cpu([0, 1], [0, 1, 0]) == 1  # more workers than CPUs: spread
    assert least_used_cpu([5], [5, 5]) == 5


def _pinned(log: Path, count: int) -> list[tuple[int, int]]:
    """(worker pid, CPU) of the first ``count`` workers that logged their pinning."""
    deadline = time.monotonic() + 30
    while True:
        found = [(int(pid), int(cpu)) for pid, cpu in
                 re.findall(r"worker (\d+) pinned to CPU (\d+)", log.read_text())]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def test_pin_workers_puts_each_worker_on_its_own_cpu_and_a_replacement_on_the_freed_one(
    tmp_path: Path,
) -> None:
    allowed = sorted(os.sched_getaffinity(0))
    workers = min(len(allowed), 2)
    log = tmp_path / "serve.log"
    with serve_process(tmp_path / "data", log,
                       ["--workers", str(workers), "--threads", "1", "--pin-workers"]) as url:
        first = _pinned(log, workers)
        # The kernel's view, not just the log line: each worker may run on its CPU only.
        for pid, cpu in first:
            assert os.sched_getaffinity(pid) == {cpu}
        assert sorted(cpu for _pid, cpu in first) == allowed[:workers]
        victim, freed = first[-1]
        os.kill(victim, signal.SIGKILL)  # gunicorn's master starts a replacement
        replacement, cpu = _pinned(log, workers + 1)[-1]
        assert replacement != victim
        assert cpu == freed
        assert os.sched_getaffinity(replacement) == {freed}
        assert requests.get(url + "/healthz", timeout=10).status_code == 200


def test_card_verification_policy_option_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--card-verification", "sometimes"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--card-verification" in err and "off, warn, require" in err.replace("'", "")
