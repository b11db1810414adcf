"""``simattest read`` and ``simattest auth``: a card's identities, AUTHENTICATE, self-check.

``read`` prints every identity on the card (ICCID, IMSI, MNC length, UST, DF.ProSe,
ISIM identities) and the APDUs it took. ``auth`` runs AUTHENTICATE with a RAND/AUTN
given in hex, or — with ``--ki`` and ``--opc``/``--op`` (Milenage, TS 35.206) or
``--topc``/``--top`` (TUAK, TS 35.231) — checks the card against its keys (TS 33.102
clause 6.3): PASS only if RES, CK and IK are what the keys predict.

Exit codes: 0 ok, 1 the card said no (MAC failure, context not supported, PIN needed,
self-check FAIL), 2 bad input, 3 reader/transport error.
"""

from __future__ import annotations

import argparse
from typing import Any

from attest.aka.base import AkaAlgorithm
from attest.aka.milenage import Milenage
from attest.errors import InputError
from hw.identity import Identities, read_identities
from hw.selfcheck import SelfCheckResult, self_check
from hw.transport.base import open_transport
from hw.transport.modem import ModemTransport
from hw.uicc.authenticate import (
    AUTN_LENS,
    AuthContext,
    AuthContextNotSupported,
    AuthGsmSuccess,
    AuthMacFailure,
    AuthOutcome,
    AuthPinNeeded,
    AuthSuccess,
    AuthSyncFailure,
    authenticate_app,
)
from hw.uicc.ts_31_102 import USIM_SERVICE_NAMES, service_name
from hw.uicc.ts_31_103 import ISIM_SERVICE_NAMES
from server.cli.aka import LABELS, add_tuak_options, tuak_from_args, tuak_options_given
from server.cli.hexarg import hex_bytes
from server.cli.output import add_json_flag, print_fields, print_json

_CONTEXTS = {"3g": AuthContext.UMTS, "gsm": AuthContext.GSM}

_REASON_TEXT = {
    "MAC_FAILURE": "the card rejected AUTN: it does not hold these keys",
    "RES_MISMATCH": "the card's RES differs from the one the keys give",
    "CK_MISMATCH": "the card's CK differs from the one the keys give",
    "IK_MISMATCH": "the card's IK differs from the one the keys give",
    "KC_MISMATCH": "the card's Kc is not c3(CK, IK)",
    "AUTS_INVALID": "the card's AUTS does not verify with these keys",
    "SYNC_FAILED_TWICE": "the card refused the SQN again after resynchronisation",
    "PIN_NEEDED": "the card wants its PIN first (--pin)",
    "CONTEXT_NOT_SUPPORTED": "the application does not support this security context",
    "APP_NOT_FOUND": "the card has no such application",
}


def _add_card_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reader",
        required=True,
        metavar="URI",
        help="pcsc:N, pcsc:<glob>, modem:<dev>, sim:<file>",
    )
    parser.add_argument("--pin", metavar="PIN", help="verify PIN1 first (retry counter read first)")
    parser.add_argument(
        "--force", action="store_true", help="allow the PIN check to spend the last attempt"
    )
    add_json_flag(parser)


