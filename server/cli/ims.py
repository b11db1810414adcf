"""``simattest ims register``: the handset registers its MCPTT-specific identities
(IMPI2/IMPU2) with the IMS core, answering the IMS AKA challenge with the card's ISIM
(TS 24.229 clause 5.1.1, TS 33.203 clause 6.1)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from attest.errors import CardError, InputError
from server.agent.ims import (
    Outcome,
    check_instance,
    default_instance,
    parse_registrar,
    register_from_idms,
)
from server.agent.ims import register as ims_register
from server.cli.hexarg import OneLineErrorParser
from server.cli.output import add_json_flag, print_fields, print_json


def _registrar(text: str) -> tuple[str, int]:
    try:
        return parse_registrar(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _instance(text: str) -> str:
    try:
        return check_instance(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    reg.add_argument("--idms", metavar="URL",
                     help="read IMPI2, IMPU2, the instance id, home domain and registrar "
                          "from this IdMS (its identities endpoint) with the sign-in's "
                          "access token, over mutual TLS with the device certificate; "
                          "needs --access-token-file, --cert and --key")
    reg.add_argument("--access-token-file", type=Path, metavar="FILE",
                     help="with --idms: the access token of the MC user's sign-in")
    reg.add_argument("--cert", type=Path, metavar="FILE",
                     help="with --idms: the device certificate (PEM) the token is bound to")
    reg.add_argument("--key", type=Path, metavar="FILE",
                     help="with --idms: the device certificate's private key (PEM)")
    reg.add_argument("--ca", type=Path, metavar="FILE",
                     help="with --idms: the CA certificate(s) to verify the IdMS with "
                          "(default: the system's)")
    reg.add_argument("--impi", type=_impi,
                     help="without --idms: the MCPTT-specific private identity IMPI2 "
                          "(user@realm)")
    reg.add_argument("--impu", type=_impu,
                     help="without --idms: the MCPTT-specific public identity IMPU2 "
                          "(sip: URI)")
    reg.add_argument("--registrar", type=_registrar, metavar="HOST:PORT",
                     help="the P-CSCF (or S-CSCF) to send REGISTER to (with --idms: "
                          "instead of the IdMS's)")
    reg.add_argument("--domain",
                     help="without --idms: the home network domain of the Request-URI "
                          "(default: IMPI2's realm)")
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
                     help="without --idms: +sip.instance, a urn:uuid: (default: a "
                          "name-based UUID of IMPI2, per checkout, never the IMEI; with "
                          "--idms the IdM's instance id)")
    reg.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                     help="how long to wait for the registrar's final answer (default 10)")
    add_json_flag(reg)
    reg.set_defaults(func=_register)


def _print(outcome: Outcome, impu: str, instance: str, as_json: bool) -> None:
    if as_json:
        print_json({"impu": impu, "status": outcome.status, "reason": outcome.reason,
                    "expires": outcome.expires, "p_associated_uri": outcome.associated_uris,
                    "service_route": outcome.service_routes, "pub_gruu": outcome.pub_gruu,
                    "temp_gruu": outcome.temp_gruu, "instance": instance,
                    "resynchronised": outcome.resynchronised,
                    "application": outcome.application})
        return
    print_fields([
        ("IMPU", impu),
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
    expires = 0 if args.unregister else args.expires
    if args.idms is not None:
        found, outcome = register_from_idms(
            reader=args.reader, idms=args.idms.rstrip("/"),
            access_token=_access_token(args), cert=_device_certificate(args),
            ca=str(args.ca) if args.ca else True, registrar=args.registrar,
            transport=args.transport, expires=expires, timeout=args.timeout,
            local_port=args.local_port)
        impu, instance, registrar = found.impu, found.instance, found.registrar
    else:
        impu, registrar = _given_identities(args)
        instance = args.instance_id or default_instance(args.impi)
        outcome = ims_register(
            reader=args.reader, impi=args.impi, impu=impu,
            domain=args.domain or args.impi.split("@", 1)[1], registrar=registrar,
            transport=args.transport, expires=expires, instance=instance,
            timeout=args.timeout, local_port=args.local_port)
    if not 200 <= outcome.status < 300:
        raise CardError(f"REGISTER refused by {registrar[0]}:{registrar[1]}: "
                        f"{outcome.status} {outcome.reason}")
    _print(outcome, impu, instance, args.json)
    return 0


def _given_identities(args: argparse.Namespace) -> tuple[str, tuple[str, int]]:
    for name in ("access_token_file", "cert", "key", "ca"):
        if getattr(args, name) is not None:
            raise InputError(f"--{name.replace('_', '-')}: only with --idms")
    for name in ("impi", "impu", "registrar"):
        if getattr(args, name) is None:
            raise InputError(f"--{name}: required without --idms")
    return args.impu, args.registrar


def _access_token(args: argparse.Namespace) -> str:
    for name in ("impi", "impu", "domain", "instance_id"):
        if getattr(args, name) is not None:
            raise InputError(f"--{name.replace('_', '-')}: not with --idms (the IdMS "
                             "gives it)")
    if args.access_token_file is None:
        raise InputError("--access-token-file: required with --idms")
    try:
        token = args.access_token_file.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--access-token-file {args.access_token_file}: cannot read it "
                         f"({type(exc).__name__})") from None
    if not token or any(c.isspace() for c in token):
        raise InputError(f"--access-token-file {args.access_token_file}: expected one "
                         "access token")
    return token


def _device_certificate(args: argparse.Namespace) -> tuple[str, str]:
    for name in ("cert", "key"):
        path = getattr(args, name)
        if path is None:
            raise InputError(f"--{name}: required with --idms (the device certificate "
                             "the token is bound to)")
        if not path.is_file():
            raise InputError(f"--{name} {path}: no such file")
    return str(args.cert), str(args.key)
