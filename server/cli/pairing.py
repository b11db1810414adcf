"""``simattest pair`` / ``simattest unpair``: handset ↔ card pairings over HTTP."""

from __future__ import annotations

import argparse
from typing import Any

from server.agent.client import add_server_options, client_from_args
from server.cli.hexarg import digits
from server.cli.output import add_json_flag, print_fields, print_json


def register(subparsers: Any) -> None:
    pair = subparsers.add_parser("pair", help="pair a handset with a pooled card")
    pair.add_argument("--imei", required=True, help="the handset's IMEI")
    pair.add_argument("--iccid", required=True, help="the pooled card's ICCID")
    add_server_options(pair, token=True)
    add_json_flag(pair)
    pair.set_defaults(func=_pair)

    unpair = subparsers.add_parser("unpair", help="end a handset's active pairing")
    unpair.add_argument("--imei", required=True, type=digits("--imei"),
                        help="the handset's IMEI")
    add_server_options(unpair, token=True)
    add_json_flag(unpair)
    unpair.set_defaults(func=_unpair)


def _show(args: argparse.Namespace, pairing: dict[str, Any], title: str) -> int:
    if args.json:
        print_json(pairing)
    else:
        print_fields([(k, pairing[k]) for k in ("imei", "iccid", "created_at", "ended_at")],
                     title=title)
    return 0


def _pair(args: argparse.Namespace) -> int:
    pairing = client_from_args(args).request(
        "POST", "/v1/pairings", {"imei": args.imei, "iccid": args.iccid})
    return _show(args, pairing, "paired")


def _unpair(args: argparse.Namespace) -> int:
    pairing = client_from_args(args).request("DELETE", f"/v1/handsets/{args.imei}/pairing")
    return _show(args, pairing, "unpaired")
