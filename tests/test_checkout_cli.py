"""``simattest desk checkout|return`` over HTTP with a desk token."""

from __future__ import annotations

import json

import pytest

from server.attestation.challenge import create_challenge
from server.attestation.evidence import submit_evidence
from server.cli.main import main
from server.core.operators import create_token
from tests.fixtures_attestation import ApiServer, build_pool


def test_desk_checkout_and_return(api_server: ApiServer,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    svc = api_server.service
    pool = build_pool(svc, size=1)
    challenge = create_challenge(svc, pool.handsets[0].request(), "127.0.0.1").to_json()
    doc, sig = pool.handsets[0].evidence(challenge, pool.cards[0])
    att = submit_evidence(svc, challenge["id"], doc, sig, "127.0.0.1").attestation_id
    base = ["--server", api_server.url, "--token", create_token(svc, "desk", "front desk")]

    assert main(["desk", "checkout", "--attestation", att, "--user", "Jane Doe", "--json",
                 *base]) == 0
    view = json.loads(capsys.readouterr().out)
    assert (view["imei"], view["user"]) == (pool.handsets[0].imei, "Jane Doe")

    assert main(["desk", "checkout", "--attestation", att, "--user", "John", *base]) == 2
    err = capsys.readouterr().err
    assert err == (f"simattest: handset {pool.handsets[0].imei} is checked out to Jane Doe "
                   f"(checkout {view['id']}); return it first\n")

    assert main(["desk", "return", str(view["id"]), "--json", *base]) == 0
    assert json.loads(capsys.readouterr().out)["returned_by"].startswith("operator:")

    assert main(["desk", "return", str(view["id"]), "--server", api_server.url]) == 2
    assert "give --token" in capsys.readouterr().err


def test_desk_checkout_by_imei_takes_the_newest_attestation(
        api_server: ApiServer, capsys: pytest.CaptureFixture[str]) -> None:
    svc = api_server.service
    pool = build_pool(svc, size=2)
    handset, card = pool.handsets[0], pool.cards[0]
    base = ["--server", api_server.url, "--token", create_token(svc, "desk", "front desk")]
    assert main(["desk", "checkout", "--imei", handset.imei, "--user", "Jane", *base]) == 2
    assert "has no appraised attestation" in capsys.readouterr().err

    def attest(with_card: object) -> str:
        challenge = create_challenge(svc, handset.request(), "127.0.0.1").to_json()
        doc, sig = handset.evidence(challenge, with_card)  # type: ignore[arg-type]
        return submit_evidence(svc, challenge["id"], doc, sig, "127.0.0.1").attestation_id

    attest(card)
    swapped = attest(pool.cards[1])  # newer, and contraindicated: another handset's card
    assert main(["desk", "checkout", "--imei", handset.imei, "--user", "Jane", *base]) == 2
    assert f"attestation {swapped}" in capsys.readouterr().err

    genuine = attest(card)
    assert main(["desk", "checkout", "--imei", handset.imei, "--user", "Jane", "--json",
                 *base]) == 0
    view = json.loads(capsys.readouterr().out)
    assert (view["attestation_id"], view["user"]) == (genuine, "Jane")
    with pytest.raises(SystemExit):  # one of the two, not both
        main(["desk", "checkout", "--imei", handset.imei, "--attestation", genuine,
              "--user", "Jane", *base])


def test_desk_lost_and_found(api_server: ApiServer, capsys: pytest.CaptureFixture[str]
                             ) -> None:
    svc = api_server.service
    pool = build_pool(svc, size=1)
    imei = pool.handsets[0].imei
    base = ["--server", api_server.url, "--token", create_token(svc, "desk", "front desk")]
    assert main(["desk", "lost", "--imei", imei, "--note", "patrol car 7", "--json",
                 *base]) == 0
    reported = json.loads(capsys.readouterr().out)
    assert reported["lost"]["note"] == "patrol car 7" and "public_key" not in reported
    challenge = create_challenge(svc, pool.handsets[0].request(), "127.0.0.1").to_json()
    doc, sig = pool.handsets[0].evidence(challenge, pool.cards[0])
    att = submit_evidence(svc, challenge["id"], doc, sig, "127.0.0.1").attestation_id
    assert main(["desk", "checkout", "--attestation", att, "--user", "Jane", *base]) == 2
    err = capsys.readouterr().err
    assert "reported lost or stolen by operator:" in err and "clear the report" in err
    assert main(["desk", "found", "--imei", imei, *base]) == 0
    capsys.readouterr()
    assert main(["desk", "found", "--imei", imei, *base]) == 2
    assert capsys.readouterr().err == f"simattest: handset {imei} is not reported lost\n"
    assert main(["desk", "checkout", "--attestation", att, "--user", "Jane", *base]) == 0
