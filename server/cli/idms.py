"""``simattest idms user add|list|show|disable|enable|reset-password|set-totp|clear-totp``
and ``simattest idms prune``: the MC user directory and the mappings' retention, on the
service's storage directly (like ``admin``; the timer runs ``prune`` as the service's
user).

A password is never an argument (it would be in the shell history and the process
list): it is asked on the terminal (twice), or read from the first line of
``--password-file FILE`` (``-`` for standard input).  ``--totp`` prints the TOTP
provisioning URI once; only the encrypted secret is kept.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from attest.errors import InputError
from attest.textfile import read_text
from server.cli.output import add_json_flag, print_fields, print_json, print_table
from server.cli.storeargs import add_store_args, open_service

ACTOR = "cli:idms"


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("idms", help="MC identity management: users, retention "
                                               "(direct storage)")
    sub = group.add_subparsers(dest="idms_command", required=True, metavar="COMMAND")
    user = sub.add_parser("user", help="the MC user directory")
    users = user.add_subparsers(dest="user_command", required=True, metavar="COMMAND")

    add = users.add_parser("add", help="add an MC user (password asked, never an argument)")
    add.add_argument("mc_id", metavar="MC_ID", help="what the user signs in with, e.g. "
                                                    "alice@police")
    add.add_argument("--mcptt-id", required=True, metavar="URI",
                     help="the MCPTT ID, a SIP URI, e.g. sip:alice@mcptt.example.org")
    add.add_argument("--name", required=True, help="display name")
    add.add_argument("--agency", default="", help="agency or service provider")
    add.add_argument("--mcvideo-id", metavar="URI", help="the MCVideo ID (SIP URI), if any")
    add.add_argument("--mcdata-id", metavar="URI", help="the MCData ID (SIP URI), if any")
    add.add_argument("--totp", action="store_true",
                     help="enrol a TOTP second factor; prints its otpauth:// URI once")
    _password_arg(add)
    add.set_defaults(func=_add)

    listing = users.add_parser("list", help="MC users by MC ID (never credentials)")
    listing.add_argument("--search", default="", help="substring of MC ID, MCPTT ID, "
                                                      "name or agency")
    listing.add_argument("--disabled", action="store_true", help="only disabled users")
    listing.add_argument("--limit", type=int, default=500, help="at most this many")
    listing.set_defaults(func=_list)

    show = users.add_parser("show", help="one MC user")
    show.set_defaults(func=_show)
    disable = users.add_parser("disable", help="disable: no sign-in; their identities end "
                                               "now")
    disable.add_argument("--reason", default="", help="why (kept in the audit log)")
    disable.set_defaults(func=_disable)
    enable = users.add_parser("enable", help="enable a disabled MC user")
    enable.set_defaults(func=_enable)
    reset = users.add_parser("reset-password", help="set a new password (asked)")
    _password_arg(reset)
    reset.set_defaults(func=_reset)
    totp = users.add_parser("set-totp", help="enrol a new TOTP second factor (URI printed "
                                             "once)")
    totp.set_defaults(func=_set_totp)
    clear = users.add_parser("clear-totp", help="remove the TOTP second factor")
    clear.set_defaults(func=_clear_totp)
    for parser in (show, disable, enable, reset, totp, clear):
        parser.add_argument("mc_id", metavar="MC_ID", help="the MC user's MC ID")
    for parser in (add, listing, show, disable, enable, reset, totp, clear):
        add_store_args(parser)
        add_json_flag(parser)

    mapped = sub.add_parser("identities", help="sign-ins' MCPTT identities and the "
                                               "mapping, newest first")
    mapped.add_argument("--active", action="store_true",
                        help="only those whose end is not recorded yet")
    mapped.add_argument("--limit", type=int, default=200, help="at most this many (500)")
    add_store_args(mapped)
    add_json_flag(mapped)
    mapped.set_defaults(func=_identities)

    prune = sub.add_parser(
        "prune", help="delete identity mappings ended longer ago than the retention",
        description="Records the end of mappings whose validity ended (an attestation, "
                    "a return), then deletes mappings ended more than --days (config "
                    "idms.retention_days, default 90) ago; the audit log keeps their "
                    "allocation and end.  Run daily by simattest-idms-prune.timer.")
    prune.add_argument("--days", type=int, default=None, metavar="N",
                       help="retention in days (default: config idms.retention_days)")
    add_store_args(prune)
    add_json_flag(prune)
    prune.set_defaults(func=_prune)


def _password_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--password-file", type=Path, metavar="FILE",
                        help="read the password from FILE's first line ('-': standard "
                             "input); default: asked on the terminal, twice")


def _password(args: argparse.Namespace) -> str:
    path: Path | None = args.password_file
    if path is not None:
        text = sys.stdin.read() if str(path) == "-" else read_text(path)
        lines = text.splitlines()
        if not lines or not lines[0]:
            raise InputError(f"{path}: empty; expected the password on its first line")
        return lines[0]
    if not sys.stdin.isatty():
        raise InputError("give the password with --password-file FILE (or - for standard "
                         "input): there is no terminal to ask on")
    value = getpass.getpass("password: ")
    if getpass.getpass("password again: ") != value:
        raise InputError("the two passwords differ; nothing was changed")
    return value


def _print_user(args: argparse.Namespace, user: Any, title: str,
                uri: str | None = None) -> int:
    doc = {**user.to_json(), **({"totp_uri": uri} if uri else {})}
    if args.json:
        print_json(doc)
    else:
        print_fields([(k, "-" if v is None else v) for k, v in doc.items()], title=title)
    return 0


def _add(args: argparse.Namespace) -> int:
    from server.idms import users

    password = _password(args)
    with open_service(args, create=False) as svc:
        user, uri = users.add_user(
            svc, mc_id=args.mc_id, mcptt_id=args.mcptt_id, display_name=args.name,
            password=password, actor=ACTOR, agency=args.agency, mcvideo_id=args.mcvideo_id,
            mcdata_id=args.mcdata_id, totp=args.totp)
    return _print_user(args, user, "MC user added", uri)


def _list(args: argparse.Namespace) -> int:
    from server.idms import users

    with open_service(args, create=False) as svc:
        page = users.list_users(svc, search=args.search,
                                enabled=False if args.disabled else None, limit=args.limit)
    if args.json:
        print_json([u.to_json() for u in page.items])
    else:
        print_table(("mc_id", "mcptt_id", "name", "agency", "enabled", "totp"),
                    [(u.mc_id, u.mcptt_id, u.display_name, u.agency,
                      "yes" if u.enabled else "no", "yes" if u.totp else "no")
                     for u in page.items], title=f"MC users ({page.total})")
    return 0


def _show(args: argparse.Namespace) -> int:
    from server.idms import users

    with open_service(args, create=False) as svc:
        return _print_user(args, users.get_user(svc, args.mc_id), "MC user")


def _disable(args: argparse.Namespace) -> int:
    from server.idms import users

    with open_service(args, create=False) as svc:
        user = users.disable_user(svc, args.mc_id, actor=ACTOR, reason=args.reason)
    return _print_user(args, user, "MC user disabled")


def _enable(args: argparse.Namespace) -> int:
    from server.idms import users

    with open_service(args, create=False) as svc:
        return _print_user(args, users.enable_user(svc, args.mc_id, actor=ACTOR),
                           "MC user enabled")


def _reset(args: argparse.Namespace) -> int:
    from server.idms import users

    password = _password(args)
    with open_service(args, create=False) as svc:
        user = users.reset_password(svc, args.mc_id, password, actor=ACTOR)
    return _print_user(args, user, "password changed")


def _set_totp(args: argparse.Namespace) -> int:
    from server.idms import users

    with open_service(args, create=False) as svc:
        user, uri = users.set_totp(svc, args.mc_id, actor=ACTOR)
    return _print_user(args, user, "TOTP enrolled", uri)


def _clear_totp(args: argparse.Namespace) -> int:
    from server.idms import users

    with open_service(args, create=False) as svc:
        return _print_user(args, users.clear_totp(svc, args.mc_id, actor=ACTOR),
                           "TOTP removed")


def _prune(args: argparse.Namespace) -> int:
    from server.idms import identities

    with open_service(args, create=False) as svc:
        report = identities.prune(svc, actor="cli:idms-prune", retention_days=args.days)
    if args.json:
        print_json(report.to_json())
    else:
        print_fields(list(report.to_json().items()), title="idms prune")
    return 0


def _identities(args: argparse.Namespace) -> int:
    from server.idms import identities

    with open_service(args, create=False) as svc:
        found = identities.list_identities(svc, active_only=args.active, limit=args.limit)
    if args.json:
        print_json([i.to_json() for i in found])
    else:
        print_table(("id", "checkout", "mc_id", "imei", "impu2", "allocated", "state"),
                    [(i.id, i.checkout_id, i.mc_id, i.imei, i.impu2,
                      f"{i.allocated_at:%Y-%m-%d %H:%M}", i.end_reason or "valid")
                     for i in found], title="MC identities")
    return 0
