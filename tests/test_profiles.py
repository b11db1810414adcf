"""Card profiles: parsing errors name the key and the source; classification outcomes;
the packaged profiles plus extra directories (``SIMATTEST_PROFILES``)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from attest.errors import InputError
from attest.profiles import classify, parse_profile
from hw.cardfile import load_profiles
from server.pool.profiles import known_profiles

REPO_PROFILES = Path(__file__).resolve().parent.parent / "card_profiles"

PS_FACTS = {
    "iccid": "8900101000000000019",
    "imsi": "001010000000001",
    "mnc_length": 2,
    "ust": [10, 27, 95, 101, 109],
    "prose": True,
    "isim": {
        "impi": "001010000000001@ims.mnc001.mcc001.3gppnetwork.org",
        "domain": "ims.mnc001.mcc001.3gppnetwork.org",
        "impu": ["sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org"],
        "ist": [15],
        "pcscf": [],
    },
}

MINIMAL = """\
name: test-ps
classification: public-safety
plmns: ["001-01"]
iccid_prefixes: ["8900101"]
usim: {services: [101, 109], required_services: [101], df_prose: true}
"""


@pytest.fixture(scope="module")
def profiles():
    return load_profiles()


def test_repository_profiles_load_with_their_names(profiles):
    assert set(profiles) >= {"public-safety-usim-isim", "commercial-usim"}
    ps = profiles["public-safety-usim-isim"]
    assert ps.classification == "public-safety"
    assert {101, 109} <= ps.usim.required_services
    assert ps.usim.df_prose and ps.usim.df_mcs
    assert ps.isim is not None and 15 in ps.isim.required_services
    commercial = profiles["commercial-usim"]
    assert commercial.isim is None and 101 not in commercial.usim.services
    # Exactly the repository's card_profiles/*.yaml, read through the package.
    assert set(profiles) == {p.stem for p in REPO_PROFILES.glob("*.yaml")}


def test_plmn_forms_are_normalised():
    profile = parse_profile(MINIMAL.replace('"001-01"', '"001-01", "99901", "310-260"'), "t")
    assert profile.plmns == ("00101", "99901", "310260")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("classification: public-safety", "classification: military"),
         "t.yaml: key 'classification' must be one of public-safety, commercial"),
        (('plmns: ["001-01"]', 'plmns: ["0010"]'), "t.yaml: key 'plmns': '0010' is not a PLMN"),
        (("usim: {", "usim: {colour: red, "), "t.yaml: unknown key 'usim.colour'"),
        (("required_services: [101]", "required_services: [27]"),
         "t.yaml: key 'usim.required_services': service 27 is required but not in"),
        (("services: [101, 109]", "services: [101, 0]"),
         "t.yaml: key 'usim.services': 0 is not a service number"),
        (("name: test-ps\n", ""), "t.yaml: missing key 'name'"),
        (("name: test-ps", "name: Test PS"), "t.yaml: key 'name' must be lower-case"),
        (("usim: {", "usim: ["), "t.yaml: not valid YAML at line 5"),
    ],
)
def test_parse_errors_name_key_and_source(change, message):
    text = MINIMAL.replace(*change)
    with pytest.raises(InputError) as err:
        parse_profile(text, "t.yaml")
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_bad_realm_regex_is_an_input_error():
    text = MINIMAL + "isim: {services: [15], impi_realm: 'ims[.'}\n"
    with pytest.raises(InputError, match=r"key 'isim.impi_realm' is not a valid regular"):
        parse_profile(text, "t.yaml")


def test_public_safety_card_conforms(profiles):
    result = classify(PS_FACTS, profiles)
    assert result.to_json() == {"kind": "public-safety", "profile": "public-safety-usim-isim",
                                "reasons": []}


def test_commercial_card_is_commercial(profiles):
    facts = {"iccid": "8999970000000000019", "imsi": "999700000000001", "mnc_length": 2,
             "ust": [10, 27], "prose": False, "isim": None}
    result = classify(facts, profiles)
    assert (result.kind, result.profile) == ("commercial", "commercial-usim")
    assert result.reasons == ["PLMN_NOT_PUBLIC_SAFETY"]


def test_public_safety_card_missing_prose_and_mcptt(profiles):
    facts = dict(PS_FACTS, ust=[10, 27, 95], prose=False,
                 isim=dict(PS_FACTS["isim"], ist=[1]))
    result = classify(facts, profiles)
    assert result.kind == "public-safety"
    assert result.reasons == ["PROSE_SERVICE_MISSING", "MCPTT_SERVICE_MISSING",
                              "DF_PROSE_MISSING", "ISIM_MCPTT_SERVICE_MISSING"]


def test_public_safety_iccid_without_isim_and_foreign_plmn(profiles):
    facts = dict(PS_FACTS, imsi="999700000000009", isim=None)
    result = classify(facts, profiles)
    # The ICCID prefix outweighs the PLMN: it is a pool card with the wrong PLMN.
    assert (result.kind, result.profile) == ("public-safety", "public-safety-usim-isim")
    assert result.reasons == ["PLMN_NOT_PUBLIC_SAFETY", "ISIM_MISSING"]


def test_realm_mismatch_and_iccid_prefix_mismatch(profiles):
    facts = dict(PS_FACTS, iccid="8933000000000000001",
                 isim=dict(PS_FACTS["isim"], impi="001010000000001@ims.example.com"))
    result = classify(facts, profiles)
    assert result.profile == "public-safety-usim-isim"
    assert result.reasons == ["ICCID_PREFIX_MISMATCH", "IMPI_REALM_MISMATCH"]


def test_unknown_card(profiles):
    facts = {"iccid": "8933000000000000001", "imsi": "208150000000001", "mnc_length": 2,
             "ust": [], "prose": False, "isim": None}
    assert classify(facts, profiles).to_json() == {
        "kind": "unknown", "profile": None,
        "reasons": ["NO_MATCHING_PROFILE", "PLMN_NOT_PUBLIC_SAFETY"]}


def test_mnc_length_disambiguates_plmn(profiles):
    # IMSI 001-010-...: with a 3-digit MNC the PLMN is 001-010, not the pool's 001-01.
    facts = dict(PS_FACTS, iccid="8933000000000000001", mnc_length=3)
    result = classify(facts, profiles)
    assert result.kind == "unknown"


def test_profile_name_must_match_file_name(tmp_path):
    (tmp_path / "other.yaml").write_text(textwrap.dedent(MINIMAL))
    with pytest.raises(InputError, match=r"other.yaml: key 'name' is 'test-ps' but the file"):
        load_profiles([tmp_path])


def test_extra_directories_from_the_environment_add_their_profiles(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "test-ps.yaml").write_text(MINIMAL)
    (second / "other-ps.yaml").write_text(MINIMAL.replace("name: test-ps", "name: other-ps"))
    (second / "notes.txt").write_text("not a profile")
    # Empty entries (a leading or doubled separator) are ignored, as in PATH-like lists.
    monkeypatch.setenv("SIMATTEST_PROFILES", os.pathsep.join(["", str(first), "", str(second)]))
    for found in (load_profiles(), known_profiles()):
        assert set(found) == {"public-safety-usim-isim", "commercial-usim",
                              "legacy-commercial-usim", "test-ps", "other-ps"}
    assert load_profiles()["test-ps"].plmns == ("00101",)
    monkeypatch.delenv("SIMATTEST_PROFILES")
    assert "test-ps" not in known_profiles()


def test_a_missing_extra_directory_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMATTEST_PROFILES", str(tmp_path / "nowhere"))
    with pytest.raises(InputError) as err:
        load_profiles()
    assert str(err.value) == f"profile directory {tmp_path / 'nowhere'} does not exist"
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError) as err:
        load_profiles([tmp_path / "file"])
    assert str(err.value) == f"profile directory {tmp_path / 'file'} is not a directory"


def test_a_bad_extra_profile_names_file_and_key(tmp_path):
    (tmp_path / "test-ps.yaml").write_text(MINIMAL.replace('"001-01"', '"0010"'))
    with pytest.raises(InputError) as err:
        load_profiles([tmp_path])
    assert str(err.value).startswith(f"{tmp_path / 'test-ps.yaml'}: key 'plmns': '0010' is not")


def test_an_extra_profile_does_not_replace_a_packaged_one(tmp_path):
    name = "commercial-usim"
    (tmp_path / f"{name}.yaml").write_text(MINIMAL.replace("test-ps", name))
    with pytest.raises(InputError) as err:
        load_profiles([tmp_path])
    assert str(err.value) == (f"{tmp_path / f'{name}.yaml'}: profile '{name}' is already "
                              f"defined by {REPO_PROFILES / f'{name}.yaml'}")


def test_bad_facts_are_input_errors(profiles):
    with pytest.raises(InputError, match="card facts: key 'imsi' must be a string"):
        classify({"iccid": "89"}, profiles)


# --- services and files agree (TS 31.102 clause 4.2.8, TS 31.103 clause 4.2.7) --------------


@pytest.mark.parametrize(
    ("usim", "message"),
    [
        ("{services: [10, 101], df_prose: true, files: [EF.SMS]}",
         "usim.services: service 10 is on but its file EF.SMSS is missing from usim.files"),
        ("{services: [101, 109]}",
         "usim.services: service 101 is on but its file DF.ProSe is missing from usim.files"),
        ("{services: [27], files: []}", "service 27 is on but its file DF.GSM-ACCESS is missing"),
        ("{services: [101], df_prose: true, files: [EF.EST]}",
         "usim.files: EF.EST is listed but service 2 or 6 or 34 or 35 is off"),
        ("{services: [101], df_prose: true, files: [EF.GBABP]}",
         "usim.files: EF.GBABP is listed but service 68 is off"),
        ("{services: [101], df_prose: true, files: [EF.NOSUCH]}",
         "usim.files: EF.NOSUCH is not an optional file of this application"),
        ("{services: [101], df_prose: true, files: [SMS]}",
         "key 'usim.files': 'SMS' is not a file name like EF.SMS"),
    ],
)
def test_a_profile_whose_services_and_files_disagree_is_refused(tmp_path, usim, message):
    text = MINIMAL.replace("usim: {services: [101, 109], required_services: [101], "
                           "df_prose: true}", f"usim: {usim}")
    (tmp_path / "test-ps.yaml").write_text(text)
    with pytest.raises(InputError) as err:
        load_profiles([tmp_path])
    assert str(err.value).startswith(f"{tmp_path / 'test-ps.yaml'}: ")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_isim_files_follow_the_ist(tmp_path):
    base = MINIMAL + "isim: {services: [15], files: [EF.GBABP]}\n"
    (tmp_path / "test-ps.yaml").write_text(base)
    with pytest.raises(InputError, match=r"isim\.files: EF\.GBABP is listed but service 2 is off"):
        load_profiles([tmp_path])
    (tmp_path / "test-ps.yaml").write_text(MINIMAL + "isim: {services: [2, 15], files: "
                                           "[EF.GBABP, EF.GBANL, EF.NAFKCA, EF.GBAUAPI]}\n")
    assert load_profiles([tmp_path])["test-ps"].isim.files == {  # type: ignore[union-attr]
        "EF.GBABP", "EF.GBANL", "EF.NAFKCA", "EF.GBAUAPI"}


def test_shipped_profiles_have_the_gsm_class_and_list_their_files(profiles):
    ps = profiles["public-safety-usim-isim"]
    assert ps.usim.df_gsm and profiles["commercial-usim"].usim.df_gsm
    assert {"EF.SMS", "EF.SMSS", "EF.SMSP", "EF.SPN", "EF.PLMNwAcT", "EF.MSISDN",
            "DF.GSM-ACCESS", "EF.GBABP", "EF.GBANL", "EF.GBAUAPI", "EF.EPSLOCI",
            "EF.EPSNSC"} == ps.usim.files
    legacy = profiles["legacy-commercial-usim"]
    assert legacy.usim.df_gsm and legacy.isim is None and 85 not in legacy.usim.services
