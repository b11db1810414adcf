"""``simattest admin token create|list|revoke``: operator tokens on the storage directly
(the first admin token is made before any token exists)."""

from __future__ import annotations

import argparse
from typing import Any

from server.cli.output import add_json_flag, print_json, print_table
from server.cli.storeargs import add_store_args, open_service
from server.core.roles import ROLES


def register(subparsers: Any) -> None:
    admin = subparsers.add_parser("admin", help="operator administration (direct storage)")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True, metavar="COMMAND")
    token = admin_sub.add_parser("token", help="API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    create = token_sub.add_parser(
        "create", help="create an operator token (printed once; only its hash is stored)",
        description="Works on the data directory / database directly, so the first admin "
                    "token can be made before any token exists.")
    create.add_argument("--role", required=True, choices=ROLES,
                        help="admin: everything; provisioner: pool, handsets, pairings; "
                             "desk: checkouts, attestations, alerts")
    create.add_argument("--label", default="", help="who holds it (shown in the audit log)")
    add_store_args(create)
    add_json_flag(create)
    create.set_defaults(func=_create)
    listing = token_sub.add_parser("list", help="token holders: id, role, label, when created "
                                               "(never the tokens)")
    listing.add_argument("--all", action="store_true", help="also the revoked ones")
    add_store_args(listing)
    add_json_flag(listing)
    listing.set_defaults(func=_list)
    revoke = token_sub.add_parser(
        "revoke", help="revoke a token by its id (from 'admin token list'): refused from the "
                       "next request on, its desk sessions end")
    revoke.add_argument("id", type=int, metavar="ID", help="the token's id")
    add_store_args(revoke)
    revoke.set_defaults(func=_revoke)


def _create(args: argparse.Namespace) -> int:
    from server.core import operators  # the storage stack, only when the command runs

    with open_service(args, create=True) as svc:
        token = operators.create_token(svc, args.role, args.label, actor="cli:admin")
    if args.json:
        print_json({"role": args.role, "label": args.label, "token": token})
    else:
        print(token)
    return 0


def _list(args: argparse.Namespace) -> int:
    from server.core import operators

    with open_service(args, create=False) as svc:
        found = operators.list_operators(svc, include_revoked=args.all)
    if args.json:
        print_json([o.to_json() for o in found])
    else:
        print_table(("id", "role", "label", "created", "revoked"),
                    [(o.id, o.role, o.label, f"{o.created_at:%Y-%m-%d %H:%M}",
                      o.revoked_at and f"{o.revoked_at:%Y-%m-%d %H:%M}") for o in found],
                    title="operator tokens")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from server.core import operators

    with open_service(args, create=False) as svc:
        operators.revoke(svc, args.id, actor="cli:admin")
    print(f"revoked operator {args.id}")
    return 0
