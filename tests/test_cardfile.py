"""Personalised card files: the examples load; every malformed key is one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from attest.errors import InputError
from hw.cardfile import load_card_file
from tests.fixtures_pcsc import EXAMPLES

KI = "465b5ce8b199b49faa5f0a2ee238a6bc"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"

GOOD = f"""\
profile: public-safety-usim-isim
iccid: "8900101000000000019"
imsi: "001010000000001"
ki: {KI}
opc: {OPC}
pin1: "2468"
puk1: "13572468"
isim:
  impi: 001010000000001@ims.mnc001.mcc001.3gppnetwork.org
  domain: ims.mnc001.mcc001.3gppnetwork.org
  impu: [sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "card.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["ps-001", "ps-002", "ps-003", "ps-tuak", "ps-pcscf",
                                  "commercial-001", "ps-pin"])
def test_examples_load(name):
    card = load_card_file(EXAMPLES / f"{name}.yaml")
    assert card.algorithm() is not None
    assert (card.isim is None) == (card.profile.isim is None)


def test_example_details():
    ps1 = load_card_file(EXAMPLES / "ps-001.yaml")
    assert ps1.iccid == "8900101000000000019" and ps1.imsi == "001010000000001"
    assert ps1.mnc_length == 2 and ps1.isim is not None and len(ps1.isim.impu) == 3
    assert ps1.isim.pcscf == () and ps1.sqn_ms == bytes(6)
    assert load_card_file(EXAMPLES / "ps-pcscf.yaml").isim.pcscf  # type: ignore[union-attr]
    pin = load_card_file(EXAMPLES / "ps-pin.yaml")
    assert pin.pin1_enabled and pin.pin1 is not None
    tuak = load_card_file(EXAMPLES / "ps-tuak.yaml")
    assert tuak.algorithm_name == "tuak" and tuak.tuak is not None and tuak.tuak.res_len == 32
    commercial = load_card_file(EXAMPLES / "commercial-001.yaml")
    assert commercial.profile.name == "commercial-usim" and commercial.isim is None


