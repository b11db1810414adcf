"""``simattest idms client add|list|remove``: the IdMS's registered OpenID Connect
clients, on the storage directly (as ``idms user``).  ``server.cli.idms`` adds these to
its ``idms`` group; an admin ends a sign-in by ending its identities (``idms`` API and
desk, ``server.idms.desk.end_sign_in``)."""

from __future__ import annotations

import argparse
from typing import Any

from server.cli.output import add_json_flag, print_fields, print_json, print_table
from server.cli.storeargs import add_store_args, open_service

ACTOR = "cli:admin"


def add_commands(idms_sub: Any) -> None:
    client = idms_sub.add_parser("client", help="registered OpenID Connect clients")
    client_sub = client.add_subparsers(dest="client_command", required=True,
                                       metavar="COMMAND")
    add = client_sub.add_parser(
        "add", help="register a client: a native MC client on the handsets, or a service "
                    "client (the MCPTT server's look-up)",
        description="A native client is public (PKCE S256), its tokens bound to the "
                    "handset's device certificate; a service client authenticates with the "
                    "client secret printed once here, or with its TLS client certificate "
                    "(--certificate-sha256).")
    add.add_argument("client_id", metavar="CLIENT_ID",
                     help="the client id (1-64 of A-Z a-z 0-9 . _ ~ -)")
    add.add_argument("--kind", choices=("native", "service"), default="native",
                     help="native: an MC client on the handsets (default); service: the "
                          "MCPTT server")
    add.add_argument("--name", required=True, help="what the login page and lists show")
    add.add_argument("--redirect-uri", action="append", default=[], metavar="URI",
                     help="a native client's redirect URI (repeatable): a private-use "
                          "scheme such as org.example.mcptt:/cb, or http://127.0.0.1/…")
    add.add_argument("--scope", action="append", default=[], metavar="SCOPE",
                     help="a scope the client may ask for (repeatable); default: openid and "
                          "3gpp:mc:ptt_service for a native client, the look-up for a "
                          "service client")
    add.add_argument("--certificate-sha256", metavar="HEX",
                     help="a service client's TLS client certificate (SHA-256 of its DER, "
                          "hex) instead of a secret")
    add_store_args(add)
    add_json_flag(add)
    add.set_defaults(func=_add)

    listing = client_sub.add_parser("list", help="the registered clients (never secrets)")
    add_store_args(listing)
    add_json_flag(listing)
    listing.set_defaults(func=_list)

    remove = client_sub.add_parser(
        "remove", help="remove a client: its codes go, its sign-ins end")
    remove.add_argument("client_id", metavar="CLIENT_ID", help="the client id")
    add_store_args(remove)
    remove.set_defaults(func=_remove)


def _add(args: argparse.Namespace) -> int:
    from server.idms import oidc  # the storage stack, only when the command runs

    scopes = args.scope or (["openid", "3gpp:mc:ptt_service"] if args.kind == "native"
                            else [oidc.LOOKUP_SCOPE])
    with open_service(args, create=False) as svc:
        view, secret = oidc.add_client(svc, args.client_id, args.kind, args.name,
                                       args.redirect_uri, scopes, ACTOR,
                                       certificate_sha256=args.certificate_sha256)
    if args.json:
        print_json(view.to_json() | ({"client_secret": secret} if secret else {}))
        return 0
    print_fields([("client id", view.client_id), ("kind", view.kind),
                  ("redirect URIs", " ".join(view.redirect_uris)),
                  ("scopes", " ".join(view.scopes))], title="client registered")
    if secret:
        print(f"client secret (shown once): {secret}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from server.idms import oidc

    with open_service(args, create=False) as svc:
        found = oidc.list_clients(svc)
    if args.json:
        print_json([c.to_json() for c in found])
    else:
        print_table(("client id", "kind", "name", "scopes", "created"),
                    [(c.client_id, c.kind, c.name, " ".join(c.scopes),
                      f"{c.created_at:%Y-%m-%d %H:%M}") for c in found], title="clients")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from server.idms import oidc

    with open_service(args, create=False) as svc:
        oidc.remove_client(svc, args.client_id, ACTOR)
    print(f"removed client {args.client_id}")
    return 0
