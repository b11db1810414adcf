"""``simattest desk checkout|return``: the checkout desk over the HTTP API.

``checkout --attestation ID --user U`` hands the attested handset to a user (only from
an affirming, fresh attestation); ``--imei IMEI`` instead takes the handset's newest
attestation, as the desk page does when the IMEI is scanned; ``return ID`` (or
``return --imei IMEI``, the handset's open checkout) takes it back; ``lost --imei IMEI``
reports a handset lost or stolen (no checkout until ``found --imei IMEI`` clears it).
Needs a desk token.
"""

from __future__ import annotations

import argparse

from attest.errors import InputError
from server.agent.client import add_server_options, client_from_args
from server.cli.hexarg import digits
from server.cli.output import add_json_flag, print_fields, print_json


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("desk", help="check handsets out and back in (desk role)")
    sub = parser.add_subparsers(dest="desk_command", required=True, metavar="COMMAND")
    out = sub.add_parser("checkout", help="check a handset out from an affirming attestation")
    which = out.add_mutually_exclusive_group(required=True)
    which.add_argument("--attestation", metavar="ID",
                       help="the attestation id the device agent printed")
    which.add_argument("--imei", type=digits("--imei"), help="the handset: its newest attestation")
    out.add_argument("--user", required=True,
                     help="who takes the handset (with identity management enabled: "
                          "the MC ID of an MC user of the directory)")
    back = sub.add_parser("return", help="a checked-out handset came back")
    returned = back.add_mutually_exclusive_group(required=True)
    returned.add_argument("checkout_id", type=int, metavar="ID", nargs="?",
                          help="the checkout id (from `checkouts list --open`)")
    returned.add_argument("--imei", type=digits("--imei"),
                          help="the handset that came back: its open checkout")
    lost = sub.add_parser("lost", help="report a handset lost or stolen: no checkout until "
                                       "cleared, its MC identities end now")
    found = sub.add_parser("found", help="clear a handset's lost/stolen report")
    for p in (lost, found):
        p.add_argument("--imei", required=True, type=digits("--imei"), help="the handset")
        p.add_argument("--note", default="", help="what is known (kept in the audit log)")
    for p in (out, back, lost, found):
        add_server_options(p, token=True)
        add_json_flag(p)
    out.set_defaults(func=_checkout)
    back.set_defaults(func=_return)
    lost.set_defaults(func=_lost, path="lost", title="reported lost")
    found.set_defaults(func=_lost, path="found", title="lost report cleared")


def _show(view: dict[str, object], json: bool, title: str) -> int:
    if json:
        print_json(view)
    else:
        warnings = view.get("warnings") or []
        print_fields([(k, v) for k, v in view.items() if v is not None and k != "warnings"],
                     title=title)
        for warning in warnings if isinstance(warnings, list) else []:
            print(f"warning: {warning}")
    return 0


def _checkout(args: argparse.Namespace) -> int:
    client = client_from_args(args)
    attestation_id = args.attestation
    if attestation_id is None:
        attestation_id = client.request("GET", f"/v1/handsets/{args.imei}/attestation")["id"]
    # The service applies the rules either way: affirming, fresh, still paired, not out.
    view = client.post("/v1/checkouts", {"attestation_id": attestation_id, "user": args.user})
    return _show(view, args.json, "checked out")


def _return(args: argparse.Namespace) -> int:
    client = client_from_args(args)
    checkout_id = args.checkout_id
    if checkout_id is None:
        out = client.request("GET", f"/v1/checkouts?open=true&imei={args.imei}&limit=1")
        if not out["items"]:
            raise InputError(f"handset {args.imei} is not checked out")
        checkout_id = out["items"][0]["id"]
    view = client.post(f"/v1/checkouts/{checkout_id}/return")
    return _show(view, args.json, "returned")


def _lost(args: argparse.Namespace) -> int:
    client = client_from_args(args)
    view = client.post(f"/v1/handsets/{args.imei}/{args.path}", {"note": args.note})
    return _show({k: v for k, v in view.items() if k != "public_key"}, args.json, args.title)
