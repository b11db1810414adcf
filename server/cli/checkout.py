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
    device = parser.add_mutually_exclusive_group(required=True)
    device.add_argument("--device-key", type=Path, metavar="KEY.pem",
                        help="the handset's private key (Ed25519 or EC P-256, PEM)")
    device.add_argument("--attested-device", type=Path, metavar="DIR",
                        help="a simulated attested Android handset (TEST ONLY, simattest "
                             "device attested-sim): its device key, and a fresh key "
                             "attestation bound to the checkout nonce with the evidence")
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
    if args.attested_device is not None:
        from server.agent.attested import DEVICE_KEY_FILE, AttestedHandset

        handset = AttestedHandset.load(args.attested_device)
        signer, attest, imei = handset.signer(), handset.fresh_attestation, \
            args.imei or handset.props.imei
        key_file = str(args.attested_device / DEVICE_KEY_FILE)
    else:
        try:
            pem = args.device_key.read_bytes()
        except OSError as exc:
            raise InputError(f"{args.device_key}: cannot read the device key "
                             f"({exc.strerror})") from None
        signer, attest, imei, key_file = load_private_key(pem), None, args.imei, \
            str(args.device_key)
    client = client_from_args(
        args, None if args.cert is None else (args.cert, args.key or key_file))
    verdict = run_checkout(client, args.reader, signer, imei=imei, pin=args.pin,
                           attest=attest)
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
