"""``simattest modems``, ``simattest udev install`` and ``simattest sim modem``.

``sim modem`` is registered under the ``sim`` group owned by ``server/cli/sim.py``, which
calls :func:`register_sim_modem` with its sub-parsers.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from hw import discovery
from server.cli.output import add_json_flag, print_json, print_table
from server.cli.stopsignals import stop_on_sigint_or_sigterm


def register(subparsers: Any) -> None:
    modems = subparsers.add_parser(
        "modems", help="list modems' AT ports (udev): model, VID:PID, serial, interface, link"
    )
    add_json_flag(modems)
    modems.add_argument(
        "--watch", action="store_true",
        help="then follow hot-plug events until Ctrl-C, probing new ports with AT",
    )
    modems.set_defaults(func=cmd_modems)

    udev = subparsers.add_parser("udev", help="udev rules for CCID readers and modems")
    udev_sub = udev.add_subparsers(dest="udev_command", required=True, metavar="ACTION")
    install = udev_sub.add_parser(
        "install", help=f"copy {discovery.RULES_FILE.name} to {discovery.RULES_TARGET} and reload"
    )
    install.add_argument("--dry-run", action="store_true", help="show what would be done")
    install.add_argument(
        "--target", type=Path, default=discovery.RULES_TARGET, metavar="DIR",
        help=f"rules directory (default {discovery.RULES_TARGET})",
    )
    install.add_argument("--no-reload", action="store_true", help="copy only, skip udevadm")
    add_json_flag(install)
    install.set_defaults(func=cmd_udev_install)


def register_sim_modem(sim_subparsers: Any) -> None:
    """Add ``sim modem`` to the ``sim`` group's sub-parsers."""
    from hw.sim.modem import QUIRKS

    sim_modem = sim_subparsers.add_parser(
        "modem", help="serve a simulated card behind a simulated modem on a pty",
        description="Quirks: " + "; ".join(f"{k}: {v}" for k, v in QUIRKS.items()),
    )
    sim_modem.add_argument("card_file", type=Path, help="personalised card file (YAML)")
    sim_modem.add_argument("--link", type=Path, required=True, help="symlink to create to the pty")
    sim_modem.add_argument("--quirks", default="", help="comma-separated quirk names")
    sim_modem.add_argument(
        "--imei", help="IMEI to report (default: the card file's, else a test IMEI)"
    )
    sim_modem.set_defaults(func=cmd_sim_modem)


def _port_row(port: discovery.ModemPort) -> tuple[str, ...]:
    return (
        port.device,
        port.model or "unknown",
        f"{port.vendor_id}:{port.product_id}",
        port.serial or "",
        port.interface or "",
        port.link or (f"(rules not installed: {port.expected_link})" if port.expected_link else ""),
    )


_COLUMNS = ("port", "model", "VID:PID", "serial", "interface", "link")


def cmd_modems(args: argparse.Namespace) -> int:
    ports = discovery.list_modems()
    if args.json:
        print_json([p.to_json() for p in ports])
    elif ports:
        print_table(_COLUMNS, (_port_row(p) for p in ports), title="modem AT ports")
    else:
        print("no modem AT ports found", file=sys.stderr)
    if args.watch:
        _watch(args.json)
    return 0


def _watch(as_json: bool) -> None:
    stop = threading.Event()
    try:
        for event in discovery.watch(stop):
            if as_json:
                print_json({
                    "action": event.action,
                    "port": event.port.to_json(),
                    "answers_at": event.probe.answers if event.probe else None,
                })
            else:
                row = " ".join(x for x in _port_row(event.port) if x)
                probe = f" — {event.probe.detail}" if event.probe else ""
                print(f"{event.action}: {row}{probe}", flush=True)
    except KeyboardInterrupt:
        stop.set()


def cmd_udev_install(args: argparse.Namespace) -> int:
    plan = discovery.install_plan(args.target, reload=not args.no_reload)
    if not args.dry_run:
        discovery.install_rules(plan)
    if args.json:
        print_json({
            "source": str(plan.source),
            "destination": str(plan.destination),
            "commands": [" ".join(c) for c in plan.commands],
            "dry_run": args.dry_run,
        })
        return 0
    verb = "would copy" if args.dry_run else "copied"
    print(f"{verb} {plan.source} -> {plan.destination}")
    for command in plan.commands:
        print(f"{'would run' if args.dry_run else 'ran'}: {' '.join(command)}")
    return 0


def cmd_sim_modem(args: argparse.Namespace) -> int:
    from hw.cardfile import load_card_file
    from hw.sim.card import SimulatedCard
    from hw.sim.modem import SimulatedModem, parse_quirks

    quirks = parse_quirks(args.quirks)
    cardfile = load_card_file(args.card_file)
    modem = SimulatedModem(
        SimulatedCard(cardfile), quirks=quirks, imei=args.imei or cardfile.imei
    )

    stop_on_sigint_or_sigterm()
    try:  # a stop signal may come at any point from here: the link must go with it
        link = modem.open(args.link)
        print(link, flush=True)
        modem.serve()
    except KeyboardInterrupt:
        pass
    finally:
        modem.stop()
    return 0
