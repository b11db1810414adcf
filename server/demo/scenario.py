"""``make demo``: the card over a real PC/SC stack, then checkout attestations end to end.

The whole PC/SC path runs for real: our own ``pcscd --foreground`` with vpcd readers
(:class:`hw.sim.pcsc_stack.PcscStack`), the example card ``ps-001.yaml`` served into a
reader by the vpcd bridge, and the same code ``simattest read`` / ``simattest auth --ki``
use, over pyscard. The self-check is TS 33.102 clause 6.3 from the network side: AUTN
built from the card file's K/OPc, RES/CK/IK compared in constant time.

:func:`check_card` is the reusable part (the attestation demo builds on it).

The attestation part (issue 4) starts the service (``simattest serve``: gunicorn) on
SQLite in a fresh data directory, bootstraps operator tokens, imports a generated vendor
output file, registers handsets with device keys and pairs them — all over the HTTP API — then runs
the device agent against simulated cards behind the same pcscd (and one behind the
simulated modem) for five cases: the genuine pair, a commercial SIM swapped in, a card
taken from another pooled handset, a clone with the right ICCID/IMSI but another K,
and a replayed evidence.  Two more handsets are simulated attested Android handsets
(``server.agent.attested``, TEST-ONLY attestation authority, which the service is
started to trust with ``--attestation-roots``), registered from their key attestation
and attested with a fresh one at checkout: one whose bootloader was unlocked since
(``ME_BOOTLOADER_UNLOCKED``, contraindicated), one whose patch level is too old
(``ME_PATCH_TOO_OLD``, a warning).  It prints one line per case (it fits 80 columns), what the
reasons mean (``attest.reasons``) and a summary of one EAR as a relying party decodes
it (key from ``/.well-known/jwks.json`` through PyJWT's ``PyJWKClient``; the whole
token with ``--verbose``).  Before it starts it says what it runs on the host: its
pcscd without USB drivers where the host allows (``PcscStack(hide_usb_readers=True)``),
vpcd listening on all interfaces, the service on loopback.
Run interactively it then keeps the service up for the desk pages until Ctrl-C;
with ``--once`` or without a terminal on stdin it stops at once.  The exit status is
non-zero when any verdict differs from the expected one.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.json import JSON
from rich.panel import Panel
from rich.table import Table

from attest.devicekey import DeviceSigner
from attest.devicekey import generate as generate_device_key
from attest.errors import InputError, SimattestError, TransportError
from attest.reasons import explain
from hw.cardfile import load_card_file
from hw.identity import Identities, read_identities
from hw.selfcheck import SelfCheckResult, self_check
from hw.sim.card import SimulatedCard
from hw.sim.modem import SimulatedModem
from hw.sim.pcsc_stack import PcscStack, can_hide_usb_readers
from hw.transport.base import open_transport
from hw.transport.pcsc import PcscTransport
from hw.uicc import ts_31_102, ts_31_103
from server.agent.attested import AttestedHandset, SimProperties
from server.agent.attested import create as create_attested
from server.agent.checkout import (
    Attest,
    answer_challenge,
    card_facts,
    challenge_request,
    handset_identity,
    submit,
)
from server.agent.client import ServiceClient
from server.core.identifiers import luhn_digit
from server.core.operators import create_token
from server.core.service import Service
from server.demo.batchgen import SynthCard, synth_cards, vendor_out_text
from server.store.models import utcnow

# The example cards are in the repository, not installed: the demo runs from a checkout.
EXAMPLES = Path(__file__).resolve().parents[2] / "card_profiles" / "examples"
EXAMPLE_CARD = EXAMPLES / "ps-001.yaml"

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



# --- checkout attestation (issue 4) ---------------------------------------------------

PS_PROFILE = "public-safety-usim-isim"
IMS_DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
COMMERCIAL_CARD = EXAMPLES / "commercial-001.yaml"
START_TIMEOUT = 60.0  # seconds for gunicorn to answer /healthz


@dataclass(frozen=True)
class DemoHandset:
    label: str
    imei: str
    key: DeviceSigner


@dataclass(frozen=True)
class CaseResult:
    case: str  # what is in the handset (or what it attests), in a few words
    handset: str
    expected: tuple[str, tuple[str, ...]]
    status: str
    reasons: tuple[str, ...]
    ear: str

    @property
    def as_expected(self) -> bool:
        return (self.status, self.reasons) == self.expected

    def line(self) -> str:
        """The case on one line of 80 columns: unit, case, expected, got, ✓."""
        got = _verdict_text(self.status, self.reasons)
        got = got if len(got) <= _GOT_WIDTH else got[:_GOT_WIDTH - 1] + "…"
        return (f"{self.handset:<7} {self.case:<24} "
                f"{_verdict_text(*self.expected):<{_GOT_WIDTH}} {got:<{_GOT_WIDTH}} "
                f"{'✓' if self.as_expected else '✗'}")


_GOT_WIDTH = 22  # the longest reason code, ME_BOOTLOADER_UNLOCKED
CASE_HEADER = f"{'unit':<7} {'case':<24} {'expected':<{_GOT_WIDTH}} {'got':<{_GOT_WIDTH}}"


def _verdict_text(status: str, reasons: tuple[str, ...]) -> str:
    """A verdict in one word: its reasons when it has any (they imply the status)."""
    return ",".join(reasons) or status


def demo_imei(n: int) -> str:
    body = f"3569380356{n:04d}"
    return body + luhn_digit(body)


def write_card_file(directory: Path, name: str, card: SynthCard, imei: str) -> Path:
    """A personalised public-safety card file for ``card`` (the simulator's input)."""
    doc = {
        "profile": PS_PROFILE, "iccid": card.iccid, "imsi": card.imsi,
        "ki": card.k.hex(), "opc": card.opc.hex(), "imei": imei,
        "isim": {"impi": f"{card.imsi}@{IMS_DOMAIN}", "domain": IMS_DOMAIN,
                 "impu": [f"sip:{card.imsi}@{IMS_DOMAIN}"]},
    }
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    return path


@dataclass(frozen=True)
class TlsFiles:
    """The service's certificate and key, and the CA of its clients (and of itself)."""

    cert: Path
    key: Path
    ca: Path


class ServiceProcess:
    """``simattest serve`` (gunicorn) on 127.0.0.1 and a free port, stopped by its PID."""

    def __init__(self, data_dir: Path, log_path: Path, workers: int = 2,
                 options: tuple[str, ...] = (), tls: TlsFiles | None = None,
                 config: Path | None = None) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.workers = workers
        self.options = options
        self.port = _free_port()
        self.tls = tls
        self.config = config
        self.url = f"http://127.0.0.1:{self.port}" if tls is None \
            else f"https://localhost:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        metrics_dir = self.data_dir.parent / "prometheus"
        metrics_dir.mkdir(exist_ok=True)
        # Every worker's metrics end up in one /metrics (server.http.metrics).
        env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
        if self.config is not None:
            env["SIMATTEST_CONFIG"] = str(self.config)
        tls = [] if self.tls is None else [
            "--tls-cert", str(self.tls.cert), "--tls-key", str(self.tls.key),
            "--client-ca", str(self.tls.ca)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server.cli.main", "serve", "--data", str(self.data_dir),
                 "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
                 *self.options, *tls],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise TransportError(f"the service exited at start; see {self.log_path}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2, verify=True
                                if self.tls is None else str(self.tls.ca)).ok:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise TransportError(f"the service did not answer in {START_TIMEOUT:g} s; "
                                     f"see {self.log_path}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bootstrap_tokens(data_dir: Path) -> dict[str, str]:
    """Operator tokens made on the data directory itself (like ``admin token create``)."""
    with Service.open(data_dir) as svc:
        return {role: create_token(svc, role, f"demo {role}", actor="demo")
                for role in ("provisioner", "desk")}


def _provision(client: ServiceClient, vendor_file: Path, pairs: list[tuple[DemoHandset, str]],
               attested: list[tuple[AttestedHandset, str]]) -> list[DemoHandset]:
    """Import the pool, register the handsets (the attested ones from their attestation)
    and pair them; the attested ones as the agent plays them."""
    report = client.post("/v1/pool/imports", {"filename": vendor_file.name,
                                              "content": vendor_file.read_text()})
    if report.get("imported") != len(pairs) + len(attested):
        raise InputError(f"pool import: {report}")
    for handset, iccid in pairs:
        client.post("/v1/handsets", {"imei": handset.imei, "label": handset.label,
                                     "public_key": handset.key.public_pem().decode("ascii")})
        client.post("/v1/pairings", {"imei": handset.imei, "iccid": iccid})
    played = []
    for n, (device, iccid) in enumerate(attested, start=len(pairs) + 1):
        device.register(client, label=f"unit {n}")
        client.post("/v1/pairings", {"imei": device.props.imei, "iccid": iccid})
        played.append(DemoHandset(f"unit {n}", device.props.imei, device.signer()))
    return played


def _agent(client: ServiceClient, reader: str, handset: DemoHandset, imei: str | None,
           attest: Attest | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """One attestation by the device agent's own functions: (signed body, answer)."""
    with open_transport(reader) as transport:
        imei, imeisv = handset_identity(transport, imei)
        facts = card_facts(transport, None)
        challenge = client.post("/v1/attestations", challenge_request(handset.key, imei))
        body = answer_challenge(transport, handset.key, imei, imeisv, facts, challenge,
                                attest=attest)
        return body, submit(client, body)


def _case(name: str, handset: DemoHandset, expected: tuple[str, tuple[str, ...]],
          answer: dict[str, Any]) -> CaseResult:
    return CaseResult(name, handset.label, expected, answer["status"],
                      tuple(answer.get("reasons", [])), answer.get("ear", ""))


@dataclass(frozen=True)
class Genuine:
    """Unit 1 with its own card still in its reader, for fresh attestations at the desk."""

    client: ServiceClient
    reader: str
    handset: DemoHandset
    key_file: Path
    other: DemoHandset  # unit 2, checked out to nobody: the IdMS demo's refusal

    def attest(self) -> CaseResult:
        _, answer = _agent(self.client, self.reader, self.handset, self.handset.imei)
        return _case("its own card, again", self.handset, ("affirming", ()), answer)

    def command(self, server: str, stack: PcscStack) -> str:
        """The device agent's command line that does the same from another terminal, one
        option a line (a shell reads the backslashes as one line), so that it can be
        copied from an 80-column terminal."""
        return " \\\n  ".join([
            f"PCSCLITE_CSOCK_NAME={stack.socket_path}", ".venv/bin/simattest checkout",
            f"--server {server} --reader '{self.reader}'",
            f"--device-key {self.key_file}", f"--imei {self.handset.imei}"])


# Units 5 and 6: simulated attested Android handsets (TEST ONLY), their patch levels.
OLD_PATCH_LEVEL = 202401


def attested_handsets(workdir: Path) -> tuple[list[AttestedHandset], Path]:
    """Units 5 and 6 as simulated attested handsets sharing one TEST-ONLY authority, and
    the file of its root (the service's ``--attestation-roots``)."""
    now = utcnow()
    root = create_attested(workdir / "unit-5", SimProperties(demo_imei(5)), now)
    unit5 = AttestedHandset.load(workdir / "unit-5")
    create_attested(workdir / "unit-6", SimProperties(demo_imei(6),
                                                      patch_level=OLD_PATCH_LEVEL),
                    now, unit5.authority)
    return [unit5, AttestedHandset.load(workdir / "unit-6")], root


def run_cases(client: ServiceClient, stack: PcscStack, workdir: Path,
              console: Console, attested: list[AttestedHandset]
              ) -> tuple[list[CaseResult], Genuine]:
    """Provision the pool and run the five checkout cases (and the modem one), then the
    attested handsets' two."""
    cards = synth_cards(4 + len(attested), iccid_prefix="8900101", imsi_prefix="00101",
                        start=1)
    handsets = [DemoHandset(f"unit {n}", demo_imei(n), generate_device_key())
                for n in range(1, 5)]
    vendor_file = workdir / "pool-batch.out"
    vendor_file.write_text(vendor_out_text(cards, profile=PS_PROFILE))
    vendor_file.chmod(0o600)
    played = _provision(client, vendor_file,
                        list(zip(handsets, (c.iccid for c in cards), strict=False)),
                        list(zip(attested, (c.iccid for c in cards[4:]), strict=True)))
    console.print(f"[green]✓[/] pool: {len(cards)} cards imported ({PS_PROFILE}), "
                  f"{len(handsets) + len(played)} handsets paired ({len(played)} "
                  "registered from an Android key attestation)", highlight=False)

    files = [write_card_file(workdir, f"card-{n}", c, h.imei)
             for n, (c, h) in enumerate(zip(cards[:4], handsets, strict=True), start=1)]
    clone = SynthCard(cards[0].iccid, cards[0].imsi, secrets.token_bytes(16), cards[0].opc)
    clone_file = write_card_file(workdir, "clone-of-card-1", clone, handsets[0].imei)
    inserted = {"genuine": files[0], "commercial": COMMERCIAL_CARD, "moved": files[1],
                "clone": clone_file}
    readers = {}
    for slot, (what, path) in enumerate(inserted.items()):
        stack.attach(slot, SimulatedCard(load_card_file(path)))
        readers[what] = stack.uri(slot)
    unit1 = handsets[0]
    imei = unit1.imei
    results = []
    body, answer = _agent(client, readers["genuine"], unit1, imei)
    results.append(_case("its own card (genuine)", unit1, ("affirming", ()), answer))
    _, answer = _agent(client, readers["commercial"], unit1, imei)
    results.append(_case("a commercial SIM in it", unit1,
                         ("contraindicated", ("COMMERCIAL_SIM",)), answer))
    _, answer = _agent(client, readers["moved"], unit1, imei)
    results.append(_case("unit 2's card", unit1, ("contraindicated", ("SIM_SWAPPED",)),
                         answer))
    _, answer = _agent(client, readers["clone"], unit1, imei)
    results.append(_case("a clone, its IDs, new K", unit1,
                         ("contraindicated", ("CLONED_SIM",)), answer))
    answer = submit(client, body)
    results.append(_case("its evidence, replayed", unit1,
                         ("contraindicated", ("CHALLENGE_REUSED",)), answer))
    modem = SimulatedModem(SimulatedCard(load_card_file(files[3])), imei=handsets[3].imei)
    link = modem.start(workdir / "modem0")
    try:
        _, answer = _agent(client, f"modem:{link}", handsets[3], None)
    finally:
        modem.stop()
    results.append(_case("its own card, via modem", handsets[3], ("affirming", ()),
                         answer))
    # The attested handsets, each with its own card in a reader the cases above used.
    unlocked = dataclasses.replace(attested[0], props=dataclasses.replace(
        attested[0].props, locked=False))  # unlocked since its registration
    for slot, (device, card, name, expected) in enumerate(zip(
            (unlocked, attested[1]), cards[4:], ("unlocked bootloader", "patch level 2024-01"),
            (("contraindicated", ("ME_BOOTLOADER_UNLOCKED",)),
             ("warning", ("ME_PATCH_TOO_OLD",))), strict=True), start=2):
        path = write_card_file(workdir, f"card-{slot + 3}", card, device.props.imei)
        stack.detach(slot)
        stack.attach(slot, SimulatedCard(load_card_file(path)))
        handset = played[slot - 2]
        _, answer = _agent(client, stack.uri(slot), handset, handset.imei,
                           device.fresh_attestation)
        results.append(_case(name, handset, expected, answer))
    key_file = workdir / "unit-1-device-key.pem"
    key_file.write_bytes(unit1.key.private_pem())
    key_file.chmod(0o600)
    return results, Genuine(client, readers["genuine"], unit1, key_file, handsets[1])


def say(console: Console, text: str, indent: int = 0) -> None:
    """Prose wrapped to the terminal, continuation lines indented under the first."""
    lines = textwrap.wrap(text, console.width, initial_indent=" " * indent,
                          subsequent_indent=" " * (indent + 2))
    for line in lines:
        console.out(line, highlight=False)


def print_cases(console: Console, results: list[CaseResult]) -> None:
    """What the reasons mean, then one line per case (fits 80 columns)."""
    for code in dict.fromkeys(c for r in results for c in r.reasons):
        found = explain(code)
        if found is not None:
            say(console, f"{code}: {found.meaning}")
    console.print(CASE_HEADER.rstrip(), style="bold", highlight=False)
    colours = {"affirming": "green", "warning": "yellow", "contraindicated": "red"}
    for r in results:
        console.print(r.line(), style=colours.get(r.status, ""), highlight=False,
                      markup=False)


def metrics_line(url: str, token: str) -> str:
    """Attestations by status as ``/metrics`` reports them (summed over every worker) to
    an operator's ``token``."""
    counts: dict[str, float] = {}
    text = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).text
    for family in text_string_to_metric_families(text):
        if family.name == "simattest_attestations":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    status = sample.labels["status"]
                    counts[status] = counts.get(status, 0) + sample.value
    return ", ".join(f"{k} {v:g}" for k, v in sorted(counts.items()))


def _verified_ear(url: str, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The EAR's header and claims as a relying party reads them: signature checked with
    the key the service's JWKS names by ``kid``."""
    key = jwt.PyJWKClient(f"{url}/.well-known/jwks.json").get_signing_key_from_jwt(token)
    return jwt.get_unverified_header(token), jwt.decode(token, key, algorithms=["ES256"])


def ear_summary(url: str, token: str) -> list[str]:
    """The genuine pair's EAR in a few lines (the whole of it: ``--verbose``)."""
    header, claims = _verified_ear(url, token)
    stamp = "%H:%M:%S"
    issued = time.strftime(stamp, time.gmtime(claims["iat"]))
    expires = time.strftime(stamp, time.gmtime(claims["exp"]))
    return [
        f"EAR of the genuine pair ({header['alg']} JWT, {len(token)} characters): signature "
        "verified with the service's /.well-known/jwks.json",
        ", ".join(f"{name} {sub['ear_status']}" for name, sub in claims["submods"].items()),
        f"issued {issued} UTC, expires {expires} UTC; the whole token: --verbose",
    ]


def decoded_ear(url: str, token: str) -> Panel:
    """The whole EAR, decoded (``--verbose``)."""
    header, claims = _verified_ear(url, token)
    return Panel(JSON(json.dumps({"header": header, "claims": claims})),
                 title="EAR of the genuine pair, signature verified", expand=False)


def attestation_demo(console: Console, stack: PcscStack, workdir: Path, once: bool,
                     verbose: bool) -> int:
    data_dir = workdir / "data"
    tokens = _bootstrap_tokens(data_dir)
    attested, roots = attested_handsets(workdir)
    service = ServiceProcess(data_dir, workdir / "server.log",
                             options=("--attestation-roots", str(roots)))
    with console.status("starting the attestation service (gunicorn, SQLite)…"):
        service.start()
    try:
        console.print(f"[green]✓[/] service at {service.url} (gunicorn, {service.workers} "
                      "workers, SQLite; loopback only)", highlight=False)
        provisioner = ServiceClient(service.url, token=tokens["provisioner"])
        results, genuine = run_cases(provisioner, stack, workdir, console, attested)
        # The verdicts last: on an 80x24 terminal they stay on screen above the desk's
        # lines; the EAR and what the reasons mean scroll away first.
        for n, line in enumerate(ear_summary(service.url, results[0].ear)):
            say(console, line, indent=2 if n else 0)
        if verbose:
            console.print(decoded_ear(service.url, results[0].ear))
            console.out(results[0].ear, highlight=False)
        console.print("/metrics (all workers): attestations "
                      + metrics_line(service.url, tokens["desk"]),
                      highlight=False)
        print_cases(console, results)
        ok = all(r.as_expected for r in results)
        from server.demo.idms import idms_demo  # it builds on this module's parts

        console.rule("MC user sign-in at the IdMS (OpenID Connect) on unit 1")
        ok = idms_demo(console, workdir, data_dir, genuine) and ok
        if not once and sys.stdin.isatty():
            _print_desk_help(console, service.url, tokens, genuine.command(service.url, stack))
            with contextlib.suppress(KeyboardInterrupt):
                _serve_the_desk(console, service, genuine)
        return 0 if ok else 1
    finally:
        service.stop()


def _print_desk_help(console: Console, url: str, tokens: dict[str, str], command: str) -> None:
    """What to do while the service keeps running: plain lines, no box, so that the URL,
    the tokens and the command can be copied from the terminal as they are."""
    console.rule("the service keeps running: the desk pages")
    for line in (f"desk pages:        {url}/desk/", f"desk token:        {tokens['desk']}",
                 f"provisioner token: {tokens['provisioner']}"):
        console.out(line, highlight=False)
    say(console, "A checkout needs an affirming attestation under 5 minutes old: Enter "
                 "attests unit 1 again, as does this from another terminal:")
    # print, not rich: rich would wrap the command where a shell cannot follow
    print(command, flush=True)
    console.out("Ctrl-C stops the service.", highlight=False)


def _serve_the_desk(console: Console, service: ServiceProcess, genuine: Genuine) -> None:
    """Wait for Ctrl-C (or the service to end); each Enter makes a fresh attestation."""
    while service.process is not None and service.process.poll() is None:
        ready, _, _ = select.select([sys.stdin], [], [], 0.5)
        if not ready:
            continue
        if not sys.stdin.readline():
            return  # end of input: nothing more will be asked
        result = genuine.attest()
        reasons = f" {', '.join(result.reasons)}" if result.reasons else ""
        console.print(f"unit 1: [bold]{result.status}[/]{reasons} — check it out at "
                      f"{service.url}/desk/checkout")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m server.demo.scenario", description=__doc__)
    parser.add_argument("--once", action="store_true",
                        help="exit after printing (default when stdin is not a terminal)")
    parser.add_argument("--workdir", type=Path, metavar="DIR",
                        help="keep the data directory, card files and logs here "
                             "(default: a temporary directory, removed at exit)")
    parser.add_argument("--verbose", action="store_true",
                        help="print the whole EAR (decoded, and the token itself)")
    return parser


def host_notes(hide_usb: bool) -> list[str]:
    """What the demo runs on this host that a bench engineer should know first."""
    usb = ("USB smart-card readers stay with the system's pcscd: the demo's pcscd runs "
           "without USB drivers (a mount namespace of its own)." if hide_usb else
           "Note: this system refuses the demo's pcscd a namespace without USB drivers, "
           "so it would also take any USB smart-card reader plugged in: unplug them "
           "first, or stop the system's pcscd users meanwhile.")
    return [usb,
            "Its virtual readers' driver, vpcd, listens on TCP on all interfaces (vpcd "
            "binds no single address); the service listens on 127.0.0.1 only, as do the "
            "IdMS, our Cx peer and Kamailio's S-CSCF (SIP over UDP and TCP)."]


def _interrupt(signum: int, _frame: object) -> None:
    # Once: a hung-up terminal may signal again, which must not cut the clean-up short.
    for other in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(other, signal.SIG_IGN)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # A closed terminal (SIGHUP) or a kill (SIGTERM) must stop the service and pcscd too,
    # like Ctrl-C: they run in sessions of their own and would outlive the demo.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    console = Console()
    console.rule("simattest demo: a public-safety USIM/ISIM over a real PC/SC stack")
    with contextlib.ExitStack() as cleanup:
        if args.workdir is None:
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(
                prefix="simattest-demo-")))
        else:
            workdir = args.workdir
            workdir.mkdir(parents=True, exist_ok=True)
        try:
            hide_usb = can_hide_usb_readers()
            for note in host_notes(hide_usb):
                say(console, note)
            with console.status("starting pcscd with vpcd readers…"):
                stack = PcscStack(readers=4, hide_usb_readers=hide_usb)
                stack.start()
            try:
                console.print(f"[green]✓[/] pcscd (PID {stack.pid}), {len(stack.ports)} vpcd "
                              f"readers on TCP ports {', '.join(map(str, stack.ports))}",
                              highlight=False)
                check = check_card(stack)
                render(console, check)
                stack.detach(0)
                console.rule("checkout attestation: service, pool, handsets, eight cases")
                code = attestation_demo(console, stack, workdir, args.once, args.verbose)
            finally:
                stack.stop()
        except SimattestError as exc:
            console.print(f"[bold red]demo failed:[/] {exc}")
            return exc.exit_code
    return code if check.result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
