"""``simattest handsets|cards|checkouts|attestations|alerts list``: what the service holds,
over the HTTP API (the same registry, checkout and attestation functions the desk uses).

Each prints one page (``--limit``, at most 500; ``--offset`` for the next ones) as a table,
or the page as the API answers it with ``--json`` (``items``, ``total``, ``offset``,
``limit``). When there are more rows than shown, a note on stderr says how to get them.
Handsets and cards need a provisioner or desk token; checkouts, attestations and alerts
a desk token.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from server.agent.client import add_server_options, client_from_args
from server.cli import output
from server.cli.hexarg import digits
from server.cli.output import add_json_flag, print_json, print_table

MAX_LIMIT = 500  # the API's bound (server.pool.registry.MAX_PAGE)


def _limit(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_LIMIT):
        raise argparse.ArgumentTypeError(f"--limit: expected a number from 1 to {MAX_LIMIT}")
    return int(text)


def _offset(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError("--offset: expected a number of rows (0 or more)")
    return int(text)


def _when(value: str | None) -> str:
    """An ISO time as a person reads it in a table: to the minute, no zone (UTC)."""
    return "" if not value else value[:16].replace("T", " ")


@dataclass(frozen=True)
class _Listing:
    """One ``X list`` command: its API path, table columns, and how a row is shown."""

    group: str
    help: str
    path: str
    columns: Sequence[str]
    row: Callable[[dict[str, Any]], Sequence[Any]]
    filters: Callable[[argparse.ArgumentParser], None]
    query: Callable[[argparse.Namespace], dict[str, str]]


def _no_filters(_: argparse.ArgumentParser) -> None:
    return None


def _no_query(_: argparse.Namespace) -> dict[str, str]:
    return {}


def _search_filter(what: str) -> Callable[[argparse.ArgumentParser], None]:
    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--search", metavar="TEXT", default="", help=what)
    return add


def _card_filters(parser: argparse.ArgumentParser) -> None:
    _search_filter("only cards whose ICCID or IMSI starts with TEXT")(parser)
    parser.add_argument("--verification", choices=("unverified", "verified", "failed"),
                        help="only cards in this state of `pool verify`")


def _imei_filter(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--imei", type=digits("--imei"), help="only this handset's")


def _checkout_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--open", action="store_true",
                        help="only handsets out now (not returned yet)")
    _imei_filter(parser)


def _attestation_filters(parser: argparse.ArgumentParser) -> None:
    _imei_filter(parser)
    parser.add_argument("--status", choices=("affirming", "warning", "contraindicated", "none"),
                        help="only this verdict (none: not appraised yet)")


def _given(args: argparse.Namespace, *names: str) -> dict[str, str]:
    return {n: str(getattr(args, n)) for n in names if getattr(args, n)}


LISTINGS = (
    _Listing("handsets", "registered handsets, by IMEI", "/v1/handsets",
             ("imei", "label", "imeisv", "key", "registered"),
             lambda h: (h["imei"], h["label"], h["imeisv"], h["key_algorithm"],
                        _when(h["created_at"])),
             _search_filter("only handsets whose IMEI starts with TEXT or whose label "
                            "contains it"),
             lambda a: _given(a, "search")),
    _Listing("cards", "the pool's cards, by ICCID (never key material)", "/v1/cards",
             ("iccid", "imsi", "profile", "algorithm", "verification", "batch"),
             lambda c: (c["iccid"], c["imsi"], c["profile"] or "no profile", c["algorithm"],
                        c["verification"], c["batch"]),
             _card_filters, lambda a: _given(a, "search", "verification")),
    _Listing("checkouts", "checkouts, newest first", "/v1/checkouts",
             ("id", "imei", "iccid", "user", "out since", "by", "returned", "returned by"),
             lambda c: (c["id"], c["imei"], c["iccid"], c["user"], _when(c["started_at"]),
                        c["started_by"], _when(c["returned_at"]), c["returned_by"]),
             _checkout_filters,
             lambda a: {**_given(a, "imei"), **({"open": "true"} if a.open else {})}),
    _Listing("attestations", "checkout attestations, newest first", "/v1/attestations",
             ("id", "imei", "iccid", "verdict", "reasons", "created"),
             lambda a: (a["id"], a["imei"], a["iccid"], a["status"] or a["state"],
                        ", ".join(a["reasons"]), _when(a["created_at"])),
             _attestation_filters, lambda a: _given(a, "imei", "status")),
    _Listing("alerts", "contraindicated attestations, newest first", "/v1/alerts",
             ("appraised", "id", "imei", "iccid", "reasons"),
             lambda a: (_when(a["appraised_at"]), a["id"], a["imei"], a["iccid"],
                        ", ".join(a["reasons"])),
             _no_filters, _no_query),
)


def register(subparsers: Any) -> None:
    for listing in LISTINGS:
        group = subparsers.add_parser(listing.group, help=f"list {listing.help}",
                                      description=f"List {listing.help}.")
        sub = group.add_subparsers(dest=f"{listing.group}_command", required=True,
                                   metavar="COMMAND")
        parser = sub.add_parser("list", help=f"list {listing.help}",
                                description=f"List {listing.help}, one page at a time.")
        listing.filters(parser)
        parser.add_argument("--limit", type=_limit, default=50, metavar="N",
                            help=f"rows per page (default 50, at most {MAX_LIMIT})")
        parser.add_argument("--offset", type=_offset, default=0, metavar="N",
                            help="skip the first N rows (the next page: --offset 50)")
        add_server_options(parser, token=True)
        add_json_flag(parser)
        parser.set_defaults(func=_run, listing=listing)


def _run(args: argparse.Namespace) -> int:
    listing: _Listing = args.listing
    query = {**listing.query(args), "offset": str(args.offset), "limit": str(args.limit)}
    page = client_from_args(args).request("GET", f"{listing.path}?{urlencode(query)}")
    items: list[dict[str, Any]] = page["items"]
    if args.json:
        print_json({"offset": args.offset, "limit": args.limit, **page})
        return 0
    if not items:
        if not output.quiet():
            print(f"no {listing.group}" + (" on this page" if args.offset else ""),
                  file=sys.stderr)
        return 0
    print_table(listing.columns, [listing.row(item) for item in items], title=listing.group)
    shown_to = args.offset + len(items)
    total = page.get("total")
    if isinstance(total, int) and total > shown_to and not output.quiet():
        print(f"{args.offset + 1}–{shown_to} of {total}; the next page: --offset {shown_to}",
              file=sys.stderr)
    return 0
