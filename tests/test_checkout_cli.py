"""``simattest desk checkout|return`` over HTTP with a desk token."""

from __future__ import annotations

import json

import pytest

from server.attestation import create_challenge, submit_evidence
from server.cli.main import main
from server.operators import create_token
from tests.fixtures_attestation import ApiServer, build_pool


def test_desk_checkout_and_return(api_server: ApiServer,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    svc = api_server.service
    pool = build_pool(svc, size=1)
    challenge = create_challenge(svc, pool.handsets[0].imei, "127.0.0.1").to_json()
    doc, sig = pool.handsets[0].evidence(challenge, pool.cards[0])
    att = submit_evidence(svc, challenge["id"], doc, sig, "127.0.0.1").attestation_id
    base = ["--server", api_server.url, "--token", create_token(svc, "desk", "front desk")]

    assert main(["desk", "checkout", "--attestation", att, "--user", "Jane Doe", "--json",
                 *base]) == 0
    view = json.loads(capsys.readouterr().out)
    assert (view["imei"], view["user"]) == (pool.handsets[0].imei, "Jane Doe")

    assert main(["desk", "checkout", "--attestation", att, "--user", "John", *base]) == 2
    err = capsys.readouterr().err
    assert "409" in err and "already started checkout" in err and "Traceback" not in err

    assert main(["desk", "return", str(view["id"]), "--json", *base]) == 0
    assert json.loads(capsys.readouterr().out)["returned_by"].startswith("operator:")

    assert main(["desk", "return", str(view["id"]), "--server", api_server.url]) == 2
    assert "give --token" in capsys.readouterr().err
