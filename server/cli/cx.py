"""``simattest cx serve|status``: the IdM as the MCPTT domain's Cx server (TS 29.228/
29.229) for the S-CSCF, configured in the configuration file's ``[cx]`` section
(docs/ims.md)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from typing import Any

from attest.errors import InputError
from server.cli.hexarg import OneLineErrorParser
from server.cli.output import add_json_flag, print_fields, print_json, print_table
from server.cli.stopsignals import stop_on_sigint_or_sigterm
from server.cli.storeargs import add_store_args, load_settings, open_service, service_config
from server.core.metricsdir import shared_metrics_dir


def register(subparsers: Any) -> None:
    cx = subparsers.add_parser(
        "cx", help="the Cx peer that answers the S-CSCF for IMPI2/IMPU2 (IMS AKA vectors)",
        description="The identity management server as the Diameter Cx server of the "
                    "MCPTT domain: IMS AKA vectors for the MCPTT-specific private "
                    "identities from the pooled cards' keys, their registration state, "
                    "and registration termination when identities end. Configured in the "
                    "[cx] section of the configuration file.")
    commands = cx.add_subparsers(dest="cx_command", required=True, metavar="COMMAND",
                                 parser_class=OneLineErrorParser)
    serve = commands.add_parser(
        "serve", help="run the Cx peer until SIGTERM or Ctrl-C",
        description="Listen for the configured S-CSCF/I-CSCF peers ([cx] listen, [cx] "
                    "peers) and answer MAR and SAR; send RTR when identities end.")
    add_store_args(serve)
    serve.add_argument("--status-bind", metavar="HOST:PORT",
                       help="also serve GET /metrics (Prometheus) and GET /status (peers, "
                            "JSON) here, for operators and 'cx status'")
    serve.add_argument("--processes", type=int, default=1, metavar="N",
                       help="run N peer processes on the one listening address "
                            "(SO_REUSEPORT; the kernel spreads the S-CSCF connections "
                            "over them); a peer process that dies is started again, "
                            "and the status listener reports them all (default 1)")
    serve.set_defaults(func=_serve)
    status = commands.add_parser(
        "status", help="configured peers, whether they are connected, registrations",
        description="The [cx] peers with their connection state (asked of a running "
                    "'cx serve --status-bind'), and the registration counts in the "
                    "database.")
    add_store_args(status)
    status.add_argument("--server", metavar="URL",
                        help="the running peer's status listener, e.g. "
                             "http://127.0.0.1:9468 (without it: no live peer state)")
    add_json_flag(status)
    status.set_defaults(func=_status)


def _bind(text: str, option: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"{option}: expected HOST:PORT, got {text!r}")
    return host, int(port)


def _cx_config(args: argparse.Namespace) -> Any:
    from server.ims.config import cx_config

    config = load_settings(args)
    where = f"configuration file {args.config_path}: cx" if args.config_path else "[cx]"
    return cx_config(config.cx, service_config(args).ind_slot, where)


def _serve(args: argparse.Namespace) -> int:
    cfg = _cx_config(args)
    status_bind = _bind(args.status_bind, "--status-bind") if args.status_bind else None
    if args.processes < 1:
        raise InputError(f"--processes: expected 1 or more, got {args.processes}")
    stop_on_sigint_or_sigterm()
    sys.stdout.flush()
    if args.processes == 1:
        return _run_peer(args, cfg, status_bind, reuse_port=False)
    # The processes add up their metrics (set before the Cx stack is imported: each peer
    # imports it after the fork, this process in _supervise).
    with shared_metrics_dir("simattest-cx-metrics-"):
        return _supervise(args, cfg, status_bind)


def _supervise(args: argparse.Namespace, cfg: Any,
               status_bind: tuple[str, int] | None) -> int:
    """``--processes N``: this process starts N peer processes on the one address, serves
    the status listener for all of them, and starts a peer again when one dies.

    Peers are forked while this process has no thread, no socket and no database
    connection of its own (each peer opens its own; the SQN reservation and the audit
    chain are safe across processes, docs/ims.md); the status listener's thread and
    socket exist only in this process, which is why it does not serve Cx itself."""
    peers = {_fork_peer(args, cfg): time.monotonic() for _ in range(args.processes)}
    _say_listening(cfg, args.processes)
    status = None
    if status_bind is not None:
        status = _status_listener(cfg, status_bind)
    try:
        while True:
            pid, code = os.wait()
            started = peers.pop(pid, None)
            if started is None:
                continue
            _forget(pid)
            print(f"cx serve: peer process {pid} ended ({_how(code)}); starting another",
                  file=sys.stderr, flush=True)
            if time.monotonic() - started < _RESTART_PAUSE:
                time.sleep(_RESTART_PAUSE)  # one that fails at start is not forked in a loop
            if status is not None:  # the new peer must hold neither its thread nor socket
                status.shutdown()
                status.server_close()
            peers[_fork_peer(args, cfg)] = time.monotonic()
            if status_bind is not None:
                status = _status_listener(cfg, status_bind)
    except KeyboardInterrupt:
        pass
    finally:
        for pid in peers:
            with contextlib.suppress(ProcessLookupError):  # it stopped on the Ctrl-C
                os.kill(pid, signal.SIGTERM)
        for pid in peers:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    return 0


# A peer that ends sooner than this after its start is started again only after this.
_RESTART_PAUSE = 1.0


def _say_listening(cfg: Any, processes: int) -> None:
    print(f"Cx peer {cfg.origin_host} listening on {cfg.listen_host}:{cfg.listen_port} "
          f"({processes} process(es))", flush=True)


def _how(code: int) -> str:
    if os.WIFSIGNALED(code):
        return f"killed by signal {os.WTERMSIG(code)}"
    return f"exit code {os.waitstatus_to_exitcode(code)}"


def _fork_peer(args: argparse.Namespace, cfg: Any) -> int:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _run_peer(args, cfg, None, reuse_port=True)
        except Exception as exc:  # os._exit below would drop the traceback unseen
            print(f"cx serve: peer process {os.getpid()} stopped: {exc}",
                  file=sys.stderr, flush=True)
        finally:
            os._exit(code)
    return pid


def _forget(pid: int) -> None:
    """A dead peer's live gauges (connections) no longer count."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


