"""``simattest serve``: the service under gunicorn (Flask's dev server only with --debug).

The schema is upgraded once in the master process before workers start; each worker
then opens its own Service (its own connection pool) after the fork.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attest.errors import InputError
from server.cli.storeargs import add_store_args, load_settings, open_service, service_config
from server.core.metricsdir import shared_metrics_dir

if TYPE_CHECKING:
    from server.core.config import ServiceConfig
    from server.core.service import Service



def register(subparsers: Any) -> None:
    serve = subparsers.add_parser("serve", help="run the attestation service (gunicorn)")
    add_store_args(serve)
    serve.add_argument("--create-kek", action="store_true",
                       help="with --kek-file FILE (or its environment variable or config "
                            "kek_file): make FILE (a new random key, mode 0600) if it does "
                            "not exist yet, on the service's first start; an existing FILE "
                            "is used as it is, and a start that fails removes the FILE it "
                            "made")
    serve.add_argument("--bind", metavar="HOST:PORT",
                       help="address to listen on (config server.bind, default "
                            "127.0.0.1:8080, this host only)")
    serve.add_argument("--workers", type=int, metavar="N",
                       help="worker processes (several need --db postgresql+psycopg://… "
                            "to scale; SQLite serialises writes; default 2)")
    serve.add_argument("--threads", type=int, metavar="N",
                       help="threads per worker (1: no GIL contention inside a worker, "
                            "the least CPU per request; more: more requests in flight; default 4)")
    serve.add_argument("--pin-workers", action="store_true",
                       help="keep each worker process on one CPU, workers spread evenly "
                            "over the CPUs this process may use (Linux); for a host that "
                            "runs little else: more attestations/s on a 2-core VM "
                            "(bench/RESULTS.md)")
    serve.add_argument("--rate-limit-per-imei", type=int, default=None, metavar="N",
                       help="device-facing requests per minute per IMEI (0: off; default 30)")
    serve.add_argument("--rate-limit-per-client", type=int, default=None, metavar="N",
                       help="device-facing requests per minute per client address "
                            "(0: off; default 600)")
    serve.add_argument("--trusted-proxy", action="append", metavar="ADDR",
                       help="a reverse proxy (IP address or network, repeatable) whose "
                            "X-Forwarded-For header names the client address that the "
                            "per-client rate limit counts; others' headers are ignored")
    serve.add_argument("--card-verification", choices=("off", "warn", "require"),
                       help="what a checkout asks of the card's 'pool verify' state. warn "
                            "(default): a never-verified card is checked out with a "
                            "warning, a card imported under an unchecked transport key or "
                            "one that failed is refused; require: verified cards only; "
                            "off: never enforced")
    serve.add_argument("--tls-cert", metavar="FILE",
                       help="serve HTTPS (TLS 1.2 or 1.3) with this certificate (PEM, the "
                            "chain after it); the desk's cookies become Secure and its "
                            "pages carry HSTS (docs/operations.md, TLS)")
    serve.add_argument("--tls-key", metavar="FILE", help="the certificate's private key (PEM)")
    serve.add_argument("--client-ca", metavar="FILE",
                       help="ask clients for a certificate signed by this CA (PEM); the "
                            "device endpoints then refuse a request without the handset's "
                            "device certificate (403), the desk and the operator API "
                            "need none")
    serve.add_argument("--attestation-roots", type=Path, metavar="FILE",
                       help="Android key attestation roots (PEM certificates) trusted "
                            "beside Google's, e.g. a handset maker's or the test authority "
                            "of `simattest device attested-sim` (config "
                            "android.attestation_roots)")
    serve.add_argument("--metrics-bind", metavar="HOST:PORT",
                       help="also listen here, for GET /metrics only and without a token "
                            "(for a Prometheus scraper on a management network); on "
                            "--bind, /metrics needs an operator token")
    serve.add_argument("--debug", action="store_true",
                       help="Flask's development server, one process (never in production)")
    serve.set_defaults(func=_serve)


def _listen_address(option: str, bind: str) -> tuple[str, str, str]:
    """HOST:PORT of ``option``, refused in one line unless this host can listen there;
    (host, port, the numeric address the socket will have)."""
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit()):
        raise InputError(f"{option} {bind!r}: expected HOST:PORT")
    if not 1 <= int(port) <= 65535:
        raise InputError(f"{option} {bind!r}: port must be 1 to 65535")
    return host, port, _check_can_listen(f"{option} {bind}", host.strip("[]"), int(port))


def _server_settings(args: argparse.Namespace) -> dict[str, str]:
    """``serve``'s own options not given on the command line, from the configuration
    file's ``[server]`` section, else their defaults.  Returns how an error names each
    setting: its option, or the file's key when the value came from the file."""
    server = load_settings(args).server
    names = {}
    for name in ("bind", "metrics_bind", "workers", "threads", "tls_cert", "tls_key",
                 "client_ca"):
        names[name] = "--" + name.replace("_", "-")
        if getattr(args, name) is None:
            setattr(args, name, getattr(server, name))
            if name in server.model_fields_set:
                names[name] = f"configuration file {args.config_path}: server.{name}"
    if args.trusted_proxy is None:
        args.trusted_proxy = list(server.trusted_proxies)
    return names