def register(subparsers: Any) -> None:
    """Add ``read`` and ``auth`` to the ``simattest`` parser."""
    read = subparsers.add_parser(
        "read",
        help="read every identity on a card",
        description="Read ICCID, IMSI, MNC length, UST, DF.ProSe and the ISIM identities.",
    )
    _add_card_options(read)
    read.set_defaults(func=cmd_read)

    auth = subparsers.add_parser(
        "auth",
        help="run AUTHENTICATE, or check a card against its keys",
        description=(
            "With --rand/--autn: run AUTHENTICATE and print the card's answer. "
            "With --ki and --opc/--op: compute a challenge, run it, verify RES/CK/IK "
            "(resynchronising once on a sync failure) and print PASS or FAIL."
        ),
    )
    _add_card_options(auth)
    auth.add_argument("--app", choices=("usim", "isim"), default="usim",
                      help="the application to authenticate on (default usim)")
    auth.add_argument("--context", choices=tuple(_CONTEXTS), default="3g",
                      help="security context: 3g (UMTS AKA, default) or gsm (RUN GSM ALGORITHM)")
    auth.add_argument("--rand", type=hex_bytes("--rand", 16), help="RAND (16 bytes)")
    auth.add_argument(
        "--autn",
        type=hex_bytes("--autn", AUTN_LENS),
        help="AUTN (16 bytes; 24 or 40 with TUAK's 128/256-bit MAC)",
    )
    auth.add_argument(
        "--ki", "--k", dest="ki", type=hex_bytes("--ki", (16, 32)),
        help="self-check: the card's key K, also called Ki (32 bytes: TUAK)"
    )
    operator = auth.add_mutually_exclusive_group()
    operator.add_argument("--opc", type=hex_bytes("--opc", 16), help="self-check: Milenage OPc")
    operator.add_argument("--op", type=hex_bytes("--op", 16), help="self-check: Milenage OP")
    operator.add_argument("--topc", type=hex_bytes("--topc", 32), help="self-check: TUAK TOPc")
    operator.add_argument("--top", type=hex_bytes("--top", 32), help="self-check: TUAK TOP")
    add_tuak_options(auth)
    auth.add_argument(
        "--sqn", type=hex_bytes("--sqn", 6), help="self-check: first SQN (default SEQ 1, IND 0)"
    )
    auth.set_defaults(func=cmd_auth)


# --- read ----------------------------------------------------------------------------------


def cmd_read(args: argparse.Namespace) -> int:
    with open_transport(args.reader) as transport:
        ids = read_identities(transport, pin=args.pin, force=args.force)
        # Through a modem the handset (ME) is known too: its IMEI (and IMEISV) join in.
        handset = (
            transport.handset_identity().to_json() if isinstance(transport, ModemTransport) else {}
        )
    if args.json:
        print_json(_with_service_names(ids.to_json()) | handset)
    else:
        rows = _identity_rows(ids) + [(key.upper(), value) for key, value in handset.items()]
        print_fields(rows, title=f"card in {args.reader}")
    return 0


def _with_service_names(doc: dict[str, Any]) -> dict[str, Any]:
    """The ``read --json`` document: the service numbers, and beside them their names
    (``ust_names``, ``isim.ist_names``: number as a string → name)."""
    doc["ust_names"] = {str(n): service_name(n) for n in doc["ust"]}
    if doc["isim"] is not None:
        doc["isim"]["ist_names"] = {str(n): service_name(n, ISIM_SERVICE_NAMES)
                                    for n in doc["isim"]["ist"]}
    return doc


def _service_rows(label: str, numbers: list[int], names: dict[int, str]
                  ) -> list[tuple[str, Any]]:
    """One row per service, its number and its spec name; one row saying none."""
    return [(label, f"{n} {service_name(n, names)}") for n in numbers] or [(label, "none")]


def _identity_rows(ids: Identities) -> list[tuple[str, Any]]:
    doc = ids.to_json()
    rows: list[tuple[str, Any]] = [
        ("ICCID", doc["iccid"]),
        ("IMSI", doc["imsi"]),
        ("MNC length", "not stated (EF.AD)" if doc["mnc_length"] is None else doc["mnc_length"]),
        *_service_rows("UST", doc["ust"], USIM_SERVICE_NAMES),
        ("DF.ProSe", "present" if doc["prose"] else "absent"),
    ]
    isim = doc["isim"]
    if isim is None:
        rows.append(("ISIM", "absent"))
    else:
        unset = "(not personalised)"
        rows += [("IMPI", isim["impi"] or unset), ("DOMAIN", isim["domain"] or unset)]
        rows += [(f"IMPU {n}", uri) for n, uri in enumerate(isim["impu"], start=1)]
        rows += _service_rows("IST", isim["ist"], ISIM_SERVICE_NAMES)
        rows += [(f"P-CSCF {n}", a) for n, a in enumerate(isim["pcscf"], start=1)]
    rows.append(("APDUs", doc["apdu_count"]))
    return rows


# --- auth ----------------------------------------------------------------------------------


