"""The device agent end to end: card → AUTHENTICATE → signed evidence → verdict.

Through ``sim:`` (in-process simulated card), a real PC/SC stack (pyscard → pcscd →
vpcd → simulated card) and the simulated modem on a pty (IMEI from ``AT+CGSN``); the
service is the real app over HTTP on loopback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attest import ear
from attest.aka.sqn import join_sqn
from server.cli.main import main
from tests.fixtures_attestation import ApiServer, TestHandset, provision_card_files
from tests.fixtures_modem import StartModem, modem_uri
from tests.fixtures_pcsc import CardSlots

EXAMPLES = Path(__file__).resolve().parent.parent / "card_profiles" / "examples"
PS = [EXAMPLES / "ps-001.yaml", EXAMPLES / "ps-002.yaml"]
COMMERCIAL = EXAMPLES / "commercial-001.yaml"


@pytest.fixture
def handsets(api_server: ApiServer) -> list[TestHandset]:
    return provision_card_files(api_server.service, PS)


def _agent(capsys: pytest.CaptureFixture[str], tmp_path: Path, server: str,
           handset: TestHandset, reader: str, *extra: str) -> tuple[int, dict[str, object]]:
    key = tmp_path / f"{handset.imei}.pem"
    key.write_bytes(handset.key.private_pem())
    code = main(["checkout", "--server", server, "--reader", reader, "--device-key", str(key),
                 "--json", *extra])
    captured = capsys.readouterr()
    if not captured.out.strip():
        return code, {"stderr": captured.err}
    return code, json.loads(captured.out)


def test_sim_reader_genuine_pair_is_affirming(
    api_server: ApiServer, handsets: list[TestHandset], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, verdict = _agent(capsys, tmp_path, api_server.url, handsets[0], f"sim:{PS[0]}",
                           "--imei", handsets[0].imei)
    assert code == 0
    assert (verdict["status"], verdict["reasons"]) == ("affirming", [])
    claims = ear.verify(str(verdict["ear"]), api_server.service.signer.jwks())
    assert claims["submods"]["usim"]["ear_trustworthiness_vector"]["hardware"] == 2


def test_pcsc_genuine_then_swapped_and_commercial(
    api_server: ApiServer, handsets: list[TestHandset], pcsc_cards: CardSlots,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    mine = pcsc_cards.insert(PS[0])
    theirs = pcsc_cards.insert(PS[1])
    commercial = pcsc_cards.insert(COMMERCIAL)
    imei = ["--imei", handsets[0].imei]
    code, verdict = _agent(capsys, tmp_path, api_server.url, handsets[0], mine.uri, *imei)
    assert (code, verdict["status"]) == (0, "affirming")
    code, verdict = _agent(capsys, tmp_path, api_server.url, handsets[0], theirs.uri, *imei)
    assert (code, verdict["reasons"]) == (1, ["SIM_SWAPPED"])
    code, verdict = _agent(capsys, tmp_path, api_server.url, handsets[0], commercial.uri,
                           *imei)
    assert (code, verdict["reasons"]) == (1, ["COMMERCIAL_SIM"])


def test_modem_reader_reports_the_modems_imei(
    api_server: ApiServer, handsets: list[TestHandset], sim_modem: StartModem,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    modem = sim_modem(PS[0])  # its IMEI is the card file's, handset 0's
    code, verdict = _agent(capsys, tmp_path, api_server.url, handsets[0], modem_uri(modem))
    assert (code, verdict["status"], verdict["imei"]) == (0, "affirming", handsets[0].imei)


def test_card_ahead_in_sqn_is_resynchronised_once(
    api_server: ApiServer, handsets: list[TestHandset], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ahead = tmp_path / "ps-001-ahead.yaml"
    ahead.write_text(PS[0].read_text() + f'sqn_ms: "{join_sqn(9000, 31).hex()}"\n')
    code, verdict = _agent(capsys, tmp_path, api_server.url, handsets[0], f"sim:{ahead}",
                           "--imei", handsets[0].imei)
    assert (code, verdict["status"], verdict["resyncs"]) == (0, "affirming", 1)


def test_another_handsets_key_is_caught(
    api_server: ApiServer, handsets: list[TestHandset], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    impostor = TestHandset(handsets[0].imei, handsets[1].key)
    code, verdict = _agent(capsys, tmp_path, api_server.url, impostor, f"sim:{PS[0]}",
                           "--imei", handsets[0].imei)
    # Its challenge request is not signed by the handset's key: a decoy, whose evidence
    # names no registered handset.
    assert (code, verdict["reasons"]) == (1, ["ME_UNKNOWN"])
    # Without --json the verdict is followed by what it means and what to do.
    key = tmp_path / f"{impostor.imei}.pem"
    assert main(["checkout", "--server", api_server.url, "--reader", f"sim:{PS[0]}",
                 "--device-key", str(key), "--imei", handsets[0].imei]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "CONTRAINDICATED" in out
    assert "the request was not signed with the key registered for it (a wrong key file " \
           "on the device, or a different device)" in out
    assert "that the device uses the key file made for this handset" in out


def test_usage_and_transport_errors(
    api_server: ApiServer, handsets: list[TestHandset], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = _agent(capsys, tmp_path, api_server.url, handsets[0], f"sim:{PS[0]}")
    assert code == 2 and "give --imei" in str(out["stderr"])
    code, out = _agent(capsys, tmp_path, "http://127.0.0.1:9", handsets[0], f"sim:{PS[0]}",
                       "--imei", handsets[0].imei)
    assert code == 3 and "cannot reach the attestation service" in str(out["stderr"])
    code, out = _agent(capsys, tmp_path, api_server.url, handsets[0], f"sim:{PS[0]}",
                       "--imei", "123")
    assert code == 2 and "IMEI must be 15 digits" in str(out["stderr"])
    missing = main(["checkout", "--server", api_server.url, "--reader", f"sim:{PS[0]}",
                    "--device-key", str(tmp_path / "none.pem"), "--imei", handsets[0].imei])
    err = capsys.readouterr().err
    assert missing == 2 and "cannot read the device key" in err and "Traceback" not in err
