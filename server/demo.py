"""``make demo``: a simulated public-safety card behind a real pcscd, read and checked.

The whole PC/SC path runs for real: our own ``pcscd --foreground`` with vpcd readers
(:class:`hw.sim.pcsc_stack.PcscStack`), the example card ``ps-001.yaml`` served into a
reader by the vpcd bridge, and the same code ``simattest read`` / ``simattest auth --ki``
use, over pyscard. The self-check is TS 33.102 clause 6.3 from the network side: AUTN
built from the card file's K/OPc, RES/CK/IK compared in constant time.

:func:`check_card` is the reusable part (the attestation demo builds on it); the exit
status is non-zero when the self-check fails.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from attest.errors import SimattestError
from hw.cardfile import PROFILES_DIR, load_card_file
from hw.identity import Identities, read_identities
from hw.selfcheck import SelfCheckResult, self_check
from hw.sim.card import SimulatedCard
from hw.sim.pcsc_stack import PcscStack
from hw.transport.pcsc import PcscTransport
from hw.uicc import ts_31_102, ts_31_103

EXAMPLE_CARD = PROFILES_DIR / "examples" / "ps-001.yaml"

# Services a public-safety desk looks for (TS 31.102 clause 4.2.8, TS 31.103 clause 4.2.7).
_UST_NAMES = {
    ts_31_102.SERVICE_GSM_ACCESS: "GSM access",
    ts_31_102.SERVICE_GBA: "GBA",
    ts_31_102.SERVICE_UICC_IMS: "UICC access to IMS",
    ts_31_102.SERVICE_PROSE: "ProSe",
    ts_31_102.SERVICE_MCPTT: "MCPTT",
}
_IST_NAMES = {ts_31_103.SERVICE_PCSCF: "P-CSCF address", ts_31_103.SERVICE_MCPTT: "MCPTT"}


@dataclass(frozen=True)
class CardCheck:
    """What the demo learnt about one card over PC/SC."""

    reader: str
    atr: bytes
    protocol: str
    identities: Identities
    result: SelfCheckResult
    apdu_count: int  # read + self-check, GET RESPONSE included


def check_card(stack: PcscStack, card_file: Path = EXAMPLE_CARD, slot: int = 0) -> CardCheck:
    """Insert the card file's simulated card into reader ``slot``, read every identity
    and self-check its AKA against the card file's keys, all over PC/SC."""
    cardfile = load_card_file(card_file)
    stack.attach(slot, SimulatedCard(cardfile))
    reader = stack.reader_names[slot]
    pin = cardfile.pin1 if cardfile.pin1_enabled else None
    with PcscTransport(reader) as transport:
        # PIN1 verified once, by the read, holds for the session's self-check too.
        identities = read_identities(transport, pin=pin)
        result = self_check(transport, cardfile.algorithm())
        return CardCheck(
            reader, transport.atr, transport.protocol, identities, result, transport.apdu_count
        )


def _services(numbers: tuple[int, ...], names: dict[int, str]) -> str:
    named = [f"{n} {names[n]}" for n in sorted(numbers) if n in names]
    others = [str(n) for n in sorted(numbers) if n not in names]
    return ", ".join(named + (["others: " + " ".join(others)] if others else []))


def identity_table(ids: Identities) -> Table:
    """The card's identities as a person reads them."""
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    table.add_row("ICCID", ids.iccid)
    mnc = f" (MNC of {ids.mnc_length} digits)" if ids.mnc_length else ""
    table.add_row("IMSI", ids.imsi + mnc)
    table.add_row("USIM services", _services(ids.ust, _UST_NAMES))
    table.add_row("DF.ProSe", "present" if ids.prose else "absent")
    if ids.isim is None:
        table.add_row("ISIM", "absent")
        return table
    table.add_row("IMPI", ids.isim.impi)
    table.add_row("home domain", ids.isim.domain)
    for n, impu in enumerate(ids.isim.impu, start=1):
        table.add_row(f"IMPU {n}", impu)
    table.add_row("ISIM services", _services(ids.isim.ist, _IST_NAMES))
    for n, pcscf in enumerate(ids.isim.pcscf, start=1):
        table.add_row(f"P-CSCF {n}", pcscf)
    return table


def render(console: Console, check: CardCheck) -> None:
    console.print(f"[green]✓[/] card in [bold]{check.reader}[/], {check.protocol}")
    console.print(f"  ATR {check.atr.hex().upper()}")
    console.print(
        Panel(
            identity_table(check.identities),
            title="identities",
            subtitle=f"{check.identities.apdu_count} APDUs",
            expand=False,
        )
    )
    result = check.result
    if result.passed:
        verdict = (
            f"[bold green]PASS[/]  the USIM answers AKA as its K/OPc predict "
            f"(RES, CK, IK match; SQN {result.sqn.hex()}, {result.attempts} attempt(s))"
        )
    else:
        assert result.reason is not None
        verdict = f"[bold red]FAIL[/]  {result.reason.value}"
    console.print(Panel(verdict, title="self-check", expand=False))
    console.print(f"[dim]{check.apdu_count} APDUs through pyscard → pcscd → vpcd → card[/]")


def main() -> int:
    console = Console()
    console.rule("simattest demo: a public-safety USIM/ISIM over a real PC/SC stack")
    try:
        with console.status("starting pcscd with vpcd readers…"):
            stack = PcscStack(readers=2)
            stack.start()
        try:
            console.print(
                f"[green]✓[/] pcscd running (PID {stack.pid}), readers: "
                + ", ".join(stack.reader_names)
            )
            check = check_card(stack)
        finally:
            stack.stop()
    except SimattestError as exc:
        console.print(f"[bold red]demo failed:[/] {exc}")
        return exc.exit_code
    render(console, check)
    return 0 if check.result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
