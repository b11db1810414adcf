"""``simattest serve`` options the benchmark relies on, against a real gunicorn process:
rate limits from the command line, and ``/metrics`` adding up every worker's samples."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from server.cli.main import main
from server.identifiers import luhn_digit
from tests.fixtures_db import free_port

IMEI_BODY = "35693803000042"
IMEI = IMEI_BODY + luhn_digit(IMEI_BODY)


@pytest.fixture
def limited_server(tmp_path: Path) -> Iterator[str]:
    """Two single-threaded workers on SQLite, at most 2 device requests a minute per IMEI."""
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli.main", "serve", "--data", str(tmp_path / "data"),
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "1",
         "--rate-limit-per-imei", "2", "--rate-limit-per-client", "0"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(url + "/healthz", timeout=10).status_code == 200:
                    break
            except requests.RequestException:  # not up yet
                pass
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def test_rate_limit_option_applies_across_workers_and_metrics_add_up(
    limited_server: str,
) -> None:
    # A fresh connection per request, so the kernel spreads them over both workers.
    answers = [requests.post(limited_server + "/v1/attestations", json={"imei": IMEI},
                             headers={"Connection": "close"}, timeout=10)
               for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].headers["Content-Type"] == "application/problem+json"
    assert int(answers[2].headers["Retry-After"]) > 0
    # Whichever worker answers /metrics, it reports the refusal (all workers' samples).
    for _ in range(4):
        text = requests.get(limited_server + "/metrics", timeout=10,
                            headers={"Connection": "close"}).text
        assert 'simattest_rate_limited_total{scope="imei"} 1.0' in text


def test_negative_rate_limit_is_refused_before_anything_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["serve", "--data", str(tmp_path / "data"), "--rate-limit-per-imei", "-1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--rate-limit-per-imei" in err
    assert "Traceback" not in err
    assert not (tmp_path / "data").exists()
