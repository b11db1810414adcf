"""``simattest sim …``: serve a simulated card to real software.

``sim vpcd`` puts a simulated card into a running pcscd's vpcd reader, so any PC/SC
application (including ``simattest read --reader pcsc:…``) talks to it. Each simulator
is one entry of :data:`SIMULATORS`: a ``"module:function"`` that adds its sub-command to
the ``sim`` group's sub-parsers.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

from hw.cardfile import load_card_file
from hw.sim.vpcd import DEFAULT_HOST, DEFAULT_PORT, VpcdBridge
from server.cli.stopsignals import stop_on_sigint_or_sigterm

SIMULATORS: tuple[str, ...] = (
    "server.cli.sim:register_sim_vpcd",
    "server.cli.modem:register_sim_modem",
)


def register(subparsers: Any) -> None:
    sim = subparsers.add_parser("sim", help="serve a simulated card (vpcd reader, modem)")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True, metavar="SIMULATOR")
    for entry in SIMULATORS:
        module, _, function = entry.partition(":")
        getattr(importlib.import_module(module), function)(sim_sub)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 <= value <= 60:
        raise argparse.ArgumentTypeError(f"expected 0 to 60 seconds, got {text}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port 1-65535, got {text!r}")
    return int(text)


def register_sim_vpcd(sim_subparsers: Any) -> None:
    """Add ``sim vpcd`` to the ``sim`` group's sub-parsers."""
    vpcd = sim_subparsers.add_parser(
        "vpcd",
        help="insert a simulated card into a running pcscd's vpcd reader until Ctrl-C",
        description="Needs pcscd with the vsmartcard vpcd driver (Debian: vsmartcard-vpcd), "
        "whose first reader listens on 127.0.0.1:35963.",
    )
    vpcd.add_argument("card_file", type=Path, help="personalised card file (YAML)")
    vpcd.add_argument("--port", type=_port, default=DEFAULT_PORT, help="vpcd port (35963)")
    vpcd.add_argument("--host", default=DEFAULT_HOST, help="vpcd host (127.0.0.1)")
    vpcd.add_argument("--t0", action="store_true", help="behave like a T=0 card (61xx answers)")
    vpcd.add_argument(
        "--latency", type=_seconds, default=0.0, metavar="S", help="delay per APDU in seconds"
    )
    vpcd.set_defaults(func=cmd_sim_vpcd)


def _say(message: str) -> None:
    print(message, flush=True)


def cmd_sim_vpcd(args: argparse.Namespace) -> int:
    from hw.sim.card import SimulatedCard

    stop_on_sigint_or_sigterm()
    cardfile = load_card_file(args.card_file)
    card = SimulatedCard(cardfile, t0=args.t0, latency=args.latency)
    bridge = VpcdBridge(card, args.port, args.host, notify=_say)
    bridge.connect()
    _say(f"serving card ICCID {cardfile.iccid} ({args.card_file}); Ctrl-C takes it out")
    try:
        bridge.run()
    except KeyboardInterrupt:
        bridge.stop()
        _say("card taken out of the reader")
    return 0
