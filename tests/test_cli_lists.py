"""``simattest handsets|cards|checkouts|attestations|alerts list`` and ``desk return
--imei`` over HTTP, through the CLI's entry point: filters, pages, JSON, and the
tab-separated table a pipe gets."""

from __future__ import annotations

import json

import pytest

from server.attestation.challenge import create_challenge
from server.attestation.evidence import submit_evidence
from server.cli.main import main
from server.core.operators import create_token
from tests.fixtures_attestation import ApiServer, Pool, TestCard, TestHandset, build_pool


def _attest(api: ApiServer, handset: TestHandset, card: TestCard) -> str:
    svc = api.service
    challenge = create_challenge(svc, handset.request(), "127.0.0.1").to_json()
    doc, sig = handset.evidence(challenge, card)
    return submit_evidence(svc, challenge["id"], doc, sig, "127.0.0.1").attestation_id


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's usage errors, as the entry point exits
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _rows(out: str) -> list[list[str]]:
    """The tab-separated lines a command prints when stdout is not a terminal."""
    return [line.split("\t") for line in out.splitlines()]


@pytest.fixture
def desk(api_server: ApiServer, monkeypatch: pytest.MonkeyPatch) -> Pool:
    monkeypatch.setenv("SIMATTEST_SERVER", api_server.url)
    monkeypatch.setenv("SIMATTEST_TOKEN", create_token(api_server.service, "desk", "desk 1"))
    return build_pool(api_server.service, size=3)


def test_handsets_and_cards_lists_page_and_filter(
        desk: Pool, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "handsets", "list", "--limit", "2")
    rows = _rows(out)
    assert code == 0 and rows[0] == ["imei", "label", "imeisv", "key", "registered"]
    assert [r[:2] for r in rows[1:]] == [[desk.handsets[0].imei, "unit 1"],
                                        [desk.handsets[1].imei, "unit 2"]]
    assert err == "1–2 of 3; the next page: --offset 2\n"
    code, out, err = _run(capsys, "handsets", "list", "--limit", "2", "--offset", "2")
    assert [r[0] for r in _rows(out)[1:]] == [desk.handsets[2].imei] and err == ""

    code, out, _ = _run(capsys, "handsets", "list", "--search", "unit 3", "--json")
    page = json.loads(out)
    assert (page["total"], [h["imei"] for h in page["items"]]) == (1, [desk.handsets[2].imei])

    code, out, _ = _run(capsys, "cards", "list", "--verification", "unverified")
    rows = _rows(out)
    assert rows[0][:5] == ["iccid", "imsi", "profile", "algorithm", "verification"]
    assert sorted(r[0] for r in rows[1:]) == sorted(c.iccid for c in desk.cards)
    code, out, err = _run(capsys, "cards", "list", "--verification", "verified")
    assert (code, out) == (0, "") and err == "no cards\n"

    assert _run(capsys, "cards", "list", "--limit", "501")[0] == 2


def test_checkouts_attestations_alerts_and_return_by_imei(
        desk: Pool, api_server: ApiServer, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = desk.handsets[0], desk.handsets[1]
    good = _attest(api_server, first, desk.cards[0])
    swapped = _attest(api_server, second, desk.cards[0])  # another handset's card
    assert _run(capsys, "desk", "checkout", "--attestation", good, "--user", "Jane")[0] == 0

    code, out, _ = _run(capsys, "checkouts", "list", "--open")
    rows = _rows(out)
    assert rows[0][:4] == ["id", "imei", "iccid", "user"]
    assert [r[1:4] for r in rows[1:]] == [[first.imei, desk.cards[0].iccid, "Jane"]]

    code, out, _ = _run(capsys, "attestations", "list", "--imei", second.imei, "--json")
    page = json.loads(out)
    assert [(a["id"], a["status"]) for a in page["items"]] == [(swapped, "contraindicated")]
    code, out, _ = _run(capsys, "attestations", "list", "--status", "affirming")
    assert [r[0] for r in _rows(out)[1:]] == [good]

    code, out, _ = _run(capsys, "alerts", "list")
    rows = _rows(out)
    assert [r[1:3] for r in rows[1:]] == [[swapped, second.imei]]
    assert "SIM_SWAPPED" in rows[1][4] or "CLONED_SIM" in rows[1][4]

    # Returned by the handset's IMEI, as the desk has it in hand; then nothing is open.
    code, out, _ = _run(capsys, "desk", "return", "--imei", first.imei, "--json")
    assert code == 0 and json.loads(out)["returned_by"].startswith("operator:")
    code, out, err = _run(capsys, "checkouts", "list", "--open")
    assert (out, err) == ("", "no checkouts\n")
    code, _, err = _run(capsys, "desk", "return", "--imei", first.imei)
    assert code == 2 and err == f"simattest: handset {first.imei} is not checked out\n"
    assert len(_rows(_run(capsys, "checkouts", "list")[1])) == 2  # header + the returned one

    # The same attestation again after the return: the desk is told what to do.
    code, _, err = _run(capsys, "desk", "checkout", "--attestation", good, "--user", "Jane")
    assert code == 2 and "attest the handset again" in err
    assert "already started" not in err and "HTTP" not in err


def test_list_filters_are_checked_before_any_request(
        desk: Pool, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "attestations", "list", "--imei", "35693803560001A")
    assert code == 2 and err == "simattest attestations list: --imei: expected digits\n"
    code, _, err = _run(capsys, "attestations", "list", "--imei", "356938035600011")
    assert code == 2 and "Luhn" in err and "Traceback" not in err
    code, _, err = _run(capsys, "checkouts", "list", "--status", "x")
    assert code == 2 and err.count("\n") == 1
