"""``simattest checkout``: the device agent — attest this handset and its card at checkout.

Exit 0 only when the verdict is affirming; 1 for any other verdict (or the card
refusing), 2 for bad input, 3 when the reader or the service cannot be reached.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from attest.devicekey import load_private_key
from attest.errors import InputError
from server.agent.client import add_server_options, client_from_args
from server.cli.explain import reason_text
from server.cli.output import add_json_flag, print_fields, print_json


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "checkout", help="attest this handset and its card to the service (device agent)",
        description="Read the card, answer the service's AKA challenge, sign the evidence "
                    "with the device key and print the verdict.")
    add_server_options(parser, token=False)
    parser.add_argument("--reader", required=True, metavar="URI",
                        help="pcsc:N, pcsc:<glob>, modem:<dev>, sim:<file>")
    parser.add_argument("--device-key", required=True, type=Path, metavar="KEY.pem",
                        help="the handset's private key (Ed25519 or EC P-256, PEM)")
    parser.add_argument("--imei", metavar="IMEI",
                        help="the handset's IMEI (read from the modem for modem: readers)")
    parser.add_argument("--pin", metavar="PIN", help="verify PIN1 first")
    parser.add_argument("--cert", metavar="FILE",
                        help="the handset's device certificate (simattest admin tls device), "
                             "presented as the TLS client certificate")
    parser.add_argument("--key", metavar="KEY.pem",
                        help="the certificate's private key (default: --device-key, the key "
                             "a device certificate certifies)")
    add_json_flag(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    # Imported here, not at module level: the agent pulls the card stack (hw.identity,
    # hw.cardfile, the transports) into the process, and every other simattest command,
    # --help included, would pay for loading it.
    from server.agent.checkout import run_checkout

    if args.key is not None and args.cert is None:
        raise InputError("--key is the key of --cert: give --cert too")
    client = client_from_args(
        args, None if args.cert is None else (args.cert, args.key or str(args.device_key)))
    try:
        pem = args.device_key.read_bytes()
    except OSError as exc:
        raise InputError(f"{args.device_key}: cannot read the device key "
                         f"({exc.strerror})") from None
    verdict = run_checkout(client, args.reader, load_private_key(pem), imei=args.imei,
                           pin=args.pin)
    if args.json:
        print_json(verdict.to_json())
    else:
        print_fields([("verdict", verdict.status.upper()),
                      ("reasons", ", ".join(verdict.reasons) or "none"),
                      ("attestation", verdict.attestation_id),
                      ("imei", verdict.imei), ("iccid", verdict.iccid),
                      ("resyncs", verdict.resyncs)], title="checkout attestation")
        # Under the table, not in it: sentences read better unwrapped by a cell.
        for code in verdict.reasons:
            print(reason_text(code))
    return 0 if verdict.affirming else 1
