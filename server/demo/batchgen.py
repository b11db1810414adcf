"""Synthetic SIM vendor batches with known keys: for the demo, tests and benchmarks.

Real pools come from a vendor; these generate the same two layouts (``server.pool.vendorfile``)
for cards whose K/OPc the caller knows, optionally with Ki/OPc encrypted under a
transport key (AES-128 ECB per block) and the key's check value in the header.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from server.core.identifiers import luhn_digit
from server.pool.provisioning import key_check_value
from server.pool.vendorfile import format_vendor_out


@dataclass(frozen=True)
class SynthCard:
    iccid: str
    imsi: str
    k: bytes = field(repr=False)
    opc: bytes = field(repr=False)


def synth_cards(
    count: int, *, iccid_prefix: str = "8949440000", imsi_prefix: str = "00101", start: int = 0
) -> list[SynthCard]:
    """``count`` cards with Luhn-valid 20-digit ICCIDs, 15-digit IMSIs and random keys."""
    cards = []
    for n in range(start, start + count):
        body = f"{iccid_prefix}{n:0{19 - len(iccid_prefix)}d}"
        cards.append(SynthCard(
            iccid=body + luhn_digit(body),
            imsi=f"{imsi_prefix}{n:0{15 - len(imsi_prefix)}d}",
            k=os.urandom(16), opc=os.urandom(16),
        ))
    return cards


def vendor_out_text(cards: list[SynthCard], transport_key: bytes | None = None,
                    profile: str | None = None) -> str:
    """A vendor output file for ``cards`` (Ki/OPC encrypted when ``transport_key``;
    with a PROFILE column, after the others, when ``profile``)."""
    ecb = (Cipher(algorithms.AES(transport_key), modes.ECB()).encryptor()  # noqa: S305
           if transport_key is not None else None)

    def col(value: bytes) -> str:
        return (value if ecb is None else ecb.update(value)).hex().upper()

    header = {"Customer": "simattest", "Quantity": str(len(cards)), "Type": "USIM",
              "Transport_key": "0" if transport_key is None else "1"}
    if transport_key is not None:
        header["KCV"] = key_check_value(transport_key).hex().upper()
    columns = ["ICCID", "IMSI", "PIN1", "PUK1", "KI", "OPC", *(["PROFILE"] if profile else [])]
    rows = [{"ICCID": c.iccid, "IMSI": c.imsi, "PIN1": "1234", "PUK1": "12345678",
             "KI": col(c.k), "OPC": col(c.opc), "PROFILE": profile or ""} for c in cards]
    return format_vendor_out(columns, rows, header)


def csv_text(cards: list[SynthCard]) -> str:
    lines = ["ICCID,IMSI,KI,OPC"]
    lines += [f"{c.iccid},{c.imsi},{c.k.hex()},{c.opc.hex()}" for c in cards]
    return "\n".join(lines) + "\n"
