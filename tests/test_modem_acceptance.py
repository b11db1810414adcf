"""Acceptance: ``read`` and ``auth`` through ``modem:`` (every quirk) give byte-identical
output to ``pcsc:`` (pyscard → pcscd → vpcd → simulated card) for the same card file.

Only ``apdu_count`` may differ (a modem's ``AT+CCHO`` selects the ISIM without an APDU
of ours), and the modem path adds the handset's ``imei``/``imeisv``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from attest.aka.sqn import build_autn, join_sqn
from hw.cardfile import load_card_file
from hw.sim.card import SimulatedCard
from hw.sim.modem import QUIRKS, SimulatedModem
from hw.sim.pcsc_stack import PcscStack
from server.cli.main import main
from tests.fixtures_modem import PS_CARD, StartModem, modem_uri
from tests.processes import as_background_job

RAND = bytes.fromhex("23553cbe9637a89d218ae64dae47bf35")
AMF = bytes.fromhex("8000")
PS_KI, PS_OPC = "465b5ce8b199b49faa5f0a2ee238a6bc", "cd63cb71954a9f4e48a5994e37a02baf"  # ps-001
REPO = Path(__file__).resolve().parent.parent


def challenges() -> list[tuple[str, str, str]]:
    """(app, RAND hex, AUTN hex): USIM then ISIM, each with a fresh SQN for a new card."""
    alg = load_card_file(PS_CARD).algorithm()
    return [
        (app, RAND.hex(), build_autn(alg, RAND, join_sqn(seq, 0), AMF).hex())
        for app, seq in (("usim", 1), ("isim", 2))
    ]


def commands() -> list[list[str]]:
    """What a bench engineer runs on one card: ``read``, ``auth`` on USIM and ISIM, then
    the self-check (its first SQN was used above: sync failure, AUTS, resync, PASS)."""
    return [
        ["read"],
        *(["auth", "--app", app, "--rand", rand, "--autn", autn]
          for app, rand, autn in challenges()),
        ["auth", "--ki", PS_KI, "--opc", PS_OPC],
    ]


def session(reader: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    docs = []
    for argv in commands():
        capsys.readouterr()
        code = main([*argv, "--reader", reader, "--json"])
        out, err = capsys.readouterr()
        assert (code, err) == (0, ""), err
        docs.append(json.loads(out))
    return docs


def comparable(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    read = {k: v for k, v in docs[0].items() if k not in ("apdu_count", "imei", "imeisv")}
    return [read, *docs[1:]]


@pytest.fixture(scope="module", params=[False, True], ids=["T=1", "T=0"])
def pcsc_reference(
    request: pytest.FixtureRequest, pcsc_stack: PcscStack
) -> tuple[bool, list[dict[str, Any]]]:
    """The PC/SC answers for a fresh card, from ``simattest`` run as its own process."""
    from hw.sim.card import SimulatedCard

    t0 = bool(request.param)
    slot = next(s for s in range(len(pcsc_stack.reader_names)) if not pcsc_stack.occupied(s))
    pcsc_stack.attach(slot, SimulatedCard(load_card_file(PS_CARD), t0=t0))
    try:
        docs = []
        reader = f"pcsc:{pcsc_stack.reader_names[slot]}"
        for argv in commands():
            out = subprocess.run(
                [sys.executable, "-m", "server.cli.main", *argv, "--reader", reader, "--json"],
                cwd=REPO, capture_output=True, text=True, timeout=60, env=os.environ.copy(),
            )
            assert out.returncode == 0, out.stderr
            docs.append(json.loads(out.stdout))
    finally:
        pcsc_stack.detach(slot)
    assert docs[1]["outcome"] == docs[2]["outcome"] == "success"
    assert (docs[3]["verdict"], docs[3]["attempts"]) == ("PASS", 2)
    return t0, docs


QUIRK_SETS = [[q] for q in sorted(set(QUIRKS) - {"no-sim"})] + [
    sorted(set(QUIRKS) - {"no-sim", "no-cgla", "no-cgsn"}),
]


@pytest.mark.parametrize("quirks", QUIRK_SETS, ids=lambda q: "+".join(q) or "plain")
def test_modem_matches_pcsc(
    quirks: list[str],
    pcsc_reference: tuple[bool, list[dict[str, Any]]],
    sim_modem: StartModem,
    capsys: pytest.CaptureFixture[str],
) -> None:
    t0, reference = pcsc_reference
    # `slow` with a short delay: the full sessions would take a minute at ~1 s per answer
    # (test_modem_quirks covers the one-second delay itself).
    modem = sim_modem(quirks=quirks, t0=t0, slow_delay=0.02)
    docs = session(modem_uri(modem), capsys)
    assert comparable(docs) == comparable(reference)
    assert docs[0]["imei"] == "356938035640011"  # ps-001.yaml's imei
    assert modem.sessions == {} and modem.csim_channels == set()


def test_read_adds_imei_and_imeisv_through_the_cli_process(
    sim_modem: StartModem, tmp_path: Path
) -> None:
    """``simattest sim modem`` as its own process, ``simattest read`` as another."""
    link = tmp_path / "ttyMODEM"
    server = subprocess.Popen(
        [sys.executable, "-m", "server.cli.main", "sim", "modem", str(PS_CARD),
         "--link", str(link), "--quirks", "echo,urc", "--imei", "490154203237518"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == str(link)
        read = subprocess.run(
            [sys.executable, "-m", "server.cli.main", "read", "--reader",
             f"modem:{link}?timeout=2", "--json"],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )
        assert read.returncode == 0, read.stderr
        doc = json.loads(read.stdout)
        assert (doc["imei"], doc["imeisv"]) == ("490154203237518", "4901542032375101")
        assert doc["iccid"] == "8900101000000000019"
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0
    assert not link.exists()  # the link goes with the modem




@pytest.mark.parametrize(
    ("stop", "started"),
    [(signal.SIGINT, "foreground"), (signal.SIGINT, "background"),
     (signal.SIGTERM, "foreground"), (signal.SIGTERM, "background")],
)
def test_sim_modem_stops_cleanly_on_ctrl_c_and_sigterm(
    tmp_path: Path, stop: signal.Signals, started: str
) -> None:
    """SIGINT or SIGTERM ends ``simattest sim modem`` with exit 0, no traceback, no link
    left -- also when started as a shell's background job, with SIGINT ignored."""
    link = tmp_path / "ttyCTRLC"
    argv = [sys.executable, "-m", "server.cli.main", "sim", "modem", str(PS_CARD),
            "--link", str(link)]
    server = subprocess.Popen(
        as_background_job(argv) if started == "background" else argv,
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == str(link)
        assert link.is_symlink()
        server.send_signal(stop)
        _, err = server.communicate(timeout=30)  # a hang guard, not a timing
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0
    assert err == ""
    assert not link.exists()


def test_sim_modem_rejects_unknown_quirks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    link = tmp_path / "m"
    code = main(["sim", "modem", str(PS_CARD), "--link", str(link), "--quirks", "echo,bogus"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("simattest: unknown modem quirk(s) bogus; known: echo, urc,")
    assert not link.exists()


def test_sim_modem_link_that_cannot_be_made_is_one_line_and_touches_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    regular = tmp_path / "notes.txt"
    regular.write_text("keep me")
    for link, problem in (
        (regular, "exists and is not a symlink; not replacing it"),
        (tmp_path, "exists and is not a symlink; not replacing it"),
        (tmp_path / "missing" / "m", "cannot create the link (No such file or directory)"),
    ):
        code = main(["sim", "modem", str(PS_CARD), "--link", str(link)])
        out, err = capsys.readouterr()
        assert (code, out) == (2, "")
        assert err == f"simattest: --link {link}: {problem}\n"
    assert regular.read_text() == "keep me"


def test_sim_modem_replaces_a_stale_link(tmp_path: Path) -> None:
    link = tmp_path / "ttyStale"
    link.symlink_to("/dev/pts/does-not-exist")
    with SimulatedModem(SimulatedCard(load_card_file(PS_CARD))) as modem:
        modem.start(link)
        assert link.resolve() != Path("/dev/pts/does-not-exist") and link.exists()
    assert not link.is_symlink()


def test_read_without_sim_exits_3_with_one_line(
    sim_modem: StartModem, capsys: pytest.CaptureFixture[str]
) -> None:
    modem = sim_modem(quirks=["no-sim"])
    code = main(["read", "--reader", modem_uri(modem), "--json"])
    out, err = capsys.readouterr()
    assert (code, out) == (3, "")
    assert err.count("\n") == 1 and "+CME ERROR 10: SIM not inserted" in err


def test_bad_modem_uri_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["read", "--reader", "modem:/dev/ttyUSB2?baud=fast", "--json"])
    assert code == 2
    assert capsys.readouterr().err == (
        "simattest: reader modem:/dev/ttyUSB2?baud=fast: baud='fast' is not a valid baud\n"
    )