def _status_listener(cfg: Any, bind: tuple[str, int]) -> Any:
    """The status listener of all peer processes, in this process (``close()`` stops it
    and frees its socket)."""
    from server.ims.cx import serve_status, shared_peers

    return serve_status(*bind, lambda: shared_peers(cfg))


def _run_peer(args: argparse.Namespace, cfg: Any, status_bind: tuple[str, int] | None, *,
              reuse_port: bool) -> int:
    from server.ims.cx import CxServer

    with open_service(args, create=False) as svc:
        server = CxServer(svc, cfg, reuse_port=reuse_port)
        server.start()
        if status_bind is not None:
            server.serve_status(*status_bind)
        if not reuse_port:
            _say_listening(cfg, 1)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
    return 0


def _live_peers(url: str) -> dict[str, Any]:
    import requests

    if not url.startswith(("http://", "https://")):
        raise InputError(f"--server: expected an http:// or https:// URL, got {url!r}")
    try:
        reply = requests.get(url.rstrip("/") + "/status", timeout=5)
        reply.raise_for_status()
        return dict(reply.json())
    except (requests.RequestException, ValueError) as exc:
        raise InputError(f"--server {url}: no status from the Cx peer ({exc})") from None


def _status(args: argparse.Namespace) -> int:
    from server.ims.hss import registration_counts

    cfg = _cx_config(args)
    live = _live_peers(args.server) if args.server else None
    with open_service(args, create=False) as svc:
        counts = registration_counts(svc)
    connected = {p["origin_host"]: p for p in live["peers"]} if live else {}
    peers = [{"origin_host": p.origin_host, "addresses": sorted(p.addresses),
              "connected": connected.get(p.origin_host, {}).get("connected")
              if live else None} for p in cfg.peers]
    if args.json:
        print_json({"origin_host": cfg.origin_host, "origin_realm": cfg.origin_realm,
                    "listen": f"{cfg.listen_host}:{cfg.listen_port}", "peers": peers,
                    "registrations": counts, "requests": live["requests"] if live else None})
        return 0
    print_fields([("origin host", cfg.origin_host), ("realm", cfg.origin_realm),
                  ("listen", f"{cfg.listen_host}:{cfg.listen_port}"),
                  ("registered IMPUs", counts.get("registered", 0)),
                  ("unregistered IMPUs", counts.get("unregistered", 0))], title="Cx peer")
    print_table(["peer", "addresses", "connected"],
                [[p["origin_host"], ", ".join(p["addresses"]),
                  "unknown" if p["connected"] is None else ("yes" if p["connected"] else "no")]
                 for p in peers])
    if live:
        print_table(["command", "result", "count"],
                    [[r["command"], r["result"], r["count"]] for r in live["requests"]])
    return 0
