"""``simattest aka milenage|tuak``: compute an AKA vector from keys typed on the bench.

A bench engineer checks a card, an HSS or another tool against known keys: the command
prints every output of the algorithm set for one RAND/SQN/AMF (TS 33.102 clause 6.3),
and with ``--auts`` the SQN_MS recovered from a card's re-synchronisation token
(clause 6.3.5), so a fresh AUTN can be built past it.
Hex is parsed and size-checked here, at the edge; the library gets bytes.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from attest.aka.base import AkaAlgorithm, AkaVector
from attest.aka.gsm import c2, c3
from attest.aka.milenage import Milenage
from attest.aka.sqn import resync
from attest.aka.tuak import KEY_LENGTHS, MAC_LENGTHS, RES_LENGTHS, Tuak
from server.cli.hexarg import OneLineErrorParser, hex_bytes
from server.cli.output import add_json_flag, print_fields, print_json


def _positive_int(name: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name}: expected a whole number ≥ 1")
        return value

    return parse


def _add_challenge(parser: argparse.ArgumentParser, k_size: int | tuple[int, ...]) -> None:
    sizes = (k_size,) if isinstance(k_size, int) else k_size
    k_help = " or ".join(str(8 * s) for s in sizes)
    parser.add_argument(
        "--k", "--ki", dest="k", required=True, type=hex_bytes("--k", k_size),
        help=f"the subscriber key K, also called Ki ({k_help} bits)"
    )
    parser.add_argument(
        "--rand", required=True, type=hex_bytes("--rand", 16), help="RAND (16 bytes)"
    )
    parser.add_argument("--sqn", required=True, type=hex_bytes("--sqn", 6), help="SQN (6 bytes)")
    parser.add_argument("--amf", required=True, type=hex_bytes("--amf", 2), help="AMF (2 bytes)")
    parser.add_argument(
        "--auts",
        type=hex_bytes("--auts", None),
        help="AUTS a card returned for this RAND: also print the SQN_MS it carries "
        "(exit 1 if its MAC-S does not verify)",
    )


def register(subparsers: Any) -> None:
    """Add ``aka milenage`` and ``aka tuak`` to the ``simattest`` parser."""
    aka = subparsers.add_parser(
        "aka", help="compute AKA vectors from keys (Milenage, TUAK)",
        description="Print every output of Milenage or TUAK for one RAND, SQN and AMF "
                    "(TS 33.102 clause 6.3): check a card, an HSS or another tool against "
                    "known keys. With --auts, also the SQN_MS a card's re-synchronisation "
                    "token carries (clause 6.3.5). Keys and values are hex.")
    algorithms = aka.add_subparsers(
        dest="algorithm", required=True, metavar="ALGORITHM", parser_class=OneLineErrorParser
    )

    milenage = algorithms.add_parser("milenage", help="Milenage (3GPP TS 35.206)")
    _add_challenge(milenage, 16)
    operator = milenage.add_mutually_exclusive_group(required=True)
    operator.add_argument("--op", type=hex_bytes("--op", 16), help="operator variant OP (16 bytes)")
    operator.add_argument("--opc", type=hex_bytes("--opc", 16), help="derived OPc (16 bytes)")
    add_json_flag(milenage)
    milenage.set_defaults(func=_milenage)

    tuak = algorithms.add_parser("tuak", help="TUAK (3GPP TS 35.231)")
    _add_challenge(tuak, (16, 32))
    operator = tuak.add_mutually_exclusive_group(required=True)
    operator.add_argument(
        "--top", type=hex_bytes("--top", 32), help="operator variant TOP (32 bytes)"
    )
    operator.add_argument("--topc", type=hex_bytes("--topc", 32), help="derived TOPc (32 bytes)")
    add_tuak_options(tuak)
    add_json_flag(tuak)
    tuak.set_defaults(func=_tuak)


# TUAK's options besides K and TOP/TOPc (TS 35.231 clause 6): dest, flag, output, choices,
# default. The parsers leave them None when not given (so a command can tell whether
# any was); :func:`tuak_from_args` applies the defaults.
_TUAK_OPTIONS: tuple[tuple[str, str, str, tuple[int, ...], int], ...] = (
    ("keccak_iterations", "--keccak-iterations", "Keccak-f[1600] applications", (), 1),
    ("res_len", "--res-len", "RES", RES_LENGTHS, 64),
    ("mac_len", "--mac-len", "MAC-A/MAC-S", MAC_LENGTHS, 64),
    ("ck_len", "--ck-len", "CK", KEY_LENGTHS, 128),
    ("ik_len", "--ik-len", "IK", KEY_LENGTHS, 128),
)


def add_tuak_options(parser: argparse.ArgumentParser) -> None:
    """``--keccak-iterations`` and the output lengths in bits (TS 35.231 clause 6)."""
    for dest, flag, output, choices, default in _TUAK_OPTIONS:
        if not choices:
            parser.add_argument(
                flag, dest=dest, type=_positive_int(flag), metavar="N",
                help=f"{output} per function (default {default})",
            )
            continue
        parser.add_argument(
            flag, dest=dest, type=int, choices=choices, metavar="BITS",
            help=f"{output} length in bits: {', '.join(map(str, choices))} (default {default})",
        )


def tuak_options_given(args: argparse.Namespace) -> list[str]:
    """The TUAK options present on the command line (for commands that may not use them)."""
    return [flag for dest, flag, _, _, _ in _TUAK_OPTIONS if getattr(args, dest) is not None]


def tuak_from_args(
    args: argparse.Namespace, k: bytes, top: bytes | None, topc: bytes | None
) -> Tuak:
    """A :class:`Tuak` from K, TOP/TOPc and the options of :func:`add_tuak_options`."""
    given = {dest: getattr(args, dest) for dest, _, _, _, _ in _TUAK_OPTIONS}
    params = {
        dest: default if given[dest] is None else given[dest]
        for dest, _, _, _, default in _TUAK_OPTIONS
    }
    return Tuak(k, top=top, topc=topc, **params)


def _vector_fields(v: AkaVector) -> dict[str, str]:
    return {
        "mac_a": v.mac_a.hex(),
        "mac_s": v.mac_s.hex(),
        "res": v.res.hex(),
        "ck": v.ck.hex(),
        "ik": v.ik.hex(),
        "ak": v.ak.hex(),
        "ak_star": v.ak_star.hex(),
        "autn": v.autn.hex(),
    }


# How the specifications write each AKA value, for tables people read (JSON keeps keys).
LABELS = {
    "opc": "OPc", "topc": "TOPc", "mac_a": "MAC-A", "mac_s": "MAC-S", "res": "RES",
    "ck": "CK", "ik": "IK", "ak": "AK", "ak_star": "AK*", "autn": "AUTN", "sres": "SRES",
    "kc": "Kc", "auts": "AUTS", "sqn_ms": "SQN_MS (from AUTS)",
}


def _emit(
    args: argparse.Namespace, alg: AkaAlgorithm, data: dict[str, str], title: str
) -> int:
    if args.auts is not None:
        data["sqn_ms"] = resync(alg, args.rand, args.auts).hex()
    if args.json:
        print_json(data)
    else:
        print_fields(((LABELS[key], value) for key, value in data.items()), title=title)
    return 0


def _milenage(args: argparse.Namespace) -> int:
    alg = Milenage(args.k, op=args.op, opc=args.opc)
    v = alg.vector(args.rand, args.sqn, args.amf)
    data = {"opc": alg.opc.hex(), **_vector_fields(v)}
    data["sres"] = c2(v.res).hex()
    data["kc"] = c3(v.ck, v.ik).hex()
    return _emit(args, alg, data, "Milenage (TS 35.206)")


def _tuak(args: argparse.Namespace) -> int:
    alg = tuak_from_args(args, args.k, args.top, args.topc)
    v = alg.vector(args.rand, args.sqn, args.amf)
    return _emit(args, alg, {"topc": alg.topc.hex(), **_vector_fields(v)}, "TUAK (TS 35.231)")
