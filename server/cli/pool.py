"""``simattest pool import|verify|rotate-key``: the SIM pool.

``import`` talks to the service over HTTP (``--server``/``--token``).  ``verify`` and
``rotate-key`` need the card keys, so they work on the data directory / database
directly (``--data``/``--db``), never over HTTP.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from attest.errors import InputError
from attest.textfile import read_text
from server.agent.client import ServiceRefused, add_server_options, client_from_args
from server.cli import output
from server.cli.hexarg import digits
from server.cli.output import add_json_flag, print_json, print_table
from server.cli.storeargs import add_store_args, open_service

TRANSPORT_KEY_ENV = "SIMATTEST_TRANSPORT_KEY"
MAX_ROWS_SHOWN = 50


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("pool", help="SIM pool: import, verify, remove, key rotation")
    sub = group.add_subparsers(dest="pool_command", required=True, metavar="COMMAND")

    imp = sub.add_parser("import", help="import a vendor batch file (CSV or vendor .out)")
    imp.add_argument("file", type=Path, help="the vendor's batch file")
    imp.add_argument("--transport-key", metavar="HEX", default=os.environ.get(TRANSPORT_KEY_ENV),
                     help=f"AES-128 key the Ki/OPc columns are encrypted with (32 hex "
                          f"digits; env {TRANSPORT_KEY_ENV})")
    imp.add_argument("--partial", action="store_true",
                     help="import the good rows even when some are rejected")
    add_server_options(imp, token=True)
    add_json_flag(imp)
    imp.set_defaults(func=_import)

    verify = sub.add_parser(
        "verify", help="self-check AKA on every inserted card; mark it verified or failed",
        description="Runs on the data directory / database directly (it needs the card "
                    "keys), not over HTTP. Readers run in parallel.")
    verify.add_argument("--readers", nargs="+", required=True, metavar="URI",
                        help="reader URIs; pcsc:* means every PC/SC reader holding a card")
    add_store_args(verify)
    add_json_flag(verify)
    verify.set_defaults(func=_verify)

    rotate = sub.add_parser(
        "rotate-key", help="re-encrypt every card's secrets under a new key-encryption key",
        description="Works on the data directory / database directly. The old key file is "
                    "kept as kek.key.retired-<time>. Running servers adopt the new key by "
                    "themselves where they read the old one (with --new-kek-file: once the "
                    "new file is put in the old one's place).")
    rotate.add_argument("--new-kek-file", type=Path, metavar="FILE",
                        help="write the new key here instead of <data>/kek.key (when the KEK "
                             "is kept outside the data directory)")
    add_store_args(rotate)
    add_json_flag(rotate)
    rotate.set_defaults(func=_rotate)

    remove = sub.add_parser(
        "remove", help="take never-used cards out of the pool (e.g. imported under a wrong "
                       "transport key, to import them again)",
        description="A card that was ever paired or challenged keeps its record (refused).")
    remove.add_argument("iccids", nargs="+", metavar="ICCID", type=digits("ICCID"),
                        help="the cards' ICCIDs")
    add_server_options(remove, token=True)
    add_json_flag(remove)
    remove.set_defaults(func=_remove)


def _import(args: argparse.Namespace) -> int:
    content = read_text(args.file, "utf-8-sig")
    body: dict[str, Any] = {"filename": args.file.name, "content": content,
                            "partial": args.partial}
    if args.transport_key:
        body["transport_key"] = args.transport_key
    try:
        report = client_from_args(args).request("POST", "/v1/pool/imports", body)
    except ServiceRefused as exc:
        if exc.slug == "already-in-pool":
            # A batch imported before: nothing is wrong, and nothing was changed.
            if args.json:
                print_json(exc.problem)
            else:
                print(exc.problem.get("detail"))
            return 0
        if exc.slug != "import-rejected":
            raise
        _print_rows(args, exc.problem.get("errors", []), exc.problem)
        good = exc.problem.get("good_rows", 0)
        hint = f" (run again with --partial to import the {good} good rows)" if good else ""
        print(f"simattest: {exc.problem.get('detail')}{hint}", file=sys.stderr)
        return 2
    _print_rows(args, report["rejected"], report)
    # Nothing imported is a failed import, even when --partial let the service answer 200.
    if not report["rows"]:
        raise InputError(f"{args.file}: no card rows (only a header?); nothing imported")
    if not report["imported"]:
        raise InputError(f"{args.file}: all {report['rows']} rows rejected; nothing imported")
    if not args.json:
        print(f"imported {report['imported']} of {report['rows']} cards from "
              f"{report['filename']} ({report['format']})")
        for warning in [] if output.quiet() else report.get("warnings", []):
            print(f"simattest: warning: {warning}", file=sys.stderr)
    return 0


def _print_rows(args: argparse.Namespace, rows: list[dict[str, Any]],
                whole: dict[str, Any]) -> None:
    if args.json:
        print_json(whole)
    elif rows:
        # A file rejected wholesale (a wrong column order, say) would fill the terminal
        # with one reason many times over: the first rows show it, --json has them all.
        shown = rows[:MAX_ROWS_SHOWN]
        print_table(("line", "field", "reason"),
                    [(r["line"], r["field"], r["reason"]) for r in shown], title="rejected rows")
        if len(rows) > len(shown):
            print(f"… and {len(rows) - len(shown)} more rejected rows (--json lists them all)")


def _verify(args: argparse.Namespace) -> int:
    from server.pool import (
        verify as poolverify,  # the storage and card stacks, only when the command runs
    )

    uris = poolverify.expand_readers(args.readers)
    with open_service(args, create=False) as svc, Progress(
        TextColumn("[bold]pool verify"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"), TimeElapsedColumn(),
        disable=args.json or output.quiet() or not sys.stderr.isatty(), transient=True,
    ) as progress:
        task = progress.add_task("verify", total=len(uris), last="")

        def done(outcome: poolverify.CardOutcome) -> None:
            progress.update(task, advance=1, last=f"{outcome.iccid or outcome.reader}: "
                                                  f"{outcome.state}")

        outcomes = poolverify.verify_pool(svc, uris, actor="cli:pool-verify", on_done=done)
    if args.json:
        print_json([o.to_json() for o in outcomes])
    else:
        print_table(("reader", "iccid", "state", "reason"),
                    [(o.reader, o.iccid, o.state, o.reason) for o in outcomes],
                    title="pool verify")
    if any(o.state == poolverify.READER_ERROR for o in outcomes):
        return 3
    return 1 if any(o.state != poolverify.VERIFIED for o in outcomes) else 0


def _rotate(args: argparse.Namespace) -> int:
    from server.pool.keyrotation import rotate_kek

    with open_service(args, create=False) as svc:
        report = rotate_kek(svc, actor="cli:rotate-key", new_key_file=args.new_kek_file)
    if args.json:
        print_json(report.to_json())
    else:
        print(f"re-encrypted {report.cards} cards; new key in {report.new_key_file}"
              + (f"; old key kept as {report.retired_key_file}"
                 if report.retired_key_file else ""))
        print("running servers adopt the new key where they read the old one"
              + (": put the new file in the old one's place" if args.new_kek_file else ""))
    return 0


def _remove(args: argparse.Namespace) -> int:
    client = client_from_args(args)
    # One request per card, in order: a refusal stops there and names the card; the ones
    # before it are out of the pool (each removal is its own audited change).
    removed = []
    for iccid in args.iccids:
        removed.append(client.request("DELETE", f"/v1/cards/{iccid}"))
        if not args.json:
            print(f"removed card {iccid} from the pool")
    if args.json:
        print_json(removed)
    return 0
