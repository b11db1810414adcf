"""``simattest serve``: the service under gunicorn (Flask's dev server only with --debug).

The schema is upgraded once in the master process before workers start; each worker
then opens its own Service (its own connection pool) after the fork.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from attest.errors import InputError
from server.cli.storeargs import add_store_args, open_service, service_config


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser("serve", help="run the attestation service (gunicorn)")
    add_store_args(serve)
    serve.add_argument("--bind", default="127.0.0.1:8080", metavar="HOST:PORT")
    serve.add_argument("--workers", type=int, default=2, metavar="N",
                       help="worker processes (several need --db postgresql+psycopg://… "
                            "to scale; SQLite serialises writes)")
    serve.add_argument("--threads", type=int, default=4, metavar="N",
                       help="threads per worker")
    serve.add_argument("--debug", action="store_true",
                       help="Flask's development server, one process (never in production)")
    serve.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    host, sep, port = args.bind.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise InputError(f"--bind {args.bind!r}: expected HOST:PORT")
    if args.workers < 1 or args.threads < 1:
        raise InputError("--workers and --threads must be at least 1")
    # The service stack is imported here, not at start-up of every simattest command.
    from server import jsonlog
    from server.app import create_app
    from server.gunicorn_app import GunicornService

    jsonlog.configure()
    # Upgrade the schema and settle the keys once, before any worker starts.
    svc = open_service(args)
    if args.debug:
        logging.getLogger("simattest").warning("Flask development server: --debug only")
        create_app(svc).run(host=host, port=int(port), debug=True, use_reloader=False)
        return 0
    svc.close()
    GunicornService(args.data, args.db, service_config(args), {
        "bind": args.bind, "workers": args.workers, "threads": args.threads,
        "worker_class": "gthread", "accesslog": None, "errorlog": "-",
        "loglevel": "info", "logconfig_dict": jsonlog.dict_config(),
        "timeout": 60, "graceful_timeout": 10,
        # The default control socket path is shared by every gunicorn of this user.
        "control_socket_disable": True,
    }).run()
    return 0