def test_repr_hides_secrets(tmp_path):
    card = load_card_file(write(tmp_path, GOOD))
    text = repr(card)
    for secret in (KI, OPC, "2468", "13572468"):
        assert secret not in text
    assert repr(card.ki) not in text and repr(bytes.fromhex(OPC)) not in text


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (f"ki: {KI}", f"ki: {KI[:-2]}", "key 'ki': must be 16 bytes (32 hex digits), got 15"),
        (f"ki: {KI}", f"ki: {KI[:-1]}x", "key 'ki': is not hex"),
        (f"opc: {OPC}", f"opc: {OPC}\nop: {OPC}", "exactly one of the keys 'opc' and 'op'"),
        (f"opc: {OPC}\n", "", "exactly one of the keys 'opc' and 'op'"),
        ('iccid: "8900101000000000019"', 'iccid: "8900101000000000018"',
         "key 'iccid': 8900101000000000018 fails the Luhn check digit"),
        ('iccid: "8900101000000000019"', "iccid: 8900101000000000019",
         "key 'iccid': must be a quoted string of digits"),
        ('imsi: "001010000000001"', 'imsi: "00101"',
         "key 'imsi': must be 6-15 decimal digits, got 5"),
        ('imsi: "001010000000001"', 'imsi: "0010100000O0001"',
         "key 'imsi': character 11 is not a decimal digit"),
        ('iccid: "8900101000000000019"', 'iccid: "89001010000000000x9"',
         "key 'iccid': character 18 is not a decimal digit"),
        ("profile: public-safety-usim-isim", "profile: gold",
         "key 'profile': unknown profile 'gold'"),
        ("pin1: \"2468\"", "pin1: \"24\"", "key 'pin1': must be a quoted string of 4-8 digits"),
        ("puk1: \"13572468\"", "puk1: \"1357246\"", "key 'puk1': must be a quoted string of 8"),
        ("pin1: \"2468\"", "pin1: \"2468\"\npin1_enabled: yes please",
         "key 'pin1_enabled': must be true or false"),
        ("isim:", "colour: blue\nisim:", "unknown key 'colour'"),
        ("  domain:", "  realm: x\n  domain:", "unknown key 'isim.realm'"),
        ("  impu: [sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org]", "  impu: []",
         "key 'isim.impu': must be a list of strings with at least one entry"),
        ("isim:", "sqn_ms: \"00000001\"\nisim:", "key 'sqn_ms': must be 6 bytes"),
        ("isim:", "algorithm: sha1\nisim:", "key 'algorithm': must be milenage or tuak"),
        ("isim:", "res_len: 32\nisim:", "key 'res_len': is a TUAK parameter"),
        ("isim:", "imei: \"356938035640012\"\nisim:",
         "key 'imei': 356938035640012 fails the Luhn check digit"),
        ("isim:", "mnc_length: 4\nisim:", "key 'mnc_length': must be 2 or 3"),
        ("isim:", "pin1_retries: 4\nisim:", "key 'pin1_retries': must be a number from 0 to 3"),
        ("isim:", "puk1_retries: yes\nisim:",
         "key 'puk1_retries': must be a number from 0 to 10"),
        ("isim:", "pin2: \"1234\"\nisim:", "key 'pin2': must be a mapping with pin"),
        ("isim:", "pin2: {pin: \"12\"}\nisim:",
         "key 'pin2.pin': must be a quoted string of 4-8 digits"),
        ("isim:", "universal_pin: {pin: \"1234\", colour: red}\nisim:",
         "key 'universal_pin': unknown key 'colour'"),
        ("isim:", "universal_pin: {pin: \"1234\", puk_retries: 11}\nisim:",
         "key 'universal_pin.puk_retries': must be a number from 0 to 10"),
    ],
)
def test_each_bad_key_is_one_line_naming_key_and_file(tmp_path, old, new, message):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(InputError) as err:
        load_card_file(path)
    text = str(err.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "\n" not in text
    for secret in (KI, KI[:-2], OPC, "2468", "13572468", "1357246"):
        assert secret not in text


def test_isim_block_required_iff_profile_has_isim(tmp_path):
    no_isim = GOOD.split("isim:")[0]
    with pytest.raises(InputError, match=r"card.yaml: missing key 'isim' \(profile "):
        load_card_file(write(tmp_path, no_isim))
    commercial = GOOD.replace("public-safety-usim-isim", "commercial-usim")
    with pytest.raises(InputError, match=r"key 'isim': profile 'commercial-usim' has no ISIM"):
        load_card_file(write(tmp_path, commercial))


def test_tuak_keys_and_lengths(tmp_path):
    base = GOOD.replace(f"opc: {OPC}\n", "algorithm: tuak\n")
    top = "55" * 32
    card = load_card_file(write(tmp_path, base + f"topc: '{top}'\nck_len: 256\n"))
    assert card.tuak is not None and card.tuak.ck_len == 256 and card.topc == bytes.fromhex(top)
    with pytest.raises(InputError, match=r"key 'mac_len': must be one of 64, 128, 256"):
        load_card_file(write(tmp_path, base + f"topc: '{top}'\nmac_len: 32\n"))
    with pytest.raises(InputError, match=r"key 'opc': is a Milenage parameter"):
        load_card_file(write(tmp_path, base + f"opc: {OPC}\n"))
    with pytest.raises(InputError, match=r"key 'top': must be 32 bytes"):
        load_card_file(write(tmp_path, base + f"top: {OPC}\n"))


def test_bad_pcscf_and_missing_file(tmp_path):
    text = GOOD + "  pcscf: ['pcscf.example.org', 'not a host!']\n"
    with pytest.raises(InputError, match=r"key 'isim.pcscf\[1\]': is neither an IP address"):
        load_card_file(write(tmp_path, text))
    with pytest.raises(InputError, match=r"nothere.yaml: no such file"):
        load_card_file(tmp_path / "nothere.yaml")
    with pytest.raises(InputError, match=r"card.yaml: a card file is a mapping"):
        load_card_file(write(tmp_path, "- 1\n- 2\n"))
