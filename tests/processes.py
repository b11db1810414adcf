"""Starting the product's own commands as real processes, shared by the tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import requests

from tests.fixtures_db import free_port

SERVE_START_TIMEOUT = 60.0  # a bound against a hang, not a timed assertion


@contextlib.contextmanager
def serve_process(data: Path, log_path: Path, extra: Sequence[str] = (),
                  env: Mapping[str, str] | None = None,
                  global_options: Sequence[str] = (), tls_ca: Path | None = None,
                  verify_health: bool = True) -> Iterator[str]:
    """``simattest [global_options] serve [extra]`` (gunicorn) on 127.0.0.1 and a free
    port; yields its base URL.  ``tls_ca``: ``extra`` makes it serve HTTPS with a
    certificate for ``localhost`` signed by this CA; the URL is ``https://localhost:…``
    (``verify_health=False``: a certificate the health check must not verify).

    Waits until ``/healthz`` answers 200, and stops the whole process group afterwards.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}" if tls_ca is None else f"https://localhost:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli.main", *global_options, "serve", "--data", str(data),
             "--bind", f"127.0.0.1:{port}", *extra],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env=None if env is None else dict(env))
        try:
            deadline = time.monotonic() + SERVE_START_TIMEOUT
            while True:
                try:
                    if requests.get(url + "/healthz", timeout=10,
                                    verify=str(tls_ca) if tls_ca and verify_health
                                    else tls_ca is None).status_code == 200:
                        break
                except requests.RequestException:  # not up yet, or busy starting
                    pass
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.2)
            yield url
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def as_background_job(argv: list[str]) -> list[str]:
    """``argv`` started with SIGINT ignored, as a shell without job control starts a
    background job (``cmd &``); the ignored disposition survives ``exec``. (A shell rather
    than ``preexec_fn``, which is unsafe in a threaded test process.)"""
    return ["sh", "-c", "trap '' INT; exec \"$@\"", "sh", *argv]