def _serve(args: argparse.Namespace) -> int:
    names = _server_settings(args)
    host, port, numeric_main = _listen_address(names["bind"], args.bind)
    args.metrics_listener = None
    if args.metrics_bind is not None:
        if args.debug:
            raise InputError("--metrics-bind: there is no second listener with --debug")
        _mhost, mport, numeric = _listen_address(names["metrics_bind"],
                                                 args.metrics_bind)
        if mport == port and numeric == numeric_main:
            raise InputError("--metrics-bind: give another address than --bind")
        args.metrics_listener = (numeric, int(mport))
    for name in ("workers", "threads"):
        if getattr(args, name) < 1:
            raise InputError(f"{names[name]}: must be at least 1")
    if args.pin_workers and args.debug:
        raise InputError("--pin-workers: there are no workers with --debug (one process)")
    if args.pin_workers and not hasattr(os, "sched_setaffinity"):
        raise InputError("--pin-workers: this operating system cannot pin a process to a CPU")
    if min(args.rate_limit_per_imei or 0, args.rate_limit_per_client or 0) < 0:
        raise InputError("--rate-limit-per-imei/--rate-limit-per-client must be 0 or more")
    _check_tls(args)
    if args.create_kek and args.kek_file is None:
        raise InputError("--create-kek: give --kek-file FILE (or SIMATTEST_KEK_FILE, or "
                         "kek_file in the configuration file) for the key file to make")
    if args.debug:
        return _run(args, host, port)
    # /metrics adds up every worker's samples (set before the service stack is imported).
    with shared_metrics_dir("simattest-metrics-"):
        return _run(args, host, port)


def _check_can_listen(bind: str, host: str, port: int) -> str:
    """Refuse, in one line, an address the server could not listen on (in use, not this
    host's, a privileged port): gunicorn would retry for seconds and log a traceback.
    Returns the numeric host the listening socket will have."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as probe:
            # As gunicorn binds: a port left in TIME_WAIT is free, one with a listener not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except socket.gaierror as exc:
        raise InputError(f"{bind}: unknown host ({exc.strerror})") from None
    except OSError as exc:
        raise InputError(f"{bind}: cannot listen there ({exc.strerror})") from None
    return str(address[0])


def _check_tls(args: argparse.Namespace) -> None:
    if (args.tls_cert is None) != (args.tls_key is None):
        raise InputError("--tls-cert and --tls-key go together")
    if args.client_ca is not None and args.tls_cert is None:
        raise InputError("--client-ca needs --tls-cert and --tls-key (client certificates "
                         "are part of TLS)")
    if args.tls_cert is None:
        return
    if args.debug:
        raise InputError("--tls-cert: not with --debug (Flask's development server)")
    from server.http.tls import check_files

    check_files(args.tls_cert, args.tls_key, args.client_ca)


def _config(args: argparse.Namespace) -> ServiceConfig:
    config = service_config(args)
    return dataclasses.replace(
        config,
        rate_limit_per_imei=config.rate_limit_per_imei if args.rate_limit_per_imei is None
        else args.rate_limit_per_imei,
        rate_limit_per_client=config.rate_limit_per_client if args.rate_limit_per_client is None
        else args.rate_limit_per_client,
        trusted_proxies=tuple(args.trusted_proxy),
        card_verification=args.card_verification or config.card_verification,
        tls=args.tls_cert is not None, device_certificates=args.client_ca is not None,
        metrics_listener=args.metrics_listener,
        attestation_roots=args.attestation_roots or config.attestation_roots)


def _first_open(args: argparse.Namespace, config: ServiceConfig) -> Service:
    """The service, after making the ``--kek-file`` with ``--create-kek`` if it is
    missing; a start that then fails removes it again (a database written under another
    key must not leave a stray key file behind)."""
    made = config.kek_file if args.create_kek and config.kek_file is not None \
        and not config.kek_file.exists() else None
    if made is not None:
        from server.core.datadir import create_kek_file

        create_kek_file(made)
    try:
        return open_service(args, config, create=True)
    except BaseException:
        if made is not None:
            made.unlink(missing_ok=True)
        raise


def _run(args: argparse.Namespace, host: str, port: str) -> int:
    # The service stack is imported here, not at start-up of every simattest command.
    from server.http import jsonlog
    from server.http.app import create_app
    from server.http.gunicorn_app import GunicornService
    from server.http.tls import gunicorn_options
    from server.pool.android import load_roots

    config = _config(args)  # a bad option is refused before logging is set up
    load_roots(config.attestation_roots)  # a bad roots file too, in one line
    jsonlog.configure()
    # Upgrade the schema and settle the keys once, before any worker starts.
    svc = _first_open(args, config)
    if args.debug:
        logging.getLogger("simattest").warning("Flask development server: --debug only")
        create_app(svc).run(host=host, port=int(port), debug=True, use_reloader=False)
        return 0
    svc.close()
    tls = {} if args.tls_cert is None \
        else gunicorn_options(args.tls_cert, args.tls_key, args.client_ca)
    GunicornService(args.data, args.db, config, {
        "bind": [args.bind] + ([] if args.metrics_bind is None else [args.metrics_bind]),
        "workers": args.workers, "threads": args.threads,
        "worker_class": "server.http.gunicorn_app.ProblemWorker",
        "accesslog": None, "errorlog": "-",
        "logger_class": "server.http.gunicorn_app.GunicornLogger",
        "loglevel": "info", "logconfig_dict": jsonlog.dict_config(),
        "timeout": 60, "graceful_timeout": 10,
        # The default control socket path is shared by every gunicorn of this user.
        "control_socket_disable": True,
        **tls,
    }, pin_workers=args.pin_workers).run()
    return 0