def cmd_auth(args: argparse.Namespace) -> int:
    if args.ki is not None:
        return _self_check(args)
    keys = (args.opc, args.op, args.topc, args.top, args.sqn)
    if any(v is not None for v in keys) or tuak_options_given(args):
        raise InputError(
            "--opc, --op, --topc, --top, --sqn and the TUAK options belong to the "
            "self-check: give --ki too"
        )
    context = _CONTEXTS[args.context]
    if args.rand is None:
        raise InputError(
            "give --rand (and --autn), or --ki with --opc/--op/--topc/--top for a self-check"
        )
    if context is AuthContext.UMTS and args.autn is None:
        raise InputError("--autn is needed for the 3g context")
    if context is AuthContext.GSM and args.autn is not None:
        raise InputError("--autn is not used by the gsm context")
    with open_transport(args.reader) as transport:
        outcome = authenticate_app(
            transport, args.app, args.rand, args.autn, context, pin=args.pin, force=args.force
        )
    doc, exit_code = outcome_json(outcome)
    if args.json:
        print_json(doc)
    else:
        rows = [(LABELS.get(key, key), "(none)" if value is None else value)
                for key, value in doc.items()]
        print_fields(rows, title=f"AUTHENTICATE on {args.app.upper()}")
    return exit_code


def outcome_json(outcome: AuthOutcome) -> tuple[dict[str, Any], int]:
    """The ``auth --json`` document for an outcome, and the exit code it means."""
    if isinstance(outcome, AuthSuccess):
        kc = None if outcome.kc is None else outcome.kc.hex()
        doc = {"res": outcome.res.hex(), "ck": outcome.ck.hex(), "ik": outcome.ik.hex(), "kc": kc}
        return {"outcome": "success", **doc}, 0
    if isinstance(outcome, AuthGsmSuccess):
        return {"outcome": "success", "sres": outcome.sres.hex(), "kc": outcome.kc.hex()}, 0
    if isinstance(outcome, AuthSyncFailure):
        # The card refused the AUTN: a failed AUTHENTICATE for a script (exit 1), with the
        # AUTS it needs for resynchronisation printed.
        return {"outcome": "sync_failure", "auts": outcome.auts.hex()}, 1
    names = {
        AuthMacFailure: "mac_failure",
        AuthContextNotSupported: "context_not_supported",
        AuthPinNeeded: "pin_needed",
    }
    return {"outcome": names[type(outcome)]}, 1


def _self_check(args: argparse.Namespace) -> int:
    if args.rand is not None or args.autn is not None:
        raise InputError("the self-check makes its own RAND/AUTN: drop --rand/--autn")
    if args.context != "3g":
        raise InputError("the self-check runs the 3g context only")
    algorithm = _algorithm(args)
    with open_transport(args.reader) as transport:
        result = self_check(
            transport, algorithm, args.sqn, args.app, pin=args.pin, force=args.force
        )
    if args.json:
        print_json(selfcheck_json(result))
    elif result.passed:
        resync = f", after resynchronising to SQN_MS {result.sqn_ms.hex()}" if result.sqn_ms else ""
        print(
            f"PASS ({args.app.upper()} answers AKA as its keys say; SQN {result.sqn.hex()}"
            f"{resync})"
        )
    else:
        assert result.reason is not None
        print(f"FAIL {result.reason.value}: {_REASON_TEXT[result.reason.value]}")
    return 0 if result.passed else 1


def _algorithm(args: argparse.Namespace) -> AkaAlgorithm:
    """Milenage from --opc/--op, TUAK from --topc/--top (with its options)."""
    if args.topc is not None or args.top is not None:
        return tuak_from_args(args, args.ki, args.top, args.topc)
    if args.opc is None and args.op is None:
        raise InputError("the self-check needs --opc or --op (Milenage) or --topc or --top "
                         "(TUAK) with --ki")
    given = tuak_options_given(args)
    if given:
        raise InputError(f"{given[0]} is a TUAK option; Milenage (--opc/--op) has none")
    if len(args.ki) != 16:
        raise InputError(f"--ki: Milenage takes a 16-byte K, got {len(args.ki)} bytes")
    return Milenage(args.ki, opc=args.opc, op=args.op)


def selfcheck_json(result: SelfCheckResult) -> dict[str, Any]:
    """The ``auth --ki … --json`` document."""
    return {
        "verdict": result.verdict,
        "reason": None if result.reason is None else result.reason.value,
        "sqn": result.sqn.hex(),
        "sqn_ms": None if result.sqn_ms is None else result.sqn_ms.hex(),
        "attempts": result.attempts,
    }
