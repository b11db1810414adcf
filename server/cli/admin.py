"""``simattest admin token create|list|revoke``: operator tokens on the storage directly
(the first admin token is made before any token exists); ``simattest admin tls
init|device``: a lab CA with the service's server certificate, and handsets' device
certificates (``server.core.labca``); ``simattest admin kek create``: a key-encryption
key file; ``simattest admin attestation-status import``: the Android attestation status
list (``server.pool.android``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from attest.errors import InputError
from attest.textfile import os_reason
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
    _register_tls(admin_sub)
    status = admin_sub.add_parser(
        "attestation-status", help="the Android attestation status list (revocations)")
    status_sub = status.add_subparsers(dest="status_command", required=True, metavar="COMMAND")
    status_import = status_sub.add_parser(
        "import", help="store a status list in Google's format (status by certificate "
                       "serial: REVOKED, SUSPENDED), replacing the one before",
        description="The service does not fetch the list itself (it may have no internet "
                    "access): download https://android.googleapis.com/attestation/status "
                    "where you can and import it here; simattest status shows its age.")
    status_import.add_argument("file", type=Path, metavar="FILE", help="the list (JSON)")
    add_store_args(status_import)
    add_json_flag(status_import)
    status_import.set_defaults(func=_status_import)
    kek = admin_sub.add_parser("kek", help="the key-encryption key")
    kek_sub = kek.add_subparsers(dest="kek_command", required=True, metavar="COMMAND")
    kek_create = kek_sub.add_parser(
        "create", help="make a new key-encryption key file (mode 0600, never overwritten)",
        description="For --kek-file (config kek_file): the key that encrypts every card's "
                    "K and OPc, kept outside the data directory.  Give the file to the "
                    "service's user only, and back it up apart from the database.")
    kek_create.add_argument("--out", required=True, type=Path, metavar="FILE",
                            help="the new key file (must not exist)")
    kek_create.set_defaults(func=_kek_create)


def _status_import(args: argparse.Namespace) -> int:
    from server.pool.android import import_status_list

    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise InputError(f"{args.file}: cannot read it ({os_reason(exc)})") from None
    with open_service(args, create=False) as svc:
        imported = import_status_list(svc, data, actor="cli:admin")
    if args.json:
        print_json(imported)
    else:
        print(f"attestation status list imported: {imported['entries']} entries")
    return 0


def _kek_create(args: argparse.Namespace) -> int:
    from server.core.datadir import create_kek_file

    create_kek_file(args.out)
    print(args.out)
    return 0


def _register_tls(admin_sub: Any) -> None:
    tls = admin_sub.add_parser("tls", help="a lab CA, server and device certificates")
    tls_sub = tls.add_subparsers(dest="tls_command", required=True, metavar="COMMAND")
    init = tls_sub.add_parser(
        "init", help="make a lab CA and a server certificate for the given host names",
        description="Writes ca.pem, ca-key.pem, server.pem and server-key.pem into DIR "
                    "(private keys 0600; nothing is overwritten).  Serve with "
                    "--tls-cert DIR/server.pem --tls-key DIR/server-key.pem "
                    "--client-ca DIR/ca.pem; clients verify with --ca DIR/ca.pem.")
    init.add_argument("--out", required=True, type=Path, metavar="DIR",
                      help="a new or empty directory for the CA and the server's files")
    init.add_argument("--name", required=True, nargs="+", metavar="HOST",
                      help="host names and IP addresses the clients connect to")
    init.set_defaults(func=_tls_init)
    device = tls_sub.add_parser(
        "device", help="a device certificate for a registered handset's device key",
        description="Certifies the device key registered for the handset (its public key "
                    "in PUB.pem must be that key) with the lab CA in DIR; writes "
                    "DIR/device-IMEI.pem, the handset's TLS client certificate (its "
                    "private key is the device key: simattest checkout --cert --key).")
    device.add_argument("--imei", required=True, metavar="IMEI",
                        help="the registered handset's IMEI (15 digits), put in the "
                             "certificate's subject serialNumber")
    device.add_argument("--key", required=True, type=Path, metavar="PUB.pem",
                        help="the handset's registered device public key")
    device.add_argument("--ca-dir", required=True, type=Path, metavar="DIR",
                        help="the lab CA made by 'admin tls init'")
    add_store_args(device)
    device.set_defaults(func=_tls_device)


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


def _tls_init(args: argparse.Namespace) -> int:
    from server.core.labca import LabCA
    from server.store.models import utcnow

    for path in LabCA(args.out).init(args.name, utcnow()):
        print(path)
    return 0


def _tls_device(args: argparse.Namespace) -> int:
    from attest.errors import InputError
    from server.core.labca import LabCA
    from server.pool.devicecerts import issue_device_certificate
    from server.store.models import utcnow

    try:
        pem = args.key.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        reason = os_reason(exc) if isinstance(exc, OSError) else "not a PEM file"
        raise InputError(f"{args.key}: cannot read the key ({reason})") from None
    with open_service(args, create=False) as svc:
        print(issue_device_certificate(svc, LabCA(args.ca_dir), args.imei, pem, utcnow()))
    return 0
