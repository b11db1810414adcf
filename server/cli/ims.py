"""``simattest ims register``: the handset registers its MCPTT-specific identities
(IMPI2/IMPU2) with the IMS core, answering the IMS AKA challenge with the card's ISIM
(TS 24.229 clause 5.1.1, TS 33.203 clause 6.1)."""

from __future__ import annotations

import argparse
import re
import uuid
from typing import Any

from attest.errors import CardError, InputError
from server.agent.ims import Outcome, default_instance
from server.agent.ims import register as ims_register
from server.cli.hexarg import OneLineErrorParser
from server.cli.output import add_json_flag, print_fields, print_json


def _registrar(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _instance(text: str) -> str:
    try:
        if not text.startswith("urn:uuid:"):
            raise ValueError
        uuid.UUID(text[len("urn:uuid:"):])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected urn:uuid:<UUID> (never an IMEI URN), got {text!r}") from None
    return text


def _impu(text: str) -> str:
    if not re.fullmatch(r"(sip|tel):\S+", text):
        raise argparse.ArgumentTypeError(f"expected a sip: or tel: URI, got {text!r}")
    return text


def _impi(text: str) -> str:
    if not re.fullmatch(r"[^@\s\"]+@[^@\s\"]+", text):
        raise argparse.ArgumentTypeError(f"expected user@realm (an NAI), got {text!r}")
    return text


def register(subparsers: Any) -> None:
    ims = subparsers.add_parser(
        "ims", help="IMS registration of the handset's MCPTT-specific identities",
        description="SIP REGISTER of IMPU2 with IMPI2 to the IMS core; the card's ISIM "
                    "(or USIM) answers the IMS AKA challenge on any reader.")
    commands = ims.add_subparsers(dest="ims_command", required=True, metavar="COMMAND",
                                  parser_class=OneLineErrorParser)
    reg = commands.add_parser(
        "register", help="register (or with --unregister, de-register) IMPU2",
        description="Send REGISTER over UDP or TCP to the P-CSCF/S-CSCF, answer the 401 "
                    "(Digest AKAv1-MD5) with AUTHENTICATE on the card's ISIM (the USIM "
                    "when there is no ISIM), resynchronise once if the card asks, and "
                    "print the registrar's answer. A card that rejects the network's "
                    "challenge (MAC failure) ends the attempt: no retry.")
    reg.add_argument("--reader", required=True, metavar="URI",
                     help="the card: pcsc:N, pcsc:NAME, modem:/dev/ttyUSB2, sim:FILE")
    reg.add_argument("--impi", required=True, type=_impi,
                     help="the MCPTT-specific private identity IMPI2 (user@realm)")
    reg.add_argument("--impu", required=True, type=_impu,
                     help="the MCPTT-specific public identity IMPU2 (sip: URI)")
    reg.add_argument("--registrar", required=True, type=_registrar, metavar="HOST:PORT",
                     help="the P-CSCF (or S-CSCF) to send REGISTER to")
    reg.add_argument("--domain",
                     help="the home network domain of the Request-URI (default: IMPI2's "
                          "realm)")
    reg.add_argument("--transport", choices=("udp", "tcp"), default="udp",
                     help="SIP transport (default udp)")
    reg.add_argument("--expires", type=int, default=600, metavar="SECONDS",
                     help="registration lifetime asked for (default 600)")
    reg.add_argument("--unregister", action="store_true",
                     help="de-register (Expires: 0) instead of registering; give the "
                          "--local-port the registration used, as the registrar removes "
                          "the binding of that Contact")
    reg.add_argument("--local-port", type=int, default=0, metavar="PORT",
                     help="the local port to send from, which the Contact names (default: "
                          "any free port)")
    reg.add_argument("--instance-id", type=_instance, metavar="URN",
                     help="+sip.instance, a urn:uuid: (default: a name-based UUID of IMPI2, "
                          "per checkout, never the IMEI)")
    reg.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                     help="how long to wait for the registrar's final answer (default 10)")
    add_json_flag(reg)
    reg.set_defaults(func=_register)


def _print(outcome: Outcome, instance: str, as_json: bool) -> None:
    if as_json:
        print_json({"status": outcome.status, "reason": outcome.reason,
                    "expires": outcome.expires, "p_associated_uri": outcome.associated_uris,
                    "service_route": outcome.service_routes, "pub_gruu": outcome.pub_gruu,
                    "temp_gruu": outcome.temp_gruu, "instance": instance,
                    "resynchronised": outcome.resynchronised,
                    "application": outcome.application})
        return
    print_fields([
        ("status", f"{outcome.status} {outcome.reason}"),
        ("expires", outcome.expires if outcome.expires is not None else "-"),
        ("P-Associated-URI", ", ".join(outcome.associated_uris) or "-"),
        ("Service-Route", ", ".join(outcome.service_routes) or "-"),
        ("public GRUU", outcome.pub_gruu or "- (the registrar gave none)"),
        ("temporary GRUU", outcome.temp_gruu or "-"),
        ("instance", instance),
        ("card application", outcome.application.upper()),
        ("resynchronised", "yes" if outcome.resynchronised else "no"),
    ], title="IMS registration")


def _register(args: argparse.Namespace) -> int:
    if not 0 <= args.local_port < 65536:
        raise InputError(f"--local-port: expected 0 to 65535, got {args.local_port}")
    if args.expires < 0 or args.expires > 2**31 - 1:
        raise InputError(f"--expires: expected 0 to {2**31 - 1} seconds, got {args.expires}")
    instance = args.instance_id or default_instance(args.impi)
    outcome = ims_register(
        reader=args.reader, impi=args.impi, impu=args.impu,
        domain=args.domain or args.impi.split("@", 1)[1], registrar=args.registrar,
        transport=args.transport, expires=0 if args.unregister else args.expires,
        instance=instance, timeout=args.timeout, local_port=args.local_port)
    if not 200 <= outcome.status < 300:
        raise CardError(f"REGISTER refused by {args.registrar[0]}:{args.registrar[1]}: "
                        f"{outcome.status} {outcome.reason}")
    _print(outcome, instance, args.json)
    return 0
