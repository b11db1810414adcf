"""``simattest idms``: identity management on the storage directly — the IdMS's
registered OpenID Connect clients and its sign-ins (``server.cli.idms_clients``)."""

from __future__ import annotations

from typing import Any

from server.cli import idms_clients


def register(subparsers: Any) -> None:
    idms = subparsers.add_parser("idms", help="identity management: OpenID Connect clients, "
                                              "sign-ins (direct storage)")
    idms_sub = idms.add_subparsers(dest="idms_command", required=True, metavar="COMMAND")
    idms_clients.add_commands(idms_sub)
