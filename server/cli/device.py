"""``simattest device add|keygen``: register a handset; make a device key pair."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from attest.errors import InputError
from attest.textfile import os_reason, read_text
from server.agent.client import add_server_options, client_from_args
from server.cli import attestation, device_attested
from server.cli.output import add_json_flag, print_fields, print_json
from server.core.datadir import write_secret_file


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("device", help="handsets: register, make device keys")
    sub = group.add_subparsers(dest="device_command", required=True, metavar="COMMAND")

    add = sub.add_parser("add", help="register a handset and its device public key")
    add.add_argument("--imei", required=True, help="the handset's IMEI (15 digits)")
    device_attested.add_options(add).add_argument(
        "--key", type=Path, metavar="PEM",
        help="the device's public key (PEM; Ed25519 or EC P-256): a software key")
    add.add_argument("--imeisv", help="the handset's IMEISV (16 digits), if known")
    add.add_argument("--label", default="",
                     help="a name people know the handset by (e.g. its asset tag)")
    add_server_options(add, token=True)
    add_json_flag(add)
    add.set_defaults(func=_add)

    keygen = sub.add_parser("keygen", help="write a device private key (0600) and its "
                                           "public key beside it (.pub.pem)")
    keygen.add_argument("--out", required=True, type=Path, metavar="KEY.pem",
                        help="where to write the private key")
    keygen.add_argument("--type", choices=("ed25519", "p256"), default="ed25519",
                        help="key type (default ed25519; p256 for EC P-256)")
    add_json_flag(keygen)
    keygen.set_defaults(func=_keygen)
    device_attested.register(sub)

    attestation.register(sub)


def _add(args: argparse.Namespace) -> int:
    if args.nonce is not None and args.attestation is None:
        raise InputError("--nonce goes with --attestation")
    if args.key is None:
        return _show(args, device_attested.add_attested(args))
    pem = read_text(args.key, "ascii")
    # Refused here, before any network I/O: the private key never leaves the handset.
    if "PRIVATE KEY-----" in pem:
        raise InputError(f"{args.key}: is a private key; give the device's public key "
                         f"instead ({public_key_path(args.key)} if `simattest device "
                         "keygen` made it) — the private key stays on the handset")
    body: dict[str, Any] = {"imei": args.imei, "public_key": pem, "label": args.label}
    if args.imeisv:
        body["imeisv"] = args.imeisv
    return _show(args, client_from_args(args).request("POST", "/v1/handsets", body))


def _show(args: argparse.Namespace, handset: dict[str, Any]) -> int:
    if args.json:
        print_json(handset)
        return 0
    fields = [(k, handset[k]) for k in ("imei", "imeisv", "label", "key_algorithm")]
    fields.append(("key kind", handset["key_kind"] + (" key" if handset["key_kind"] ==
                                                      "software" else "")))
    attestation = handset.get("attestation")
    if attestation is not None:
        fields += [("boot", f"{attestation['verified_boot_state']}, bootloader "
                            f"{'locked' if attestation['device_locked'] else 'UNLOCKED'}"),
                   ("os patch level", attestation["os_patch_level"]),
                   ("attestation root", attestation["root"])]
    print_fields(fields, title="handset registered")
    return 0


def public_key_path(private_path: Path) -> Path:
    return private_path.with_name(private_path.name.removesuffix(".pem") + ".pub.pem")


def _keygen(args: argparse.Namespace) -> int:
    key = (ed25519.Ed25519PrivateKey.generate() if args.type == "ed25519"
           else ec.generate_private_key(ec.SECP256R1()))
    public_path = public_key_path(args.out)
    for path in (args.out, public_path):
        if path.exists():
            raise InputError(f"{path}: exists; refusing to overwrite a key")
    if not args.out.parent.is_dir():
        raise InputError(f"{args.out}: directory {args.out.parent} does not exist")
    try:
        write_secret_file(args.out, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        public_path.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    except OSError as exc:
        raise InputError(f"{args.out}: cannot write the key ({os_reason(exc)})") from None
    if args.json:
        print_json({"private_key": str(args.out), "public_key": str(public_path),
                    "type": args.type})
    else:
        print(f"private key {args.out} (mode 0600), public key {public_path}")
    return 0
