"""``simattest device registration-nonce|attested-sim`` and the attestation options of
``simattest device add``: handsets registered from an Android key attestation."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from attest import b64url
from attest.errors import InputError
from attest.textfile import os_reason
from server.agent.client import add_server_options, client_from_args
from server.cli.output import add_json_flag, print_fields, print_json


def register(sub: Any) -> None:
    nonce = sub.add_parser(
        "registration-nonce",
        help="a single-use registration nonce for registering a handset from its Android "
             "key attestation (the handset's setAttestationChallenge)")
    nonce.add_argument("--imei", required=True, help="the handset's IMEI (15 digits)")
    add_server_options(nonce, token=True)
    add_json_flag(nonce)
    nonce.set_defaults(func=_nonce)

    sim = sub.add_parser(
        "attested-sim",
        help="make a simulated attested Android handset directory (TEST ONLY)",
        description="A TEST-ONLY handset for tests, demos and benches: a test attestation "
                    "authority plays its KeyMint.  Start the service with "
                    "--attestation-roots DIR/attestation-root.pem to trust it, register "
                    "it with simattest device add --attested-device DIR, attest it with "
                    "simattest checkout --attested-device DIR.")
    sim.add_argument("--out", required=True, type=Path, metavar="DIR",
                     help="the handset directory to make (new or empty)")
    sim.add_argument("--imei", required=True, help="the IMEI it attests (15 digits)")
    sim.add_argument("--authority", type=Path, metavar="DIR",
                     help="share the test authority of this handset directory (one "
                          "--attestation-roots for several handsets)")
    sim.add_argument("--security-level", choices=("tee", "strongbox", "software"),
                     default="tee", help="where its keys live (default tee)")
    sim.add_argument("--unlocked", action="store_true", help="an unlocked bootloader")
    sim.add_argument("--unverified-boot", action="store_true",
                     help="verified boot state Unverified (an OS the device does not "
                          "verify)")
    sim.add_argument("--patch-level", type=_patch_level, default=0, metavar="YYYYMM",
                     help="its security patch level (default: last month's)")
    add_json_flag(sim)
    sim.set_defaults(func=_sim)


def add_options(add: argparse.ArgumentParser) -> argparse._MutuallyExclusiveGroup:
    """``device add``'s ways to name the device key: ``--key`` (the caller adds it),
    ``--attestation CHAIN.pem`` or ``--attested-device DIR``."""
    group = add.add_mutually_exclusive_group(required=True)
    group.add_argument("--attestation", type=Path, metavar="CHAIN.pem",
                       help="register from the handset's Android key attestation: the "
                            "certificate chain (PEM, leaf first) of its device key, made "
                            "with a registration nonce as attestation challenge")
    group.add_argument("--attested-device", type=Path, metavar="DIR",
                       help="register a simulated attested handset (TEST ONLY, simattest "
                            "device attested-sim): asks for the nonce, makes its key")
    add.add_argument("--nonce", metavar="NONCE",
                     help="with --attestation: the registration nonce (default: the "
                          "chain's attestation challenge)")
    return group


def _patch_level(text: str) -> int:
    if not (len(text) == 6 and text.isascii() and text.isdigit()
            and 1 <= int(text[4:]) <= 12):
        raise argparse.ArgumentTypeError(f"{text!r}: expected YYYYMM, e.g. 202511")
    return int(text)


def _nonce(args: argparse.Namespace) -> int:
    issued = client_from_args(args).post("/v1/registration-nonces",
                                         {"imei": args.imei})
    if args.json:
        print_json(issued)
    else:
        print_fields([(k, issued[k]) for k in ("imei", "nonce", "expires_at")],
                     title="registration nonce (single use)")
    return 0


def _sim(args: argparse.Namespace) -> int:
    from server.agent.attested import AUTHORITY_FILE, SimProperties, create
    from server.core.identifiers import check_imei

    check_imei(args.imei, field="--imei")
    authority = None
    if args.authority is not None:
        from attest.android.testauthority import TestAttestationAuthority

        path = args.authority / AUTHORITY_FILE
        try:
            authority = TestAttestationAuthority.from_pem(path.read_bytes())
        except OSError as exc:
            raise InputError(f"--authority {path}: cannot read it ({os_reason(exc)})") \
                from None
    from server.store.models import utcnow

    props = SimProperties(args.imei, args.security_level, not args.unlocked,
                          "unverified" if args.unverified_boot else "verified",
                          args.patch_level)
    root = create(args.out, props, utcnow(), authority)
    if args.json:
        print_json({"directory": str(args.out), "attestation_roots": str(root)})
    else:
        print(f"simulated attested handset {args.out} (TEST ONLY); trust it with "
              f"simattest serve --attestation-roots {root}")
    return 0


def add_attested(args: argparse.Namespace) -> dict[str, Any]:
    """``device add --attestation|--attested-device``: the handset as registered."""
    client = client_from_args(args)
    if args.attested_device is not None:
        from server.agent.attested import AttestedHandset

        handset = AttestedHandset.load(args.attested_device)
        if handset.props.imei != args.imei:
            raise InputError(f"--imei {args.imei}: {args.attested_device} is handset "
                             f"{handset.props.imei}")
        return handset.register(client, label=args.label)
    try:
        chain = args.attestation.read_bytes().decode("ascii")
    except OSError as exc:
        raise InputError(f"{args.attestation}: cannot read it ({os_reason(exc)})") from None
    except UnicodeDecodeError:
        raise InputError(f"{args.attestation}: not PEM text") from None
    nonce = args.nonce or _challenge_of(args.attestation, chain)
    body: dict[str, Any] = {"imei": args.imei, "attestation": chain, "nonce": nonce,
                            "label": args.label}
    if args.imeisv:
        body["imeisv"] = args.imeisv
    return client.post("/v1/registrations", body)


def _challenge_of(path: Path, chain: str) -> str:
    """The leaf's attestationChallenge (base64url): the nonce it was made with.  Only
    read here, to name the nonce; the service verifies the chain."""
    from cryptography import x509

    from attest.android.certfile import load_chain
    from attest.android.chain import KEY_DESCRIPTION_OID
    from attest.android.keydescription import decode_key_description

    leaf = load_chain(chain.encode("ascii"), field=str(path))[0]
    try:
        extension = leaf.extensions.get_extension_for_oid(KEY_DESCRIPTION_OID).value
    except (x509.ExtensionNotFound, ValueError):
        raise InputError(f"{path}: the first certificate has no KeyDescription extension "
                         "(not an Android key attestation)") from None
    assert isinstance(extension, x509.UnrecognizedExtension)
    return b64url.encode(decode_key_description(extension.value).attestation_challenge)
