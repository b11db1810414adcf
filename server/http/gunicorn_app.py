"""The service under gunicorn's Python API (``simattest serve``).

Each worker opens its own :class:`~server.core.service.Service` (its own connection pool)
after the fork.  The workers are gunicorn's gthread workers whose own refusals — a
request gunicorn cannot parse before the app sees it: a request line past
``limit_request_line`` (414), too many or too large header fields (431), a malformed
request line, header or chunk (400), an unsupported transfer coding (501) — answer
problem+json like every answer of the app, not gunicorn's HTML page (``ProblemWorker``).
"""

from __future__ import annotations

import gc
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from gunicorn.workers.gthread import ThreadWorker

from server.core.config import ServiceConfig
from server.core.service import Service
from server.http import jsonlog
from server.http.api.problems import MEDIA_TYPE, for_status
from server.http.app import create_app

# gunicorn's message can quote the request line or a header name: at most this much of
# it, printable ASCII only, goes into the answer's detail.
MAX_DETAIL_CHARS = 200


class GunicornLogger(Logger):
    """gunicorn's logger without its access log: the app writes one JSON line per request
    itself (``server.http.app``, ``server.http.api.device``).  gunicorn formats its access-log
    fields whenever a logging config is given, whether the line is then dropped or not,
    which cost a share of a worker's CPU under load worth saving
    (bench/journal/2026-11-22-1620-attestation-hot-path.md)."""

    def access(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def problem_answer(status: int, reason: str, message: str) -> bytes:
    """The whole HTTP/1.1 answer (closing the connection) for one of gunicorn's own
    refusals: ``status``, ``reason`` and ``message`` as gunicorn gives them."""
    detail = "".join(c if c.isascii() and c.isprintable() else "?" for c in message)
    problem = for_status(status, reason, detail[:MAX_DETAIL_CHARS])
    if status == 403:  # a TLS or PROXY-protocol refusal, not a role's
        problem.title = reason
    body = orjson.dumps(problem.to_json())
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: {MEDIA_TYPE}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


def _write_problem(sock: Any, status: int, reason: str, message: str) -> None:
    util.write_nonblock(sock, problem_answer(status, reason, message))


class ProblemWorker(ThreadWorker):
    """gunicorn's gthread worker answering its own refusals with problem+json."""

    def init_process(self) -> None:
        # gunicorn's workers write these answers through ``gunicorn.util.write_error``,
        # looked up at each call: ours in this worker process, whatever its thread.
        util.write_error = _write_problem
        super().init_process()


def least_used_cpu(allowed: Iterable[int], taken: Iterable[int]) -> int:
    """Of the ``allowed`` CPUs, the one with the fewest workers already on it (``taken``:
    one entry per live worker), the lowest-numbered of equals."""
    load = Counter(taken)
    return min(sorted(allowed), key=lambda cpu: load[cpu])


class WorkerPlacement:
    """``simattest serve --pin-workers``: each worker process on one CPU of its own.

    Why: a worker hands each request from its poller thread to a pool thread and back,
    and its threads pass the GIL to one another at every socket and database wait; on
    one core each hand-off is a plain switch, across cores a cross-CPU wake-up, which
    costs most on a virtual machine (measured on the benchmarks' 2-core VM:
    bench/journal/2026-11-23-0337-pinned-workers.md).  The CPU is chosen in the
    master before the fork (``pre_fork``), among the CPUs the master may run on
    (``os.sched_getaffinity``, so a cpuset or ``taskset`` is respected), the least used by
    the live workers: a worker that replaces a dead one takes the CPU it left.
    """

    _ATTR = "simattest_cpu"

    def __init__(self) -> None:
        self.allowed = sorted(os.sched_getaffinity(0))

    def pre_fork(self, server: Any, worker: Any) -> None:
        taken = (getattr(w, self._ATTR) for w in server.WORKERS.values()
                 if hasattr(w, self._ATTR))
        setattr(worker, self._ATTR, least_used_cpu(self.allowed, taken))

    def post_fork(self, server: Any, worker: Any) -> None:
        cpu = getattr(worker, self._ATTR)
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError as exc:  # e.g. the CPU went offline: serve unpinned
            server.log.warning("worker %s not pinned to CPU %d: %s",
                               worker.pid, cpu, exc.strerror)
            return
        server.log.info("worker %s pinned to CPU %d", worker.pid, cpu)


class GunicornService(BaseApplication):
    """gunicorn with the options given, loading the Flask app in each worker;
    ``pin_workers``: each worker on one CPU (``WorkerPlacement``)."""

    def __init__(self, data: Path, db: str | None, config: ServiceConfig,
                 options: dict[str, Any], *, pin_workers: bool = False) -> None:
        self.data, self.db, self.config, self.options = data, db, config, options
        self.pin_workers = pin_workers
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        if self.pin_workers:
            placement = WorkerPlacement()
            self.cfg.set("pre_fork", placement.pre_fork)
            self.cfg.set("post_fork", placement.post_fork)

    def load(self) -> Any:
        # Runs in each worker after the fork.
        jsonlog.configure()
        app = create_app(Service.open(self.data, self.db, self.config))
        # Everything loaded so far lives as long as the worker: the cyclic garbage
        # collector need not walk it again on every collection (``gc.freeze``).
        gc.freeze()
        return app
