"""``simattest admin token create``: bootstrap operator tokens on the storage directly."""

from __future__ import annotations

import argparse
from typing import Any

from server.cli.output import add_json_flag, print_json
from server.cli.storeargs import add_store_args, open_service
from server.roles import ROLES


def register(subparsers: Any) -> None:
    admin = subparsers.add_parser("admin", help="operator administration (direct storage)")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True, metavar="COMMAND")
    token = admin_sub.add_parser("token", help="API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    create = token_sub.add_parser(
        "create", help="create an operator token (printed once; only its hash is stored)",
        description="Works on the data directory / database directly, so the first admin "
                    "token can be made before any token exists.")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--label", default="", help="who holds it (shown in the audit log)")
    add_store_args(create)
    add_json_flag(create)
    create.set_defaults(func=_create)


def _create(args: argparse.Namespace) -> int:
    from server import operators  # the storage stack, only when the command runs

    with open_service(args, create=True) as svc:
        token = operators.create_token(svc, args.role, args.label, actor="cli:admin")
    if args.json:
        print_json({"role": args.role, "label": args.label, "token": token})
    else:
        print(token)
    return 0
